import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';

describe('authorization code flow end to end', () => {
  let s: TestServer;
  let clock = Date.now();
  let conf: { clientId: string; clientSecret?: string };
  let post: { clientId: string; clientSecret?: string };
  let pub: { clientId: string };
  let es: { clientId: string; clientSecret?: string };
  let aliceSub: string;

  beforeAll(async () => {
    s = await startTestServer({}, { clock: () => clock });
    conf = await s.client({ client_name: 'Confidential RP', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'] });
    post = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'client_secret_post' });
    pub = await s.client({ client_name: 'Public RP', redirect_uris: [CB, 'http://127.0.0.1:4000/cb'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'] });
    es = await s.client({ redirect_uris: [CB], id_token_signed_response_alg: 'ES256', skip_consent: true });
    aliceSub = await s.user('alice', 'alice-password', {
      name: 'Alice Liddell', given_name: 'Alice', email: 'alice@example.com', email_verified: true,
      phone_number: '+1 555 0100', address: { country: 'GB', locality: 'Oxford' },
    });
  });
  afterAll(() => s.close());

  async function discover(c: { clientId: string; clientSecret?: string }, auth?: client.ClientAuth) {
    return client.discovery(new URL(s.issuer), c.clientId, c.clientSecret, auth, { execute: [client.allowInsecureRequests] });
  }

  it('openid-client, confidential client (client_secret_basic): login, consent, validated ID token, UserInfo, refresh rotation', async () => {
    const config = await discover(conf, client.ClientSecretBasic(conf.clientSecret));
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CB,
      scope: 'openid profile email offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const agent = new Agent(s.issuer);
    const cb = await agent.authorize(url.href, 'alice', 'alice-password');
    expect(cb.origin + cb.pathname).toBe(CB);
    expect(cb.searchParams.get('iss')).toBe(s.issuer); // RFC 9207
    const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(aliceSub);
    expect(claims.aud).toBe(conf.clientId);
    expect(claims.nonce).toBe(nonce);
    expect(typeof claims.auth_time).toBe('number');
    expect(claims.sid).toBeTruthy();
    expect(claims.at_hash).toBeTruthy();
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe('RS256'); // OIDC Registration §2 default
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(info).toMatchObject({ sub: aliceSub, name: 'Alice Liddell', email: 'alice@example.com', email_verified: true });
    expect(info.phone_number).toBeUndefined(); // phone scope not granted
    expect(tokens.refresh_token).toBeTruthy();
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(refreshed.claims()!.sub).toBe(aliceSub); // OIDC Core §12.2: a new ID token on refresh
    await client.fetchUserInfo(config, refreshed.access_token, aliceSub);
  });

  it('openid-client, client_secret_post, consent remembered: the second sign-in skips login and consent', async () => {
    const config = await discover(post, client.ClientSecretPost(post.clientSecret));
    const agent = new Agent(s.issuer);
    const state = client.randomState();
    const verifier = client.randomPKCECodeVerifier();
    const params = { redirect_uri: CB, scope: 'openid email', state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' };
    const cb1 = await agent.authorize(client.buildAuthorizationUrl(config, params).href, 'alice', 'alice-password');
    const t1 = await client.authorizationCodeGrant(config, cb1, { pkceCodeVerifier: verifier, expectedState: state });
    expect(t1.refresh_token).toBeUndefined(); // no offline_access: no refresh token for an OpenID request
    const second = await agent.follow(client.buildAuthorizationUrl(config, params).href);
    expect(second.location).toMatch(/^https:\/\/rp\.example\/cb\?code=/);
  });

  it('oauth4webapi, public client with PKCE (auth method none): code, ID token, UserInfo, refresh', async () => {
    const issuer = new URL(s.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true }));
    const c: oauth.Client = { client_id: pub.clientId };
    const verifier = oauth.generateRandomCodeVerifier();
    const nonce = oauth.generateRandomNonce();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: pub.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid profile offline_access', state, nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).toString();
    const cb = await new Agent(s.issuer).authorize(url.href, 'alice', 'alice-password');
    const params = oauth.validateAuthResponse(as, c, cb, state);
    const res = await oauth.authorizationCodeGrantRequest(as, c, oauth.None(), params, CB, verifier, { [oauth.allowInsecureRequests]: true });
    const result = await oauth.processAuthorizationCodeResponse(as, c, res, { expectedNonce: nonce, requireIdToken: true });
    expect(oauth.getValidatedIdTokenClaims(result)!.sub).toBe(aliceSub);
    const uiRes = await oauth.userInfoRequest(as, c, result.access_token, { [oauth.allowInsecureRequests]: true });
    const info = await oauth.processUserInfoResponse(as, c, aliceSub, uiRes);
    expect(info.name).toBe('Alice Liddell');
    const rres = await oauth.refreshTokenGrantRequest(as, c, oauth.None(), result.refresh_token!, { [oauth.allowInsecureRequests]: true });
    const r2 = await oauth.processRefreshTokenResponse(as, c, rres);
    expect(r2.refresh_token).toBeTruthy();
  });

  it('OIDC Core §3.1.3.7: an ES256 client gets an ES256 ID token, verified against the JWKS by kid', async () => {
    const agent = new Agent(s.issuer);
    const url = `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: es.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's' });
    const cb = await agent.authorize(url, 'alice', 'alice-password');
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB }, { authorization: basic(es.clientId, es.clientSecret!) });
    expect(r.status).toBe(200);
    const { payload, protectedHeader } = await jwtVerify(r.json.id_token, createRemoteJWKSet(new URL(s.url('/.well-known/jwks.json'))), { issuer: s.issuer, audience: es.clientId });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload.sub).toBe(aliceSub);
  });

  for (const alg of ['PS256', 'EdDSA'] as const) {
    it(`OIDC Core §3.1.3.7: a client registered for ${alg} gets ${alg} ID tokens that jose verifies by kid`, async () => {
      const c = await s.client({ redirect_uris: [CB], id_token_signed_response_alg: alg, skip_consent: true });
      const url = `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: c.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid' });
      const cb = await new Agent(s.issuer).authorize(url, 'alice', 'alice-password');
      const r = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB }, { authorization: basic(c.clientId, c.clientSecret!) });
      const { protectedHeader, payload } = await jwtVerify(r.json.id_token, createRemoteJWKSet(new URL(s.url('/.well-known/jwks.json'))), { issuer: s.issuer, audience: c.clientId, algorithms: [alg] });
      expect(protectedHeader.alg).toBe(alg);
      // at_hash uses the alg's hash: SHA-512 for EdDSA over Ed25519, SHA-256 otherwise (OIDC Core §3.1.3.6).
      const { createHash } = await import('node:crypto');
      const d = createHash(alg === 'EdDSA' ? 'sha512' : 'sha256').update(r.json.access_token).digest();
      expect(payload.at_hash).toBe(d.subarray(0, d.length / 2).toString('base64url'));
    });
  }

  describe('prompt, max_age and sessions', () => {
    const authUrl = (extra: Record<string, string>) =>
      `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: es.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st', ...extra });

    it('OIDC Core §3.1.2.6: prompt=none without a session answers login_required by redirect', async () => {
      const r = await new Agent(s.issuer).follow(authUrl({ prompt: 'none' }));
      const loc = new URL(r.location!);
      expect(loc.searchParams.get('error')).toBe('login_required');
      expect(loc.searchParams.get('state')).toBe('st');
      expect(loc.searchParams.get('iss')).toBe(s.issuer);
    });

    it('prompt=none with a session succeeds silently; prompt=login forces a new login and a later auth_time', async () => {
      const agent = new Agent(s.issuer);
      await agent.authorize(authUrl({}), 'alice', 'alice-password');
      const silent = await agent.follow(authUrl({ prompt: 'none' }));
      expect(new URL(silent.location!).searchParams.get('code')).toBeTruthy();
      const forced = await agent.follow(authUrl({ prompt: 'login' }));
      expect(forced.html).toContain('name="password"');
      clock += 5000;
      const cb = await agent.login(forced, 'alice', 'alice-password');
      const code = new URL(cb.location!).searchParams.get('code')!;
      const r = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code, redirect_uri: CB }, { authorization: basic(es.clientId, es.clientSecret!) });
      const idt = JSON.parse(Buffer.from(r.json.id_token.split('.')[1], 'base64url').toString());
      expect(idt.auth_time).toBeGreaterThanOrEqual(Math.floor(clock / 1000) - 1);
    });

    it('max_age: an older login forces re-authentication; a large max_age reuses the session', async () => {
      const agent = new Agent(s.issuer);
      await agent.authorize(authUrl({}), 'alice', 'alice-password');
      expect((await agent.follow(authUrl({ max_age: '3600' }))).location).toMatch(/code=/);
      clock += 2000;
      expect((await agent.follow(authUrl({ max_age: '1' }))).html).toContain('name="password"');
      expect(new URL((await agent.follow(authUrl({ max_age: '1', prompt: 'none' }))).location!).searchParams.get('error')).toBe('login_required');
    });

    it('OIDC Core §3.1.2.1: prompt=select_account offers the signed-in account or another one', async () => {
      const agent = new Agent(s.issuer);
      await agent.authorize(authUrl({}), 'alice', 'alice-password');
      const page = await agent.follow(authUrl({ prompt: 'select_account' }));
      expect(page.html).toContain('Continue as <bdi>alice</bdi>');
      expect(page.html).toContain('name="password"');
      const r = await agent.follow(Agent.formAction(page.html, '/login'), { form: { csrf: Agent.formValue(page.html, 'csrf')!, continue: '1' } });
      expect(new URL(r.location!).searchParams.get('code')).toBeTruthy();
      const none = await new Agent(s.issuer).follow(authUrl({ prompt: 'none select_account' }));
      expect(new URL(none.location!).searchParams.get('error')).toBe('invalid_request');
    });

    it('OIDC Core §3.1.2.1: prompt=login and an expired max_age MUST re-authenticate: select_account offers no "continue as", and a crafted continue is not accepted', async () => {
      const agent = new Agent(s.issuer);
      await agent.authorize(authUrl({}), 'alice', 'alice-password');
      clock += 120_000;
      const cases: Record<string, string>[] = [{ prompt: 'login' }, { max_age: '0' }, { prompt: 'login select_account' }, { prompt: 'select_account', max_age: '60' }];
      for (const extra of cases) {
        const page = await agent.follow(authUrl(extra));
        expect(page.html, JSON.stringify(extra)).toContain('name="password"');
        expect(page.html, JSON.stringify(extra)).not.toContain('Continue as');
        // The form posted as if the page had offered the signed-in account: back to the sign-in page, no code.
        const crafted = await agent.follow(Agent.formAction(page.html, '/login'), { form: { csrf: Agent.formValue(page.html, 'csrf')!, continue: '1' } });
        expect(crafted.location ?? '', JSON.stringify(extra)).not.toMatch(/code=/);
        expect(crafted.html, JSON.stringify(extra)).toContain('name="password"');
        // Signing in again is what gets the code, with a new auth_time.
        const cb = await agent.login(crafted, 'alice', 'alice-password');
        const code = new URL(cb.location!).searchParams.get('code')!;
        const r = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code, redirect_uri: CB }, { authorization: basic(es.clientId, es.clientSecret!) });
        const idt = JSON.parse(Buffer.from(r.json.id_token.split('.')[1], 'base64url').toString());
        expect(idt.auth_time, JSON.stringify(extra)).toBe(Math.floor(clock / 1000));
        clock += 120_000;
      }
    });

    it('prompt=none when consent is missing answers consent_required', async () => {
      const agent = new Agent(s.issuer);
      const cfg = await s.client({ redirect_uris: [CB] });
      await agent.authorize(authUrl({}), 'alice', 'alice-password'); // session via the skip-consent client
      const r = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: cfg.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'none' }));
      expect(new URL(r.location!).searchParams.get('error')).toBe('consent_required');
    });

    it('denying consent returns access_denied to the client', async () => {
      const agent = new Agent(s.issuer);
      const cfg = await s.client({ redirect_uris: [CB] });
      let r = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: cfg.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'd' }));
      r = await agent.login(r, 'alice', 'alice-password');
      r = await agent.consent(r, 'deny');
      const loc = new URL(r.location!);
      expect(loc.searchParams.get('error')).toBe('access_denied');
      expect(loc.searchParams.get('state')).toBe('d');
    });

    it('id_token_hint with prompt=none succeeds silently for the same user', async () => {
      const agent = new Agent(s.issuer);
      const cb = await agent.authorize(authUrl({}), 'alice', 'alice-password');
      const r = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB }, { authorization: basic(es.clientId, es.clientSecret!) });
      const silent = await agent.follow(authUrl({ prompt: 'none', id_token_hint: r.json.id_token }));
      expect(new URL(silent.location!).searchParams.get('code')).toBeTruthy();
      const bad = await agent.follow(authUrl({ prompt: 'none', id_token_hint: r.json.id_token.slice(0, -4) + 'AAAA' }));
      expect(new URL(bad.location!).searchParams.get('error')).toBe('invalid_request');
    });
  });
});
