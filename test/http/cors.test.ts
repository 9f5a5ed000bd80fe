import { createHash, randomBytes } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerClient } from '../../src/services/clients.js';
import { createUser } from '../../src/services/users.js';
import { createTenant, serviceContext } from '../../src/services/tenants.js';
import { Agent } from '../helpers/agent.js';
import { basic, type TestLatchkey } from '../helpers/server.js';
import { openTwoPaths, type HttpAnswer as Raw, sendTo as send, type TwoPaths } from '../helpers/two-paths.js';

/*
 * CORS (Fetch standard, "CORS protocol") for browser-based clients, through HTTP: public documents are readable from
 * any origin; the token, revocation, PAR, device authorization and UserInfo endpoints answer the pages of the client
 * the request names (or the access token's client at UserInfo); an error naming no known client is readable by any
 * page (test/http/cors-errors.test.ts); a preflight is answered alike for every origin.
 * One Latchkey is served twice, with and without the fast path: every answer must be the same both ways.
 */

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const SPA = 'https://spa.example';
const SPA_CB = `${SPA}/callback`;
const EVIL = 'https://evil.example';
const WEB = 'https://web.example';

/** The CORS headers of an answer, for comparisons. */
const cors = (r: Raw) => ({
  allowOrigin: r.headers['access-control-allow-origin'],
  allowCredentials: r.headers['access-control-allow-credentials'],
  expose: r.headers['access-control-expose-headers'],
  vary: r.headers.vary,
});

describe('CORS for browser-based clients', () => {
  let t: TestLatchkey;
  let paths: TwoPaths;
  let fast: number;
  let slow: number;
  let spa: { clientId: string };
  let web: { clientId: string; clientSecret?: string };
  let browserConf: { clientId: string; clientSecret?: string };
  let backend: { clientId: string; clientSecret?: string };
  let tenantSpa: string;

  /** The same request to both servers; their answers must agree (status, CORS headers, body shape). */
  async function both(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Raw> {
    const [a, b] = await Promise.all([send(fast, method, path, headers, body), send(slow, method, path, headers, body)]);
    expect([b.status, cors(b)], `${method} ${path}: the fast path and the routes agree`).toEqual([a.status, cors(a)]);
    return a;
  }

  /** An authorization code for `clientId` (PKCE S256), signed in as ann, with its verifier. */
  async function code(clientId: string, redirectUri: string, base = ''): Promise<{ code: string; verifier: string; callback: URL }> {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const agent = new Agent(t.lk.config.issuer);
    const cb = await agent.authorize(
      `${t.lk.config.issuer}${base}/oauth/authorize?` +
        new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid profile', code_challenge: challenge, code_challenge_method: 'S256', state: 's' }),
      'ann',
      'ann-password',
    );
    return { code: cb.searchParams.get('code')!, verifier, callback: cb };
  }

  async function spaTokens(): Promise<{ access_token: string; refresh_token?: string }> {
    const c = await code(spa.clientId, SPA_CB);
    const r = await send(fast, 'POST', '/oauth/token', FORM, new URLSearchParams({ grant_type: 'authorization_code', code: c.code, redirect_uri: SPA_CB, client_id: spa.clientId, code_verifier: c.verifier }).toString());
    expect(r.status, r.body).toBe(200);
    return JSON.parse(r.body);
  }

  beforeAll(async () => {
    paths = await openTwoPaths();
    ({ t, fast, slow } = paths);
    await t.user('ann', 'ann-password', { name: 'Ann' });
    spa = await t.client({ redirect_uris: [SPA_CB], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], skip_consent: true });
    web = await t.client({ redirect_uris: [`${WEB}/cb`], grant_types: ['authorization_code'], skip_consent: true });
    browserConf = await t.client({ grant_types: ['client_credentials'], scope: 'api', allowed_cors_origins: [SPA] });
    backend = await t.client({ grant_types: ['client_credentials'], scope: 'api' });
    await createTenant(t.lk, { id: 'acme' });
    const acme = (await serviceContext(t.lk, 'acme'))!;
    await createUser(acme, { username: 'ann', password: 'ann-password', claims: {} });
    tenantSpa = (await registerClient(acme, { redirect_uris: [SPA_CB], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], skip_consent: true })).json.client_id as string;
  }, 60_000);
  afterAll(async () => {
    await paths?.close();
  });

  it('Fetch CORS: discovery, RFC 8414 metadata and the JWKS are readable from any origin (Access-Control-Allow-Origin: *), for every tenant, with or without Origin', async () => {
    for (const path of [
      '/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/.well-known/jwks.json',
      '/t/acme/.well-known/openid-configuration', '/.well-known/oauth-authorization-server/t/acme', '/t/acme/.well-known/jwks.json',
    ]) {
      for (const headers of [{ origin: EVIL }, {}] as Record<string, string>[]) {
        const r = await both('GET', path, headers);
        expect(r.status, path).toBe(200);
        expect(cors(r), path).toEqual({ allowOrigin: '*', allowCredentials: undefined, expose: undefined, vary: undefined });
      }
    }
  });

  it('Fetch CORS: discovery lists nothing new (no standard metadata member exists for CORS)', async () => {
    const doc = JSON.parse((await send(fast, 'GET', '/.well-known/openid-configuration', {})).body) as Record<string, unknown>;
    expect(Object.keys(doc).filter((k) => /cors|origin/i.test(k))).toEqual([]);
  });

  it('Fetch CORS preflight: OPTIONS with Origin and Access-Control-Request-Method is 204 with the methods, request headers and a max-age, the same for every origin and tenant', async () => {
    const cases: [string, string][] = [
      ['/oauth/token', 'POST'], ['/oauth/revoke', 'POST'], ['/oauth/par', 'POST'], ['/oauth/device_authorization', 'POST'], ['/oauth/userinfo', 'GET, POST'],
      ['/t/acme/oauth/token', 'POST'], ['/t/acme/oauth/userinfo', 'GET, POST'],
      ['/.well-known/openid-configuration', 'GET, HEAD'], ['/.well-known/jwks.json', 'GET, HEAD'], ['/.well-known/oauth-authorization-server', 'GET, HEAD'], ['/.well-known/oauth-authorization-server/t/acme', 'GET, HEAD'],
    ];
    for (const [path, methods] of cases) {
      for (const origin of [SPA, EVIL]) {
        const r = await both('OPTIONS', path, { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, dpop, content-type' });
        expect(r.status, path).toBe(204);
        expect(r.body).toBe('');
        expect(r.headers['access-control-allow-origin'], path).toBe('*');
        expect(r.headers['access-control-allow-methods'], path).toBe(methods);
        expect(r.headers['access-control-allow-headers'], path).toBe('Authorization, Content-Type, DPoP');
        expect(r.headers['access-control-max-age'], path).toBe('7200');
        expect(r.headers['access-control-allow-credentials'], path).toBeUndefined();
      }
    }
  });

  it('an OPTIONS request that is no preflight is answered as before (405 at POST-only endpoints, 404 elsewhere); introspection and registration answer no preflight', async () => {
    expect((await both('OPTIONS', '/oauth/token', {})).status).toBe(405);
    expect((await both('OPTIONS', '/oauth/token', { origin: SPA })).status).toBe(405); // no Access-Control-Request-Method
    expect((await both('OPTIONS', '/oauth/userinfo', {})).status).toBe(404);
    expect((await both('OPTIONS', '/.well-known/jwks.json', {})).status).toBe(404);
    const i = await both('OPTIONS', '/oauth/introspect', { origin: SPA, 'access-control-request-method': 'POST' });
    expect(i.status).toBe(405);
    expect(i.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('token endpoint: a public client\'s pages (the origins of its redirect URIs) read the answer, success and error alike; Vary: Origin; never Allow-Credentials', async () => {
    const c = await code(spa.clientId, SPA_CB);
    const ok = await send(fast, 'POST', '/oauth/token', { ...FORM, origin: SPA }, new URLSearchParams({ grant_type: 'authorization_code', code: c.code, redirect_uri: SPA_CB, client_id: spa.clientId, code_verifier: c.verifier }).toString());
    expect(ok.status, ok.body).toBe(200);
    expect(cors(ok)).toEqual({ allowOrigin: SPA, allowCredentials: undefined, expose: 'WWW-Authenticate, DPoP-Nonce, Retry-After', vary: 'Origin' });
    // RFC 6749 §5.2: a refusal (the code is spent now) is readable by the same page.
    const again = await both('POST', '/oauth/token', { ...FORM, origin: SPA }, new URLSearchParams({ grant_type: 'authorization_code', code: c.code, redirect_uri: SPA_CB, client_id: spa.clientId, code_verifier: c.verifier }).toString());
    expect(again.status).toBe(400);
    expect(JSON.parse(again.body).error).toBe('invalid_grant');
    expect(cors(again)).toEqual({ allowOrigin: SPA, allowCredentials: undefined, expose: 'WWW-Authenticate, DPoP-Nonce, Retry-After', vary: 'Origin' });
  });

  it('token endpoint: another origin gets no Access-Control-Allow-Origin (Vary: Origin still), yet the request is processed as without Origin (CORS is not access control)', async () => {
    const c = await code(spa.clientId, SPA_CB);
    const r = await send(fast, 'POST', '/oauth/token', { ...FORM, origin: EVIL }, new URLSearchParams({ grant_type: 'authorization_code', code: c.code, redirect_uri: SPA_CB, client_id: spa.clientId, code_verifier: c.verifier }).toString());
    expect(r.status, r.body).toBe(200);
    expect(JSON.parse(r.body).access_token).toBeTruthy();
    expect(cors(r)).toEqual({ allowOrigin: undefined, allowCredentials: undefined, expose: undefined, vary: 'Origin' });
    for (const origin of [EVIL, 'null', `${SPA}/`, 'https://SPA.example', `${SPA}, ${EVIL}`]) {
      const e = await both('POST', '/oauth/token', { ...FORM, origin }, new URLSearchParams({ grant_type: 'authorization_code', code: 'nope', redirect_uri: SPA_CB, client_id: spa.clientId, code_verifier: c.verifier }).toString());
      expect(e.status).toBe(400);
      expect(e.headers['access-control-allow-origin'], origin).toBeUndefined();
    }
  });

  it('token endpoint: without Origin nothing changes (no CORS header at all), through the fast path and the routes', async () => {
    const r = await both('POST', '/oauth/token', FORM, new URLSearchParams({ grant_type: 'client_credentials', scope: 'api' }).toString() + '&client_id=' + backend.clientId);
    expect(r.status).toBe(401);
    expect(cors(r)).toEqual({ allowOrigin: undefined, allowCredentials: undefined, expose: undefined, vary: undefined });
  });

  it('token endpoint: a confidential client gets no origins from its redirect URIs (its back end calls us), only its allowed_cors_origins; a 401 invalid_client is readable with its WWW-Authenticate', async () => {
    const fromRedirect = await both('POST', '/oauth/token', { ...FORM, origin: WEB, authorization: basic(web.clientId, web.clientSecret!) }, 'grant_type=authorization_code&code=nope&redirect_uri=' + encodeURIComponent(`${WEB}/cb`));
    expect(fromRedirect.status).toBe(400);
    expect(fromRedirect.headers['access-control-allow-origin']).toBeUndefined();

    const ok = await both('POST', '/oauth/token', { ...FORM, origin: SPA, authorization: basic(browserConf.clientId, browserConf.clientSecret!) }, 'grant_type=client_credentials&scope=api');
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe(SPA);
    const wrong = await both('POST', '/oauth/token', { ...FORM, origin: SPA, authorization: basic(browserConf.clientId, 'not-the-secret') }, 'grant_type=client_credentials&scope=api');
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body).error).toBe('invalid_client');
    expect(wrong.headers['www-authenticate']).toMatch(/^Basic/);
    expect(cors(wrong)).toEqual({ allowOrigin: SPA, allowCredentials: undefined, expose: 'WWW-Authenticate, DPoP-Nonce, Retry-After', vary: 'Origin' });
    // The client named in the body (client_secret_post shape) counts the same as the Basic user name.
    const posted = await both('POST', '/oauth/token', { ...FORM, origin: SPA }, `grant_type=client_credentials&client_id=${browserConf.clientId}&client_secret=wrong-wrong-wrong`);
    expect([posted.status, posted.headers['access-control-allow-origin']]).toEqual([401, SPA]);
    // An unknown client identifies none: its refusal is readable by the page that asked (cors.ts unidentifiedErrorCors).
    const unknown = await both('POST', '/oauth/token', { ...FORM, origin: EVIL }, 'grant_type=client_credentials&client_id=nobody');
    expect([unknown.status, unknown.headers['access-control-allow-origin']]).toEqual([401, EVIL]);
  });

  it('revocation (RFC 7009) answers the public client\'s pages; introspection answers no origin (a resource server\'s back channel)', async () => {
    const tokens = await spaTokens();
    const r = await both('POST', '/oauth/revoke', { ...FORM, origin: SPA }, new URLSearchParams({ token: tokens.refresh_token ?? tokens.access_token, client_id: spa.clientId }).toString());
    expect(r.status).toBe(200);
    expect(cors(r)).toEqual({ allowOrigin: SPA, allowCredentials: undefined, expose: 'WWW-Authenticate, DPoP-Nonce, Retry-After', vary: 'Origin' });
    const i = await both('POST', '/oauth/introspect', { ...FORM, origin: SPA, authorization: basic(browserConf.clientId, browserConf.clientSecret!) }, new URLSearchParams({ token: tokens.access_token }).toString());
    expect(i.status).toBe(200);
    expect(cors(i)).toEqual({ allowOrigin: undefined, allowCredentials: undefined, expose: undefined, vary: undefined });
  });

  it('PAR (RFC 9126) and device authorization (RFC 8628) answer the client\'s pages too', async () => {
    const par = await both('POST', '/oauth/par', { ...FORM, origin: SPA }, new URLSearchParams({ client_id: spa.clientId, response_type: 'code', redirect_uri: SPA_CB, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }).toString());
    expect(par.status, par.body).toBe(201);
    expect(par.headers['access-control-allow-origin']).toBe(SPA);
    const device = await both('POST', '/oauth/device_authorization', { ...FORM, origin: SPA }, new URLSearchParams({ client_id: spa.clientId, scope: 'openid' }).toString());
    expect(device.headers['access-control-allow-origin'], device.body).toBe(SPA); // an error (the grant is not registered) is readable too
    expect(device.headers.vary).toBe('Origin');
  });

  it('UserInfo decides by the access token\'s client: its pages read the claims and the refusals; other origins get nothing', async () => {
    const tokens = await spaTokens();
    const ok = await both('GET', '/oauth/userinfo', { origin: SPA, authorization: `Bearer ${tokens.access_token}` });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).name).toBe('Ann');
    expect(cors(ok)).toEqual({ allowOrigin: SPA, allowCredentials: undefined, expose: 'WWW-Authenticate, DPoP-Nonce, Retry-After', vary: 'Origin' });
    const post = await both('POST', '/oauth/userinfo', { ...FORM, origin: SPA }, `access_token=${tokens.access_token}`);
    expect([post.status, post.headers['access-control-allow-origin']]).toEqual([200, SPA]);
    const other = await both('GET', '/oauth/userinfo', { origin: WEB, authorization: `Bearer ${tokens.access_token}` });
    expect(other.status).toBe(200);
    expect(cors(other)).toEqual({ allowOrigin: undefined, allowCredentials: undefined, expose: undefined, vary: 'Origin' });
    // A revoked token is still the client's: the refusal (401 with its challenge) is readable by its pages.
    await send(fast, 'POST', '/oauth/revoke', FORM, new URLSearchParams({ token: tokens.access_token, client_id: spa.clientId }).toString());
    const revoked = await both('GET', '/oauth/userinfo', { origin: SPA, authorization: `Bearer ${tokens.access_token}` });
    expect(revoked.status).toBe(401);
    expect(revoked.headers['www-authenticate']).toContain('invalid_token');
    expect(revoked.headers['access-control-allow-origin']).toBe(SPA);
    // A token nobody issued names no client: its refusal is readable by the page that asked (cors.ts unidentifiedErrorCors).
    const unknown = await both('GET', '/oauth/userinfo', { origin: EVIL, authorization: 'Bearer not-a-token' });
    expect([unknown.status, unknown.headers['access-control-allow-origin'], unknown.headers.vary]).toEqual([401, EVIL, 'Origin']);
  });

  it('UserInfo: a confidential web client\'s redirect-URI origins may read it (the access token, not a secret, authenticates)', async () => {
    const c = await code(web.clientId, `${WEB}/cb`);
    const r = await send(fast, 'POST', '/oauth/token', { ...FORM, authorization: basic(web.clientId, web.clientSecret!) }, new URLSearchParams({ grant_type: 'authorization_code', code: c.code, redirect_uri: `${WEB}/cb`, code_verifier: c.verifier }).toString());
    expect(r.status, r.body).toBe(200);
    const u = await both('GET', '/oauth/userinfo', { origin: WEB, authorization: `Bearer ${JSON.parse(r.body).access_token}` });
    expect([u.status, u.headers['access-control-allow-origin']]).toEqual([200, WEB]);
  });

  it('a tenant (/t/<id>) answers the same way, by its own clients', async () => {
    const c = await code(tenantSpa, SPA_CB, '/t/acme');
    const body = new URLSearchParams({ grant_type: 'authorization_code', code: c.code, redirect_uri: SPA_CB, client_id: tenantSpa, code_verifier: c.verifier }).toString();
    const r = await send(fast, 'POST', '/t/acme/oauth/token', { ...FORM, origin: SPA }, body);
    expect(r.status, r.body).toBe(200);
    expect(cors(r)).toEqual({ allowOrigin: SPA, allowCredentials: undefined, expose: 'WWW-Authenticate, DPoP-Nonce, Retry-After', vary: 'Origin' });
    const spent = await both('POST', '/t/acme/oauth/token', { ...FORM, origin: SPA }, body);
    expect([spent.status, spent.headers['access-control-allow-origin']]).toEqual([400, SPA]);
    // Clients are looked up in the request's tenant: the tenant's client, known there, keeps its refusal from another
    // origin; named at the default tenant, where it is unknown, it identifies no client (cors.ts unidentifiedErrorCors).
    const spentBody = `grant_type=authorization_code&code=x&redirect_uri=${encodeURIComponent(SPA_CB)}&client_id=${tenantSpa}`;
    const own = await both('POST', '/t/acme/oauth/token', { ...FORM, origin: EVIL }, spentBody);
    expect([own.status, own.headers['access-control-allow-origin']]).toEqual([400, undefined]);
    const elsewhere = await both('POST', '/oauth/token', { ...FORM, origin: EVIL }, spentBody);
    expect([elsewhere.status, elsewhere.headers['access-control-allow-origin']]).toEqual([401, EVIL]);
  });

  it('oauth4webapi reads discovery and a token response as a browser client would, the CORS headers present', async () => {
    const issuer = new URL(t.lk.config.issuer);
    const res = await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true, headers: { origin: SPA } });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const as = await oauth.processDiscoveryResponse(issuer, res);
    const c = await code(spa.clientId, SPA_CB);
    const client = { client_id: spa.clientId };
    const tr = await oauth.authorizationCodeGrantRequest(
      as, client, oauth.None(),
      oauth.validateAuthResponse(as, client, c.callback, 's'), SPA_CB, c.verifier,
      { [oauth.allowInsecureRequests]: true, headers: { origin: SPA } },
    );
    expect(tr.headers.get('access-control-allow-origin')).toBe(SPA);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, tr, { requireIdToken: false });
    expect(tokens.access_token).toBeTruthy();
  });
});
