import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, calculateJwkThumbprint, type CryptoKey } from 'jose';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { accessTokenHash } from '../../src/engine/dpop.js';
import { tokenKey } from '../../src/tokens/handles.js';

const CB = 'https://rp.example/cb';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

type Pair = { publicKey: CryptoKey; privateKey: CryptoKey };

/** A DPoP proof made by hand (RFC 9449 §4.2), for the cases a well-behaved client never sends. */
async function proof(keys: Pair, htm: string, htu: string, extra: Record<string, unknown> = {}, alg = 'ES256'): Promise<string> {
  const jwk = await exportJWK(keys.publicKey);
  return new SignJWT({ htm, htu, jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000), ...extra })
    .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk })
    .sign(keys.privateKey);
}

async function setup(s: TestServer) {
  const as = await oauth.processDiscoveryResponse(new URL(s.issuer), await oauth.discoveryRequest(new URL(s.issuer), insecure));
  const pub = await s.client({ redirect_uris: [CB], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], skip_consent: true });
  const sub = await s.user('alice', 'alice-password', { name: 'Alice' });
  return { as, pub, sub };
}

/** Sign alice in and return the callback parameters; `extra` goes into the authorization request. */
async function authorize(s: TestServer, as: oauth.AuthorizationServer, client: oauth.Client, extra: Record<string, string> = {}) {
  const verifier = oauth.generateRandomCodeVerifier();
  const url = new URL(as.authorization_endpoint!);
  url.search = new URLSearchParams({
    client_id: client.client_id, redirect_uri: CB, response_type: 'code', scope: 'openid offline_access',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
  }).toString();
  const cb = await new Agent(s.issuer).authorize(url.href, 'alice', 'alice-password');
  return { params: oauth.validateAuthResponse(as, client, cb, oauth.expectNoState), verifier };
}

/** Code flow with oauth4webapi's DPoP handle, retrying once on use_dpop_nonce as the library expects. */
async function dpopCodeFlow(s: TestServer, as: oauth.AuthorizationServer, client: oauth.Client, DPoP: oauth.DPoPHandle) {
  const { params, verifier } = await authorize(s, as, client);
  const grant = () => oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, CB, verifier, { ...insecure, DPoP });
  try {
    return await oauth.processAuthorizationCodeResponse(as, client, await grant());
  } catch (e) {
    if (!oauth.isDPoPNonceError(e)) throw e;
    return oauth.processAuthorizationCodeResponse(as, client, await grant());
  }
}

describe('RFC 9449 DPoP', () => {
  let s: TestServer;
  let as: oauth.AuthorizationServer;
  let pub: { clientId: string };
  let sub: string;

  beforeAll(async () => {
    s = await startTestServer();
    ({ as, pub, sub } = await setup(s));
  });
  afterAll(() => s.close());

  it('RFC 9449 §5.1: discovery lists dpop_signing_alg_values_supported', () => {
    expect(as.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'RS256', 'PS256', 'EdDSA']));
    expect((as as Record<string, unknown>).tls_client_certificate_bound_access_tokens).toBeUndefined(); // no certificate source here
  });

  it('RFC 9449 §5, §7: oauth4webapi code flow binds access and refresh tokens to the key; UserInfo with DPoP; refresh with the same key', async () => {
    const client: oauth.Client = { client_id: pub.clientId };
    const keys = await oauth.generateKeyPair('ES256');
    const DPoP = oauth.DPoP(client, keys);
    const tokens = await dpopCodeFlow(s, as, client, DPoP);
    expect(tokens.token_type).toBe('dpop');
    const jkt = await calculateJwkThumbprint(await exportJWK(keys.publicKey));
    const rec = await s.ctx.store.findToken(s.ctx.tenant.id, tokenKey(s.ctx.hasher, tokens.access_token));
    expect(rec!.data.cnf).toEqual({ jkt });

    const info = await oauth.processUserInfoResponse(as, client, sub, await oauth.userInfoRequest(as, client, tokens.access_token, { ...insecure, DPoP }));
    expect(info.sub).toBe(sub);

    // §5: a public client's refresh token is bound: another key is refused, the same key works.
    const other = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const bad = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, { ...insecure, DPoP: other });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_grant' });
    const noProof = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, insecure);
    expect(await noProof.json()).toMatchObject({ error: 'invalid_grant' });
    const refreshed = await oauth.processRefreshTokenResponse(
      as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, { ...insecure, DPoP }),
    );
    expect(refreshed.token_type).toBe('dpop');
    await oauth.processUserInfoResponse(as, client, sub, await oauth.userInfoRequest(as, client, refreshed.access_token, { ...insecure, DPoP }));
  });

  it('RFC 9449 §7.2: a DPoP-bound token presented as Bearer is refused with a DPoP challenge', async () => {
    const client: oauth.Client = { client_id: pub.clientId };
    const keys = await oauth.generateKeyPair('ES256');
    const tokens = await dpopCodeFlow(s, as, client, oauth.DPoP(client, keys));
    const asBearer = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP .*algs="[^"]*ES256/);
    // Even with a valid proof alongside: the scheme must be DPoP.
    const withProof = await fetch(s.url('/oauth/userinfo'), {
      headers: { authorization: `Bearer ${tokens.access_token}`, dpop: await proof(keys, 'GET', s.url('/oauth/userinfo'), { ath: accessTokenHash(tokens.access_token) }) },
    });
    expect(withProof.status).toBe(401);
  });

  it('RFC 9449 §4.3, §7.1: at UserInfo, a proof by another key, for another method or URL, without ath, or replayed is refused', async () => {
    const client: oauth.Client = { client_id: pub.clientId };
    const keys = await oauth.generateKeyPair('ES256');
    const tokens = await dpopCodeFlow(s, as, client, oauth.DPoP(client, keys));
    const at = tokens.access_token;
    const ui = s.url('/oauth/userinfo');
    const call = (p: string) => fetch(ui, { headers: { authorization: `DPoP ${at}`, dpop: p } });
    const ath = accessTokenHash(at);

    const otherKey = await call(await proof(await oauth.generateKeyPair('ES256'), 'GET', ui, { ath }));
    expect(otherKey.status).toBe(401);
    expect(otherKey.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    for (const p of [await proof(keys, 'POST', ui, { ath }), await proof(keys, 'GET', s.url('/oauth/token'), { ath }), await proof(keys, 'GET', ui)]) {
      const r = await call(p);
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_dpop_proof"/);
    }
    const good = await proof(keys, 'GET', ui + '?ignored=1', { ath }); // §4.3 step 9: query and fragment are ignored
    expect((await call(good)).status).toBe(200);
    const replay = await call(good);
    expect(replay.status).toBe(401);
    expect(replay.headers.get('www-authenticate')).toMatch(/error="invalid_dpop_proof"/);
  });

  it('RFC 9449 §4.3, §5: at the token endpoint, a replayed proof, one for another URL or method, or with a private key is invalid_dpop_proof', async () => {
    const svc = await s.client({ grant_types: ['client_credentials'], scope: 'api:read', access_token_format: 'jwt' });
    const keys = await generateKeyPair('ES256');
    const tokenUrl = s.url('/oauth/token');
    const cc = (p: string) => postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: basic(svc.clientId, svc.clientSecret!), dpop: p });

    const p1 = await proof(keys, 'POST', tokenUrl);
    const ok = await cc(p1);
    expect(ok.status).toBe(200);
    const body = ok.json as Record<string, string>;
    expect(body.token_type).toBe('DPoP');
    // RFC 9449 §6.1: a JWT access token carries cnf.jkt.
    expect(decodeJwt(body.access_token!).cnf).toEqual({ jkt: await calculateJwkThumbprint(await exportJWK(keys.publicKey)) });

    const bad = [
      p1, // replayed
      await proof(keys, 'POST', s.url('/oauth/userinfo')),
      await proof(keys, 'GET', tokenUrl),
      await proof(keys, 'POST', tokenUrl, { iat: Math.floor(Date.now() / 1000) - 3600 }),
      'not-a-jwt',
    ];
    for (const p of bad) {
      const r = await cc(p);
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({ error: 'invalid_dpop_proof' });
    }
    // §4.3 step 7: the header's jwk must be public.
    const withPrivate = await new SignJWT({ htm: 'POST', htu: tokenUrl, jti: 'x1', iat: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey) })
      .sign(keys.privateKey);
    expect((await cc(withPrivate)).json).toMatchObject({ error: 'invalid_dpop_proof' });
    // §4.3 step 5: symmetric algorithms are not accepted.
    const hs = await new SignJWT({ htm: 'POST', htu: tokenUrl, jti: 'x2', iat: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: await exportJWK(keys.publicKey) })
      .sign(new Uint8Array(32));
    expect((await cc(hs)).json).toMatchObject({ error: 'invalid_dpop_proof' });
  });

  it('RFC 9449 §5.2: a client registered with dpop_bound_access_tokens must send a proof', async () => {
    const svc = await s.client({ grant_types: ['client_credentials'], scope: 'api:read', dpop_bound_access_tokens: true });
    const tokenUrl = s.url('/oauth/token');
    const none = await postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: basic(svc.clientId, svc.clientSecret!) });
    expect(none.status).toBe(400);
    expect(none.json).toMatchObject({ error: 'invalid_request' });
    const ok = await postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: basic(svc.clientId, svc.clientSecret!), dpop: await proof(await generateKeyPair('ES256'), 'POST', tokenUrl) });
    expect(ok.status).toBe(200);
  });

  it('RFC 9449 §10: dpop_jkt at the authorization endpoint binds the code: another key or no proof is invalid_grant', async () => {
    const client: oauth.Client = { client_id: pub.clientId };
    const keys = await oauth.generateKeyPair('ES256');
    const dpop_jkt = await calculateJwkThumbprint(await exportJWK(keys.publicKey));
    const exchange = async (opts: { DPoP?: oauth.DPoPHandle }) => {
      const { params, verifier } = await authorize(s, as, client, { dpop_jkt });
      return oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, CB, verifier, { ...insecure, ...opts });
    };
    const other = await exchange({ DPoP: oauth.DPoP(client, await oauth.generateKeyPair('ES256')) });
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ error: 'invalid_grant' });
    expect(await (await exchange({})).json()).toMatchObject({ error: 'invalid_grant' });
    const ok = await oauth.processAuthorizationCodeResponse(as, client, await exchange({ DPoP: oauth.DPoP(client, keys) }));
    expect(ok.token_type).toBe('dpop');
    // A malformed dpop_jkt is refused at the authorization endpoint.
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({ client_id: client.client_id, redirect_uri: CB, response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', dpop_jkt: 'short' }).toString();
    const res = await new Agent(s.issuer).follow(url.href);
    expect(new URL(res.location!).searchParams.get('error')).toBe('invalid_request');
  });

  it('RFC 9449 §10.1: a DPoP proof with a pushed authorization request binds the code to its key', async () => {
    const client: oauth.Client = { client_id: pub.clientId };
    const keys = await oauth.generateKeyPair('ES256');
    const DPoP = oauth.DPoP(client, keys);
    const push = async (extra: Record<string, string> = {}) => {
      const verifier = oauth.generateRandomCodeVerifier();
      const res = await oauth.pushedAuthorizationRequest(as, client, oauth.None(), {
        redirect_uri: CB, response_type: 'code', scope: 'openid', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
      }, { ...insecure, DPoP });
      return { res, verifier };
    };
    const mismatch = await push({ dpop_jkt: 'A'.repeat(43) });
    expect(mismatch.res.status).toBe(400);
    expect(await mismatch.res.json()).toMatchObject({ error: 'invalid_dpop_proof' });
    const { res, verifier } = await push();
    const pushed = await oauth.processPushedAuthorizationResponse(as, client, res);
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({ client_id: client.client_id, request_uri: pushed.request_uri }).toString();
    const cb = await new Agent(s.issuer).authorize(url.href, 'alice', 'alice-password');
    const params = oauth.validateAuthResponse(as, client, cb, oauth.expectNoState);
    const other = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, CB, verifier, { ...insecure, DPoP: oauth.DPoP(client, await oauth.generateKeyPair('ES256')) });
    expect(await other.json()).toMatchObject({ error: 'invalid_grant' });
    // The code is single use: a second push with the same key, then the right proof, gets tokens.
    const again = await push();
    const pushed2 = await oauth.processPushedAuthorizationResponse(as, client, again.res);
    url.search = new URLSearchParams({ client_id: client.client_id, request_uri: pushed2.request_uri }).toString();
    const cb2 = await new Agent(s.issuer).authorize(url.href, 'alice', 'alice-password');
    const params2 = oauth.validateAuthResponse(as, client, cb2, oauth.expectNoState);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params2, CB, again.verifier, { ...insecure, DPoP }));
    expect(tokens.token_type).toBe('dpop');
  });

  it('RFC 9449 §6.2: introspection answers cnf.jkt and token_type DPoP', async () => {
    const svc = await s.client({ grant_types: ['client_credentials'], scope: 'api:read' });
    const keys = await generateKeyPair('ES256');
    const tokenUrl = s.url('/oauth/token');
    const t = (await postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: basic(svc.clientId, svc.clientSecret!), dpop: await proof(keys, 'POST', tokenUrl) })).json as Record<string, string>;
    const r = await postForm(s.url('/oauth/introspect'), { token: t.access_token! }, { authorization: basic(svc.clientId, svc.clientSecret!) });
    expect(r.json).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: await calculateJwkThumbprint(await exportJWK(keys.publicKey)) } });
  });
});

describe('RFC 9449 §8, §9: server nonces (dpopNonces)', () => {
  let s: TestServer;
  let as: oauth.AuthorizationServer;
  let pub: { clientId: string };
  let sub: string;

  beforeAll(async () => {
    s = await startTestServer({ dpopNonces: true });
    ({ as, pub, sub } = await setup(s));
  });
  afterAll(() => s.close());

  it('RFC 9449 §8: a proof without a nonce is answered use_dpop_nonce with DPoP-Nonce; oauth4webapi retries and succeeds', async () => {
    const client: oauth.Client = { client_id: pub.clientId };
    const keys = await oauth.generateKeyPair('ES256');
    const tokenUrl = s.url('/oauth/token');
    const first = await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: 'x', client_id: pub.clientId }, { dpop: await proof(keys, 'POST', tokenUrl) });
    expect(first.status).toBe(400);
    expect(first.json).toMatchObject({ error: 'use_dpop_nonce' });
    const nonce = first.headers.get('dpop-nonce');
    expect(nonce).toMatch(/^[A-Za-z0-9_-]+$/);

    const DPoP = oauth.DPoP(client, keys);
    const tokens = await dpopCodeFlow(s, as, client, DPoP);
    expect(tokens.token_type).toBe('dpop');
    // §9: the resource (UserInfo) accepts the nonce the token endpoint handed out.
    const info = await oauth.processUserInfoResponse(as, client, sub, await oauth.userInfoRequest(as, client, tokens.access_token, { ...insecure, DPoP }));
    expect(info.sub).toBe(sub);
  });

  it('RFC 9449 §8.2: a successful token response to a DPoP request carries a fresh DPoP-Nonce', async () => {
    const svc = await s.client({ grant_types: ['client_credentials'], scope: 'api:read' });
    const keys = await generateKeyPair('ES256');
    const tokenUrl = s.url('/oauth/token');
    const cc = async (nonce?: string) =>
      postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: basic(svc.clientId, svc.clientSecret!), dpop: await proof(keys, 'POST', tokenUrl, nonce ? { nonce } : {}) });
    const first = await cc();
    expect(first.json).toMatchObject({ error: 'use_dpop_nonce' });
    const ok = await cc(first.headers.get('dpop-nonce')!);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('dpop-nonce')).toBeTruthy();
    expect((await cc('not-a-nonce-of-ours')).json).toMatchObject({ error: 'use_dpop_nonce' });
  });

  it('RFC 9449 §9: at UserInfo a proof without the nonce gets 401 with error="use_dpop_nonce" and a DPoP-Nonce header', async () => {
    const client: oauth.Client = { client_id: pub.clientId };
    const keys = await oauth.generateKeyPair('ES256');
    const tokens = await dpopCodeFlow(s, as, client, oauth.DPoP(client, keys));
    const ui = s.url('/oauth/userinfo');
    const r = await fetch(ui, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: await proof(keys, 'GET', ui, { ath: accessTokenHash(tokens.access_token) }) } });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^DPoP .*error="use_dpop_nonce"/);
    const nonce = r.headers.get('dpop-nonce')!;
    const retry = await fetch(ui, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: await proof(keys, 'GET', ui, { ath: accessTokenHash(tokens.access_token), nonce }) } });
    expect(retry.status).toBe(200);
  });
});
