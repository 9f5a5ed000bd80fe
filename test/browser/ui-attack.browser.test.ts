import { createServer, type Server } from 'node:http';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { makeTestPki } from '../helpers/certs.js';
import { startLogoutRp } from '../helpers/logout-rp.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

describe('browser-facing pages under attack, in Chromium', () => {
  let s: TestServer;
  let rp: Awaited<ReturnType<typeof startLogoutRp>>;
  let b: Awaited<ReturnType<typeof launchBrowser>>;
  let a: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer();
    rp = await startLogoutRp();
    b = await launchBrowser();
    a = await s.client({
      client_name: 'App A', redirect_uris: [`${rp.base}/cb-a`], post_logout_redirect_uris: [`${rp.base}/bye`], skip_consent: true,
      grant_types: ['authorization_code'],
    });
    await s.user('alice', 'alice-password');
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await rp?.close();
    await s?.close();
  });

  /** The sign-in form filled in as alice; the browser then lands on App A's /cb-a. */
  const signInAsAlice = async (page: Page) => {
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice-password');
    await page.click('button:has-text("Sign in")');
    await page.waitForURL((u) => u.pathname === '/cb-a');
  };
  /** What the page at hand (an RP's, on another site) does to POST `fields` to `action`: a hidden form, submitted by script. */
  const postFromPage = (page: Page, action: string, fields: Record<string, string>) =>
    page.evaluate(({ action, fields }) => {
      const f = document.createElement('form');
      f.method = 'post';
      f.action = action;
      for (const [k, v] of Object.entries(fields)) {
        const i = document.createElement('input');
        i.type = 'hidden';
        i.name = k;
        i.value = v;
        f.appendChild(i);
      }
      document.body.appendChild(f);
      f.submit();
    }, { action, fields });

  it('RP-Initiated Logout §3: after the user confirms, the browser reaches the registered post_logout_redirect_uri (the form CSP allows it)', async () => {
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    await page.goto(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: a.clientId, redirect_uri: `${rp.base}/cb-a`, response_type: 'code', scope: 'openid', state: 'x' }));
    await signInAsAlice(page);
    await page.goto(`${s.issuer}/oauth/logout?` + new URLSearchParams({ client_id: a.clientId, post_logout_redirect_uri: `${rp.base}/bye`, state: 'after' }));
    expect(await page.textContent('h1')).toBe('Sign out?');
    await page.click('button:has-text("Sign out")');
    await page.waitForURL((u) => u.pathname === '/bye', { timeout: 5000 });
    expect(new URL(page.url()).searchParams.get('state')).toBe('after');
    await ctx.close();
  });

  it('RP-Initiated Logout §2: a logout POSTed by the RP page on another site (SameSite=Lax holds the cookie back) still ends the session', async () => {
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    const signIn = async (extra: Record<string, string> = {}) => {
      await page.goto(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: a.clientId, redirect_uri: `${rp.base}/cb-a`, response_type: 'code', scope: 'openid', state: 'x', ...extra }));
      await page.waitForURL((u) => u.pathname === '/cb-a' || u.pathname === '/interaction' || u.pathname.startsWith('/interaction/'));
      return new URL(page.url());
    };
    await signIn();
    await signInAsAlice(page);
    const code = new URL(page.url()).searchParams.get('code')!;
    const tokens = (await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code, redirect_uri: `${rp.base}/cb-a` }, { authorization: basic(a.clientId, a.clientSecret!) })).json;
    // The RP's page, on another site (localhost is not 127.0.0.1), posts the logout request as the spec allows (§2: GET and POST).
    const rpOtherSite = rp.base.replace('127.0.0.1', 'localhost');
    await page.goto(`${rpOtherSite}/start`);
    await postFromPage(page, `${s.issuer}/oauth/logout`, { id_token_hint: tokens.id_token, post_logout_redirect_uri: `${rp.base}/bye`, state: 'after' });
    await page.waitForURL((u) => u.pathname === '/bye', { timeout: 5000 });
    expect(new URL(page.url()).searchParams.get('state')).toBe('after');
    // The session really ended: prompt=none now needs a login.
    const after = await signIn({ prompt: 'none' });
    expect(after.searchParams.get('error')).toBe('login_required');
    // Signed out already, the same POST goes straight on (posted again, then redirected: the repost page's CSP allows it).
    await page.goto(`${rpOtherSite}/start`);
    await postFromPage(page, `${s.issuer}/oauth/logout`, { client_id: a.clientId, post_logout_redirect_uri: `${rp.base}/bye`, state: 'again' });
    await page.waitForURL((u) => u.pathname === '/bye' && u.searchParams.get('state') === 'again', { timeout: 5000 });
    await ctx.close();
  });

  it('RP-Initiated Logout §6: a cross-site POST without an id_token_hint, posted again from our origin, still asks the user to confirm', async () => {
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    await page.goto(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: a.clientId, redirect_uri: `${rp.base}/cb-a`, response_type: 'code', scope: 'openid', state: 'x' }));
    await signInAsAlice(page);
    await page.goto(`${rp.base.replace('127.0.0.1', 'localhost')}/evil`);
    // A field named "submit" would shadow form.submit on the repost page: it still posts.
    await page.evaluate(({ action, clientId }) => {
      const f = document.createElement('form');
      f.method = 'post';
      f.action = action;
      for (const [k, v] of [['client_id', clientId], ['submit', '1']]) {
        const i = document.createElement('input');
        i.type = 'hidden';
        i.name = k!;
        i.value = v!;
        f.appendChild(i);
      }
      document.body.appendChild(f);
      HTMLFormElement.prototype.submit.call(f);
    }, { action: `${s.issuer}/oauth/logout`, clientId: a.clientId });
    await page.waitForSelector('text=Sign out?');
    expect(new URL(page.url()).origin).toBe(s.issuer);
    await page.goto(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: a.clientId, redirect_uri: `${rp.base}/cb-a`, response_type: 'code', scope: 'openid', prompt: 'none' }));
    await page.waitForURL((u) => u.pathname === '/cb-a');
    expect(new URL(page.url()).searchParams.get('code')).toBeTruthy(); // still signed in
    await ctx.close();
  });

  it('OIDC Core §3.1.2.1: prompt=none POSTed by the RP page on another site (SameSite=Lax holds the cookie back) still sees the session', async () => {
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    const params = { client_id: a.clientId, redirect_uri: `${rp.base}/cb-a`, response_type: 'code', scope: 'openid', state: 'x' };
    await page.goto(`${s.issuer}/oauth/authorize?` + new URLSearchParams(params));
    await signInAsAlice(page);
    await page.goto(`${rp.base.replace('127.0.0.1', 'localhost')}/start`);
    await postFromPage(page, `${s.issuer}/oauth/authorize`, { ...params, prompt: 'none', state: 'silent' });
    await page.waitForURL((u) => u.pathname === '/cb-a' && u.searchParams.get('state') === 'silent');
    expect(new URL(page.url()).searchParams.get('error')).toBeNull();
    expect(new URL(page.url()).searchParams.get('code')).toBeTruthy();
    await ctx.close();
  });

  it('RFC 8252 §7.3: a native client on the IPv6 loopback ([::1]) gets its code after the sign-in and consent forms, and by form_post (CSP cannot name an IPv6 host)', async () => {
    const got: string[] = [];
    const v6: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        got.push(`${req.method} ${req.url} ${body}`);
        res.writeHead(200, { 'content-type': 'text/html' }).end('<p>native app</p>');
      });
    });
    await new Promise<void>((r) => v6.listen(0, '::1', r));
    const port = (v6.address() as { port: number }).port;
    try {
      const native = await s.client({ application_type: 'native', redirect_uris: ['http://[::1]/cb'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'] });
      const ctx = await b.newContext();
      const page = await ctx.newPage();
      const params = { client_id: native.clientId, redirect_uri: `http://[::1]:${port}/cb`, response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHDoeqcy2Z-4zXtNtEq1ZGE', code_challenge_method: 'S256' };
      await page.goto(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ ...params, state: 'one' }));
      await page.fill('#username', 'alice');
      await page.fill('#password', 'alice-password');
      await page.click('button:has-text("Sign in")');
      await page.click('button:has-text("Allow")');
      await page.waitForURL((u) => u.pathname === '/cb' && u.searchParams.get('state') === 'one', { timeout: 5000 });
      expect(new URL(page.url()).searchParams.get('code')).toBeTruthy();
      await page.goto(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ ...params, state: 'two', response_mode: 'form_post' }));
      await page.waitForSelector('text=native app');
      expect(got.some((g) => g.startsWith('POST /cb ') && g.includes('state=two') && g.includes('code='))).toBe(true);
      await ctx.close();
    } finally {
      await new Promise<void>((r) => v6.close(() => r()));
    }
  });
});

describe('over https in Chromium: the __Host- cookies (session, per sign-in binding, device CSRF) carry the flows', () => {
  let s: TestServer;
  let rp: Awaited<ReturnType<typeof startLogoutRp>>;
  let b: Awaited<ReturnType<typeof launchBrowser>>;

  beforeAll(async () => {
    const pki = makeTestPki();
    s = await startTestServer({ tlsCert: pki.server.certFile, tlsKey: pki.server.keyFile });
    rp = await startLogoutRp();
    b = await launchBrowser();
    await s.user('alice', 'alice-password');
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await rp?.close();
    await s?.close();
  });

  it('RFC 6265bis §4.1.3.2: two sign-ins started in parallel tabs each complete (one binding cookie per sign-in), then the device page works', async () => {
    const c = await s.client({ redirect_uris: [`${rp.base}/cb-a`], skip_consent: true, grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'] });
    const ctx = await b.browser.newContext({ ignoreHTTPSErrors: true });
    const [one, two] = [await ctx.newPage(), await ctx.newPage()];
    const url = (state: string) => `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: c.clientId, redirect_uri: `${rp.base}/cb-a`, response_type: 'code', scope: 'openid', state });
    await one.goto(url('one'));
    await two.goto(url('two'));
    const cookies = (await ctx.cookies(s.issuer)).map((k) => k.name);
    expect(cookies.filter((n) => n.startsWith('__Host-lk_ix_'))).toHaveLength(2);
    for (const [page, state] of [[one, 'one'], [two, 'two']] as const) {
      await page.fill('#username', 'alice');
      await page.fill('#password', 'alice-password');
      await page.click('button:has-text("Sign in")');
      await page.waitForURL((u) => u.pathname === '/cb-a' && u.searchParams.get('state') === state);
      expect(new URL(page.url()).searchParams.get('code')).toBeTruthy();
    }
    const dev = (await (await ctx.request.post(s.url('/oauth/device_authorization'), { form: { scope: 'openid' }, headers: { authorization: basic(c.clientId, c.clientSecret!) } })).json()) as { user_code: string };
    await one.goto(`${s.issuer}/device`);
    await one.fill('#user_code', dev.user_code);
    await one.click('button:has-text("Continue")');
    await one.click('button:has-text("Allow")');
    await one.waitForSelector('text=Device connected');
    expect((await ctx.cookies(s.issuer)).some((k) => k.name === '__Host-lk_dev')).toBe(true);
    await ctx.close();
  });
});
