import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe('pushed authorization requests, request objects and the claims parameter, through HTTP', () => {
  let s: TestServer;
  let clock = Date.now();
  let conf: { clientId: string; clientSecret?: string };
  let parOnly: { clientId: string; clientSecret?: string };
  let signer: { clientId: string; clientSecret?: string };
  let other: { clientId: string; clientSecret?: string };
  let keys: CryptoKeyPair;
  let as: oauth.AuthorizationServer;
  let agent: Agent;
  let aliceSub: string;

  beforeAll(async () => {
    s = await startTestServer({}, { clock: () => clock });
    keys = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'rp-key-1', alg: 'ES256', use: 'sig' };
    conf = await s.client({ client_name: 'Confidential RP', redirect_uris: [CB], skip_consent: true });
    parOnly = await s.client({ redirect_uris: [CB], skip_consent: true, require_pushed_authorization_requests: true });
    signer = await s.client({ redirect_uris: [CB], skip_consent: true, jwks: { keys: [jwk] } });
    other = await s.client({ redirect_uris: [CB], skip_consent: true });
    aliceSub = await s.user('alice', 'alice-password', { name: 'Alice Liddell', email: 'alice@example.com', email_verified: true, phone_number: '+1 555 0100' });
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
    agent = new Agent(s.issuer);
    await agent.authorize(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: conf.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid' }), 'alice', 'alice-password');
  });
  afterAll(() => s.close());

  const push = (c: { clientId: string; clientSecret?: string }, params: Record<string, string>) =>
    postForm(s.url('/oauth/par'), params, { authorization: basic(c.clientId, c.clientSecret!) });
  const authorizeWith = (clientId: string, requestUri: string) =>
    `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: clientId, request_uri: requestUri });
  const redeem = (c: { clientId: string; clientSecret?: string }, code: string, extra: Record<string, string> = {}) =>
    postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code, redirect_uri: CB, ...extra }, { authorization: basic(c.clientId, c.clientSecret!) });

  it('discovery advertises PAR, request objects and the claims parameter, and says by-reference request_uri is off', () => {
    expect(as.pushed_authorization_request_endpoint).toBe(s.url('/oauth/par'));
    expect(as.require_pushed_authorization_requests).toBe(false);
    expect(as.request_parameter_supported).toBe(true);
    expect(as.request_uri_parameter_supported).toBe(false);
    expect(as.request_object_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'RS256']));
    expect(as.claims_parameter_supported).toBe(true);
    expect(as.acr_values_supported).toEqual(['urn:latchkey:acr:password', 'urn:latchkey:acr:mfa']);
    expect(as.prompt_values_supported).not.toContain('create');
  });

  describe('PAR (RFC 9126)', () => {
    it('§2.2, §4: oauth4webapi pushes, the request_uri authorizes, and the code redeems', async () => {
      const verifier = oauth.generateRandomCodeVerifier();
      const state = oauth.generateRandomState();
      const client: oauth.Client = { client_id: conf.clientId };
      const res = await oauth.pushedAuthorizationRequest(as, client, oauth.ClientSecretBasic(conf.clientSecret!), {
        redirect_uri: CB, response_type: 'code', scope: 'openid email', state,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      }, insecure);
      expect(res.status).toBe(201);
      const pushed = await oauth.processPushedAuthorizationResponse(as, client, res);
      expect(pushed.request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/);
      expect(pushed.expires_in).toBeGreaterThan(0);
      expect(pushed.expires_in).toBeLessThanOrEqual(60);
      const handle = pushed.request_uri.split(':').pop()!;
      // Stored only as a keyed hash: the clear handle finds nothing (and so consumes nothing).
      expect(await s.ctx.store.consumePushedRequest(s.ctx.tenant.id, handle, Math.floor(clock / 1000))).toBeUndefined();
      const cb = new URL((await agent.follow(authorizeWith(conf.clientId, pushed.request_uri))).location!);
      const params = oauth.validateAuthResponse(as, client, cb, state);
      const tokenRes = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(conf.clientSecret!), params, CB, verifier, insecure);
      const tokens = await oauth.processAuthorizationCodeResponse(as, client, tokenRes);
      expect(tokens.scope).toBe('openid email');
    });

    it('§4: a request_uri is single use; a second authorization request with it is refused and not redirected', async () => {
      const r = await push(conf, { redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'once' });
      const first = await agent.follow(authorizeWith(conf.clientId, r.json.request_uri));
      expect(new URL(first.location!).searchParams.get('code')).toBeTruthy();
      const again = await agent.follow(authorizeWith(conf.clientId, r.json.request_uri));
      expect(again.status).toBe(400);
      expect(again.location).toBeUndefined();
      expect(again.html).toContain('invalid_request_uri');
    });

    it('§4: an expired request_uri, or one pushed by another client, is refused', async () => {
      const r = await push(conf, { redirect_uri: CB, response_type: 'code', scope: 'openid' });
      expect((await agent.follow(authorizeWith(other.clientId, r.json.request_uri))).status).toBe(400);
      const r2 = await push(conf, { redirect_uri: CB, response_type: 'code', scope: 'openid' });
      clock += (r2.json.expires_in + 1) * 1000;
      expect((await agent.follow(authorizeWith(conf.clientId, r2.json.request_uri))).status).toBe(400);
    });

    it('RFC 9126 §4: a request_uri presented by another client is refused without being spent; its own client can still use it once', async () => {
      const r = await push(conf, { redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'bound' });
      // Anyone who saw the URN in a browser tries it under their own client_id: refused, not redirected.
      for (const attempt of [other, signer]) {
        const stolen = await agent.follow(authorizeWith(attempt.clientId, r.json.request_uri));
        expect(stolen.status).toBe(400);
        expect(stolen.location).toBeUndefined();
        expect(stolen.html).toContain('invalid_request_uri');
      }
      // ... and it was not burnt: the client that pushed it still gets its code, exactly once.
      const own = await agent.follow(authorizeWith(conf.clientId, r.json.request_uri));
      const cb = new URL(own.location!);
      expect(cb.searchParams.get('code')).toBeTruthy();
      expect(cb.searchParams.get('state')).toBe('bound');
      expect((await redeem(conf, cb.searchParams.get('code')!)).status).toBe(200);
      expect((await agent.follow(authorizeWith(conf.clientId, r.json.request_uri))).status).toBe(400);
    });

    it('§2.3: errors are JSON from the PAR endpoint: bad redirect_uri, request_uri sent, failed client authentication', async () => {
      const bad = await push(conf, { redirect_uri: 'https://evil.example/cb', response_type: 'code', scope: 'openid' });
      expect(bad.status).toBe(400);
      expect(bad.json.error).toBe('invalid_request');
      const ru = await push(conf, { redirect_uri: CB, response_type: 'code', request_uri: 'urn:ietf:params:oauth:request_uri:x' });
      expect(ru.json.error).toBe('invalid_request');
      const nonce = await push(conf, { redirect_uri: CB, response_type: 'code id_token', scope: 'openid' });
      expect(nonce.json.error).toBe('unauthorized_client');
      const unauth = await postForm(s.url('/oauth/par'), { client_id: conf.clientId, redirect_uri: CB, response_type: 'code' }, { authorization: basic(conf.clientId, 'wrong') });
      expect(unauth.status).toBe(401);
      expect(unauth.json.error).toBe('invalid_client');
      expect(unauth.headers.get('www-authenticate')).toMatch(/^Basic/);
    });

    it('§6: a client registered with require_pushed_authorization_requests must push; the refusal goes back to it', async () => {
      const r = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: parOnly.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'p' }));
      const u = new URL(r.location!);
      expect(u.searchParams.get('error')).toBe('invalid_request');
      expect(u.searchParams.get('state')).toBe('p');
      const pushed = await push(parOnly, { redirect_uri: CB, response_type: 'code', scope: 'openid' });
      expect(new URL((await agent.follow(authorizeWith(parOnly.clientId, pushed.json.request_uri))).location!).searchParams.get('code')).toBeTruthy();
    });

    it('§5: the tenant-wide setting requirePushedAuthorizationRequests is advertised and enforced', async () => {
      const t = await startTestServer({ requirePushedAuthorizationRequests: true });
      try {
        const c = await t.client({ redirect_uris: [CB] });
        const d = await (await fetch(t.url('/.well-known/openid-configuration'))).json();
        expect(d.require_pushed_authorization_requests).toBe(true);
        const r = await new Agent(t.issuer).follow(`${t.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: c.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid' }));
        expect(new URL(r.location!).searchParams.get('error')).toBe('invalid_request');
        const p = await postForm(t.url('/oauth/par'), { redirect_uri: CB, response_type: 'code', scope: 'openid' }, { authorization: basic(c.clientId, c.clientSecret!) });
        expect(p.status).toBe(201);
      } finally {
        await t.close();
      }
    });
  });

  describe('request objects (RFC 9101)', () => {
    const client = (): oauth.Client => ({ client_id: signer.clientId });
    const sign = (params: Record<string, string>) =>
      oauth.issueRequestObject(as, client(), params, { key: keys.privateKey, kid: 'rp-key-1' });

    it('§6.3: a signed request object by value is used, and the parameters sent beside it are ignored', async () => {
      const jwt = await sign({ redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'inner' });
      expect(decodeProtectedHeader(jwt).typ).toBe('oauth-authz-req+jwt');
      const url = `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: signer.clientId, request: jwt, scope: 'openid email phone', state: 'outer' });
      const u = new URL((await agent.follow(url)).location!);
      expect(u.searchParams.get('state')).toBe('inner');
      const r = await redeem(signer, u.searchParams.get('code')!);
      expect(r.json.scope).toBe('openid');
    });

    it('§6.2: a tampered request object is refused (invalid_request_object) and nothing is redirected', async () => {
      const jwt = await sign({ redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'x' });
      const [h, p, sig] = jwt.split('.');
      const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
      const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'openid email phone' })).toString('base64url')}.${sig}`;
      const r = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: signer.clientId, request: tampered }));
      expect(r.status).toBe(400);
      expect(r.location).toBeUndefined();
      expect(r.html).toContain('invalid_request_object');
    });

    it('RFC 9126 §3: a request object can be pushed; its parameters are validated at push time', async () => {
      const jwt = await sign({ redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'pushed-ro' });
      const res = await oauth.pushedAuthorizationRequest(as, client(), oauth.ClientSecretBasic(signer.clientSecret!), { request: jwt }, insecure);
      const pushed = await oauth.processPushedAuthorizationResponse(as, client(), res);
      const u = new URL((await agent.follow(authorizeWith(signer.clientId, pushed.request_uri))).location!);
      expect(u.searchParams.get('state')).toBe('pushed-ro');
      const bad = await sign({ redirect_uri: 'https://evil.example/cb', response_type: 'code', scope: 'openid' });
      const refused = await push(signer, { request: bad });
      expect(refused.status).toBe(400);
      expect(refused.json.error).toBe('invalid_request');
    });

    it('§5.2: request_uri by reference is refused while remote fetching is off (the default)', async () => {
      const u = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: signer.clientId, request_uri: 'https://rp.example/request.jwt' }));
      expect(u.status).toBe(400);
      expect(u.html).toContain('request_uri_not_supported');
    });
  });

  describe('the claims parameter (OIDC Core §5.5)', () => {
    it('essential claims are released where requested, without their scope: email in the ID token, phone_number at UserInfo', async () => {
      const claims = JSON.stringify({ id_token: { email: { essential: true } }, userinfo: { phone_number: { essential: true } } });
      const url = `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: conf.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', claims, nonce: 'n' });
      const u = new URL((await agent.follow(url)).location!);
      const r = await redeem(conf, u.searchParams.get('code')!);
      const jwks = createRemoteJWKSet(new URL(as.jwks_uri!));
      const { payload } = await jwtVerify(r.json.id_token, jwks, { issuer: s.issuer, audience: conf.clientId });
      expect(payload.email).toBe('alice@example.com');
      expect(payload.phone_number).toBeUndefined();
      const info = await (await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${r.json.access_token}` } })).json();
      expect(info).toEqual({ sub: aliceSub, phone_number: '+1 555 0100' });
    });

    it('a third-party client asking for claims by name shows them on the consent page, and the consent covers them', async () => {
      const third = await s.client({ client_name: 'Third Party', redirect_uris: [CB] });
      const claims = JSON.stringify({ userinfo: { phone_number: null } });
      const url = `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: third.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', claims });
      const page = await agent.follow(url);
      expect(page.html).toContain('your phone number');
      await agent.consent(page, 'approve');
      expect((await agent.follow(url)).location).toMatch(/code=/); // remembered
      const more = `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: third.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', claims: JSON.stringify({ userinfo: { email: null } }) });
      expect((await agent.follow(more)).html).toContain('your email address'); // a new claim asks again
    });

    it('§5.5.1.1: an essential acr that cannot be met fails with access_denied; the configured acr is met and returned', async () => {
      const ask = (acr: string) =>
        `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: conf.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'a', claims: JSON.stringify({ id_token: { acr: { essential: true, values: [acr] } } }) });
      const denied = new URL((await agent.follow(ask('urn:example:mfa'))).location!);
      expect(denied.searchParams.get('error')).toBe('access_denied');
      expect(denied.searchParams.get('state')).toBe('a');
      const ok = new URL((await agent.follow(ask('urn:latchkey:acr:password'))).location!);
      const r = await redeem(conf, ok.searchParams.get('code')!);
      expect(decodeJwt(r.json.id_token).acr).toBe('urn:latchkey:acr:password');
    });

    it('§5.5.1: a sub value for another user is never answered for the signed-in user (prompt=none: login_required)', async () => {
      const url = `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: conf.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'none', claims: JSON.stringify({ id_token: { sub: { value: 'somebody-else' } } }) });
      expect(new URL((await agent.follow(url)).location!).searchParams.get('error')).toBe('login_required');
      const mine = url.replace('somebody-else', encodeURIComponent(aliceSub));
      expect(new URL((await agent.follow(mine)).location!).searchParams.get('code')).toBeTruthy();
    });

    it('a malformed claims parameter is invalid_request, redirected', async () => {
      const url = `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: conf.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', claims: '{"id_token":' });
      expect(new URL((await agent.follow(url)).location!).searchParams.get('error')).toBe('invalid_request');
    });
  });

  describe('prompt=create (Initiating User Registration via OpenID Connect)', () => {
    it('with allowRegistration, prompt=create shows the sign-up page; the new account signs in and the code is issued', async () => {
      const t = await startTestServer({ allowRegistration: true });
      try {
        const c = await t.client({ redirect_uris: [CB], skip_consent: true });
        const d = await (await fetch(t.url('/.well-known/openid-configuration'))).json();
        expect(d.prompt_values_supported).toContain('create');
        const a = new Agent(t.issuer);
        const page = await a.follow(`${t.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: c.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid profile email', prompt: 'create', nonce: 'n' }));
        expect(page.html).toContain('Create an account');
        const action = Agent.formAction(page.html, '/create');
        const csrf = Agent.formValue(page.html, 'csrf')!;
        const short = await a.follow(action, { form: { csrf, username: 'newbie', password: 'short' } });
        expect(short.status).toBe(400);
        const done = await a.follow(action, { form: { csrf, username: 'newbie', password: 'a long enough password', name: 'New Bie', email: 'newbie@example.com' } });
        const code = new URL(done.location!).searchParams.get('code')!;
        const r = await postForm(t.url('/oauth/token'), { grant_type: 'authorization_code', code, redirect_uri: CB }, { authorization: basic(c.clientId, c.clientSecret!) });
        const info = await (await fetch(t.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${r.json.access_token}` } })).json();
        expect(info).toMatchObject({ name: 'New Bie', email: 'newbie@example.com', email_verified: false, preferred_username: 'newbie' });
      } finally {
        await t.close();
      }
    });

    it('without allowRegistration, prompt=create is an unsupported prompt value (invalid_request)', async () => {
      const url = `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: conf.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'create' });
      expect(new URL((await agent.follow(url)).location!).searchParams.get('error')).toBe('invalid_request');
    });
  });
});
