import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { core, testService, type TestService } from '../helpers/core-api.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://app.example/cb';
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Authorization headers that name the Basic scheme but are broken in some way. */
const MALFORMED: [string, string][] = [
  ['characters outside base64', 'Basic !!!'],
  ['no credentials at all', 'Basic'],
  ['only whitespace after the scheme', 'Basic   '],
  ['no colon after decoding', `Basic ${b64('nocolon')}`],
  ['no colon, lower-case scheme', `basic ${b64('nocolon')}`],
  ['bad percent-encoding in the id', `Basic ${b64('a%zz:b')}`],
  ['base64url alphabet', `Basic ${Buffer.from('\u00ff\u00fe:?>').toString('base64url')}`],
  ['two credentials', `Basic ${b64('a:b')} ${b64('c:d')}`],
];

/**
 * RFC 6749 §5.2: "If the client attempted to authenticate via the Authorization request header field, the
 * authorization server MUST respond with an HTTP 401 (Unauthorized) status code and include the WWW-Authenticate
 * response header field matching the authentication scheme used by the client." A Basic header the server cannot
 * read is such an attempt: the answer is the wrong-secret answer, at every endpoint that authenticates clients.
 */
describe('RFC 6749 §5.2: a malformed HTTP Basic header is 401 invalid_client with a Basic challenge', () => {
  let s: TestServer;
  let svc: TestService;
  let app: { clientId: string; clientSecret?: string };
  let challenge: string;

  beforeAll(async () => {
    s = await startTestServer();
    svc = await testService(s, 'acme');
    app = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'], scope: 'openid api' });
    // The wrong-secret answer: what every malformed header must get too.
    const wrong = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(app.clientId, 'wrong') });
    expect(wrong.status).toBe(401);
    challenge = wrong.headers.get('www-authenticate')!;
    expect(challenge).toMatch(/^Basic realm=/);
  });
  afterAll(() => s.close());

  const endpoints: [string, Record<string, string>][] = [
    ['/oauth/token', { grant_type: 'client_credentials' }],
    ['/oauth/introspect', { token: 'abc' }],
    ['/oauth/revoke', { token: 'abc' }],
    ['/oauth/par', { response_type: 'code', redirect_uri: CB, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }],
    ['/oauth/device_authorization', { scope: 'openid' }],
  ];

  for (const [path, body] of endpoints) {
    it(`RFC 6749 §5.2: ${path} answers every malformed Basic header with 401, invalid_client and WWW-Authenticate: Basic`, async () => {
      for (const [what, authorization] of MALFORMED) {
        for (const issuer of [s.issuer, `${s.issuer}/t/acme`]) {
          const r = await postForm(issuer + path, body, { authorization });
          expect(r.status, `${what} at ${issuer}${path}`).toBe(401);
          expect(r.json, what).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
          expect(r.headers.get('www-authenticate'), what).toBe(challenge);
        }
      }
    });
  }

  it('RFC 6749 §5.2: the same answer with client_id in the body as well (Basic was still attempted)', async () => {
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', client_id: app.clientId }, { authorization: 'Basic !!!' });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe(challenge);
  });

  it('RFC 6749 §5.2: oauth4webapi sees a 401 invalid_client carrying a Basic challenge', async () => {
    const as = { issuer: s.issuer, token_endpoint: s.url('/oauth/token') };
    const client = { client_id: app.clientId };
    // oauth4webapi never sends a broken header; a broken proxy or hand-rolled client might: the fetch rewrites it.
    const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(app.clientSecret!), new URLSearchParams(), {
      [oauth.allowInsecureRequests]: true,
      [oauth.customFetch]: (url, init) => {
        const headers = new Headers(init.headers);
        expect(headers.get('authorization')).toMatch(/^Basic /);
        headers.set('authorization', 'Basic !!!');
        return fetch(url, { ...init, headers });
      },
    });
    expect(res.status).toBe(401);
    const err = await oauth.processClientCredentialsResponse(as, client, res).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    expect((err as oauth.WWWAuthenticateChallengeError).cause[0]!.scheme).toBe('basic');
  });

  it('RFC 9110 §15.5.2: a header of another scheme is no Basic attempt, yet its 401 still names Basic, the scheme the endpoint takes', async () => {
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: 'Bearer abc' });
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ error: 'invalid_client' });
    expect(r.headers.get('www-authenticate')).toBe(challenge);
  });

  it('Core API auth/token, auth/introspection/standard, auth/revocation, pushed_auth_req, device/authorization: 401 invalid_client and the Basic challenge', async () => {
    const c = await svc.client({ grant_types: ['client_credentials'], scope: 'api' });
    expect(c.clientSecret).toBeTruthy();
    for (const [, authorization] of MALFORMED) {
      for (const [path, parameters] of [
        ['auth/token', 'grant_type=client_credentials'],
        ['auth/introspection/standard', 'token=abc'],
        ['auth/revocation', 'token=abc'],
        ['pushed_auth_req', `response_type=code&redirect_uri=${encodeURIComponent(CB)}`],
        ['device/authorization', 'scope=api'],
      ]) {
        const r = await core(s, svc.id, path!, { parameters, authorization }, svc.token);
        expect(r.json, path).toMatchObject({ status: 401, resultCode: 'LK1005' });
        expect(['INVALID_CLIENT', 'UNAUTHORIZED'], path).toContain(r.json.action); // device and PAR name it UNAUTHORIZED
        expect(r.json.headers['WWW-Authenticate'], path).toBe(challenge);
      }
    }
  });
});
