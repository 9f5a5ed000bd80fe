import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { DEFAULT_TENANT } from '../../src/store/types.js';
import { core } from '../helpers/core-api.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const insecure = { [oauth.allowInsecureRequests]: true } as const;
const now = () => Math.floor(Date.now() / 1000);

/**
 * RFC 6749 §3.3: a scope is one or more scope tokens, so there is no empty scope to send. When nothing was granted
 * (no scope asked for, or none the client may have) the `scope` member is left out of the token response (§5.1: it
 * is OPTIONAL when identical to the scope requested, which was empty) and of the implicit authorization response
 * (§4.2.2), whatever the grant; introspection leaves it out too (RFC 7662 §2.2: OPTIONAL).
 * The authorization step goes through the Core API (no browser needed); the token requests through HTTP.
 */
describe('RFC 6749 §3.3: an empty granted scope is omitted, never sent as ""', () => {
  let s: TestServer;
  let token: string;
  let as: oauth.AuthorizationServer;
  let web: { clientId: string; clientSecret?: string };
  const call = (path: string, body: unknown) => core(s, DEFAULT_TENANT, path, body, token);

  beforeAll(async () => {
    s = await startTestServer();
    token = (await createServiceToken(s.lk, { name: 'tests' })).token;
    web = await s.client({
      redirect_uris: [CB], grant_types: ['authorization_code', 'implicit', 'refresh_token'], response_types: ['code', 'token'], scope: 'api',
    });
    await s.user('ivy', 'ivy-password');
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  });
  afterAll(() => s.close());

  /** The authorization response's URL for a request without scope, the user signed in. */
  async function authorize(p: Record<string, string>): Promise<URL> {
    const parameters = new URLSearchParams({ client_id: web.clientId, redirect_uri: CB, state: 'st', ...p }).toString();
    const a = await call('auth/authorization', { parameters });
    expect(a.json.action, a.json.resultMessage).toBe('INTERACTION');
    expect(a.json.scopes).toEqual([]);
    const issued = await call('auth/authorization/issue', { ticket: a.json.ticket, subject: 'user-1', authTime: now() });
    expect(issued.json.action).toBe('LOCATION');
    return new URL(issued.json.responseContent);
  }

  /** The raw JSON of a token endpoint response (before oauth4webapi processes it). */
  const raw = async (res: Response) => (await res.clone().json()) as Record<string, unknown>;

  it('RFC 6749 §5.1: authorization_code and refresh_token responses carry no scope member when none was granted', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const u = await authorize({ response_type: 'code', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const client = { client_id: web.clientId };
    const auth = oauth.ClientSecretBasic(web.clientSecret!);
    const params = oauth.validateAuthResponse(as, client, u, 'st');
    const res = await oauth.authorizationCodeGrantRequest(as, client, auth, params, CB, verifier, insecure);
    const body = await raw(res);
    expect(res.status).toBe(200);
    expect(body).not.toHaveProperty('scope');
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, res);
    expect(tokens.refresh_token).toBeTruthy();

    // RFC 7662 §2.2: the token's introspection has no scope member either.
    const intro = await postForm(s.url('/oauth/introspect'), { token: tokens.access_token }, { authorization: basic(web.clientId, web.clientSecret!) });
    expect(intro.json.active).toBe(true);
    expect(intro.json).not.toHaveProperty('scope');

    const refreshed = await oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token!, insecure);
    expect(refreshed.status).toBe(200);
    expect(await raw(refreshed)).not.toHaveProperty('scope');
    expect((await oauth.processRefreshTokenResponse(as, client, refreshed)).access_token).toBeTruthy();
  });

  it('RFC 6749 §4.2.2: an implicit (response_type=token) response has no scope parameter when none was granted', async () => {
    const p = new URLSearchParams((await authorize({ response_type: 'token' })).hash.slice(1));
    expect(p.get('access_token')).toBeTruthy();
    expect(p.get('state')).toBe('st');
    expect(p.has('scope')).toBe(false);
  });

  it('RFC 6749 §4.2.2: a scope the client may not have is dropped, and the response then has no scope parameter', async () => {
    const p = new URLSearchParams((await authorize({ response_type: 'token', scope: 'not-registered' })).hash.slice(1));
    expect(p.get('access_token')).toBeTruthy();
    expect(p.has('scope')).toBe(false);
  });

  // RFC 6749 §3.1: a parameter without a value is as if omitted, so `scope=` asks for the registered scope; a client
  // that registered none gets an empty scope.
  it('RFC 6749 §4.3.3: a password grant for a client without scope answers without a scope member', async () => {
    const bare = await s.client({ grant_types: ['password'], scope: '', insecure_password_grant: true });
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'password', username: 'ivy', password: 'ivy-password' }, { authorization: basic(bare.clientId, bare.clientSecret!) });
    expect(r.status, r.text).toBe(200);
    expect(r.json.access_token).toBeTruthy();
    expect(r.json, r.text).not.toHaveProperty('scope');
  });

  it('RFC 6749 §4.4.3: a client_credentials grant for a client without scope answers without a scope member', async () => {
    const bare = await s.client({ grant_types: ['client_credentials'], scope: '' });
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(bare.clientId, bare.clientSecret!) });
    expect(r.status, r.text).toBe(200);
    expect(r.json, r.text).not.toHaveProperty('scope');
  });

  it('RFC 8693 §2.2.1: a token exchange whose new token has no scope answers without a scope member', async () => {
    const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
    const bare = await s.client({ grant_types: ['client_credentials', GRANT], scope: '', token_exchange: { impersonation: true } });
    const auth = { authorization: basic(bare.clientId, bare.clientSecret!) };
    const own = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, auth);
    expect(own.status, own.text).toBe(200);
    const r = await postForm(s.url('/oauth/token'), { grant_type: GRANT, subject_token: own.json.access_token, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token' }, auth);
    expect(r.status, r.text).toBe(200);
    expect(r.json.issued_token_type).toBe('urn:ietf:params:oauth:token-type:access_token');
    expect(r.json, r.text).not.toHaveProperty('scope');
  });

  it('RFC 8628 §3.5: a device code grant without scope answers without a scope member', async () => {
    const tv = await s.client({ grant_types: [DEVICE], token_endpoint_auth_method: 'none', scope: 'api' });
    const started = await postForm(s.url('/oauth/device_authorization'), { client_id: tv.clientId });
    expect(started.status, started.text).toBe(200);
    const done = await call('device/complete', { userCode: started.json.user_code, result: 'AUTHORIZED', subject: 'user-1' });
    expect(done.json.action).toBe('SUCCESS');
    const r = await postForm(s.url('/oauth/token'), { grant_type: DEVICE, device_code: started.json.device_code, client_id: tv.clientId });
    expect(r.status, r.text).toBe(200);
    expect(r.json.access_token).toBeTruthy();
    expect(r.json, r.text).not.toHaveProperty("scope");
  });
});
