import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { makeTestPki, type Pem, type TestPki } from '../helpers/certs.js';
import { tlsFetch } from '../helpers/https-fetch.js';
import { postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { OAuthError } from '../../src/engine/errors.js';
import { validateClientMetadata } from '../../src/engine/client-metadata.js';

const CB = 'https://rp.example/cb';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const s256 = (v: string) => createHash('sha256').update(v).digest('base64url');

type Keys = { privateKey: CryptoKey; publicJwk: JWK };
async function keyPair(alg: string, kid: string): Promise<Keys> {
  const k = await generateKeyPair(alg, { extractable: true });
  return { privateKey: k.privateKey, publicJwk: { ...(await exportJWK(k.publicKey)), kid } };
}

/** A FAPI 2.0 client's metadata: private_key_jwt with inline keys. */
const fapiClient = (jwks: JWK[], extra: Record<string, unknown> = {}) => ({
  fapi_profile: '2.0', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: jwks }, redirect_uris: [CB],
  grant_types: ['authorization_code', 'refresh_token'], skip_consent: true, ...extra,
});

describe('FAPI 2.0 Security Profile (fapi_profile "2.0"): registration', () => {
  let es: Keys;
  beforeAll(async () => {
    es = await keyPair('ES256', 'es');
  });
  const refusal = (meta: Record<string, unknown>) => {
    try {
      validateClientMetadata(meta);
    } catch (e) {
      return e instanceof OAuthError ? { code: e.code, resultCode: e.resultCode, description: e.description } : e;
    }
    return undefined;
  };

  it.each([
    ['token_endpoint_auth_method client_secret_basic (§5.3.2.1: mTLS or private_key_jwt only)', { token_endpoint_auth_method: 'client_secret_basic', jwks: undefined }],
    ['token_endpoint_auth_method none (§5.3.2.1: confidential clients only)', { token_endpoint_auth_method: 'none', jwks: undefined }],
    ['the password grant (§5.3.2.1)', { grant_types: ['authorization_code', 'password'], insecure_password_grant: true }],
    ['response_types with a token (§5.3.2.2: code only)', { grant_types: ['authorization_code', 'implicit'], response_types: ['code', 'code token'] }],
    ['require_pushed_authorization_requests false (§5.3.2.2)', { require_pushed_authorization_requests: false }],
    ['require_pkce false (§5.3.2.2)', { require_pkce: false }],
    ['request_object_signing_alg RS256 (§5.4.1)', { request_object_signing_alg: 'RS256' }],
    ['request_object_signing_alg none (§5.4.1)', { request_object_signing_alg: 'none' }],
    ['token_endpoint_auth_signing_alg RS256 (§5.4.1)', { token_endpoint_auth_signing_alg: 'RS256' }],
    ['id_token_signed_response_alg RS256 (§5.4.1)', { id_token_signed_response_alg: 'RS256' }],
    ['an http redirect URI of a web client, loopback though it is (§5.3.2.2)', { redirect_uris: [CB, 'http://127.0.0.1:8080/cb'] }],
  ])('metadata contradicting the profile is invalid_client_metadata: %s', (_name, change) => {
    const meta = { ...fapiClient([es.publicJwk]), ...change } as Record<string, unknown>;
    for (const k of Object.keys(meta)) if (meta[k] === undefined) delete meta[k];
    expect(refusal(meta)).toMatchObject({ code: 'invalid_client_metadata', resultCode: 'LK7467' });
  });

  it('a client within the profile is accepted with PAR and PKCE required and ES256 ID tokens, and says fapi_profile', () => {
    const { metadata } = validateClientMetadata(fapiClient([es.publicJwk]));
    expect(metadata).toMatchObject({ fapiProfile: '2.0', requirePushedAuthorizationRequests: true, requirePkce: true, idTokenSignedResponseAlg: 'ES256', authorizationSignedResponseAlg: 'ES256' });
    // The same metadata without the profile keeps the general defaults.
    const { fapi_profile: _, ...plain } = fapiClient([es.publicJwk]);
    expect(validateClientMetadata(plain).metadata).toMatchObject({ requirePkce: false, idTokenSignedResponseAlg: 'RS256' });
    expect(validateClientMetadata(plain).metadata.fapiProfile).toBeUndefined();
  });

  it('§5.3.2.2, RFC 8252 §7.3: a native client\'s http loopback redirect URI is within the profile', () => {
    const native = { ...fapiClient([es.publicJwk]), application_type: 'native', redirect_uris: ['http://127.0.0.1/cb'] };
    expect(validateClientMetadata(native).metadata.fapiProfile).toBe('2.0');
  });

  it('tls_client_auth and self_signed_tls_client_auth are within the profile (§5.3.2.1: mTLS)', () => {
    expect(validateClientMetadata({ ...fapiClient([]), jwks: undefined, token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=fapi,O=Example' }).metadata.fapiProfile).toBe('2.0');
    expect(validateClientMetadata({ ...fapiClient([es.publicJwk]), token_endpoint_auth_method: 'self_signed_tls_client_auth' }).metadata.fapiProfile).toBe('2.0');
  });
});

describe('FAPI 2.0 Security Profile (fapi_profile "2.0"): enforcement over HTTP', () => {
  let s: TestServer;
  let clock = Date.now();
  const advance = (sec: number) => (clock += sec * 1000);
  const now = () => Math.floor(clock / 1000);
  let es: Keys;
  let rs: Keys;
  let fapi: string;
  let plain: string;
  let agent: Agent;

  beforeAll(async () => {
    // A tenant whose settings a FAPI client must not inherit: 300 s codes, rotating refresh tokens.
    s = await startTestServer({ authorizationCodeTtl: 300, refreshTokenRotation: true }, { clock: () => clock });
    es = await keyPair('ES256', 'es');
    rs = await keyPair('RS256', 'rs');
    fapi = (await s.client(fapiClient([es.publicJwk, rs.publicJwk]))).clientId;
    plain = (await s.client({ ...fapiClient([es.publicJwk, rs.publicJwk]), fapi_profile: undefined })).clientId;
    await s.user('alice', 'alice-password');
    agent = new Agent(s.issuer);
    // Sign in once (through the plain client: the FAPI one accepts no unpushed request).
    await agent.authorize(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: plain, redirect_uri: CB, response_type: 'code', scope: 'openid' }), 'alice', 'alice-password');
  });
  afterAll(() => s.close());

  const assertion = (clientId: string, opts: { key?: Keys; alg?: string; aud?: string | string[] } = {}) =>
    new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: opts.alg ?? 'ES256', kid: (opts.key ?? es).publicJwk.kid })
      .setIssuer(clientId).setSubject(clientId).setAudience(opts.aud ?? s.issuer)
      .setIssuedAt(now()).setExpirationTime(now() + 60)
      .sign((opts.key ?? es).privateKey);
  const dpopProof = async (url: string, key: Keys, alg: string) =>
    new SignJWT({ htm: 'POST', htu: url, jti: randomUUID(), iat: now() })
      .setProtectedHeader({ typ: 'dpop+jwt', alg, jwk: { ...key.publicJwk, kid: undefined } })
      .sign(key.privateKey);
  const authParams = (verifier: string, extra: Record<string, string | undefined> = {}) => {
    const p: Record<string, string> = { response_type: 'code', redirect_uri: CB, scope: 'openid offline_access', state: 'st', code_challenge: s256(verifier), code_challenge_method: 'S256' };
    for (const [k, v] of Object.entries(extra)) if (v === undefined) delete p[k]; else p[k] = v;
    return p;
  };
  const push = async (clientId: string, params: Record<string, string>, opts: { assertion?: string; dpop?: string } = {}) =>
    postForm(s.url('/oauth/par'), { client_id: clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: opts.assertion ?? (await assertion(clientId)), ...params }, opts.dpop ? { dpop: opts.dpop } : {});
  /** PAR, then the authorization endpoint: the code. */
  const codeFor = async (clientId: string, verifier: string) => {
    const pushed = await push(clientId, authParams(verifier));
    expect(pushed.status).toBe(201);
    const r = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: clientId, request_uri: pushed.json.request_uri }));
    const cb = new URL(r.location!);
    expect(cb.searchParams.get('iss')).toBe(s.issuer); // RFC 9207, FAPI 2.0 §5.3.2.2
    return cb.searchParams.get('code')!;
  };
  const redeem = async (clientId: string, code: string, verifier: string, dpop?: string) =>
    postForm(s.url('/oauth/token'), {
      grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(clientId),
    }, dpop ? { dpop } : {});

  it('§5.3.2.2: an authorization request that was not pushed is refused (redirected invalid_request, LK7460); pushed, it goes through', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const direct = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: fapi, ...authParams(verifier) }));
    const cb = new URL(direct.location!);
    expect(cb.origin + cb.pathname).toBe(CB);
    expect(cb.searchParams.get('error')).toBe('invalid_request');
    expect(cb.searchParams.get('error_description')).toMatch(/must be pushed.*FAPI 2\.0/);
    expect(cb.searchParams.get('code')).toBeNull();
    expect(await codeFor(fapi, verifier)).toMatch(/./);
  });

  it('§5.3.2.2: a pushed request without redirect_uri is refused (400 invalid_request, LK7461); the plain client may leave it out', async () => {
    const params = authParams(oauth.generateRandomCodeVerifier(), { redirect_uri: undefined, scope: 'profile' });
    const r = await push(fapi, params);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/redirect_uri/) });
    expect((await push(plain, params)).status).toBe(201);
  });

  it('§5.3.2.2: a pushed request without PKCE is refused (400 invalid_request, LK7462); the plain client may leave it out', async () => {
    const params = authParams('x'.repeat(43), { code_challenge: undefined, code_challenge_method: undefined });
    const r = await push(fapi, params);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/PKCE is required.*FAPI 2\.0/) });
    expect((await push(plain, params)).status).toBe(201);
  });

  it('§5.4.1: a request object signed with RS256 is refused (invalid_request_object, LK7463); with ES256 it is accepted', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const object = (key: Keys, alg: string, clientId = fapi) => new SignJWT({ ...authParams(verifier), client_id: clientId, iss: clientId, aud: s.issuer, jti: randomUUID(), nbf: now() })
      .setProtectedHeader({ alg, kid: key.publicJwk.kid, typ: 'oauth-authz-req+jwt' }).setIssuedAt(now()).setExpirationTime(now() + 60).sign(key.privateKey);
    const refused = await push(fapi, { request: await object(rs, 'RS256') });
    expect(refused.status).toBe(400);
    expect(refused.json.error).toBe('invalid_request_object');
    expect((await push(plain, { request: await object(rs, 'RS256', plain) })).status).toBe(201);
    expect((await push(fapi, { request: await object(es, 'ES256') })).status).toBe(201);
  });

  it('§5.4.1: a client assertion signed with RS256 is refused (401 invalid_client, LK7465); the plain client may use it', async () => {
    const params = authParams(oauth.generateRandomCodeVerifier());
    const r = await push(fapi, params, { assertion: await assertion(fapi, { key: rs, alg: 'RS256' }) });
    expect(r.status).toBe(401);
    expect(r.json.error).toBe('invalid_client');
    expect((await push(plain, params, { assertion: await assertion(plain, { key: rs, alg: 'RS256' }) })).status).toBe(201);
  });

  it('§5.3.2.1: a client assertion whose aud is an array, even [issuer], is refused (401 invalid_client, LK7469); the plain client may send one', async () => {
    const params = authParams(oauth.generateRandomCodeVerifier());
    const r = await push(fapi, params, { assertion: await assertion(fapi, { aud: [s.issuer] }) });
    expect(r.status).toBe(401);
    expect(r.json.error).toBe('invalid_client');
    expect((await push(plain, params, { assertion: await assertion(plain, { aud: [s.issuer] }) })).status).toBe(201);
  });

  it('§5.4.1: a DPoP proof signed with RS256 is refused at PAR (400 invalid_dpop_proof, LK7466); ES256 binds the code', async () => {
    const params = authParams(oauth.generateRandomCodeVerifier());
    const r = await push(fapi, params, { dpop: await dpopProof(s.url('/oauth/par'), rs, 'RS256') });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: 'invalid_dpop_proof', error_description: expect.stringMatching(/PS256, ES256, EdDSA/) });
    expect((await push(plain, params, { dpop: await dpopProof(s.url('/oauth/par'), rs, 'RS256') })).status).toBe(201);
    expect((await push(fapi, params, { dpop: await dpopProof(s.url('/oauth/par'), es, 'ES256') })).status).toBe(201);
  });

  it('§5.3.2.1: no bearer token: a token request without a DPoP proof or certificate is refused (invalid_request, LK7464) and the code stays unspent', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const code = await codeFor(fapi, verifier);
    const refused = await redeem(fapi, code, verifier);
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/sender-constrained/) });
    const dpopKey = await keyPair('ES256', 'dpop');
    const ok = await redeem(fapi, code, verifier, await dpopProof(s.url('/oauth/token'), dpopKey, 'ES256'));
    expect(ok.status).toBe(200);
    expect(ok.json.token_type).toBe('DPoP');
    // A DPoP proof signed with RS256 at the token endpoint: invalid_dpop_proof (§5.4.1).
    const code2 = await codeFor(fapi, verifier);
    const rsProof = await redeem(fapi, code2, verifier, await dpopProof(s.url('/oauth/token'), rs, 'RS256'));
    expect(rsProof.status).toBe(400);
    expect(rsProof.json.error).toBe('invalid_dpop_proof');
    // The plain client still gets a bearer token without a proof.
    const plainCode = await (async () => {
      const p = await push(plain, authParams(verifier));
      const r = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: plain, request_uri: p.json.request_uri }));
      return new URL(r.location!).searchParams.get('code')!;
    })();
    expect((await redeem(plain, plainCode, verifier)).json.token_type).toBe('Bearer');
  });

  it('§5.4.1: at UserInfo too, a FAPI client\'s DPoP proofs use PS256, ES256 or EdDSA: the RSA key its token is bound to cannot sign RS256 there', async () => {
    // One RSA key (a KeyObject signs with any RSA alg): PS256 at the token endpoint, then RS256 and PS256 at UserInfo.
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = pair.publicKey.export({ format: 'jwk' }) as JWK;
    const proof = (url: string, htm: string, alg: string, ath?: string) =>
      new SignJWT({ htm, htu: url, jti: randomUUID(), iat: now(), ...(ath ? { ath } : {}) }).setProtectedHeader({ typ: 'dpop+jwt', alg, jwk }).sign(pair.privateKey);
    const userinfo = async (token: string, alg: string) =>
      fetch(s.url('/oauth/userinfo'), { headers: { authorization: `DPoP ${token}`, dpop: await proof(s.url('/oauth/userinfo'), 'GET', alg, s256(token)) } });
    for (const [clientId, rs256] of [[fapi, 401], [plain, 200]] as const) {
      const verifier = oauth.generateRandomCodeVerifier();
      const r = await redeem(clientId, await codeFor(clientId, verifier), verifier, await proof(s.url('/oauth/token'), 'POST', 'PS256'));
      expect(r.status, r.text).toBe(200);
      expect(r.json.token_type).toBe('DPoP');
      const refused = await userinfo(r.json.access_token, 'RS256');
      expect(refused.status, clientId).toBe(rs256);
      if (rs256 === 401) {
        const challenge = refused.headers.get('www-authenticate') ?? '';
        expect(challenge).toMatch(/^DPoP /);
        expect(challenge).toContain('algs="PS256 ES256 EdDSA"'); // RFC 9449 §7.1
        expect(challenge).toContain('error="invalid_dpop_proof"');
      }
      expect((await userinfo(r.json.access_token, 'PS256')).status).toBe(200);
    }
  });

  it('§5.3.2.2: a FAPI client\'s code lives at most 60 s though the tenant allows 300 s', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const dpopKey = await keyPair('ES256', 'dpop');
    const code = await codeFor(fapi, verifier);
    advance(61);
    const late = await redeem(fapi, code, verifier, await dpopProof(s.url('/oauth/token'), dpopKey, 'ES256'));
    expect(late.status).toBe(400);
    expect(late.json.error).toBe('invalid_grant');
    const fresh = await codeFor(fapi, verifier);
    advance(59);
    expect((await redeem(fapi, fresh, verifier, await dpopProof(s.url('/oauth/token'), dpopKey, 'ES256'))).status).toBe(200);
  });

  it('§5.3.2.1: refresh tokens are not rotated for a FAPI client though the tenant rotates', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const dpopKey = await keyPair('ES256', 'dpop');
    const tokens = (await redeem(fapi, await codeFor(fapi, verifier), verifier, await dpopProof(s.url('/oauth/token'), dpopKey, 'ES256'))).json;
    expect(tokens.refresh_token).toEqual(expect.any(String));
    const refresh = async () => postForm(s.url('/oauth/token'), {
      grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(fapi),
    }, { dpop: await dpopProof(s.url('/oauth/token'), dpopKey, 'ES256') });
    for (let i = 0; i < 2; i++) {
      const r = await refresh();
      expect(r.status).toBe(200);
      expect(r.json.refresh_token).toBe(tokens.refresh_token);
      expect(r.json.token_type).toBe('DPoP');
    }
  });
});

describe('FAPI 2.0 Security Profile over mutual TLS', () => {
  let pki: TestPki;
  let s: TestServer;
  let as: oauth.AuthorizationServer;
  let cert: Pem;
  let clientId: string;

  beforeAll(async () => {
    pki = makeTestPki();
    s = await startTestServer({ tlsCert: pki.server.certFile, tlsKey: pki.server.keyFile, tlsClientCa: pki.ca.certFile });
    cert = pki.client('fapi-mtls', '/O=Example/CN=fapi-service');
    // No tls_client_certificate_bound_access_tokens: the profile binds the tokens all the same.
    clientId = (await s.client({
      fapi_profile: '2.0', grant_types: ['client_credentials'], scope: 'api:read', token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: 'CN=fapi-service,O=Example', access_token_format: 'jwt',
    })).clientId;
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { [oauth.customFetch]: tlsFetch({ ca: pki.ca.cert }) }));
  });
  afterAll(async () => {
    await s.close();
    pki.cleanup();
  });

  it('§5.3.2.1: the access token of a tls_client_auth FAPI client is bound to its certificate (cnf x5t#S256, RFC 8705 §3)', async () => {
    const res = await oauth.clientCredentialsGrantRequest(as, { client_id: clientId }, oauth.TlsClientAuth(), { scope: 'api:read' }, {
      [oauth.customFetch]: tlsFetch({ ca: pki.ca.cert, cert: cert.cert, key: cert.key }),
    });
    const tok = await oauth.processClientCredentialsResponse(as, { client_id: clientId }, res);
    expect(decodeJwt(tok.access_token).cnf).toEqual({ 'x5t#S256': expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
  });
});

describe('FAPI 2.0 Security Profile: fapi_profile is the operator\'s (RFC 7591 §2, RFC 7592 §2.2)', () => {
  let s: TestServer;
  let es: Keys;
  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
    es = await keyPair('ES256', 'es');
  });
  afterAll(() => s.close());

  const register = (meta: Record<string, unknown>) => fetch(s.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(meta) });
  const update = (uri: string, token: string, meta: Record<string, unknown>) =>
    fetch(uri, { method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(meta) });

  it('a client cannot put itself under the profile, nor take itself out of it once its operator did', async () => {
    const { skip_consent: _, ...meta } = fapiClient([es.publicJwk]);
    const res = await register(meta);
    expect(res.status).toBe(201);
    const reg = (await res.json()) as Record<string, unknown>;
    expect(reg.fapi_profile).toBeUndefined();
    const id = reg.client_id as string;
    // The operator puts it under the profile (admin API, CLI: the same service).
    const { replaceClient } = await import('../../src/services/clients.js');
    const { fapi_profile: _f, ...sent } = meta;
    await replaceClient(s.ctx, id, { ...sent, client_id: id, fapi_profile: '2.0' });
    // RFC 7592 update without fapi_profile: kept.
    const kept = await update(reg.registration_client_uri as string, reg.registration_access_token as string, { ...sent, client_id: id });
    expect(kept.status).toBe(200);
    const keptJson = (await kept.json()) as Record<string, unknown>;
    expect(keptJson.fapi_profile).toBe('2.0');
    // And an update contradicting the profile is refused (LK7467).
    const refused = await update(reg.registration_client_uri as string, (keptJson.registration_access_token ?? reg.registration_access_token) as string, { ...sent, client_id: id, token_endpoint_auth_method: 'client_secret_basic', jwks: undefined });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringMatching(/^fapi_profile 2\.0: token_endpoint_auth_method/) });
  });
});
