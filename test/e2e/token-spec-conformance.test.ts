import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import * as oauth from 'oauth4webapi';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { accessTokenHash } from '../../src/engine/dpop.js';
import { userinfoRequest } from '../../src/engine/userinfo.js';

/*
 * Findings of the token-side spec review (RFC 8693, RFC 9068, RFC 6749 §6, OIDC Core §2/§3/§5/§11/§12, RFC 6750,
 * RFC 9449 §7), each as the rule it checks, through HTTP.
 */

const CB = 'https://rp.example/cb';
type Creds = { clientId: string; clientSecret?: string };
type Pair = { publicKey: CryptoKey; privateKey: CryptoKey };
const insecure = { [oauth.allowInsecureRequests]: true } as const;

/** A DPoP proof (RFC 9449 §4.2) made by hand, for requests no client library sends (two token methods at once). */
async function proof(keys: Pair, htm: string, htu: string, extra: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ htm, htu, jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000), ...extra })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(keys.publicKey) })
    .sign(keys.privateKey);
}

describe('token-side spec conformance', () => {
  let s: TestServer;
  let rp: Creds;
  let agent: Agent;

  beforeAll(async () => {
    s = await startTestServer();
    rp = await s.client({
      redirect_uris: [CB],
      grant_types: ['authorization_code', 'implicit', 'refresh_token'],
      response_types: ['code', 'id_token', 'id_token token', 'code id_token', 'code token'],
      skip_consent: true,
      scope: 'openid profile offline_access',
    });
    await s.user('alice', 'alice-password', { name: 'Alice' });
    agent = new Agent(s.issuer);
  });
  afterAll(() => s.close());

  const authUrl = (c: Creds, p: Record<string, string>) =>
    `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: c.clientId, redirect_uri: CB, state: 'st', ...p });
  const token = (c: Creds, body: Record<string, string>) => postForm(s.url('/oauth/token'), body, { authorization: basic(c.clientId, c.clientSecret!) });
  const fragment = (u: URL) => new URLSearchParams(u.hash.slice(1));

  describe('OIDC Core §11: offline_access', () => {
    it('OIDC Core §11: offline_access is ignored for a response type that returns no authorization code', async () => {
      const u = await agent.authorize(authUrl(rp, { response_type: 'id_token token', scope: 'openid profile offline_access', nonce: 'n1' }), 'alice', 'alice-password');
      const f = fragment(u);
      expect(f.get('access_token'), u.toString()).toBeTruthy();
      expect(f.get('scope')!.split(' ').sort()).toEqual(['openid', 'profile']);
      const intro = await postForm(s.url('/oauth/introspect'), { token: f.get('access_token')! }, { authorization: basic(rp.clientId, rp.clientSecret!) });
      expect(intro.json.active).toBe(true);
      expect(intro.json.scope.split(' ')).not.toContain('offline_access');
    });

    it('OIDC Core §11: with a response type that returns a code, offline_access is kept and yields a refresh token', async () => {
      const u = await agent.authorize(authUrl(rp, { response_type: 'code id_token', scope: 'openid offline_access', nonce: 'n2' }), 'alice', 'alice-password');
      const f = fragment(u);
      const r = await token(rp, { grant_type: 'authorization_code', code: f.get('code')!, redirect_uri: CB });
      expect(r.status, r.text).toBe(200);
      expect(r.json.scope.split(' ')).toContain('offline_access');
      expect(r.json.refresh_token).toBeTruthy();
      expect(decodeJwt(f.get('id_token')!).c_hash).toBeTypeOf('string');
    });
  });

  it('OIDC Core §11: offline_access is dropped for a client that may not use the refresh_token grant (it could never get the refresh token asked for)', async () => {
    const noRefresh = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code'], skip_consent: true, scope: 'openid offline_access' });
    const u = await agent.authorize(authUrl(noRefresh, { response_type: 'code', scope: 'openid offline_access' }), 'alice', 'alice-password');
    const r = await token(noRefresh, { grant_type: 'authorization_code', code: u.searchParams.get('code')!, redirect_uri: CB });
    expect(r.status, r.text).toBe(200);
    expect(r.json.scope).toBe('openid');
    expect(r.json.refresh_token).toBeUndefined();
  });

  describe('UserInfo challenges (RFC 6750 §3, RFC 9449 §7)', () => {
    let keys: Pair;
    let dpopToken: string; // DPoP-bound, without the openid scope
    const ui = () => s.url('/oauth/userinfo');

    beforeAll(async () => {
      keys = await generateKeyPair('ES256');
      const u = await agent.authorize(authUrl(rp, { response_type: 'code', scope: 'profile' }), 'alice', 'alice-password');
      const r = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: u.searchParams.get('code')!, redirect_uri: CB }, {
        authorization: basic(rp.clientId, rp.clientSecret!),
        dpop: await proof(keys, 'POST', s.url('/oauth/token')),
      });
      expect(r.status, r.text).toBe(200);
      expect(r.json.token_type).toBe('DPoP');
      dpopToken = r.json.access_token;
    });

    it('RFC 9449 §7.2: a request made with the DPoP scheme gets its error in a DPoP challenge (insufficient_scope, with oauth4webapi)', async () => {
      const as = await oauth.processDiscoveryResponse(new URL(s.issuer), await oauth.discoveryRequest(new URL(s.issuer), insecure));
      const client: oauth.Client = { client_id: rp.clientId };
      const DPoP = oauth.DPoP(client, keys);
      const res = await oauth.userInfoRequest(as, client, dpopToken, { ...insecure, DPoP });
      expect(res.status).toBe(403);
      const err = await oauth.processUserInfoResponse(as, client, oauth.skipSubjectCheck, res).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
      const [challenge] = (err as oauth.WWWAuthenticateChallengeError).cause;
      expect(challenge).toMatchObject({ scheme: 'dpop', parameters: { error: 'insufficient_scope', scope: 'openid' } });
    });

    it('RFC 9449 §7.2: an unknown token sent with the DPoP scheme is invalid_token in a DPoP challenge; with Bearer, in a Bearer one', async () => {
      const bogus = 'not-a-token-we-issued';
      const asDpop = await fetch(ui(), { headers: { authorization: `DPoP ${bogus}`, dpop: await proof(keys, 'GET', ui(), { ath: accessTokenHash(bogus) }) } });
      expect(asDpop.status).toBe(401);
      expect(asDpop.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_token"/);
      const asBearer = await fetch(ui(), { headers: { authorization: `Bearer ${bogus}` } });
      expect(asBearer.status).toBe(401);
      expect(asBearer.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
    });

    it('RFC 9449 §7.2: an unbound token presented with the DPoP scheme is refused in a DPoP challenge', async () => {
      const u = await agent.authorize(authUrl(rp, { response_type: 'code', scope: 'openid' }), 'alice', 'alice-password');
      const r = await token(rp, { grant_type: 'authorization_code', code: u.searchParams.get('code')!, redirect_uri: CB });
      expect(r.json.token_type).toBe('Bearer');
      const at = r.json.access_token as string;
      const res = await fetch(ui(), { headers: { authorization: `DPoP ${at}`, dpop: await proof(keys, 'GET', ui(), { ath: accessTokenHash(at) }) } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_token"/);
      expect((await fetch(ui(), { headers: { authorization: `Bearer ${at}` } })).status).toBe(200);
    });

    it('RFC 9449 §7.2: the Core API step one answers a token presented with the DPoP scheme with a DPoP challenge', async () => {
      const r = await userinfoRequest({ token: 'not-a-token-we-issued', scheme: 'DPoP' }, s.ctx);
      expect(r.action).toBe('UNAUTHORIZED');
      expect(r.responseContent).toMatch(/^DPoP .*error="invalid_token"/);
      const b = await userinfoRequest({ token: 'not-a-token-we-issued', scheme: 'Bearer' }, s.ctx);
      expect(b.responseContent).toMatch(/^Bearer .*error="invalid_token"/);
      // No scheme named: a DPoP proof means DPoP, as in resource introspection.
      const p = await userinfoRequest({ token: 'not-a-token-we-issued', dpop: 'a-proof' }, s.ctx);
      expect(p.responseContent).toMatch(/^DPoP .*error="invalid_token"/);
    });

    it('RFC 6750 §2, RFC 9449 §7.2: a token in a DPoP Authorization header and in the form body both is invalid_request', async () => {
      const r = await fetch(ui(), {
        method: 'POST',
        headers: { authorization: `DPoP ${dpopToken}`, dpop: await proof(keys, 'POST', ui(), { ath: accessTokenHash(dpopToken) }), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ access_token: dpopToken }).toString(),
      });
      expect(r.status).toBe(400);
      expect(r.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_request"/);
    });
  });

  describe('RFC 9068: JWT access tokens for a user', () => {
    it('RFC 9068 §2.2, §2.2.1: a user\'s JWT access token carries the required claims and auth_time/acr/amr, validated by oauth4webapi; no session id', async () => {
      const jwtClient = await s.client({ redirect_uris: [CB], skip_consent: true, scope: 'openid profile', access_token_format: 'jwt' });
      const u = await agent.authorize(authUrl(jwtClient, { response_type: 'code', scope: 'openid profile' }), 'alice', 'alice-password');
      const r = await token(jwtClient, { grant_type: 'authorization_code', code: u.searchParams.get('code')!, redirect_uri: CB });
      expect(r.status, r.text).toBe(200);
      const as = await oauth.processDiscoveryResponse(new URL(s.issuer), await oauth.discoveryRequest(new URL(s.issuer), insecure));
      const claims = await oauth.validateJwtAccessToken(as, new Request(s.url('/api'), { headers: { authorization: `Bearer ${r.json.access_token}` } }), s.issuer, insecure);
      expect(claims).toMatchObject({ iss: s.issuer, aud: s.issuer, client_id: jwtClient.clientId, scope: 'openid profile', sub: decodeJwt(r.json.id_token).sub });
      expect(claims.auth_time).toBeTypeOf('number');
      expect(claims.acr).toBeTypeOf('string');
      expect(claims.amr).toEqual(['pwd']);
      // The session id stays on the token's row (RFC 9068 §6: a token shows resource servers no more than they use).
      expect(claims.sid).toBeUndefined();
    });
  });

  describe('ID tokens from the authorization endpoint', () => {
    /** OIDC Core §3.3.2.11, computed here independently of src/: left half of SHA-256 of the ASCII value, base64url. */
    const halfSha256 = (v: string) => createHash('sha256').update(v, 'ascii').digest().subarray(0, 16).toString('base64url');

    it('FAPI 1.0 Advanced §5.2.2.1: a front-channel ID token carries s_hash of state; oauth4webapi validates the detached signature', async () => {
      const u = await agent.authorize(authUrl(rp, { response_type: 'code id_token', scope: 'openid', nonce: 'n3', state: 'state-3' }), 'alice', 'alice-password');
      const as = await oauth.processDiscoveryResponse(new URL(s.issuer), await oauth.discoveryRequest(new URL(s.issuer), insecure));
      const params = await oauth.validateDetachedSignatureResponse(as, { client_id: rp.clientId }, u, 'n3', 'state-3', oauth.skipAuthTimeCheck, insecure);
      expect(params.get('code')).toBeTruthy();
      const idt = decodeJwt(fragment(u).get('id_token')!);
      expect(idt.s_hash).toBe(halfSha256('state-3'));
      expect(idt.c_hash).toBe(halfSha256(params.get('code')!));
    });

    it('FAPI 1.0 Advanced §5.2.2.1: without state there is no s_hash', async () => {
      const url = new URL(authUrl(rp, { response_type: 'code id_token', scope: 'openid', nonce: 'n4' }));
      url.searchParams.delete('state');
      const u = await agent.authorize(url.href, 'alice', 'alice-password');
      expect(decodeJwt(fragment(u).get('id_token')!).s_hash).toBeUndefined();
    });
  });
});
