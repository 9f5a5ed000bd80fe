import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.js';
import { Agent } from '../helpers/agent.js';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { core, testService, type TestService } from '../helpers/core-api.js';
import { freePort, openTestLatchkey, postForm, type TestLatchkey, type TestServer } from '../helpers/server.js';

const CB = 'https://app.example/cb';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The one challenge of every invalid_client answer: the realm form of the Basic challenge. */
const CHALLENGE = 'Basic realm="latchkey", charset="UTF-8"';
const INVALID_CLIENT = { error: 'invalid_client', error_description: 'client authentication failed' };

interface Clients {
  post: string;
  pkjwt: string;
  csjwt: string;
  tls: string;
  pub: string;
}

/** The client-authenticated endpoints, each with a body that would be valid from an authenticated client. */
const ENDPOINTS: [string, Record<string, string>][] = [
  ['/oauth/token', { grant_type: 'client_credentials' }],
  ['/oauth/introspect', { token: 'abc' }],
  ['/oauth/revoke', { token: 'abc' }],
  ['/oauth/par', { response_type: 'code', redirect_uri: CB, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }],
  ['/oauth/device_authorization', { scope: 'openid' }],
];
/** The same endpoints in the Core API. */
const CORE_PATHS: Record<string, string> = {
  '/oauth/token': 'auth/token',
  '/oauth/introspect': 'auth/introspection/standard',
  '/oauth/revoke': 'auth/revocation',
  '/oauth/par': 'pushed_auth_req',
  '/oauth/device_authorization': 'device/authorization',
};
/** The endpoints the fast path answers (src/http/fast-path.ts). */
const FAST = ['/oauth/token', '/oauth/introspect', '/oauth/revoke'];

/**
 * RFC 9110 §15.5.2: a 401 response MUST carry a WWW-Authenticate challenge. RFC 6749 §5.2 requires the Basic
 * challenge when the client authenticated with the Authorization header, and lets a failure by any other method be
 * 400 or a 401 "to indicate which HTTP authentication schemes are supported": Latchkey answers every invalid_client
 * alike, 401 with the Basic challenge (src/engine/errors.ts, invalidClient).
 */
describe('RFC 9110 §15.5.2: every 401 carries a WWW-Authenticate challenge', () => {
  let pki: TestPki;
  let t: TestLatchkey;
  let fastApp: FastifyInstance;
  let slowApp: FastifyInstance;
  let fast: string;
  let slow: string;
  let key: { privateKey: CryptoKey; jwk: JWK };
  let otherKey: CryptoKey;
  let own: Clients;
  let svc: TestService;
  let theirs: Clients;

  async function clientsOf(register: (meta: Record<string, unknown>) => Promise<{ clientId: string }>): Promise<Clients> {
    const confidential = { redirect_uris: [CB], grant_types: ['authorization_code', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'], scope: 'openid api' };
    return {
      post: (await register({ ...confidential, token_endpoint_auth_method: 'client_secret_post' })).clientId,
      pkjwt: (await register({ ...confidential, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.jwk] } })).clientId,
      csjwt: (await register({ ...confidential, token_endpoint_auth_method: 'client_secret_jwt' })).clientId,
      tls: (await register({ ...confidential, token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=client-one' })).clientId,
      pub: (await register({ redirect_uris: [CB], grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'], scope: 'openid api', token_endpoint_auth_method: 'none' })).clientId,
    };
  }

  const assertion = (clientId: string, k: CryptoKey | Uint8Array, alg: string, aud: string) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg }).setIssuer(clientId).setSubject(clientId).setAudience(aud).setIssuedAt(now).setExpirationTime(now + 60).sign(k);
  };

  /** Every way a client can fail to authenticate without the Authorization header, fresh assertions each time. */
  const failures = (c: Clients, aud: string): [string, () => Promise<Record<string, string>>][] => [
    ['client_secret_post with a wrong secret', async () => ({ client_id: c.post, client_secret: 'w'.repeat(43) })],
    ['an unknown client_id alone', async () => ({ client_id: 'ghost' })],
    ['no client identification at all', async () => ({})],
    ['a confidential client sending client_id alone', async () => ({ client_id: c.post })],
    ['private_key_jwt signed with a key the client did not register', async () => ({ client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(c.pkjwt, otherKey, 'ES256', aud) })],
    ['client_secret_jwt with a wrong secret', async () => ({ client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(c.csjwt, new TextEncoder().encode('w'.repeat(64)), 'HS256', aud) })],
    ['an unsupported client_assertion_type', async () => ({ client_assertion_type: 'urn:example:other', client_assertion: 'abc' })],
    ['tls_client_auth without a client certificate', async () => ({ client_id: c.tls })],
  ];

  /** What must agree between the fast path and the Fastify routes: status, headers but the per-response ones, body. */
  const comparable = async (r: Response) => {
    const headers = Object.fromEntries([...r.headers.entries()].filter(([k]) => !['date', 'x-request-id', 'connection', 'keep-alive'].includes(k)));
    return { status: r.status, headers, body: await r.text() };
  };
  const post = (base: string, path: string, body: Record<string, string>) =>
    fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString() });

  beforeAll(async () => {
    pki = makeTestPki();
    const fastPort = await freePort();
    const slowPort = await freePort();
    fast = `http://127.0.0.1:${fastPort}`;
    slow = `http://127.0.0.1:${slowPort}`;
    // A header source makes tls_client_auth available without a TLS listener; registration needs initial access tokens.
    t = await openTestLatchkey({ issuer: fast, tlsClientCa: pki.ca.certFile, clientCertificateHeader: 'x-client-cert', trustedProxies: ['127.0.0.1'], registration: 'token' });
    fastApp = await buildApp(t.lk, { logger: false });
    slowApp = await buildApp(t.lk, { logger: false, fastPath: false });
    await fastApp.listen({ host: '127.0.0.1', port: fastPort });
    await slowApp.listen({ host: '127.0.0.1', port: slowPort });
    const pair = await generateKeyPair('ES256', { extractable: true });
    key = { privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' } };
    otherKey = (await generateKeyPair('ES256')).privateKey;
    own = await clientsOf((m) => t.client(m));
    svc = await testService({ ...t, app: fastApp, issuer: fast, url: (p: string) => fast + p } as TestServer, 'acme');
    theirs = await clientsOf((m) => svc.client(m));
  });
  afterAll(async () => {
    await fastApp.close();
    await slowApp.close();
    await t.close();
    pki.cleanup();
  });

  for (const [path, body] of ENDPOINTS) {
    it(`RFC 6749 §5.2: ${path} answers a failed client authentication without the Authorization header with 401 invalid_client and the Basic challenge`, async () => {
      for (const [what, credentials] of failures(own, fast)) {
        const r = await postForm(fast + path, { ...body, ...(await credentials()) });
        expect(r.status, `${what} at ${path}`).toBe(401);
        expect(r.json, what).toEqual(INVALID_CLIENT);
        expect(r.headers.get('www-authenticate'), what).toBe(CHALLENGE);
        if (FAST.includes(path)) {
          // The fast path and the Fastify routes answer alike (new credentials: an assertion is single use).
          const [a, b] = await Promise.all([post(fast, path, { ...body, ...(await credentials()) }), post(slow, path, { ...body, ...(await credentials()) })]);
          expect(await comparable(a), `${what} at ${path}, fast path vs routes`).toEqual(await comparable(b));
        }
      }
    });
  }

  it('RFC 7662 §2.1: a public client at the introspection endpoint is 401 invalid_client with the Basic challenge, on the fast path and off it', async () => {
    const [a, b] = await Promise.all([post(fast, '/oauth/introspect', { client_id: own.pub, token: 'abc' }), post(slow, '/oauth/introspect', { client_id: own.pub, token: 'abc' })]);
    const ca = await comparable(a);
    expect(ca.status).toBe(401);
    expect(ca.headers['www-authenticate']).toBe(CHALLENGE);
    expect(JSON.parse(ca.body)).toEqual(INVALID_CLIENT);
    expect(ca).toEqual(await comparable(b));
  });

  it('Core API: the same failures carry the challenge in the Result headers (status 401, INVALID_CLIENT or UNAUTHORIZED)', async () => {
    const aud = svc.ctx.tenant.issuer;
    for (const [path, body] of ENDPOINTS) {
      for (const [what, credentials] of [...failures(theirs, aud), ['a public client at introspection', async () => ({ client_id: theirs.pub })] as const]) {
        if (what === 'a public client at introspection' && path !== '/oauth/introspect') continue;
        const r = await core({ url: (p: string) => fast + p }, svc.id, CORE_PATHS[path]!, { parameters: new URLSearchParams({ ...body, ...(await credentials()) }).toString() }, svc.token);
        expect(r.status, `${what} at ${CORE_PATHS[path]}`).toBe(200); // the Core API call itself succeeded
        expect(r.json.status, `${what} at ${CORE_PATHS[path]}`).toBe(401);
        expect(['INVALID_CLIENT', 'UNAUTHORIZED'], `${what} at ${CORE_PATHS[path]}`).toContain(r.json.action); // device and PAR name it UNAUTHORIZED
        expect(r.json.headers['WWW-Authenticate'], `${what} at ${CORE_PATHS[path]}`).toBe(CHALLENGE);
        expect(JSON.parse(r.json.responseContent)).toEqual(INVALID_CLIENT);
      }
    }
  });

  it('oauth4webapi: a private_key_jwt failure surfaces as WWWAuthenticateChallengeError (scheme basic), the invalid_client body on its response', async () => {
    const as = await oauth.processDiscoveryResponse(new URL(fast), await oauth.discoveryRequest(new URL(fast), { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }));
    const c: oauth.Client = { client_id: own.pkjwt };
    const res = await oauth.clientCredentialsGrantRequest(as, c, oauth.PrivateKeyJwt({ key: otherKey }), new URLSearchParams(), { [oauth.allowInsecureRequests]: true });
    const err = await oauth.processClientCredentialsResponse(as, c, res).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    const challenge = err as oauth.WWWAuthenticateChallengeError;
    expect(challenge.status).toBe(401);
    expect(challenge.cause).toEqual([{ scheme: 'basic', parameters: { realm: 'latchkey', charset: 'UTF-8' } }]);
    expect(await challenge.response.json()).toEqual(INVALID_CLIENT);
  });

  it('openid-client: a client_secret_post failure with DPoP is WWWAuthenticateChallengeError after one request (a Basic challenge is no DPoP nonce to retry with)', async () => {
    let calls = 0;
    const config = await client.discovery(new URL(fast), own.post, undefined, client.ClientSecretPost('w'.repeat(43)), { execute: [client.allowInsecureRequests] });
    config[client.customFetch] = (url, init) => {
      if (new URL(url).pathname === '/oauth/token') calls++;
      return fetch(url, init as RequestInit);
    };
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair());
    const err = await client.clientCredentialsGrant(config, { scope: 'api' }, { DPoP }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(client.WWWAuthenticateChallengeError);
    expect((err as client.WWWAuthenticateChallengeError).cause[0]!.scheme).toBe('basic');
    expect(calls).toBe(1);
  });

  it('RFC 6750 §3.1: the other 401s name their Bearer challenge, with error="invalid_token" when a token was presented', async () => {
    const get = async (path: string, authorization?: string) => {
      const r = await fetch(fast + path, { headers: authorization ? { authorization } : {} });
      return [r.status, r.headers.get('www-authenticate')];
    };
    const bogus = 'Bearer ' + 'x'.repeat(43);
    // UserInfo (OIDC Core §5.3.3)
    expect(await get('/oauth/userinfo')).toEqual([401, expect.stringMatching(/^Bearer(?![^,]*error=)/)]);
    expect(await get('/oauth/userinfo', bogus)).toEqual([401, expect.stringMatching(/^Bearer .*error="invalid_token"/)]);
    // The admin API (admin tokens)
    expect(await get('/admin/tenants')).toEqual([401, 'Bearer realm="latchkey-admin"']);
    expect(await get('/admin/tenants', 'Bearer lka_' + 'x'.repeat(43))).toEqual([401, 'Bearer realm="latchkey-admin", error="invalid_token"']);
    // The Core API (service tokens)
    const noToken = await core({ url: (p: string) => fast + p }, svc.id, 'auth/token', { parameters: '' }, undefined);
    expect([noToken.status, noToken.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="latchkey-core-api"']);
    const badToken = await core({ url: (p: string) => fast + p }, svc.id, 'auth/token', { parameters: '' }, 'lks_' + 'x'.repeat(43));
    expect([badToken.status, badToken.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="latchkey-core-api", error="invalid_token"']);
    // Dynamic registration (initial access tokens, RFC 7591 §3) and its management (RFC 7592 §2)
    const register = (authorization?: string) =>
      fetch(fast + '/oauth/register', { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: JSON.stringify({ redirect_uris: [CB] }) });
    const invalidToken = expect.stringMatching(/^Bearer realm="latchkey", error="invalid_token", /);
    for (const [r, challenge] of [[await register(), 'Bearer realm="latchkey"'], [await register(bogus), invalidToken]] as const) {
      expect([r.status, r.headers.get('www-authenticate')]).toEqual([401, challenge]);
    }
    expect(await get(`/oauth/register/${own.post}`)).toEqual([401, 'Bearer realm="latchkey"']);
    expect(await get(`/oauth/register/${own.post}`, bogus)).toEqual([401, invalidToken]);
  });

  it('RFC 9110 §15.5.2: a wrong password on the sign-in form is 400, not a 401 without a challenge (no HTTP scheme describes a form)', async () => {
    await t.user('wanda', 'wanda-password');
    const agent = new Agent(fast);
    const url = `${fast}/oauth/authorize?` + new URLSearchParams({ client_id: own.post, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
    const page = await agent.follow(url);
    const wrong = await agent.login(page, 'wanda', 'not-her-password');
    expect(wrong.status).toBe(400);
    expect(wrong.html).toContain('Wrong username or password');
  });
});
