import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { startLogoutRp } from '../helpers/logout-rp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

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
    });
    await s.user('alice', 'alice-password');
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await rp?.close();
    await s?.close();
  });

  it('RP-Initiated Logout §3: after the user confirms, the browser reaches the registered post_logout_redirect_uri (the form CSP allows it)', async () => {
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    await page.goto(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: a.clientId, redirect_uri: `${rp.base}/cb-a`, response_type: 'code', scope: 'openid', state: 'x' }));
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice-password');
    await page.click('button:has-text("Sign in")');
    await page.waitForURL((u) => u.pathname === '/cb-a');
    await page.goto(`${s.issuer}/oauth/logout?` + new URLSearchParams({ client_id: a.clientId, post_logout_redirect_uri: `${rp.base}/bye`, state: 'after' }));
    expect(await page.textContent('h1')).toBe('Sign out?');
    await page.click('button:has-text("Sign out")');
    await page.waitForURL((u) => u.pathname === '/bye', { timeout: 5000 });
    expect(new URL(page.url()).searchParams.get('state')).toBe('after');
    await ctx.close();
  });
});
