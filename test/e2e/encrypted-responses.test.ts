import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import {
  compactDecrypt, createRemoteJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, type CryptoKey, type JWK,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Encrypted responses end to end (OIDC Core §10.2, §16.14, §5.3.2; OIDC Registration §2; JARM §2.2; RFC 9701 §5-§6):
 * real clients (openid-client with enableDecryptingResponses, oauth4webapi, jose compactDecrypt + jwtVerify) decrypt
 * and verify what the server sends, for clients with inline jwks and with a jwks_uri; a client whose keys cannot be
 * used is refused with a clear error and never gets an unencrypted answer.
 */
const CB = 'https://rp.example/cb';
const GRANT_DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const decoder = new TextDecoder();

interface Pair { publicKey: CryptoKey; privateKey: CryptoKey; jwk: Record<string, unknown> }
async function pair(alg: string, opts: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<Pair> {
  const p = await generateKeyPair(alg, { extractable: true, ...opts });
  return { ...p, jwk: { ...(await exportJWK(p.publicKey)), use: 'enc', ...extra } };
}

describe('encrypted responses (end to end)', () => {
  let s: TestServer;
  let jwksServer: Server;
  let jwksBase: string;
  const documents = new Map<string, { keys: Record<string, unknown>[] }>();
  let ourKeys: ReturnType<typeof createRemoteJWKSet>;
  let aliceSub: string;

  let rsaOaep256: Pair; // inline: ID token + signed-then-encrypted UserInfo
  let p256: Pair; // jwks_uri: ID token (ECDH-ES) and encrypted-only UserInfo (ECDH-ES+A128KW)
  let p256Kw: Pair;
  let x25519: Pair; // JARM
  let rsaOaep: Pair; // introspection, device
  let rsa: { clientId: string; clientSecret?: string };
  let remote: { clientId: string; clientSecret?: string };
  let jarm: { clientId: string; clientSecret?: string };
  let rs: { clientId: string; clientSecret?: string };
  let app: { clientId: string; clientSecret?: string };
  let tv: { clientId: string };
  let broken: { clientId: string; clientSecret?: string };
  let brokenJarm: { clientId: string; clientSecret?: string };
  let brokenRs: { clientId: string; clientSecret?: string };
  let plain: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    jwksServer = createServer((req, res) => {
      const doc = documents.get(req.url ?? '');
      if (!doc) return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify(doc));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksBase = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;
    s = await startTestServer({ insecureAllowHttpJwksUri: true });
    ourKeys = createRemoteJWKSet(new URL(s.url('/.well-known/jwks.json')));
    aliceSub = await s.user('alice', 'alice-password', { name: 'Alice Liddell', email: 'alice@example.com', email_verified: true });

    rsaOaep256 = await pair('RSA-OAEP-256', {}, { kid: 'rp-enc-1' });
    p256 = await pair('ECDH-ES', { crv: 'P-256' }, { kid: 'p256-es', alg: 'ECDH-ES' });
    p256Kw = await pair('ECDH-ES+A128KW', { crv: 'P-256' }, { kid: 'p256-kw', alg: 'ECDH-ES+A128KW' });
    x25519 = await pair('ECDH-ES+A256KW', { crv: 'X25519' }, { kid: 'x25519' });
    rsaOaep = await pair('RSA-OAEP');
    const sigOnly = { ...(await exportJWK((await generateKeyPair('RS256', { extractable: true })).publicKey)), use: 'sig' };
    documents.set('/remote', { keys: [sigOnly, p256.jwk, p256Kw.jwk] });
    documents.set('/broken', { keys: [sigOnly] });

    const code = { grant_types: ['authorization_code', 'refresh_token'], skip_consent: true };
    rsa = await s.client({
      ...code, redirect_uris: [CB], jwks: { keys: [rsaOaep256.jwk] },
      id_token_encrypted_response_alg: 'RSA-OAEP-256', id_token_encrypted_response_enc: 'A256GCM',
      userinfo_signed_response_alg: 'ES256', userinfo_encrypted_response_alg: 'RSA-OAEP-256',
    });
    remote = await s.client({
      grant_types: ['authorization_code', 'implicit'], response_types: ['code', 'code id_token'], skip_consent: true, redirect_uris: [CB], jwks_uri: `${jwksBase}/remote`,
      id_token_encrypted_response_alg: 'ECDH-ES', userinfo_encrypted_response_alg: 'ECDH-ES+A128KW', userinfo_encrypted_response_enc: 'A128GCM',
    });
    jarm = await s.client({
      grant_types: ['authorization_code', 'implicit'], response_types: ['code', 'code id_token'], skip_consent: true, redirect_uris: [CB], jwks: { keys: [x25519.jwk] },
      authorization_encrypted_response_alg: 'ECDH-ES+A256KW', authorization_encrypted_response_enc: 'A256CBC-HS512',
    });
    rs = await s.client({ grant_types: ['client_credentials'], jwks: { keys: [rsaOaep.jwk] }, introspection_encrypted_response_alg: 'RSA-OAEP' });
    app = await s.client({ grant_types: ['client_credentials'], scope: 'api' });
    tv = await s.client({ grant_types: [GRANT_DEVICE], token_endpoint_auth_method: 'none', scope: 'openid profile', jwks: { keys: [rsaOaep.jwk] }, id_token_encrypted_response_alg: 'RSA-OAEP' });
    broken = await s.client({
      grant_types: ['authorization_code', 'implicit'], response_types: ['code', 'code id_token'], skip_consent: true, redirect_uris: [CB], jwks_uri: `${jwksBase}/broken`,
      id_token_encrypted_response_alg: 'RSA-OAEP', userinfo_encrypted_response_alg: 'RSA-OAEP',
    });
    brokenJarm = await s.client({ ...code, redirect_uris: [CB], jwks_uri: `${jwksBase}/broken`, authorization_encrypted_response_alg: 'RSA-OAEP-256' });
    brokenRs = await s.client({ grant_types: ['client_credentials'], jwks_uri: `${jwksBase}/broken`, introspection_encrypted_response_alg: 'ECDH-ES' });
    plain = await s.client({ ...code, redirect_uris: [CB] });
  });
  afterAll(async () => {
    await s?.close();
    await new Promise((resolve) => jwksServer?.close(resolve));
  });

  const discover = (c: { clientId: string; clientSecret?: string }, metadata: Partial<client.ClientMetadata> = {}) =>
    client.discovery(new URL(s.issuer), c.clientId, metadata, client.ClientSecretBasic(c.clientSecret!), { execute: [client.allowInsecureRequests] });
  const authUrl = (clientId: string, params: Record<string, string>) => s.url(`/oauth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: CB, ...params })}`);
  const signIn = (url: string) => new Agent(s.issuer).authorize(url, 'alice', 'alice-password');
  const fragment = (u: URL) => new URLSearchParams(u.hash.slice(1));
  /** jose: decrypt, check the JWE header, verify the nested JWS with our JWKS. */
  async function openNested(jwe: string, key: CryptoKey, audience: string, header: Record<string, unknown> = {}) {
    const { plaintext, protectedHeader } = await compactDecrypt(jwe, key);
    expect(protectedHeader).toMatchObject({ cty: 'JWT', ...header });
    return jwtVerify(decoder.decode(plaintext), ourKeys, { issuer: s.issuer, audience });
  }
  async function codeFor(c: { clientId: string }, scope = 'openid email') {
    const verifier = oauth.generateRandomCodeVerifier();
    const u = await signIn(authUrl(c.clientId, { response_type: 'code', scope, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }));
    return { code: u.searchParams.get('code')!, verifier };
  }
  const redeem = (c: { clientId: string; clientSecret?: string }, x: { code: string; verifier: string }) =>
    postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: x.code, redirect_uri: CB, code_verifier: x.verifier }, { authorization: basic(c.clientId, c.clientSecret!) });

  it('OIDC Core §10.2, §16.14: openid-client decrypts and validates an encrypted ID token (RSA-OAEP-256, A256GCM) from the code flow and from refresh', async () => {
    const config = await discover(rsa, { id_token_encrypted_response_alg: 'RSA-OAEP-256', userinfo_signed_response_alg: 'ES256' });
    client.enableDecryptingResponses(config, undefined, { key: rsaOaep256.privateKey, kid: 'rp-enc-1' });
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const cb = await signIn(client.buildAuthorizationUrl(config, {
      redirect_uri: CB, scope: 'openid email offline_access', nonce, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).href);
    const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedNonce: nonce, idTokenExpected: true });
    expect(tokens.claims()).toMatchObject({ sub: aliceSub, aud: rsa.clientId, nonce, iss: s.issuer });
    expect(tokens.id_token!.split('.')).toHaveLength(5); // a JWE (RFC 7516 §7.1)
    const { payload, protectedHeader } = await openNested(tokens.id_token!, rsaOaep256.privateKey, rsa.clientId, { alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'rp-enc-1' });
    expect(protectedHeader.alg).toBe('RS256'); // the client's id_token_signed_response_alg (default): signed, then encrypted
    expect(payload.at_hash).toBeTruthy();
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.id_token!.split('.')).toHaveLength(5);
    expect(refreshed.claims()!.sub).toBe(aliceSub);

    // OIDC Core §5.3.2: signed (ES256) then encrypted, application/jwt; openid-client decrypts and verifies it.
    const info = await client.fetchUserInfo(config, tokens.access_token, aliceSub);
    expect(info).toMatchObject({ sub: aliceSub, email: 'alice@example.com' });
    const raw = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(raw.headers.get('content-type')).toMatch(/^application\/jwt/);
    const inner = await openNested(await raw.text(), rsaOaep256.privateKey, rsa.clientId, { alg: 'RSA-OAEP-256', enc: 'A128CBC-HS256' });
    expect(inner.protectedHeader.alg).toBe('ES256');
    expect(inner.payload.sub).toBe(aliceSub);
  });

  it('OIDC Core §5.3.2: UserInfo encrypted without signing is the claims encrypted to a jwks_uri key (ECDH-ES+A128KW, A128GCM), no cty', async () => {
    const x = await codeFor(remote);
    const r = await redeem(remote, x);
    expect(r.status).toBe(200);
    const body = r.json as { access_token: string; id_token: string };
    // ID token with ECDH-ES (direct key agreement) to the P-256 key of the jwks_uri document, enc defaulted.
    const id = await openNested(body.id_token, p256.privateKey, remote.clientId, { alg: 'ECDH-ES', enc: 'A128CBC-HS256', kid: 'p256-es' });
    expect(id.payload.sub).toBe(aliceSub);
    const res = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${body.access_token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/jwt/);
    const jwe = await res.text();
    const { plaintext, protectedHeader } = await compactDecrypt(jwe, p256Kw.privateKey);
    expect(protectedHeader).toEqual(expect.objectContaining({ alg: 'ECDH-ES+A128KW', enc: 'A128GCM', kid: 'p256-kw' }));
    expect(protectedHeader.cty).toBeUndefined(); // the plaintext is a claims set, not a nested JWT
    expect(JSON.parse(decoder.decode(plaintext))).toMatchObject({ sub: aliceSub, email: 'alice@example.com', iss: s.issuer, aud: remote.clientId });
  });

  it('OIDC Core §10.2: oauth4webapi, given a jose compactDecrypt hook (jweDecrypt), validates the encrypted ID token of a jwks_uri client', async () => {
    const as = await oauth.processDiscoveryResponse(new URL(s.issuer), await oauth.discoveryRequest(new URL(s.issuer), { [oauth.allowInsecureRequests]: true }));
    const rp: oauth.Client = { client_id: remote.clientId, id_token_encrypted_response_alg: 'ECDH-ES' };
    const verifier = oauth.generateRandomCodeVerifier();
    const nonce = oauth.generateRandomNonce();
    const u = await signIn(authUrl(remote.clientId, { response_type: 'code', scope: 'openid', nonce, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }));
    const params = oauth.validateAuthResponse(as, rp, u);
    const res = await oauth.authorizationCodeGrantRequest(as, rp, oauth.ClientSecretBasic(remote.clientSecret!), params, CB, verifier, { [oauth.allowInsecureRequests]: true });
    const tokens = await oauth.processAuthorizationCodeResponse(as, rp, res, {
      expectedNonce: nonce,
      requireIdToken: true,
      [oauth.jweDecrypt]: async (jwe) => decoder.decode((await compactDecrypt(jwe, p256.privateKey, { keyManagementAlgorithms: ['ECDH-ES'] })).plaintext),
    });
    expect(oauth.getValidatedIdTokenClaims(tokens)).toMatchObject({ sub: aliceSub, aud: remote.clientId, nonce });
  });

  it('OIDC Core §3.3.2.11, §10.2: the hybrid flow\'s front-channel ID token is encrypted too, with c_hash and s_hash inside', async () => {
    const u = await signIn(authUrl(remote.clientId, { response_type: 'code id_token', scope: 'openid', nonce: 'n-h', state: 'st-h' }));
    const f = fragment(u);
    expect(f.get('code')).toBeTruthy();
    const { payload } = await openNested(f.get('id_token')!, p256.privateKey, remote.clientId, { alg: 'ECDH-ES' });
    expect(payload).toMatchObject({ nonce: 'n-h', sub: aliceSub });
    expect(payload.c_hash).toBeTruthy();
    expect(payload.s_hash).toBeTruthy();
  });

  it('JARM §2.2: openid-client (useJwtResponseMode) decrypts an encrypted authorization response (ECDH-ES+A256KW over X25519, A256CBC-HS512)', async () => {
    const config = await discover(jarm, { authorization_encrypted_response_alg: 'ECDH-ES+A256KW' });
    client.useJwtResponseMode(config);
    client.enableDecryptingResponses(config, undefined, { key: x25519.privateKey, kid: 'x25519' });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const cb = await signIn(client.buildAuthorizationUrl(config, {
      redirect_uri: CB, scope: 'openid', state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).href);
    const response = cb.searchParams.get('response')!;
    expect(cb.searchParams.get('code')).toBeNull();
    expect(decodeProtectedHeader(response)).toMatchObject({ alg: 'ECDH-ES+A256KW', enc: 'A256CBC-HS512', kid: 'x25519', cty: 'JWT' });
    const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()!.sub).toBe(aliceSub);
  });

  it('JARM §2.3.1: query.jwt carries tokens when the response is encrypted; errors are encrypted too', async () => {
    const u = await signIn(authUrl(jarm.clientId, { response_type: 'code id_token', scope: 'openid', nonce: 'n-q', response_mode: 'query.jwt' }));
    expect(u.hash).toBe('');
    const { payload } = await openNested(u.searchParams.get('response')!, x25519.privateKey, jarm.clientId);
    expect(payload.code).toBeTruthy();
    expect(typeof payload.id_token).toBe('string');
    // An error response (unsupported scope value combination: prompt=none without a session) goes back encrypted.
    const fresh = new Agent(s.issuer);
    const r = await fresh.follow(authUrl(jarm.clientId, { response_type: 'code', scope: 'openid', response_mode: 'query.jwt', prompt: 'none' }));
    const err = await openNested(new URL(r.location!).searchParams.get('response')!, x25519.privateKey, jarm.clientId);
    expect(err.payload.error).toBe('login_required');
    // Without registered encryption, query.jwt with tokens stays refused (sent as fragment.jwt).
    const plainU = await signIn(authUrl(remote.clientId, { response_type: 'code id_token', scope: 'openid', nonce: 'n', response_mode: 'query.jwt' }));
    const { payload: refused } = await jwtVerify(fragment(plainU).get('response')!, ourKeys, { issuer: s.issuer, audience: remote.clientId });
    expect(refused.error).toBe('invalid_request');
  });

  it('RFC 9701 §5, §6: openid-client (tokenIntrospection) decrypts the signed-then-encrypted introspection JWT (RSA-OAEP, default enc)', async () => {
    const at = (await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', scope: 'api' }, { authorization: basic(app.clientId, app.clientSecret!) })).json.access_token as string;
    const config = await discover(rs, { introspection_signed_response_alg: 'RS256', introspection_encrypted_response_alg: 'RSA-OAEP' });
    client.enableDecryptingResponses(config, undefined, rsaOaep.privateKey);
    const answer = await client.tokenIntrospection(config, at);
    expect(answer).toMatchObject({ active: true, client_id: app.clientId });
    const raw = await fetch(s.url('/oauth/introspect'), {
      method: 'POST', body: new URLSearchParams({ token: at }),
      headers: { authorization: basic(rs.clientId, rs.clientSecret!), accept: 'application/token-introspection+jwt', 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(raw.headers.get('content-type')).toMatch(/^application\/token-introspection\+jwt/);
    const { payload } = await openNested(await raw.text(), rsaOaep.privateKey, rs.clientId, { alg: 'RSA-OAEP', enc: 'A128CBC-HS256' });
    expect(payload.token_introspection).toMatchObject({ active: true });
  });

  it('RFC 8628 §3.5, OIDC Core §10.2: the device grant\'s ID token is encrypted to the device client', async () => {
    const d = (await postForm(s.url('/oauth/device_authorization'), { client_id: tv.clientId, scope: 'openid profile' })).json as { device_code: string; user_code: string };
    const done = await new Agent(s.issuer).approveDevice(d.user_code, 'alice', 'alice-password');
    expect(done.html).toContain('Device connected');
    const r = await postForm(s.url('/oauth/token'), { grant_type: GRANT_DEVICE, device_code: d.device_code, client_id: tv.clientId });
    expect(r.status).toBe(200);
    const { payload } = await openNested(r.json.id_token as string, rsaOaep.privateKey, tv.clientId, { alg: 'RSA-OAEP' });
    expect(payload.sub).toBe(aliceSub);
  });

  it('a client without encryption is answered as before: signed ID token, JSON UserInfo', async () => {
    const x = await codeFor(plain);
    const r = await redeem(plain, x);
    const body = r.json as { access_token: string; id_token: string };
    expect(body.id_token.split('.')).toHaveLength(3);
    const res = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${body.access_token}` } });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  });

  describe('no usable key at use time (jwks_uri without an encryption key): a clear error, never an unencrypted answer', () => {
    it('token endpoint: 400 invalid_client_metadata (LK7240), and the code is not spent', async () => {
      const x = await codeFor(broken);
      const r = await redeem(broken, x);
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({ error: 'invalid_client_metadata' });
      expect(r.json.error_description).toContain('id_token_encrypted_response_alg RSA-OAEP');
      expect(JSON.stringify(r.json)).not.toContain('id_token":');
      const stored = await s.ctx.store.findCode(s.ctx.tenant.id, s.ctx.hasher.hash(x.code));
      expect(stored?.consumedAt).toBeNull();
    });

    it('authorization endpoint: an ID token response is refused, redirected as invalid_client_metadata without any token', async () => {
      const u = await signIn(authUrl(broken.clientId, { response_type: 'code id_token', scope: 'openid', nonce: 'n', state: 'st' }));
      const f = fragment(u);
      expect(f.get('error')).toBe('invalid_client_metadata');
      expect(f.get('state')).toBe('st');
      expect(f.get('id_token')).toBeNull();
      expect(f.get('code')).toBeNull();
    });

    it('authorization endpoint: a JARM client without a key gets nothing redirected; the user agent sees a 400', async () => {
      const r = await new Agent(s.issuer).follow(authUrl(brokenJarm.clientId, { response_type: 'code', scope: 'openid', response_mode: 'jwt' }));
      expect(r.status).toBe(400);
      expect(r.location).toBeUndefined();
      expect(r.html).toContain('invalid_client_metadata');
    });

    it('UserInfo: 400 invalid_request with a Bearer challenge naming the problem, no claims', async () => {
      // A client that encrypts only UserInfo, so the token endpoint issues its tokens.
      const onlyUserinfo = await s.client({ grant_types: ['authorization_code'], skip_consent: true, redirect_uris: [CB], jwks_uri: `${jwksBase}/broken`, userinfo_encrypted_response_alg: 'RSA-OAEP-256' });
      const x = await codeFor(onlyUserinfo);
      const at = (await redeem(onlyUserinfo, x)).json.access_token as string;
      const res = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${at}` } });
      expect(res.status).toBe(400);
      expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_request".*userinfo_encrypted_response_alg RSA-OAEP-256/);
      expect(await res.text()).not.toContain('alice@example.com');
    });

    it('introspection: a JWT answer is refused with 400 invalid_client_metadata; the JSON answer still works', async () => {
      const at = (await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', scope: 'api' }, { authorization: basic(app.clientId, app.clientSecret!) })).json.access_token as string;
      const ask = (accept?: string) => fetch(s.url('/oauth/introspect'), {
        method: 'POST', body: new URLSearchParams({ token: at }),
        headers: { authorization: basic(brokenRs.clientId, brokenRs.clientSecret!), 'content-type': 'application/x-www-form-urlencoded', ...(accept ? { accept } : {}) },
      });
      const jwt = await ask('application/token-introspection+jwt');
      expect(jwt.status).toBe(400);
      expect(await jwt.json()).toMatchObject({ error: 'invalid_client_metadata' });
      const json = await ask();
      expect(json.status).toBe(200);
      expect(await json.json()).toMatchObject({ active: true });
    });
  });

  it('RFC 7517 §4, OIDC Registration §2: jwks holds public keys only; a client registering its private decryption key is refused', async () => {
    const full = { ...(await exportJWK(rsaOaep256.privateKey)), use: 'enc' } as JWK;
    expect(full.d).toBeDefined();
    await expect(s.client({ redirect_uris: [CB], jwks: { keys: [full] }, id_token_encrypted_response_alg: 'RSA-OAEP-256' }))
      .rejects.toMatchObject({ code: 'invalid_client_metadata' });
    // The public half (what `rsa` registered, without d, p, q, dp, dq, qi) is accepted and used: see the first test.
  });
});
