import { createHash, randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { startCallbackServer } from '../helpers/rp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * CORS in Chromium: a single-page app served from its own origin (a loopback server on another port is another
 * origin) signs its user in with the code flow and PKCE, then calls the token endpoint and UserInfo with fetch() and
 * reads the answers; a page from an origin the client did not register cannot read them (fetch rejects).
 */
describe('CORS in Chromium: a browser-based client reads its own answers, another origin cannot', () => {
  let s: TestServer;
  let spaSite: Awaited<ReturnType<typeof startCallbackServer>>;
  let otherSite: Awaited<ReturnType<typeof startCallbackServer>>;
  let b: Awaited<ReturnType<typeof launchBrowser>>;
  let spa: { clientId: string };
  let conf: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer();
    spaSite = await startCallbackServer();
    otherSite = await startCallbackServer();
    b = await launchBrowser();
    // A public client: its pages are at the origin of its redirect URI (engine/cors.ts).
    spa = await s.client({ client_name: 'Acme SPA', redirect_uris: [spaSite.url], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], skip_consent: true });
    // A confidential client that named the SPA's origin explicitly (allowed_cors_origins).
    conf = await s.client({ grant_types: ['client_credentials'], scope: 'api', allowed_cors_origins: [new URL(spaSite.url).origin] });
    await s.user('bea', 'bea-password', { name: 'Bea' });
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await spaSite?.close();
    await otherSite?.close();
    await s?.close();
  });

  /** fetch() in the page: the status and JSON body when the page may read them, else the error fetch rejected with. */
  const pageFetch = (page: Page, url: string, init: { method?: string; headers?: Record<string, string>; body?: string }) =>
    page.evaluate(
      async ([u, i]) => {
        try {
          const r = await fetch(u, i);
          return { status: r.status, json: (await r.json()) as Record<string, unknown>, wwwAuthenticate: r.headers.get('www-authenticate') };
        } catch (e) {
          return { blocked: String(e) };
        }
      },
      [url, init] as const,
    );

  it('Fetch CORS: the SPA exchanges its code and calls UserInfo from its own origin; the same requests from another origin are unreadable', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    const arrived = spaSite.next();
    await page.goto(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: spa.clientId, redirect_uri: spaSite.url, response_type: 'code', scope: 'openid profile', state: 'st', code_challenge: challenge, code_challenge_method: 'S256' }).toString());
    await page.fill('#username', 'bea');
    await page.fill('#password', 'bea-password');
    await page.click('button[type=submit]:has-text("Sign in")');
    const cb = await arrived;
    await page.waitForURL((u) => u.href.startsWith(spaSite.url));
    const code = cb.searchParams.get('code')!;
    const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: spaSite.url, client_id: spa.clientId, code_verifier: verifier }).toString();
    const form = { 'content-type': 'application/x-www-form-urlencoded' };

    // Another origin first: the code is redeemed (CORS is not access control) but the page cannot read the tokens.
    const other = await ctx.newPage();
    await other.goto(otherSite.url);
    const stolen = await pageFetch(other, `${s.issuer}/oauth/token`, { method: 'POST', headers: form, body });
    expect(stolen).toMatchObject({ blocked: expect.stringContaining('TypeError') });
    // The SPA's own page reads the refusal (the code is spent now: invalid_grant) …
    const spent = await pageFetch(page, `${s.issuer}/oauth/token`, { method: 'POST', headers: form, body });
    expect(spent).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });

    // … and, with a fresh code, the tokens, then UserInfo with the access token (a preflighted request: Authorization).
    const arrived2 = spaSite.next();
    await page.goto(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: spa.clientId, redirect_uri: spaSite.url, response_type: 'code', scope: 'openid profile', state: 'st2', code_challenge: challenge, code_challenge_method: 'S256' }).toString());
    const cb2 = await arrived2;
    await page.waitForURL((u) => u.href.startsWith(spaSite.url));
    const tokens = await pageFetch(page, `${s.issuer}/oauth/token`, { method: 'POST', headers: form, body: new URLSearchParams({ grant_type: 'authorization_code', code: cb2.searchParams.get('code')!, redirect_uri: spaSite.url, client_id: spa.clientId, code_verifier: verifier }).toString() });
    expect(tokens).toMatchObject({ status: 200, json: { token_type: 'Bearer' } });
    const accessToken = tokens.json!.access_token as string;
    const info = await pageFetch(page, `${s.issuer}/oauth/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(info).toMatchObject({ status: 200, json: { name: 'Bea' } });
    expect(await pageFetch(other, `${s.issuer}/oauth/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } })).toMatchObject({ blocked: expect.stringContaining('TypeError') });
    // A refusal's challenge is readable too (Access-Control-Expose-Headers: WWW-Authenticate).
    await pageFetch(page, `${s.issuer}/oauth/revoke`, { method: 'POST', headers: form, body: new URLSearchParams({ token: accessToken, client_id: spa.clientId }).toString() });
    const refused = await pageFetch(page, `${s.issuer}/oauth/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(refused).toMatchObject({ status: 401 });
    expect(refused.wwwAuthenticate).toContain('invalid_token');

    // Discovery and the JWKS are public: any origin reads them.
    expect(await pageFetch(other, `${s.issuer}/.well-known/openid-configuration`, {})).toMatchObject({ status: 200, json: { issuer: s.issuer } });
    expect(await pageFetch(other, `${s.issuer}/.well-known/jwks.json`, {})).toMatchObject({ status: 200 });
    await ctx.close();
  });

  it('Fetch CORS preflight: a client authenticating with HTTP Basic from an origin it registered (allowed_cors_origins) reads a 401 invalid_client and its challenge; another origin cannot', async () => {
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    await page.goto(spaSite.url);
    const init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${conf.clientId}:wrong`).toString('base64')}` }, body: 'grant_type=client_credentials&scope=api' };
    const r = await pageFetch(page, `${s.issuer}/oauth/token`, init);
    expect(r).toMatchObject({ status: 401, json: { error: 'invalid_client' } });
    expect(r.wwwAuthenticate).toMatch(/^Basic/);
    const ok = await pageFetch(page, `${s.issuer}/oauth/token`, { ...init, headers: { ...init.headers, authorization: `Basic ${Buffer.from(`${conf.clientId}:${conf.clientSecret!}`).toString('base64')}` } });
    expect(ok).toMatchObject({ status: 200, json: { token_type: 'Bearer' } });
    const other = await ctx.newPage();
    await other.goto(otherSite.url);
    expect(await pageFetch(other, `${s.issuer}/oauth/token`, init)).toMatchObject({ blocked: expect.stringContaining('TypeError') });
    await ctx.close();
  });

  it('Fetch CORS, RFC 6750 §3: a page on any origin reads UserInfo\'s refusal of a token we never issued (error and WWW-Authenticate); a client\'s success stays unreadable to it', async () => {
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    await page.goto(otherSite.url);
    const refused = await pageFetch(page, `${s.issuer}/oauth/userinfo`, { headers: { authorization: 'Bearer not-a-token-we-issued' } });
    expect(refused).toMatchObject({ status: 401, json: { error: 'invalid_token' } });
    expect(refused.wwwAuthenticate).toMatch(/^Bearer .*error="invalid_token"/);
    // The token endpoint naming an unknown client: the refusal is readable too.
    const unknown = await pageFetch(page, `${s.issuer}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=nobody' });
    expect(unknown).toMatchObject({ status: 401, json: { error: 'invalid_client' } });
    // A known client that did not list this origin: its answer, success or not, stays unreadable.
    const init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${conf.clientId}:${conf.clientSecret!}`).toString('base64')}` }, body: 'grant_type=client_credentials&scope=api' };
    expect(await pageFetch(page, `${s.issuer}/oauth/token`, init)).toMatchObject({ blocked: expect.stringContaining('TypeError') });
    await ctx.close();
  });
});
