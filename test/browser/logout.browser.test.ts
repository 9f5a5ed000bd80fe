import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { launchBrowser } from '../helpers/browser.js';
import { startLogoutRp, waitFor } from '../helpers/logout-rp.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

describe('logout in Chromium: RP-initiated, front-channel and back-channel (OpenID Connect Logout 1.0)', () => {
  let s: TestServer;
  let rp: Awaited<ReturnType<typeof startLogoutRp>>;
  let b: Awaited<ReturnType<typeof launchBrowser>>;
  let a: { clientId: string; clientSecret?: string };
  let c: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer();
    rp = await startLogoutRp();
    b = await launchBrowser();
    const common = { grant_types: ['authorization_code', 'refresh_token'], skip_consent: true, session_refresh_tokens: true };
    a = await s.client({
      ...common, client_name: 'App A', redirect_uris: [`${rp.base}/cb-a`], post_logout_redirect_uris: [`${rp.base}/bye`],
      backchannel_logout_uri: `${rp.base}/bc-a`, frontchannel_logout_uri: `${rp.base}/fc-a`, frontchannel_logout_session_required: true,
    });
    c = await s.client({
      ...common, client_name: 'App C', redirect_uris: [`${rp.base}/cb-c`],
      backchannel_logout_uri: `${rp.base}/bc-c`, frontchannel_logout_uri: `${rp.base}/fc-c`, frontchannel_logout_session_required: true,
    });
    await s.user('alice', 'alice-password');
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await rp?.close();
    await s?.close();
  });

  const authUrl = (client: { clientId: string }, cb: string, extra: Record<string, string> = {}) =>
    `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: client.clientId, redirect_uri: `${rp.base}${cb}`, response_type: 'code', scope: 'openid', state: 'x', ...extra });
  const redeem = async (client: { clientId: string; clientSecret?: string }, cb: string, code: string) =>
    (await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code, redirect_uri: `${rp.base}${cb}` }, { authorization: basic(client.clientId, client.clientSecret!) })).json;

  it('signing out of one app notifies both apps, kills the session refresh tokens, and prompt=none then needs a login', async () => {
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    await page.goto(authUrl(a, '/cb-a'));
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice-password');
    await page.click('button:has-text("Sign in")');
    await page.waitForURL((u) => u.pathname === '/cb-a');
    const ta = await redeem(a, '/cb-a', new URL(page.url()).searchParams.get('code')!);
    await page.goto(authUrl(c, '/cb-c')); // same session, no login page
    await page.waitForURL((u) => u.pathname === '/cb-c');
    const tc = await redeem(c, '/cb-c', new URL(page.url()).searchParams.get('code')!);
    expect(ta.refresh_token && tc.refresh_token).toBeTruthy();
    const sid = JSON.parse(Buffer.from(ta.id_token.split('.')[1], 'base64url').toString()).sid;

    await page.goto(`${s.issuer}/oauth/logout?` + new URLSearchParams({ id_token_hint: ta.id_token, post_logout_redirect_uri: `${rp.base}/bye`, state: 'after' }));
    await page.waitForURL((u) => u.pathname === '/bye');
    expect(new URL(page.url()).searchParams.get('state')).toBe('after');

    // Front-channel: both apps' iframes were loaded with iss and sid.
    for (const path of ['/fc-a', '/fc-c']) {
      const hit = rp.frontchannel.find((u) => u.pathname === path);
      expect(hit?.searchParams.get('iss')).toBe(s.issuer);
      expect(hit?.searchParams.get('sid')).toBe(sid);
    }
    // Back-channel: both apps received a logout token that verifies against the JWKS.
    await waitFor(() => rp.backchannel.length >= 2);
    const jwks = createRemoteJWKSet(new URL(s.url('/.well-known/jwks.json')));
    for (const [path, client] of [['/bc-a', a], ['/bc-c', c]] as const) {
      const got = rp.backchannel.find((x) => x.path === path)!;
      const { payload, protectedHeader } = await jwtVerify(got.logoutToken, jwks, { issuer: s.issuer, audience: client.clientId, typ: 'logout+jwt' });
      expect(protectedHeader.typ).toBe('logout+jwt');
      expect(payload.sid).toBe(sid);
      expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
      expect(payload.nonce).toBeUndefined();
      expect(payload.jti).toBeTruthy();
    }
    // The session's refresh tokens are dead, and so are its access tokens.
    for (const [client, t] of [[a, ta], [c, tc]] as const) {
      const r = await postForm(s.url('/oauth/token'), { grant_type: 'refresh_token', refresh_token: t.refresh_token }, { authorization: basic(client.clientId, client.clientSecret!) });
      expect(r.json.error).toBe('invalid_grant');
      expect((await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${t.access_token}` } })).status).toBe(401);
    }
    // And the browser has no session any more.
    await page.goto(authUrl(a, '/cb-a', { prompt: 'none' }));
    await page.waitForURL((u) => u.pathname === '/cb-a');
    expect(new URL(page.url()).searchParams.get('error')).toBe('login_required');
    await ctx.close();
  });

  it('without an id_token_hint the user is asked to confirm (CSRF-protected) before being signed out', async () => {
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    await page.goto(authUrl(a, '/cb-a'));
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice-password');
    await page.click('button:has-text("Sign in")');
    await page.waitForURL((u) => u.pathname === '/cb-a');
    await page.goto(`${s.issuer}/oauth/logout?client_id=${a.clientId}`);
    expect(await page.textContent('h1')).toBe('Sign out?');
    await page.click('button:has-text("Sign out")');
    await page.waitForSelector('text=You are signed out');
    await page.goto(authUrl(a, '/cb-a', { prompt: 'none' }));
    await page.waitForURL((u) => u.pathname === '/cb-a');
    expect(new URL(page.url()).searchParams.get('error')).toBe('login_required');
    await ctx.close();
  });
});
