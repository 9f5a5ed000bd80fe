import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import { createTenant } from '../../src/services/tenants.js';
import { launchBrowser } from '../helpers/browser.js';
import { startCallbackServer } from '../helpers/rp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('code flow in Chromium: a user signs in by typing and clicking', () => {
  let s: TestServer;
  let rp: Awaited<ReturnType<typeof startCallbackServer>>;
  let b: Awaited<ReturnType<typeof launchBrowser>>;
  let conf: { clientId: string; clientSecret?: string };
  let pub: { clientId: string };

  beforeAll(async () => {
    s = await startTestServer();
    rp = await startCallbackServer();
    b = await launchBrowser();
    conf = await s.client({ client_name: 'Acme Notes', redirect_uris: [rp.url], grant_types: ['authorization_code', 'refresh_token'] });
    pub = await s.client({ client_name: 'Acme Mobile', redirect_uris: [rp.url], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'] });
    await s.user('alice', 'alice-password', { name: 'Alice Liddell', email: 'alice@example.com', email_verified: true });
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await rp?.close();
    await s?.close();
  });

  it('confidential client: login and consent pages, then openid-client holds a validated ID token, UserInfo works, the refresh token rotates', async () => {
    const config = await client.discovery(new URL(s.issuer), conf.clientId, conf.clientSecret, client.ClientSecretBasic(conf.clientSecret), {
      execute: [client.allowInsecureRequests],
    });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: rp.url, scope: 'openid profile email offline_access', state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    const arrived = rp.next();
    await page.goto(url.href);
    expect(await page.textContent('h1')).toBe('Sign in');
    expect(await page.textContent('main')).toContain('Acme Notes');
    await page.fill('#username', 'alice');
    await page.fill('#password', 'wrong password');
    await page.click('button[type=submit]:has-text("Sign in")');
    expect(await page.textContent('[role=alert]')).toContain('Wrong username or password');
    await page.fill('#password', 'alice-password');
    await page.click('button[type=submit]:has-text("Sign in")');
    await page.waitForSelector('text=wants to access your account');
    const consentText = await page.textContent('main');
    expect(consentText).toContain('Your email address');
    expect(consentText).toContain('Keep access while you are not using it');
    await page.click('button:has-text("Allow")');
    const cb = await arrived;
    await page.waitForURL((u) => u.href.startsWith(rp.url));
    const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    const sub = tokens.claims()!.sub;
    const info = await client.fetchUserInfo(config, tokens.access_token, sub);
    expect(info.email).toBe('alice@example.com');
    const rotated = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token);

    // prompt=none in the same browser: the session and the remembered consent answer without any page.
    const silentState = client.randomState();
    const silent = client.buildAuthorizationUrl(config, {
      redirect_uri: rp.url, scope: 'openid profile email offline_access', state: silentState, prompt: 'none',
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const arrived2 = rp.next();
    await page.goto(silent.href);
    const cb2 = await arrived2;
    expect(cb2.searchParams.get('code')).toBeTruthy();
    expect(cb2.searchParams.get('state')).toBe(silentState);
    await ctx.close();

    // A fresh browser has no session: prompt=none answers login_required.
    const ctx2 = await b.newContext();
    const arrived3 = rp.next();
    await (await ctx2.newPage()).goto(silent.href);
    expect((await arrived3).searchParams.get('error')).toBe('login_required');
    await ctx2.close();
  });

  it('public client with PKCE: oauth4webapi completes the flow the user clicked through', async () => {
    const issuer = new URL(s.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true }));
    const c: oauth.Client = { client_id: pub.clientId };
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: pub.clientId, redirect_uri: rp.url, response_type: 'code', scope: 'openid profile', state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).toString();
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    const arrived = rp.next();
    await page.goto(url.href);
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice-password');
    await page.click('button[type=submit]:has-text("Sign in")');
    await page.waitForSelector('text=Acme Mobile wants to access your account');
    await page.click('button:has-text("Allow")');
    const cb = await arrived;
    const params = oauth.validateAuthResponse(as, c, cb, state);
    const res = await oauth.authorizationCodeGrantRequest(as, c, oauth.None(), params, rp.url, verifier, { [oauth.allowInsecureRequests]: true });
    const result = await oauth.processAuthorizationCodeResponse(as, c, res, { requireIdToken: true });
    const sub = oauth.getValidatedIdTokenClaims(result)!.sub;
    const ui = await oauth.processUserInfoResponse(as, c, sub, await oauth.userInfoRequest(as, c, result.access_token, { [oauth.allowInsecureRequests]: true }));
    expect(ui.name).toBe('Alice Liddell');
    await ctx.close();
  });

  it('denying consent in the browser sends access_denied to the client', async () => {
    const fresh = await s.client({ client_name: 'Acme Other', redirect_uris: [rp.url] });
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    const arrived = rp.next();
    await page.goto(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: fresh.clientId, redirect_uri: rp.url, response_type: 'code', scope: 'openid', state: 'deny-me' }));
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice-password');
    await page.click('button[type=submit]:has-text("Sign in")');
    await page.click('button:has-text("Deny")');
    const cb = await arrived;
    expect(cb.searchParams.get('error')).toBe('access_denied');
    expect(cb.searchParams.get('state')).toBe('deny-me');
    await ctx.close();
  });

  it('the pages\' stylesheet loads and applies at the root and under a tenant (the template links it where it is served)', async () => {
    await createTenant(s.lk, { id: 'styled' });
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    for (const base of ['', '/t/styled']) {
      const css = page.waitForResponse((r) => r.url().endsWith(`${base}/assets/latchkey.css`));
      await page.goto(s.url(`${base}/oauth/authorize?client_id=nobody`));
      expect((await css).status()).toBe(200);
      expect(await page.textContent('h1')).toBe('Invalid request');
      expect(await page.evaluate(() => getComputedStyle(document.querySelector('main')!).borderTopLeftRadius)).toBe('12px');
    }
    await ctx.close();
  });
});
