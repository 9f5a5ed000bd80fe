import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineContext } from '../../src/engine/context.js';
import { registerClient } from '../../src/services/clients.js';
import { createAdminToken } from '../../src/services/management-tokens.js';
import { createTenant } from '../../src/services/tenants.js';
import { createUser } from '../../src/services/users.js';
import { Agent } from '../helpers/agent.js';
import { basic, dropTestDatabase, openTestLatchkey, postForm, startTestServer, testDatabaseUrl, type TestServer } from '../helpers/server.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const CB = 'https://rp.example/cb';
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

/** One tenant as the tests see it: its issuer, a confidential client, a public client (same id everywhere), a user. */
interface Side {
  issuer: string;
  ctx: EngineContext;
  conf: { clientId: string; clientSecret: string };
  pub: { clientId: string };
  sub: string;
}

describe('tenants served at /t/{service}: each its own issuer, pages, cookies and keys', () => {
  let s: TestServer;
  let clock = Date.now();
  const sides: Record<'main' | 'acme' | 'beta', Side> = {} as never;

  async function side(ctx: EngineContext, issuer: string, who: string): Promise<Side> {
    const { json } = await registerClient(ctx, { client_name: `${who} app`, redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token', 'client_credentials', DEVICE], scope: 'openid profile offline_access' });
    // The same public client_id in every tenant: only the tenant tells them apart.
    await registerClient(ctx, { client_id: 'shared-public', redirect_uris: [CB], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], skip_consent: true });
    const user = await createUser(ctx, { username: 'alice', password: `${who}-password`, claims: { name: `Alice of ${who}` } });
    return { issuer, ctx, conf: { clientId: json.client_id as string, clientSecret: json.client_secret as string }, pub: { clientId: 'shared-public' }, sub: user.id };
  }

  beforeAll(async () => {
    s = await startTestServer({}, { clock: () => clock });
    sides.main = await side(s.ctx, s.issuer, 'main');
    await createTenant(s.lk, { id: 'acme' });
    sides.acme = await side(await s.lk.context('acme'), `${s.issuer}/t/acme`, 'acme');
    // A tenant created through the admin API is served as well (its context is loaded on first use).
    const admin = (await createAdminToken(s.lk, { name: 'tests' })).token;
    const created = await fetch(s.url('/admin/tenants'), { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'beta' }) });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { issuer: string }).issuer).toBe(`${s.issuer}/t/beta`);
    sides.beta = await side(await s.lk.context('beta'), `${s.issuer}/t/beta`, 'beta');
  });
  afterAll(() => s.close());

  const discover = (t: Side, c: { clientId: string; clientSecret?: string }) =>
    client.discovery(new URL(t.issuer), c.clientId, c.clientSecret, c.clientSecret ? client.ClientSecretBasic(c.clientSecret) : client.None(), { execute: [client.allowInsecureRequests] });

  /** A code flow with the public client through the scripted browser; returns the callback and the verifier. */
  async function codeFlow(t: Side, agent: Agent, password = `${t === sides.main ? 'main' : t === sides.acme ? 'acme' : 'beta'}-password`) {
    const verifier = oauth.generateRandomCodeVerifier();
    const url = `${t.issuer}/oauth/authorize?` + new URLSearchParams({
      client_id: 'shared-public', redirect_uri: CB, response_type: 'code', scope: 'openid', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    return { cb: await agent.authorize(url, 'alice', password), verifier };
  }
  const redeem = (t: Side, code: string, verifier: string) =>
    postForm(`${t.issuer}/oauth/token`, { grant_type: 'authorization_code', code, redirect_uri: CB, client_id: 'shared-public', code_verifier: verifier });

  it('OIDC Discovery §4: a tenant publishes its metadata at {issuer}/.well-known/openid-configuration, every endpoint under its issuer', async () => {
    const res = await fetch(`${sides.acme.issuer}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const d = (await res.json()) as Record<string, unknown>;
    expect(d.issuer).toBe(sides.acme.issuer);
    for (const [k, v] of Object.entries(d)) if (k.endsWith('_endpoint') || k === 'jwks_uri') expect(v, k).toMatch(new RegExp(`^${sides.acme.issuer}/`));
  });

  it('RFC 8414 §3.1: the OAuth metadata of a tenant is at /.well-known/oauth-authorization-server/t/{id} (path after the well-known segment)', async () => {
    const issuer = new URL(sides.acme.issuer);
    const res = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure });
    expect(new URL(res.url).pathname).toBe('/.well-known/oauth-authorization-server/t/acme');
    const as = await oauth.processDiscoveryResponse(issuer, res); // checks issuer === the tenant's
    expect(as.token_endpoint).toBe(`${sides.acme.issuer}/oauth/token`);
    // The default tenant's stays at the root.
    const root = await oauth.processDiscoveryResponse(new URL(s.issuer), await oauth.discoveryRequest(new URL(s.issuer), { algorithm: 'oauth2', ...insecure }));
    expect(root.issuer).toBe(s.issuer);
  });

  it('an unknown service, and the default tenant under /t/, are 404 not_found (JSON), not a server error', async () => {
    for (const [method, path] of [['GET', '/t/nope/.well-known/openid-configuration'], ['POST', '/t/nope/oauth/token'], ['GET', '/t/nope/oauth/authorize?client_id=x'], ['GET', '/.well-known/oauth-authorization-server/t/nope'], ['GET', '/t/default/.well-known/jwks.json'], ['GET', '/t/NOT%20valid/device']] as const) {
      const res = await fetch(s.url(path), { method, ...(method === 'POST' ? { body: 'grant_type=client_credentials', headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {}) });
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toMatchObject({ error: 'not_found' });
    }
  });

  it('openid-client against a tenant: discovery, authorization with login and consent on the tenant\'s pages, token, validated ID token, UserInfo', async () => {
    const t = sides.acme;
    const config = await discover(t, t.conf);
    expect(config.serverMetadata().issuer).toBe(t.issuer);
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: CB, scope: 'openid profile', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce });
    const agent = new Agent(s.issuer);
    // Every page, form action and redirect stays under the tenant's path.
    const login = await agent.follow(url.href);
    expect(login.html).toContain('name="password"');
    expect(Agent.formAction(login.html, '/login')).toMatch(/^\/t\/acme\/interaction\//);
    expect(login.html).toContain('href="/t/acme/assets/latchkey.css"');
    const consent = await agent.login(login, 'alice', 'acme-password');
    expect(Agent.formAction(consent.html, '/consent')).toMatch(/^\/t\/acme\/interaction\//);
    const done = await agent.consent(consent, 'approve');
    const cb = new URL(done.location!);
    expect(cb.searchParams.get('iss')).toBe(t.issuer); // RFC 9207
    // The tenant's cookies: its own names, scoped to its path.
    expect(agent.cookies()).toContain('lk_session_acme');
    expect(agent.cookies()).not.toContain('lk_session');
    const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    const claims = tokens.claims()!;
    expect(claims.iss).toBe(t.issuer);
    expect(claims.sub).toBe(t.sub);
    const info = await client.fetchUserInfo(config, tokens.access_token, t.sub);
    expect(info.name).toBe('Alice of acme');
  });

  it('the session cookie is set with Path = the tenant\'s path and a tenant-specific name', async () => {
    const agent = new Agent(s.issuer);
    const login = await agent.follow(`${sides.beta.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: 'shared-public', redirect_uri: CB, response_type: 'code', scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }));
    const res = await agent.request(Agent.formAction(login.html, '/login'), { form: { csrf: Agent.formValue(login.html, 'csrf')!, username: 'alice', password: 'beta-password' } });
    const cookies = res.headers.getSetCookie();
    expect(cookies.find((c) => c.startsWith('lk_session_beta='))).toMatch(/; Path=\/t\/beta;/);
  });

  it('RFC 8628: the device flow on a tenant (verification_uri under the tenant, its /device pages)', async () => {
    const t = sides.acme;
    const issuer = new URL(t.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
    const c: oauth.Client = { client_id: t.conf.clientId };
    const auth = oauth.ClientSecretBasic(t.conf.clientSecret);
    const d = await oauth.processDeviceAuthorizationResponse(as, c, await oauth.deviceAuthorizationRequest(as, c, auth, { scope: 'openid' }, insecure));
    expect(d.verification_uri).toBe(`${t.issuer}/device`);
    const agent = new Agent(s.issuer);
    const login = await agent.follow(d.verification_uri_complete!);
    const codePage = await agent.follow(Agent.formAction(login.html, '/device/login'), {
      form: { csrf: Agent.formValue(login.html, 'csrf')!, user_code: Agent.formValue(login.html, 'user_code')!, username: 'alice', password: 'acme-password' },
    });
    expect(codePage.html).toContain('action="/t/acme/device"');
    const confirm = await agent.follow(Agent.formAction(codePage.html, '/device'), { form: { csrf: Agent.formValue(codePage.html, 'csrf')!, user_code: d.user_code } });
    const done = await agent.follow(Agent.formAction(confirm.html, '/device/confirm'), { form: { csrf: Agent.formValue(confirm.html, 'csrf')!, binding: Agent.formValue(confirm.html, 'binding')!, user_code: d.user_code, decision: 'approve' } });
    expect(done.html).toContain('Device connected');
    clock += 10_000;
    const tokens = await oauth.processDeviceCodeResponse(as, c, await oauth.deviceCodeGrantRequest(as, c, auth, d.device_code, insecure));
    expect(oauth.getValidatedIdTokenClaims(tokens)!.iss).toBe(t.issuer);
    // A device code of acme means nothing at beta.
    const other = await postForm(`${sides.beta.issuer}/oauth/token`, { grant_type: DEVICE, device_code: d.device_code }, { authorization: basic(sides.beta.conf.clientId, sides.beta.conf.clientSecret) });
    expect(other.status).toBe(400);
  });

  it('RP-Initiated Logout on a tenant ends that tenant\'s session only', async () => {
    const agent = new Agent(s.issuer);
    // Signed in at the default tenant and at acme, in one browser.
    await codeFlow(sides.main, agent);
    const { cb, verifier } = await codeFlow(sides.acme, agent);
    const t = (await redeem(sides.acme, cb.searchParams.get('code')!, verifier)).json;
    const r = await agent.follow(`${sides.acme.issuer}/oauth/logout?` + new URLSearchParams({ id_token_hint: t.id_token }));
    expect(r.status).toBe(200);
    expect(agent.cookies()).not.toContain('lk_session_acme');
    const promptNone = (side: Side) => agent.follow(`${side.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: 'shared-public', redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'none', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }));
    expect(new URL((await promptNone(sides.acme)).location!).searchParams.get('error')).toBe('login_required');
    expect(new URL((await promptNone(sides.main)).location!).searchParams.get('code')).toBeTruthy();
    // An ID token of another tenant is no hint here (signed with other keys, another issuer).
    const main = await codeFlow(sides.main, agent);
    const mainTokens = (await redeem(sides.main, main.cb.searchParams.get('code')!, main.verifier)).json;
    const wrong = await agent.request(`${sides.acme.issuer}/oauth/logout?` + new URLSearchParams({ id_token_hint: mainTokens.id_token }));
    expect(wrong.status).toBe(400);
  });

  describe('isolation through HTTP: nothing of one tenant is accepted by another', () => {
    const pairs: Array<['main' | 'acme' | 'beta', 'main' | 'acme' | 'beta']> = [['acme', 'beta'], ['beta', 'acme'], ['main', 'acme'], ['acme', 'main']];

    it.each(pairs)('a session cookie of %s is not a session at %s', async (a, b) => {
      const agent = new Agent(s.issuer);
      await codeFlow(sides[a], agent);
      const name = (x: string) => (x === 'main' ? 'lk_session' : `lk_session_${x}`);
      const value = (agent as unknown as { jar: Map<string, { value: string }> }).jar.get(name(a))!.value;
      expect(value).toBeTruthy();
      // The same value presented under B's cookie name, at B's authorization endpoint with prompt=none: no session.
      const url = `${sides[b].issuer}/oauth/authorize?` + new URLSearchParams({ client_id: 'shared-public', redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'none', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
      const res = await fetch(url, { redirect: 'manual', headers: { cookie: `${name(b)}=${value}; ${name(a)}=${value}` } });
      expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('login_required');
    });

    it.each(pairs)('a code, an access token, a refresh token and a ticket of %s are rejected at %s', async (a, b) => {
      const agent = new Agent(s.issuer);
      const { cb, verifier } = await codeFlow(sides[a], agent);
      const code = cb.searchParams.get('code')!;
      // Same client_id, valid PKCE verifier: still invalid_grant at the other tenant.
      const cross = await redeem(sides[b], code, verifier);
      expect(cross.status).toBe(400);
      expect(cross.json.error).toBe('invalid_grant');
      // The very same request at A succeeds: only the tenant differed.
      const good = (await redeem(sides[a], code, verifier)).json;
      expect(good.access_token).toBeTruthy();
      const ui = await fetch(`${sides[b].issuer}/oauth/userinfo`, { headers: { authorization: `Bearer ${good.access_token}` } });
      expect(ui.status).toBe(401);
      const intro = await postForm(`${sides[b].issuer}/oauth/introspect`, { token: good.access_token }, { authorization: basic(sides[b].conf.clientId, sides[b].conf.clientSecret) });
      expect(intro.json).toEqual({ active: false });
      // A ticket of A: unknown at B's interaction pages.
      const pending = await agent.request(`${sides[a].issuer}/oauth/authorize?` + new URLSearchParams({ client_id: 'shared-public', redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'login', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }));
      const ticket = pending.location!.split('/interaction/')[1]!;
      const atB = await agent.request(`${sides[b].issuer}/interaction/${ticket}`);
      expect(atB.status).toBe(400);
      expect(atB.html).toContain('unknown or has expired');
    });

    it.each(pairs)('a client of %s cannot authenticate at %s', async (a, b) => {
      const res = await postForm(`${sides[b].issuer}/oauth/token`, { grant_type: 'client_credentials' }, { authorization: basic(sides[a].conf.clientId, sides[a].conf.clientSecret) });
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('invalid_client');
      // Refresh tokens too: A's refresh token with B's client.
      const rt = await refreshTokenOf(sides[a]);
      const r = await postForm(`${sides[b].issuer}/oauth/token`, { grant_type: 'refresh_token', refresh_token: rt }, { authorization: basic(sides[b].conf.clientId, sides[b].conf.clientSecret) });
      expect(r.json.error).toBe('invalid_grant');
    });

    it.each(pairs)('keys: a JWT access token and an ID token signed by %s are not accepted at %s', async (a, b) => {
      // JWT access tokens (RFC 9068) are verified against the tenant's own keys and issuer.
      const jwtClient = await registerClient(sides[a].ctx, { grant_types: ['client_credentials'], access_token_format: 'jwt' });
      const at = (await postForm(`${sides[a].issuer}/oauth/token`, { grant_type: 'client_credentials' }, { authorization: basic(jwtClient.json.client_id as string, jwtClient.json.client_secret as string) })).json.access_token as string;
      expect(at.split('.')).toHaveLength(3);
      const intro = await postForm(`${sides[b].issuer}/oauth/introspect`, { token: at }, { authorization: basic(sides[b].conf.clientId, sides[b].conf.clientSecret) });
      expect(intro.json).toEqual({ active: false });
      // An ID token of A as id_token_hint at B: not B's (its keys, its issuer).
      const agent = new Agent(s.issuer);
      const flow = await codeFlow(sides[a], agent);
      const idToken = (await redeem(sides[a], flow.cb.searchParams.get('code')!, flow.verifier)).json.id_token as string;
      const hinted = await agent.request(`${sides[b].issuer}/oauth/authorize?` + new URLSearchParams({ client_id: 'shared-public', redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'none', id_token_hint: idToken, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }));
      expect(new URL(hinted.location!).searchParams.get('error')).toBe('invalid_request');
      // B's JWKS does not hold A's keys.
      const kids = async (t: Side) => ((await (await fetch(`${t.issuer}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
      const bKids = await kids(sides[b]);
      for (const kid of await kids(sides[a])) expect(bKids).not.toContain(kid);
    });
  });

  async function refreshTokenOf(t: Side): Promise<string> {
    const config = await discover(t, t.conf);
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: CB, scope: 'openid offline_access', prompt: 'consent', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const agent = new Agent(s.issuer);
    const cb = await agent.authorize(url.href, 'alice', t === sides.main ? 'main-password' : t === sides.acme ? 'acme-password' : 'beta-password');
    const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, idTokenExpected: true });
    expect(tokens.refresh_token).toBeTruthy();
    return tokens.refresh_token!;
  }
});

describe('tenant issuers: derived from the configured issuer unless one was given', () => {
  it('a tenant created without an issuer follows the configured issuer (nothing stored); an explicit one is kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-issuers-'));
    const databaseUrl = await testDatabaseUrl(dir);
    const shared = { databaseUrl, dataDir: dir, keyEncryptionKey: randomBytes(32).toString('base64url') };
    try {
      const one = await openTestLatchkey({ issuer: 'https://one.example', ...shared });
      await createTenant(one.lk, { id: 'acme' });
      await createTenant(one.lk, { id: 'shop', issuer: 'https://login.shop.example' });
      // RFC 8414 §2: an issuer names one authorization server, so no two tenants share one.
      await expect(createTenant(one.lk, { id: 'copy', issuer: 'https://one.example/t/acme' })).rejects.toThrow(/already the issuer of tenant acme/);
      expect((await one.lk.store.findTenant('acme'))!.issuer).toBe('');
      expect((await one.lk.context('acme')).tenant.issuer).toBe('https://one.example/t/acme');
      await one.lk.close();
      const two = await openTestLatchkey({ issuer: 'https://two.example', ...shared });
      expect((await two.lk.context('acme')).tenant.issuer).toBe('https://two.example/t/acme');
      expect((await two.lk.context('shop')).tenant.issuer).toBe('https://login.shop.example');
      await two.lk.close();
    } finally {
      await dropTestDatabase(databaseUrl);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a tenant with an explicit issuer is still served at /t/{id}, printing every URL from its own issuer (for a proxy that maps it)', async () => {
    const s = await startTestServer();
    try {
      await createTenant(s.lk, { id: 'shop', issuer: 'https://login.shop.example' });
      const d = (await (await fetch(s.url('/t/shop/.well-known/openid-configuration'))).json()) as Record<string, string>;
      expect(d.issuer).toBe('https://login.shop.example');
      expect(d.authorization_endpoint).toBe('https://login.shop.example/oauth/authorize');
      const res = await fetch(s.url('/t/shop/device'));
      expect(res.headers.get('set-cookie')).toMatch(/^__Host-lk_dev_shop=[^;]+; Path=\/;/);
      expect(await res.text()).toContain('action="/device/login"');
      // A tenant whose derived issuer was given explicitly is an ordinary /t/{id} tenant.
      await createTenant(s.lk, { id: 'plain', issuer: `${s.issuer}/t/plain` });
      expect((await s.lk.store.findTenant('plain'))!.issuer).toBe('');
      const plain = await fetch(s.url('/t/plain/.well-known/openid-configuration'));
      expect(((await plain.json()) as { issuer: string }).issuer).toBe(`${s.issuer}/t/plain`);
    } finally {
      await s.close();
    }
  });

  it('an explicit issuer in this server\'s own URL space (its issuer, any path below it, /t/<id> included, either scheme) is refused: service, admin API', async () => {
    const s = await startTestServer();
    try {
      const own = new URL(s.issuer);
      for (const issuer of [`${s.issuer}/t/later`, `${s.issuer}/t/%6Cater`, `${s.issuer}/oauth`, `${s.issuer}/x/y`, `https://${own.host}/t/later`, `HTTP://${own.host.toUpperCase()}/t/later`]) {
        await expect(createTenant(s.lk, { id: 'ext', issuer }), issuer).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/own URL space/) });
      }
      await expect(createTenant(s.lk, { id: 'ext', issuer: s.issuer })).rejects.toMatchObject({ status: 409 }); // the default tenant's
      // /t/later stays free for the tenant it belongs to.
      await createTenant(s.lk, { id: 'later' });
      const admin = (await createAdminToken(s.lk, { name: 'tests' })).token;
      const res = await fetch(s.url('/admin/tenants'), { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'ext', issuer: `${s.issuer}/t/other` }) });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/own URL space/) });
      // Another host (another port is another host) is fine.
      await createTenant(s.lk, { id: 'ext', issuer: `http://${own.hostname}:${Number(own.port) + 1}/t/later` });
    } finally {
      await s.close();
    }
  });

  it('an explicit issuer below an issuer with a path, or on the mTLS alias host, is refused; elsewhere on the same host it is not', async () => {
    const t = await openTestLatchkey({ issuer: 'https://example.com/auth', mtlsBaseUrl: 'https://mtls.example.com/auth', clientCertificateHeader: 'x-client-cert', trustedProxies: ['127.0.0.1'] });
    try {
      for (const issuer of ['https://example.com/auth/t/x', 'https://example.com/auth/shop', 'https://mtls.example.com/auth/t/x', 'https://example.com/%61uth/x']) {
        await expect(createTenant(t.lk, { id: 'ext', issuer }), issuer).rejects.toMatchObject({ status: 400 });
      }
      for (const [id, issuer] of [['a', 'https://example.com/shop'], ['b', 'https://example.com/authx'], ['c', 'https://example.com'], ['d', 'https://mtls.example.com/other']] as const) {
        expect((await createTenant(t.lk, { id, issuer })).issuer, issuer).toBe(issuer);
      }
    } finally {
      await t.close();
    }
  });

  it('RFC 8414 §2: an explicit http issuer off loopback is refused (service, admin API) unless insecureHttpIssuer, as serve refuses such a configured issuer', async () => {
    const s = await startTestServer();
    try {
      for (const issuer of ['http://login.acme.example', 'http://10.0.0.5:8080/auth', 'http://[2001:db8::1]']) {
        await expect(createTenant(s.lk, { id: 'ext', issuer }), issuer).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/is http on a host other than loopback.*insecureHttpIssuer/) });
      }
      const admin = (await createAdminToken(s.lk, { name: 'tests' })).token;
      const res = await fetch(s.url('/admin/tenants'), { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'ext', issuer: 'http://login.acme.example' }) });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/is http on a host other than loopback/) });
      expect(await s.lk.store.findTenant('ext')).toBeUndefined();
      // https anywhere, and http on loopback (a development host), are fine.
      expect((await createTenant(s.lk, { id: 'a', issuer: 'https://login.acme.example' })).issuer).toBe('https://login.acme.example');
      expect((await createTenant(s.lk, { id: 'b', issuer: 'http://localhost:8081' })).issuer).toBe('http://localhost:8081');
    } finally {
      await s.close();
    }
    const t = await openTestLatchkey({ issuer: 'https://example.com', insecureHttpIssuer: true });
    try {
      const warnings: string[] = [];
      t.lk.setLogger({ error: () => {}, info: () => {}, warn: (_o: unknown, msg?: string) => void warnings.push(msg ?? '') });
      expect((await createTenant(t.lk, { id: 'ext', issuer: 'http://login.acme.example' })).issuer).toBe('http://login.acme.example');
      // Admitted, but with the warning serve gives for the configured issuer; an https tenant gets none.
      expect(warnings.filter((m) => /insecureHttpIssuer is on: tenant issuer http:\/\/login\.acme\.example/.test(m))).toHaveLength(1);
      await createTenant(t.lk, { id: 'sec', issuer: 'https://login.beta.example' });
      expect(warnings).toHaveLength(1);
    } finally {
      await t.close();
    }
  });
});
