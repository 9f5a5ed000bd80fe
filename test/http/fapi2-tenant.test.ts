import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { basic, dropTestDatabase, freePort, openTestLatchkey, postForm, startTestServer, testDatabaseUrl, type TestServer } from '../helpers/server.js';
import { registerClient } from '../../src/services/clients.js';
import { createTenant } from '../../src/services/tenants.js';
import { insertRefreshFamily } from '../helpers/tokens.js';

const CB = 'https://rp.example/cb';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const FAPI_ALGS = ['PS256', 'ES256', 'EdDSA'];
const FAPI_METHODS = ['private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'];
const s256 = (v: string) => createHash('sha256').update(v).digest('base64url');

type Keys = { privateKey: CryptoKey; publicJwk: JWK };
async function keyPair(alg: string, kid: string): Promise<Keys> {
  const k = await generateKeyPair(alg, { extractable: true });
  return { privateKey: k.privateKey, publicJwk: { ...(await exportJWK(k.publicKey)), kid } };
}

const get = async (url: string) => (await fetch(url)).json() as Promise<Record<string, any>>;

/** Every signing-alg list of a discovery document (RFC 8414 §2, OIDC Discovery §3, RFC 9449 §5.1, JARM, RFC 9701). */
const ALG_LISTS = [
  'token_endpoint_auth_signing_alg_values_supported', 'introspection_endpoint_auth_signing_alg_values_supported', 'revocation_endpoint_auth_signing_alg_values_supported',
  'dpop_signing_alg_values_supported', 'request_object_signing_alg_values_supported', 'id_token_signing_alg_values_supported',
  'userinfo_signing_alg_values_supported', 'authorization_signing_alg_values_supported', 'introspection_signing_alg_values_supported',
];

/**
 * The FAPI 2.0 Security Profile for a whole tenant (configuration fapiProfile "2.0", tenant setting
 * settings.fapiProfile): every client is held to it without fapi_profile in its metadata, clients registered before
 * it was turned on are refused where they step outside it (LK7468), and discovery describes the narrowed server.
 */
describe('FAPI 2.0 Security Profile for every client of the tenant (fapiProfile "2.0")', () => {
  let dir: string;
  let databaseUrl: string;
  let s: TestServer;
  let clock = Date.now();
  const advance = (sec: number) => (clock += sec * 1000);
  const now = () => Math.floor(clock / 1000);
  let es: Keys;
  let rsa: Keys;
  let legacySecret: { clientId: string; clientSecret: string };
  let legacyKeyed: string;
  let legacyHttp: string;
  let legacyOauth: string;
  let legacyRefresh: { clientId: string; refreshToken: string };
  let legacyUserinfo: { clientId: string; refreshToken: string };
  let fapi: string;
  let agent: Agent;

  beforeAll(async () => {
    es = await keyPair('ES256', 'es');
    rsa = await keyPair('PS256', 'rsa');
    // Clients registered while the profile was off; then the server restarts with it on (same database and keys).
    dir = mkdtempSync(join(tmpdir(), 'latchkey-fapi-tenant-'));
    databaseUrl = await testDatabaseUrl(dir);
    const port = await freePort();
    const shared = { issuer: `http://127.0.0.1:${port}`, port, databaseUrl, dataDir: dir, keyEncryptionKey: randomBytes(32).toString('base64url'), registration: 'open' as const };
    const before = await openTestLatchkey(shared, { clock: () => clock }); // the same clock: its keys must not be from the future
    try {
      const c = await before.client({ token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'], scope: 'api:read' });
      legacySecret = { clientId: c.clientId, clientSecret: c.clientSecret! };
      // Within the profile but for what it had registered then: the password grant, RS256 ID tokens (the default then).
      legacyKeyed = (await before.client({
        token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [es.publicJwk] }, redirect_uris: [CB],
        grant_types: ['authorization_code', 'password'], insecure_password_grant: true, skip_consent: true, introspection_signed_response_alg: 'RS256',
      })).clientId;
      // Within the profile but for its development redirect URI, http on loopback (a web client's, allowed then).
      legacyHttp = (await before.client({
        token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [es.publicJwk] }, redirect_uris: ['http://127.0.0.1:9/cb'],
        id_token_signed_response_alg: 'ES256', skip_consent: true,
      })).clientId;
      // A plain OAuth client (no openid) registered then: its stored ID-token alg (RS256, the default) signs nothing.
      legacyOauth = (await before.client({
        token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [es.publicJwk] }, redirect_uris: [CB], scope: 'api:read',
      })).clientId;
      const alice = await before.user('alice', 'alice-password');
      // Within the profile but for its RS256 ID tokens (the default then), holding a refresh token from then.
      const refreshing = (await before.client({
        token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [es.publicJwk] }, redirect_uris: [CB],
        grant_types: ['authorization_code', 'refresh_token'], scope: 'openid offline_access',
      })).clientId;
      legacyRefresh = { clientId: refreshing, refreshToken: (await insertRefreshFamily(before.ctx, { clientId: refreshing, subject: alice })).refreshToken };
      // Within the profile for its ID tokens (ES256) but with RS256 signed UserInfo answers, holding a refresh token.
      const signedUserinfo = (await before.client({
        token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [es.publicJwk] }, redirect_uris: [CB], id_token_signed_response_alg: 'ES256',
        userinfo_signed_response_alg: 'RS256', grant_types: ['authorization_code', 'refresh_token'], scope: 'openid profile offline_access',
      })).clientId;
      legacyUserinfo = { clientId: signedUserinfo, refreshToken: (await insertRefreshFamily(before.ctx, { clientId: signedUserinfo, subject: alice, scope: ['openid', 'profile', 'offline_access'] })).refreshToken };
    } finally {
      await before.close();
    }
    // allowRemoteRequestUri: a server that fetches request_uri by reference (OIDC Core §6.2), which the profile narrows away.
    s = await startTestServer({ ...shared, fapiProfile: '2.0', authorizationCodeTtl: 300, refreshTokenRotation: true, allowRemoteRequestUri: true }, { clock: () => clock });
    // No fapi_profile in its metadata: the tenant's profile applies all the same.
    fapi = (await s.client({
      token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [es.publicJwk, rsa.publicJwk] }, redirect_uris: [CB],
      grant_types: ['authorization_code', 'refresh_token'], scope: 'openid profile offline_access', skip_consent: true,
    })).clientId;
    agent = new Agent(s.issuer);
  });
  afterAll(async () => {
    await s?.close();
    if (databaseUrl) await dropTestDatabase(databaseUrl);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const assertion = (clientId: string) =>
    new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: es.publicJwk.kid })
      .setIssuer(clientId).setSubject(clientId).setAudience(s.issuer)
      .setIssuedAt(now()).setExpirationTime(now() + 60)
      .sign(es.privateKey);
  const dpopProof = (url: string, key: Keys, alg: string, opts: { htm?: string; accessToken?: string } = {}) =>
    new SignJWT({ htm: opts.htm ?? 'POST', htu: url, jti: randomUUID(), iat: now(), ...(opts.accessToken ? { ath: s256(opts.accessToken) } : {}) })
      .setProtectedHeader({ typ: 'dpop+jwt', alg, jwk: { ...key.publicJwk, kid: undefined } })
      .sign(key.privateKey);
  const authParams = (verifier: string) => ({
    response_type: 'code', redirect_uri: CB, scope: 'openid offline_access', state: 'st', code_challenge: s256(verifier), code_challenge_method: 'S256',
  });
  const push = async (clientId: string, params: Record<string, string>) =>
    postForm(s.url('/oauth/par'), { client_id: clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(clientId), ...params });
  const codeFor = async (clientId: string, verifier: string) => {
    const pushed = await push(clientId, authParams(verifier));
    expect(pushed.status).toBe(201);
    const cb = await agent.authorize(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: clientId, request_uri: pushed.json.request_uri }), 'alice', 'alice-password');
    expect(cb.searchParams.get('iss')).toBe(s.issuer); // RFC 9207
    return cb.searchParams.get('code')!;
  };
  const redeem = async (code: string, verifier: string, dpop?: string) =>
    postForm(s.url('/oauth/token'), {
      grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(fapi),
    }, dpop ? { dpop } : {});

  it('§5.3.2.1: a client_secret_basic client registered before is refused at the token endpoint with its right secret (401 invalid_client, LK7468)', async () => {
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', scope: 'api:read' }, { authorization: basic(legacySecret.clientId, legacySecret.clientSecret) });
    expect(r.status).toBe(401);
    expect(r.json.error).toBe('invalid_client'); // the description stays generic (the reason is in the result code)
    // At introspection too (RFC 7662 §2.1: the same client authentication).
    const i = await postForm(s.url('/oauth/introspect'), { token: 'x' }, { authorization: basic(legacySecret.clientId, legacySecret.clientSecret) });
    expect(i.status).toBe(401);
  });

  it('§5.3.2.1: the password grant of a client registered with it before is refused (400 unauthorized_client, LK7468)', async () => {
    const r = await postForm(s.url('/oauth/token'), {
      grant_type: 'password', username: 'alice', password: 'alice-password', client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(legacyKeyed),
    });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: 'unauthorized_client', error_description: expect.stringMatching(/password grant.*FAPI 2\.0/) });
  });

  it('§5.4.1: a client registered before with RS256 ID tokens is refused at PAR (400 unauthorized_client, LK7468), until updated', async () => {
    const r = await push(legacyKeyed, authParams(oauth.generateRandomCodeVerifier()));
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: 'unauthorized_client', error_description: expect.stringMatching(/id_token_signed_response_alg RS256/) });
  });

  it('§5.4.1: a client registered before without openid is not refused for the RS256 ID tokens it can never get', async () => {
    const r = await push(legacyOauth, { ...authParams(oauth.generateRandomCodeVerifier()), scope: 'api:read' });
    expect(r.status).toBe(201);
    expect(r.json.request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:/);
  });

  it('§5.3.2.2: a web client registered before with an http (loopback) redirect URI is refused at PAR (400 unauthorized_client, LK7468)', async () => {
    const r = await push(legacyHttp, { ...authParams(oauth.generateRandomCodeVerifier()), redirect_uri: 'http://127.0.0.1:9/cb' });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: 'unauthorized_client', error_description: expect.stringMatching(/redirect_uri uses http/) });
  });

  it('§5.4.1: the refresh token of a client registered before with RS256 ID tokens mints none: 400 unauthorized_client (LK7468)', async () => {
    const dpopKey = await keyPair('ES256', 'dpop');
    const r = await postForm(s.url('/oauth/token'), {
      grant_type: 'refresh_token', refresh_token: legacyRefresh.refreshToken, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(legacyRefresh.clientId),
    }, { dpop: await dpopProof(s.url('/oauth/token'), dpopKey, 'ES256') });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: 'unauthorized_client', error_description: expect.stringMatching(/id_token_signed_response_alg RS256/) });
  });

  it('§5.4.1: UserInfo signs nothing RS256 for a client registered before with userinfo_signed_response_alg RS256 (400 invalid_request, LK7468): its old refresh token still works', async () => {
    const dpopKey = await keyPair('ES256', 'dpop');
    const r = await postForm(s.url('/oauth/token'), {
      grant_type: 'refresh_token', refresh_token: legacyUserinfo.refreshToken, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(legacyUserinfo.clientId),
    }, { dpop: await dpopProof(s.url('/oauth/token'), dpopKey, 'ES256') });
    expect(r.status, r.text).toBe(200);
    expect(decodeProtectedHeader(r.json.id_token).alg).toBe('ES256');
    const userinfo = await fetch(s.url('/oauth/userinfo'), {
      headers: { authorization: `DPoP ${r.json.access_token}`, dpop: await dpopProof(s.url('/oauth/userinfo'), dpopKey, 'ES256', { htm: 'GET', accessToken: r.json.access_token }) },
    });
    const text = await userinfo.text();
    expect(userinfo.status, text).toBe(400);
    expect(userinfo.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_request"/);
    expect(JSON.parse(text)).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/userinfo_signed_response_alg RS256/) });
  });

  it('registration: metadata outside the profile is refused (invalid_client_metadata, LK7467); conforming metadata gets PAR, PKCE and ES256', async () => {
    const register = async (meta: Record<string, unknown>) => {
      const res = await fetch(s.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(meta) });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const refused = await register({ redirect_uris: [CB], token_endpoint_auth_method: 'client_secret_basic' });
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringMatching(/FAPI 2\.0 profile \(fapiProfile\): token_endpoint_auth_method/) });
    expect((await register({ redirect_uris: [CB], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [es.publicJwk] }, id_token_signed_response_alg: 'RS256' })).status).toBe(400);
    const ok = await register({ redirect_uris: [CB], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [es.publicJwk] } });
    expect(ok.status).toBe(201);
    expect(ok.json).toMatchObject({ require_pushed_authorization_requests: true, id_token_signed_response_alg: 'ES256' });
    expect(ok.json.fapi_profile).toBeUndefined(); // the tenant's policy, not the client's
  });

  it('§5.3.2.2: an authorization request that was not pushed is refused (redirected invalid_request, LK7460)', async () => {
    const direct = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: fapi, ...authParams(oauth.generateRandomCodeVerifier()) }));
    const cb = new URL(direct.location!);
    expect(cb.origin + cb.pathname).toBe(CB);
    expect(cb.searchParams.get('error')).toBe('invalid_request');
    expect(cb.searchParams.get('error_description')).toMatch(/must be pushed.*FAPI 2\.0/);
    expect(cb.searchParams.get('code')).toBeNull();
  });

  it('private_key_jwt + DPoP through PAR: a DPoP-bound token, an ES256 ID token, no rotation; without a proof no bearer token (LK7464)', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const code = await codeFor(fapi, verifier);
    // §5.3.2.1: no bearer token; the code stays unspent.
    const bearer = await redeem(code, verifier);
    expect(bearer.status).toBe(400);
    expect(bearer.json).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/sender-constrained/) });
    const dpopKey = await keyPair('ES256', 'dpop');
    const ok = await redeem(code, verifier, await dpopProof(s.url('/oauth/token'), dpopKey, 'ES256'));
    expect(ok.status).toBe(200);
    expect(ok.json.token_type).toBe('DPoP');
    expect(decodeProtectedHeader(ok.json.id_token).alg).toBe('ES256'); // §5.4.1
    expect(decodeJwt(ok.json.id_token).aud).toBe(fapi);
    const userinfo = await fetch(s.url('/oauth/userinfo'), {
      headers: { authorization: `DPoP ${ok.json.access_token}`, dpop: await dpopProof(s.url('/oauth/userinfo'), dpopKey, 'ES256', { htm: 'GET', accessToken: ok.json.access_token }) },
    });
    expect(userinfo.status).toBe(200);
    // §5.4.1: a JWT introspection answer (RFC 9701) is ES256 under the profile (RS256 otherwise); a resource server
    // registered before with introspection_signed_response_alg RS256 is refused one (LK7468).
    const introspect = async (clientId: string) => postForm(s.url('/oauth/introspect'), {
      token: ok.json.access_token, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(clientId),
    }, { accept: 'application/token-introspection+jwt' });
    const answer = await introspect(fapi);
    expect(answer.status).toBe(200);
    expect(decodeProtectedHeader(answer.text).alg).toBe('ES256');
    expect(decodeJwt(answer.text).token_introspection).toMatchObject({ active: true, client_id: fapi });
    const legacyAnswer = await introspect(legacyKeyed);
    expect(legacyAnswer.status).toBe(400);
    expect(legacyAnswer.json).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/introspection_signed_response_alg RS256/) });
    // §5.3.2.1: the tenant rotates refresh tokens, the profile does not.
    const refreshed = await postForm(s.url('/oauth/token'), {
      grant_type: 'refresh_token', refresh_token: ok.json.refresh_token, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(fapi),
    }, { dpop: await dpopProof(s.url('/oauth/token'), dpopKey, 'ES256') });
    expect(refreshed.status).toBe(200);
    expect(refreshed.json.refresh_token).toBe(ok.json.refresh_token);
  });

  it('§5.4.1: a DPoP proof signed RS256 is refused at the token endpoint and at UserInfo (LK7466); PS256 with the same key works', async () => {
    // The same RSA key, for RS256 (WebCrypto binds a key object to one algorithm).
    const rsaPkcs1: Keys = { privateKey: (await importJWK(await exportJWK(rsa.privateKey), 'RS256')) as CryptoKey, publicJwk: rsa.publicJwk };
    const verifier = oauth.generateRandomCodeVerifier();
    const code = await codeFor(fapi, verifier);
    const rs = await redeem(code, verifier, await dpopProof(s.url('/oauth/token'), rsaPkcs1, 'RS256'));
    expect(rs.status).toBe(400);
    expect(rs.json.error).toBe('invalid_dpop_proof');
    const ok = await redeem(code, verifier, await dpopProof(s.url('/oauth/token'), rsa, 'PS256'));
    expect(ok.status).toBe(200);
    const at = ok.json.access_token as string;
    const call = async (key: Keys, alg: string) => fetch(s.url('/oauth/userinfo'), {
      headers: { authorization: `DPoP ${at}`, dpop: await dpopProof(s.url('/oauth/userinfo'), key, alg, { htm: 'GET', accessToken: at }) },
    });
    const refused = await call(rsaPkcs1, 'RS256');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/invalid_dpop_proof/);
    // RFC 9449 §7.1: the challenge names the algs accepted, so not RS256, the one just refused.
    expect(refused.headers.get('www-authenticate')).toContain('algs="PS256 ES256 EdDSA"');
    // Every DPoP challenge of the tenant says the same: no proof at all for a DPoP-bound token.
    const noProof = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `DPoP ${at}` } });
    expect(noProof.status).toBe(401);
    expect(noProof.headers.get('www-authenticate')).toMatch(/^DPoP .*algs="PS256 ES256 EdDSA"/);
    expect((await call(rsa, 'PS256')).status).toBe(200);
  });

  it('§5.3.2.2: codes live at most 60 s though the tenant allows 300 s', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const dpopKey = await keyPair('ES256', 'dpop');
    const code = await codeFor(fapi, verifier);
    advance(61);
    const late = await redeem(code, verifier, await dpopProof(s.url('/oauth/token'), dpopKey, 'ES256'));
    expect(late.status).toBe(400);
    expect(late.json.error).toBe('invalid_grant');
  });

  it('RFC 8414 §2: discovery says PAR is required and lists only the profile\'s methods, algs, response types and grants', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      const d = await get(s.url(path));
      expect(d.require_pushed_authorization_requests).toBe(true);
      expect(d.response_types_supported).toEqual(['code']);
      expect(d.grant_types_supported).toContain('authorization_code');
      expect(d.grant_types_supported).not.toContain('implicit');
      expect(d.grant_types_supported).not.toContain('password');
      // A request by reference is not a pushed one (LK7460), though this server fetches request_uri for other tenants.
      expect(d.request_uri_parameter_supported).toBe(false);
      expect(d.require_request_uri_registration).toBeUndefined();
      for (const k of ['token_endpoint_auth_methods_supported', 'introspection_endpoint_auth_methods_supported', 'revocation_endpoint_auth_methods_supported']) {
        expect(d[k], k).toEqual(['private_key_jwt']); // no client certificates can reach this server (no TLS listener)
      }
      for (const k of ALG_LISTS) {
        if (d[k] === undefined) continue;
        expect(d[k].length, k).toBeGreaterThan(0);
        for (const alg of d[k]) expect(FAPI_ALGS, `${k}: ${alg}`).toContain(alg);
      }
      expect(d.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'PS256']));
    }
  });

  it('a tenant overrides it (settings.fapiProfile "off"): its clients and discovery are as without the profile; a bad value is refused', async () => {
    await createTenant(s.lk, { id: 'plain', settings: { fapiProfile: 'off' } });
    const ctx = await s.lk.context('plain');
    const { json } = await registerClient(ctx, { token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'], scope: 'api:read' });
    const r = await postForm(s.url('/t/plain/oauth/token'), { grant_type: 'client_credentials', scope: 'api:read' }, { authorization: basic(json.client_id as string, json.client_secret as string) });
    expect(r.status).toBe(200);
    expect(r.json.token_type).toBe('Bearer');
    const d = await get(s.url('/t/plain/.well-known/openid-configuration'));
    expect(d.require_pushed_authorization_requests).toBe(false);
    expect(d.token_endpoint_auth_methods_supported).toContain('client_secret_basic');
    expect(d.request_object_signing_alg_values_supported).toContain('none');
    await expect(createTenant(s.lk, { id: 'bad', settings: { fapiProfile: '1.0' } })).rejects.toThrow(/fapiProfile/);
  });
});

describe('FAPI 2.0 Security Profile per tenant, with the server\'s profile off (the default)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({});
  });
  afterAll(() => s.close());

  it('off, nothing changes: discovery offers every method and alg, a client_secret_basic client gets a bearer token', async () => {
    const d = await get(s.url('/.well-known/openid-configuration'));
    expect(d.require_pushed_authorization_requests).toBe(false);
    expect(d.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'none']));
    expect(d.response_types_supported).toContain('code id_token');
    expect(d.id_token_signing_alg_values_supported).toContain('RS256');
    expect(d.request_object_signing_alg_values_supported).toContain('none');
    const c = await s.client({ token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'], scope: 'api:read' });
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', scope: 'api:read' }, { authorization: basic(c.clientId, c.clientSecret!) });
    expect(r.status).toBe(200);
    expect(r.json.token_type).toBe('Bearer');
  });

  it('settings.fapiProfile "2.0" puts one tenant under it: its registration and discovery, not the default tenant\'s', async () => {
    const before = await get(s.url('/.well-known/openid-configuration'));
    await createTenant(s.lk, { id: 'bank', settings: { fapiProfile: '2.0' } });
    const ctx = await s.lk.context('bank');
    await expect(registerClient(ctx, { token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'], scope: 'api:read' }))
      .rejects.toMatchObject({ code: 'invalid_client_metadata', resultCode: 'LK7467' });
    const d = await get(s.url('/t/bank/.well-known/openid-configuration'));
    expect(d.require_pushed_authorization_requests).toBe(true);
    expect(d.token_endpoint_auth_methods_supported).toEqual(['private_key_jwt']);
    expect(d.id_token_signing_alg_values_supported).not.toContain('RS256');
    // The default tenant's document (also served by the fast path) is the same as before.
    expect(await get(s.url('/.well-known/openid-configuration'))).toEqual(before);
  });
});
