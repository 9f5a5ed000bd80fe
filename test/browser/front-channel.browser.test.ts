import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { startCallbackServer } from '../helpers/rp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const insecure = { [oauth.allowInsecureRequests]: true } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('front channel in Chromium: form_post responses and the device flow', () => {
  let s: TestServer;
  let clock = Date.now();
  let rp: Awaited<ReturnType<typeof startCallbackServer>>;
  let b: Awaited<ReturnType<typeof launchBrowser>>;
  let hybrid: { clientId: string; clientSecret?: string };
  let tv: { clientId: string };
  let as: oauth.AuthorizationServer;

  beforeAll(async () => {
    s = await startTestServer({ deviceCodeTtl: 3600 }, { clock: () => clock });
    rp = await startCallbackServer();
    b = await launchBrowser();
    // The RP listens on loopback: as a web client using the implicit grant it could not (OIDC Registration §2),
    // as a native one it may (RFC 8252 §7.3); the front channel is the same either way.
    hybrid = await s.client({ client_name: 'Acme Hybrid', application_type: 'native', redirect_uris: [rp.url], grant_types: ['authorization_code', 'implicit'], response_types: ['code', 'code id_token'] });
    tv = await s.client({ client_name: 'Acme TV', grant_types: [GRANT], token_endpoint_auth_method: 'none', scope: 'openid profile' });
    await s.user('alice', 'alice-password', { name: 'Alice Liddell' });
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await rp?.close();
    await s?.close();
  });

  const authUrl = (p: Record<string, string>) =>
    `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: hybrid.clientId, redirect_uri: rp.url, scope: 'openid', ...p });

  it('form_post: the browser posts code and ID token to the client\'s callback, with no CSP violation; oauth4webapi validates them', async () => {
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    const cspErrors: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
    });
    const nonce = oauth.generateRandomNonce();
    const state = oauth.generateRandomState();
    const posted = rp.nextPost();
    await page.goto(authUrl({ response_type: 'code id_token', response_mode: 'form_post', nonce, state }));
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice-password');
    await page.click('button[type=submit]:has-text("Sign in")');
    await page.click('button:has-text("Allow")');
    const form = await posted;
    await page.waitForURL((u) => u.href.startsWith(rp.url));
    expect(form.get('state')).toBe(state);
    expect(form.get('iss')).toBe(s.issuer);
    const params = await oauth.validateCodeIdTokenResponse(as, { client_id: hybrid.clientId }, form, nonce, state, undefined, insecure);
    expect(params.get('code')).toBeTruthy();
    expect(rp.received.filter((u) => u.searchParams.has('code'))).toHaveLength(0); // nothing in a URL
    expect(cspErrors).toEqual([]);
    await ctx.close();
  });

  it('form_post without JavaScript: the page offers a Continue button that posts the same form', async () => {
    const firstParty = await s.client({ redirect_uris: [rp.url], skip_consent: true });
    const ctx = await b.browser.newContext({ javaScriptEnabled: false });
    const page = await ctx.newPage();
    const posted = rp.nextPost();
    await page.goto(authUrl({ client_id: firstParty.clientId, response_type: 'code', response_mode: 'form_post', state: 'no-js' }));
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice-password');
    await page.click('button[type=submit]:has-text("Sign in")');
    expect(await page.textContent('noscript')).toContain('Continue');
    await page.click('button:has-text("Continue")');
    const form = await posted;
    expect(form.get('state')).toBe('no-js');
    expect(form.get('code')).toBeTruthy();
    await ctx.close();
  });

  it('RFC 8628: the device polls (pending, slow_down, …) while the user approves in the browser; then it gets tokens', async () => {
    const c: oauth.Client = { client_id: tv.clientId };
    const d = await oauth.processDeviceAuthorizationResponse(as, c, await oauth.deviceAuthorizationRequest(as, c, oauth.None(), { scope: 'openid profile' }, insecure));
    const poll = async () => oauth.processDeviceCodeResponse(as, c, await oauth.deviceCodeGrantRequest(as, c, oauth.None(), d.device_code, insecure));
    const outcomes: string[] = [];
    let interval = d.interval ?? 5;
    const attempt = async () => {
      try {
        const tokens = await poll();
        outcomes.push('token');
        return tokens;
      } catch (e) {
        const err = (e as { error?: string }).error ?? String(e);
        outcomes.push(err);
        if (err === 'slow_down') interval += 5; // RFC 8628 §3.5: for this and all later polls
        if (err !== 'authorization_pending' && err !== 'slow_down') throw e;
        return undefined;
      }
    };
    await attempt(); // pending
    await attempt(); // at once again: too early
    // The device keeps polling at its interval (the server's clock moves by the interval between polls).
    const polling = (async () => {
      for (let i = 0; i < 300; i++) {
        clock += interval * 1000;
        const tokens = await attempt();
        if (tokens) return tokens;
        await sleep(100);
      }
      throw new Error('the device never got tokens');
    })();

    const ctx = await b.newContext();
    const page = await ctx.newPage();
    await page.goto(d.verification_uri_complete!);
    expect(await page.textContent('main')).toContain('to connect a device');
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice-password');
    await page.click('button[type=submit]:has-text("Sign in")');
    await page.waitForSelector('text=Enter the code shown on your device');
    expect(await page.inputValue('#user_code')).toBe(d.user_code);
    await page.click('button:has-text("Continue")');
    await page.waitForSelector('text=Acme TV wants to access your account');
    await page.click('button:has-text("Allow")');
    await page.waitForSelector('text=Device connected');
    await ctx.close();

    const tokens = await polling;
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.id_token).toBeTruthy();
    expect(outcomes.slice(0, 2)).toEqual(['authorization_pending', 'slow_down']);
    expect(outcomes.at(-1)).toBe('token');
    expect(outcomes.filter((o) => o === 'token')).toHaveLength(1);
  });
});
