import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Fastify from 'fastify';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLatchkey, registerClient, type LatchkeyInstance } from '../../src/index.js';
import { Agent } from '../helpers/agent.js';
import { startProcess, type RunningProcess } from '../helpers/process.js';
import { basic, dropTestDatabase, freePort, postForm, testDatabaseUrl } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const secret = () => randomBytes(32).toString('base64url');

/**
 * examples/embedded runs as users would run it (`node examples/embedded/server.mjs`, importing `latchkey`, i.e. the
 * built dist/; scripts/test.sh builds first): a Fastify app with its own users that mounts Latchkey under /auth.
 */
describe.each([
  ['Latchkey\'s sign-in and consent pages', false],
  ['the application\'s own sign-in page (two-step engine API)', true],
])('examples/embedded: a Fastify app is its own OpenID Provider at <origin>/auth, with %s', (_name, ownLogin) => {
  let dir: string;
  let databaseUrl: string;
  let proc: RunningProcess;
  let origin: string;
  let issuer: string;
  const rp = { clientId: 'example-rp', clientSecret: secret() };
  let config: client.Configuration;

  beforeAll(async () => {
    expect(existsSync('dist/index.js'), 'dist/ is missing: run `npm run build` first').toBe(true);
    dir = mkdtempSync(join(tmpdir(), 'latchkey-embedded-'));
    databaseUrl = await testDatabaseUrl(dir);
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    issuer = `${origin}/auth`;
    proc = await startProcess(process.execPath, [resolve('examples/embedded/server.mjs')], {
      env: {
        PATH: process.env.PATH, PORT: String(port), DATA_DIR: dir, DATABASE_URL: databaseUrl, KEY_ENCRYPTION_KEY: secret(),
        CLIENT_ID: rp.clientId, CLIENT_SECRET: rp.clientSecret, REDIRECT_URI: CB, REGISTRATION: 'open', ...(ownLogin ? { OWN_LOGIN: '1' } : {}),
      },
      readyPattern: /listening on (http:\/\/\S+)/,
      timeoutMs: 60_000,
    });
    config = await client.discovery(new URL(issuer), rp.clientId, rp.clientSecret, client.ClientSecretBasic(rp.clientSecret), { execute: [client.allowInsecureRequests] });
  }, 90_000);
  afterAll(async () => {
    await proc?.stop();
    await dropTestDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  });

  it('OIDC Discovery §4 under the issuer\'s path, RFC 8414 §3.1 at the path-inserted URL; the host\'s own routes still answer', async () => {
    expect(config.serverMetadata().issuer).toBe(issuer);
    expect(config.serverMetadata().token_endpoint).toBe(`${issuer}/oauth/token`);
    const oauthMeta = (await (await fetch(`${origin}/.well-known/oauth-authorization-server/auth`)).json()) as { issuer: string };
    expect(oauthMeta.issuer).toBe(issuer);
    expect(await (await fetch(`${origin}/`)).text()).toContain('Example app');
  });

  it('openid-client code flow with PKCE: the claims of the ID token and UserInfo come from the application\'s users', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: CB, scope: 'openid profile email', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce });
    const agent = new Agent(origin);
    const first = await agent.follow(url.href);
    expect(first.html).toContain('name="password"');
    expect(new URL(Agent.formAction(first.html, '/login'), origin).pathname).toMatch(ownLogin ? /^\/login$/ : /^\/auth\/interaction\//);
    // A wrong password is refused by the application's own check (through authenticate, or its page).
    const wrong = await agent.follow(Agent.formAction(first.html, '/login'), { form: { csrf: Agent.formValue(first.html, 'csrf') ?? '', username: 'alice', password: 'nope' } });
    expect(wrong.status).toBe(400); // a form's refusal: no 401, which would need a WWW-Authenticate challenge
    const cb = await agent.authorize(url.href, 'alice', 'alice-in-wonderland');
    expect(cb.searchParams.get('iss')).toBe(issuer); // RFC 9207
    const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    const claims = tokens.claims()!;
    expect(claims.iss).toBe(issuer);
    expect(claims.sub).toBe('u-1001');
    const info = await client.fetchUserInfo(config, tokens.access_token, 'u-1001');
    expect(info).toMatchObject({ sub: 'u-1001', name: 'Alice Liddell', email: 'alice@example.com', preferred_username: 'alice' });
  });

  it('OIDC Core §3.1.2.6: prompt=none without a session is answered login_required at the client', async () => {
    const url = client.buildAuthorizationUrl(config, { redirect_uri: CB, scope: 'openid', prompt: 'none', state: 's1', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    const r = await new Agent(origin).follow(url.href);
    const back = new URL(r.location!);
    expect(back.origin + back.pathname).toBe(CB);
    expect(back.searchParams.get('error')).toBe('login_required');
    expect(back.searchParams.get('state')).toBe('s1');
  });

  // With Latchkey's pages the example registers its client without skip_consent (the consent page is Latchkey's).
  it.skipIf(!ownLogin)('OIDC Core §3.1.2.4: the application\'s own client (skip_consent) is never asked for consent', async () => {
    const url = client.buildAuthorizationUrl(config, { redirect_uri: CB, scope: 'openid profile email', prompt: 'consent', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    const agent = new Agent(origin);
    const done = await agent.login(await agent.follow(url.href), 'bob', 'bob-the-builder');
    expect(done.location, done.html.slice(0, 300)).toBeDefined();
    expect(new URL(done.location!).searchParams.get('code')).toBeTruthy();
  });

  it('OIDC Core §3.1.2.4: a third-party client (RFC 7591) gets a consent page once; the consent is recorded and the next request for the same scopes skips it; prompt=consent asks again', async () => {
    const reg = await client.dynamicClientRegistration(new URL(issuer), { redirect_uris: [CB], token_endpoint_auth_method: 'client_secret_basic', client_name: 'Third party' }, undefined, { execute: [client.allowInsecureRequests] });
    const meta = reg.clientMetadata();
    const third = await client.discovery(new URL(issuer), meta.client_id, meta.client_secret as string, client.ClientSecretBasic(meta.client_secret as string), { execute: [client.allowInsecureRequests] });
    const flow = async (params: Record<string, string> = {}) => {
      const verifier = client.randomPKCECodeVerifier();
      const url = client.buildAuthorizationUrl(third, { redirect_uri: CB, scope: 'openid email', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params });
      const agent = new Agent(origin); // a fresh browser each time: signed out, so this is the sign-in page
      return { agent, verifier, afterLogin: await agent.login(await agent.follow(url.href), 'alice', 'alice-in-wonderland') };
    };

    const first = await flow();
    expect(first.afterLogin.location).toBeUndefined();
    expect(first.afterLogin.html).toContain('/consent');
    expect(first.afterLogin.html).toContain('Third party');
    const approved = await first.agent.consent(first.afterLogin, 'approve');
    const cb = new URL(approved.location!);
    const tokens = await client.authorizationCodeGrant(third, cb, { pkceCodeVerifier: first.verifier, idTokenExpected: true });
    expect(tokens.claims()!.sub).toBe('u-1001');

    const second = await flow();
    expect(second.afterLogin.location, 'consent recorded: no page the second time').toBeDefined();
    expect(new URL(second.afterLogin.location!).searchParams.get('code')).toBeTruthy();

    const again = await flow({ prompt: 'consent' });
    expect(again.afterLogin.location).toBeUndefined();
    expect(again.afterLogin.html).toContain('/consent');
    const denied = new URL((await again.agent.consent(again.afterLogin, 'deny')).location!);
    expect(denied.searchParams.get('error')).toBe('access_denied');

    // More than was consented to (profile) asks again.
    const wider = await flow({ scope: 'openid email profile' });
    expect(wider.afterLogin.location).toBeUndefined();
    expect(wider.afterLogin.html).toContain('/consent');
  });
});

/** Latchkey as a node:http (or Express/Connect) request handler, in this process. */
describe('createLatchkey: a node:http request handler mounted at the issuer\'s path', () => {
  let dir: string;
  let databaseUrl: string;
  let auth: LatchkeyInstance;
  let server: Server;
  let origin: string;
  let rp: { clientId: string; clientSecret: string };
  const users: Record<string, { sub: string; password: string; claims: Record<string, unknown> }> = {
    carol: { sub: 'c-7', password: 'carol-password', claims: { name: 'Carol', email: 'carol@example.com' } },
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-handler-'));
    databaseUrl = await testDatabaseUrl(dir);
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    auth = await createLatchkey({
      config: { issuer: `${origin}/sso`, dataDir: dir, databaseUrl, keyEncryptionKey: secret(), logLevel: 'silent' },
      findAccount: (sub) => {
        const u = Object.entries(users).find(([, v]) => v.sub === sub);
        return u ? { preferred_username: u[0], ...u[1].claims } : null;
      },
      authenticate: async (username, password) => (users[username]?.password === password ? users[username]!.sub : null),
      backgroundJobs: false,
    });
    const { json } = await registerClient(await auth.context(), { redirect_uris: [CB], grant_types: ['authorization_code', 'password'], insecure_password_grant: true, scope: 'openid profile email', skip_consent: true });
    rp = { clientId: json.client_id as string, clientSecret: json.client_secret as string };
    // The host: its own routes, with Latchkey's handler first and the rest falling through to `next`.
    server = createServer((req, res) => {
      auth.handler(req, res, () => {
        res.setHeader('content-type', 'text/plain');
        res.end(`host page ${req.url}`);
      });
    });
    await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
  });
  afterAll(async () => {
    if (server) await new Promise((ok) => server.close(ok));
    await auth?.close();
    await dropTestDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the mount path is the issuer\'s path; other paths are the host\'s', async () => {
    expect(auth.mountPath).toBe('/sso');
    expect(await (await fetch(`${origin}/hello`)).text()).toBe('host page /hello');
    expect(await (await fetch(`${origin}/ssofoo`)).text()).toBe('host page /ssofoo');
    const d = (await (await fetch(`${origin}/sso/.well-known/openid-configuration`)).json()) as Record<string, string>;
    expect(d.issuer).toBe(`${origin}/sso`);
    expect(d.authorization_endpoint).toBe(`${origin}/sso/oauth/authorize`);
    expect((await fetch(`${origin}/.well-known/oauth-authorization-server/sso`)).status).toBe(200);
  });

  it('openid-client code flow through Latchkey\'s pages, signing in with the host\'s authenticate; claims from its findAccount', async () => {
    const config = await client.discovery(new URL(`${origin}/sso`), rp.clientId, rp.clientSecret, client.ClientSecretBasic(rp.clientSecret), { execute: [client.allowInsecureRequests] });
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: CB, scope: 'openid email', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const agent = new Agent(origin);
    const cb = await agent.authorize(url.href, 'carol', 'carol-password');
    expect(agent.cookies()).toContain('lk_session');
    const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier });
    expect(tokens.claims()!.sub).toBe('c-7');
    expect(await client.fetchUserInfo(config, tokens.access_token, 'c-7')).toMatchObject({ sub: 'c-7', email: 'carol@example.com' });
  });

  it('the account page for the host\'s accounts: signed in through its authenticate, no password or details form, a change to either refused', async () => {
    const agent = new Agent(origin);
    const login = await agent.follow('/sso/account');
    const page = await agent.follow(Agent.formAction(login.html, '/account/login'), { form: { csrf: Agent.formValue(login.html, 'csrf')!, username: 'carol', password: 'carol-password' } });
    expect(page.html).toContain('Signed in as <strong><bdi>carol</bdi></strong>');
    expect(page.html).not.toContain('Change password');
    const refused = await agent.follow('/sso/account', { form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'password', password: 'a-new-password' } });
    expect(refused.status).toBe(400);
    expect(refused.html).toContain('Your password is not kept here');
    // Nor its details: the host keeps them.
    expect(page.html).not.toContain('Your details');
    const details = await agent.follow('/sso/account', { form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'profile', name: 'Carol' } });
    expect(details.status).toBe(400);
    expect(details.html).toContain('Your details are not kept here');
  });

  it('RFC 6749 §4.3: the password grant checks the host\'s authenticate', async () => {
    const ok = await postForm(`${origin}/sso/oauth/token`, { grant_type: 'password', username: 'carol', password: 'carol-password', scope: 'openid' }, { authorization: basic(rp.clientId, rp.clientSecret) });
    expect(ok.status).toBe(200);
    expect(ok.json.access_token).toBeTruthy();
    const bad = await postForm(`${origin}/sso/oauth/token`, { grant_type: 'password', username: 'carol', password: 'wrong', scope: 'openid' }, { authorization: basic(rp.clientId, rp.clientSecret) });
    expect(bad.json.error).toBe('invalid_grant');
  });

  it('Express-style mounting: req.url stripped of the mount path, req.originalUrl whole', async () => {
    const port = await freePort();
    const express = createServer((req, res) => {
      const original = req.url!;
      if (original.startsWith('/sso')) Object.assign(req, { originalUrl: original, url: original.slice(4) || '/' });
      auth.handler(req, res);
    });
    await new Promise<void>((ok) => express.listen(port, '127.0.0.1', ok));
    try {
      const res = await fetch(`http://127.0.0.1:${port}/sso/.well-known/jwks.json`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
      expect((await fetch(`http://127.0.0.1:${port}/elsewhere`)).status).toBe(404); // no next: 404
    } finally {
      await new Promise((ok) => express.close(ok));
    }
  });

  it('the Fastify plugin refuses a prefix other than the issuer\'s path, and mounts with it or with none', async () => {
    const wrong = Fastify();
    await expect(wrong.register(auth.plugin, { prefix: '/other' }).ready()).rejects.toThrow(/issuer's path/);
    await wrong.close().catch(() => {});
    for (const opts of [{}, { prefix: '/sso' }]) {
      const app = Fastify();
      await app.register(auth.plugin, opts);
      const res = await app.inject({ url: '/sso/.well-known/openid-configuration' });
      expect(res.json().issuer).toBe(`${origin}/sso`);
      expect((await app.inject({ url: '/.well-known/oauth-authorization-server/sso' })).statusCode).toBe(200);
      await app.close();
    }
  });
});

/**
 * The host's findAccount is its own code: it may be slow or use Latchkey's store itself. The engine never calls it
 * with a store transaction open (on SQLite, one connection behind a mutex, a store call of its own would deadlock).
 */
describe('createLatchkey: findAccount runs outside every store transaction', () => {
  let dir: string;
  let databaseUrl: string;
  let auth: LatchkeyInstance;
  let server: Server;
  let origin: string;
  let rp: { clientId: string; clientSecret: string };
  let config: client.Configuration;
  const accounts: Record<string, Record<string, unknown>> = {
    'd-9': { preferred_username: 'dora', name: 'Dora', email: 'dora@example.com', email_verified: true },
  };
  const calls: { sub: string; openTransactions: number }[] = [];
  let failLookups = false;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-accounts-'));
    databaseUrl = await testDatabaseUrl(dir);
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    auth = await createLatchkey({
      config: { issuer: `${origin}/sso`, dataDir: dir, databaseUrl, keyEncryptionKey: secret(), logLevel: 'silent' },
      findAccount: async (sub) => {
        // The probe: transactions open on Latchkey's store right now (its own count; requests here are one at a time).
        const openTransactions = (auth.latchkey.store as unknown as { openTransactions: number }).openTransactions;
        calls.push({ sub, openTransactions });
        if (openTransactions !== 0) throw new Error('findAccount called inside a store transaction');
        // A host that uses Latchkey's store itself, then does slow I/O of its own.
        await auth.latchkey.store.findClient('default', rp.clientId);
        await new Promise((r) => setTimeout(r, 5));
        if (failLookups) throw new Error('the host\'s user database is down');
        return accounts[sub] ?? null;
      },
      authenticate: async (username, password) => (username === 'dora' && password === 'dora-password' ? 'd-9' : null),
      backgroundJobs: false,
    });
    const { json } = await registerClient(await auth.context(), {
      redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token', 'password'], insecure_password_grant: true,
      scope: 'openid profile email offline_access', skip_consent: true,
    });
    rp = { clientId: json.client_id as string, clientSecret: json.client_secret as string };
    server = createServer((req, res) => auth.handler(req, res));
    await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
    config = await client.discovery(new URL(`${origin}/sso`), rp.clientId, rp.clientSecret, client.ClientSecretBasic(rp.clientSecret), { execute: [client.allowInsecureRequests] });
  });
  afterAll(async () => {
    if (server) await new Promise((ok) => server.close(ok));
    await auth?.close();
    await dropTestDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  });

  /** A code for dora whose ID tokens are to carry claims by name (OIDC Core §5.5): the token endpoint reads the account. */
  async function codeFor(verifier: string) {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CB, scope: 'openid offline_access', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      claims: JSON.stringify({ id_token: { name: null, email: { essential: true } } }),
    });
    return new Agent(origin).authorize(url.href, 'dora', 'dora-password');
  }

  it('OIDC Core §5.5: code exchange and refresh put the host\'s claims in the ID token, the account looked up with no transaction open', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const cb = await codeFor(verifier);
    calls.length = 0;
    const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier });
    expect(calls.map((c) => c.sub)).toEqual(['d-9']); // the token endpoint did ask the host
    expect(tokens.claims()).toMatchObject({ sub: 'd-9', name: 'Dora', email: 'dora@example.com' });
    expect(tokens.claims()).not.toHaveProperty('preferred_username'); // only the claims asked for by name
    expect(tokens.refresh_token).toBeTruthy();

    calls.length = 0;
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(calls.map((c) => c.sub)).toEqual(['d-9']);
    expect(refreshed.claims()).toMatchObject({ sub: 'd-9', name: 'Dora', email: 'dora@example.com' });
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token); // rotated, as before

    // The rest of what reads the host's accounts: UserInfo, the password grant (authenticate, then findAccount).
    expect(await client.fetchUserInfo(config, refreshed.access_token, 'd-9')).toMatchObject({ sub: 'd-9' });
    const pw = await postForm(`${origin}/sso/oauth/token`, { grant_type: 'password', username: 'dora', password: 'dora-password', scope: 'openid' }, { authorization: basic(rp.clientId, rp.clientSecret) });
    expect(pw.status).toBe(200);
    expect(calls.length).toBeGreaterThan(2);
    expect(calls.filter((c) => c.openTransactions !== 0)).toEqual([]);
  });

  it('a findAccount that fails during the code exchange or a refresh fails the request before the code or refresh token is spent; it can be used again', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const cb = await codeFor(verifier);
    const code = cb.searchParams.get('code')!;
    const redeem = () =>
      postForm(`${origin}/sso/oauth/token`, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }, { authorization: basic(rp.clientId, rp.clientSecret) });
    failLookups = true;
    try {
      const failed = await redeem();
      expect(failed.status).toBe(500);
    } finally {
      failLookups = false;
    }
    const ok = await redeem();
    expect(ok.status).toBe(200);
    expect(ok.json.id_token).toBeTruthy();
    const refresh = () => postForm(`${origin}/sso/oauth/token`, { grant_type: 'refresh_token', refresh_token: ok.json.refresh_token }, { authorization: basic(rp.clientId, rp.clientSecret) });
    failLookups = true;
    try {
      expect((await refresh()).status).toBe(500);
    } finally {
      failLookups = false;
    }
    const refreshed = await refresh();
    expect(refreshed.status).toBe(200); // not refused as a reused (rotated) refresh token
    expect(refreshed.json.id_token).toBeTruthy();
    expect(calls.filter((c) => c.openTransactions !== 0)).toEqual([]);
  });

  it('an account the host no longer finds gets no more tokens: the code exchange and the refresh answer invalid_grant, whatever the scope', async () => {
    // Plain scopes, no claims by name: the token endpoint still asks the host whether the account exists.
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CB, scope: 'openid offline_access', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const cb = await new Agent(origin).authorize(url.href, 'dora', 'dora-password');
    const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier });
    const second = await codeFor(verifier);
    const saved = accounts['d-9']!;
    delete accounts['d-9']; // deleted or disabled by the host: findAccount answers null
    try {
      calls.length = 0;
      const refresh = await postForm(`${origin}/sso/oauth/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { authorization: basic(rp.clientId, rp.clientSecret) });
      expect(refresh.status).toBe(400);
      expect(refresh.json).toMatchObject({ error: 'invalid_grant' });
      expect(calls.map((c) => c.sub)).toEqual(['d-9']);
      const redeem = await postForm(
        `${origin}/sso/oauth/token`,
        { grant_type: 'authorization_code', code: second.searchParams.get('code')!, redirect_uri: CB, code_verifier: verifier },
        { authorization: basic(rp.clientId, rp.clientSecret) },
      );
      expect(redeem.status).toBe(400);
      expect(redeem.json).toMatchObject({ error: 'invalid_grant' });
      expect(redeem.json.access_token).toBeUndefined();
    } finally {
      accounts['d-9'] = saved;
    }
    // Refused, not spent: the refresh token works again once the account is back (a disabled account re-enabled).
    const back = await postForm(`${origin}/sso/oauth/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { authorization: basic(rp.clientId, rp.clientSecret) });
    expect(back.status).toBe(200);
  });

  it('RFC 7662 §2.2, §4: introspection answers active:false for a token of an account the host no longer finds, as UserInfo refuses it; a token without a user costs no lookup', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CB, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const cb = await new Agent(origin).authorize(url.href, 'dora', 'dora-password');
    const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier });
    const introspect = (token: string) => postForm(`${origin}/sso/oauth/introspect`, { token }, { authorization: basic(rp.clientId, rp.clientSecret) });
    const userinfo = () => fetch(`${origin}/sso/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect((await introspect(tokens.access_token)).json).toMatchObject({ active: true, sub: 'd-9', username: 'dora' });
    const saved = accounts['d-9']!;
    delete accounts['d-9']; // deleted or disabled by the host: findAccount answers null
    try {
      calls.length = 0;
      expect((await introspect(tokens.access_token)).text).toBe('{"active":false}');
      expect(calls.map((c) => c.sub)).toEqual(['d-9']); // one lookup
      expect((await userinfo()).status).toBe(401);
    } finally {
      accounts['d-9'] = saved;
    }
    expect((await introspect(tokens.access_token)).json).toMatchObject({ active: true, sub: 'd-9' });
    // A token without a user (client_credentials) never asks the host.
    const { json: svc } = await registerClient(await auth.context(), { grant_types: ['client_credentials'], scope: 'profile' });
    const cc = await postForm(`${origin}/sso/oauth/token`, { grant_type: 'client_credentials' }, { authorization: basic(svc.client_id as string, svc.client_secret as string) });
    expect(cc.status, cc.text).toBe(200);
    calls.length = 0;
    expect((await introspect(cc.json.access_token)).json).toMatchObject({ active: true, client_id: svc.client_id });
    expect(calls).toEqual([]);
  });
});
