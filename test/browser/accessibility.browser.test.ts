import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.js';
import { startCallbackServer } from '../helpers/rp.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { base32Decode, hotp } from '../../src/services/totp.js';
import { acceptOtp, startOtpSetup } from '../../src/services/mfa.js';

/*
 * WCAG 2.2 AA on the built-in pages, in Chromium, by keyboard only: every flow below is walked with Tab, Shift+Tab,
 * Enter, Space and typed keys (no click, no fill), at 320 CSS px wide (WCAG 1.4.10 Reflow: 1280 px at 400 %), and
 * every page it reaches is checked against Chromium's own accessibility tree (through CDP) and by axe-core, which is
 * injected into the page (no network; the page's CSP is left as served: CDP's evaluate is not a page script).
 */

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];
const NARROW = { width: 320, height: 640 };
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

interface AxFacts {
  role: string;
  name: string;
  description: string;
  invalid: boolean;
  required: boolean;
}

/** What Chromium's accessibility tree says of the focused element (what a screen reader announces on focus). */
async function focused(ctx: BrowserContext, page: Page): Promise<AxFacts | undefined> {
  if (await page.evaluate(() => document.activeElement === null || document.activeElement === document.body)) return undefined;
  const cdp = await ctx.newCDPSession(page);
  try {
    const { result } = await cdp.send('Runtime.evaluate', { expression: 'document.activeElement' });
    // The subtree under the element, the element itself first (this Chromium has no getPartialAXNode).
    const { nodes } = await cdp.send('Accessibility.queryAXTree', { objectId: result.objectId! });
    const n = nodes[0]!;
    const prop = (name: string) => n.properties?.find((p) => p.name === name)?.value.value;
    return {
      role: String(n.role?.value ?? ''),
      name: String(n.name?.value ?? ''),
      description: String(n.description?.value ?? ''),
      invalid: prop('invalid') !== undefined && prop('invalid') !== 'false',
      required: prop('required') === true,
    };
  } finally {
    await cdp.detach();
  }
}

/** The element the page's autofocus gave the focus to (Chromium applies autofocus at a rendering step after load). */
async function autofocused(ctx: BrowserContext, page: Page): Promise<AxFacts | undefined> {
  await page.waitForFunction(() => document.activeElement !== null && document.activeElement !== document.body, undefined, { polling: 50 });
  return focused(ctx, page);
}

/** "role name" of the focused element, for tab orders. */
const said = (f: AxFacts | undefined) => (f ? `${f.role} ${f.name}` : 'nothing');

/** Press Tab until `target` ("role name") has the focus; returns the stops passed on the way, the target included. */
async function tabTo(ctx: BrowserContext, page: Page, target: string, key = 'Tab'): Promise<string[]> {
  const stops: string[] = [];
  for (let i = 0; i < 15; i++) {
    await page.keyboard.press(key);
    const f = await focused(ctx, page);
    stops.push(said(f));
    if (said(f) === target) {
      await expectVisibleFocus(page);
      return stops;
    }
  }
  throw new Error(`${target} was never reached by ${key}: ${stops.join(' → ')}`);
}

/** Press a key that submits a form, and wait for the page that answers it. */
async function submitWith(page: Page, key: string): Promise<void> {
  const answered = page.waitForNavigation();
  await page.keyboard.press(key);
  await answered;
}

/** The whole tab order of the page, from its first focusable element on. */
async function tabOrder(ctx: BrowserContext, page: Page): Promise<string[]> {
  // From the top, wherever the focus is: an element focused at the start of the body, and gone, leaves the
  // sequential focus navigation starting point there.
  await page.evaluate(() => {
    const start = document.createElement('span');
    start.tabIndex = -1;
    document.body.prepend(start);
    start.focus();
    start.remove();
  });
  const stops: string[] = [];
  for (let i = 0; i < 15; i++) {
    await page.keyboard.press('Tab');
    const s = said(await focused(ctx, page));
    if (s === 'nothing' || s === stops[0]) break;
    await expectVisibleFocus(page);
    stops.push(s);
  }
  return stops;
}

/**
 * WCAG 2.4.7: the keyboard focus is visible: the stylesheet's solid outline of at least 2 px, or, on the form_post page
 * (its CSP admits no stylesheet), Chromium's own focus ring (outline-style auto), not taken away.
 */
async function expectVisibleFocus(page: Page): Promise<void> {
  const o = await page.evaluate(() => {
    const s = getComputedStyle(document.activeElement!);
    return { style: s.outlineStyle, width: parseFloat(s.outlineWidth), focusVisible: document.activeElement!.matches(':focus-visible'), styled: document.styleSheets.length > 0 };
  });
  expect(o).toEqual({ style: o.styled ? 'solid' : 'auto', width: expect.any(Number), focusVisible: true, styled: o.styled });
  if (o.styled) expect(o.width).toBeGreaterThanOrEqual(2);
}

/** axe-core's WCAG 2.x A/AA and best-practice rules, light and dark colour schemes. Returns "rule: targets" lines. */
async function axe(page: Page): Promise<string[]> {
  const out: string[] = [];
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
    const violations = await page.evaluate(async (values) => {
      const r = await (window as unknown as { axe: { run(c: unknown, o: unknown): Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } }).axe.run(
        document, { runOnly: { type: 'tag', values }, resultTypes: ['violations'] },
      );
      return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    }, AXE_TAGS);
    out.push(...violations.map((v) => `${colorScheme} ${v}`));
  }
  await page.emulateMedia({ colorScheme: 'light' });
  return out;
}

/**
 * What every page must be: lang="en" (the pages are English whatever ui_locales asks: no translation exists, and
 * a lang naming another language would make a screen reader mispronounce every word), a <title> saying what the page
 * is, one <h1>, a label for every field, a name for every button, no positive tabindex, no sideways scrolling at
 * 320 px, and no axe-core violation.
 */
async function checkPage(page: Page, want: { title: string; h1: string | RegExp }, opts = { axe: true }): Promise<void> {
  const facts = await page.evaluate(() => ({
    lang: document.documentElement.lang,
    dir: document.documentElement.dir,
    title: document.title,
    h1: [...document.querySelectorAll('h1')].map((h) => h.textContent),
    unlabelled: [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
      .filter((e) => (e as HTMLInputElement).labels?.length === 0)
      .map((e) => e.outerHTML),
    unnamedButtons: [...document.querySelectorAll('button, [role=button], input[type=submit]')]
      .filter((e) => e.tagName !== 'BUTTON' || !e.textContent?.trim())
      .map((e) => e.outerHTML),
    positiveTabindex: [...document.querySelectorAll('[tabindex]')].filter((e) => (e as HTMLElement).tabIndex > 0).map((e) => e.outerHTML),
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    width: window.innerWidth,
  }));
  expect(facts).toEqual({
    lang: 'en', dir: '', title: want.title, h1: [expect.stringMatching(want.h1)], unlabelled: [], unnamedButtons: [], positiveTabindex: [],
    overflow: 0, width: NARROW.width,
  });
  if (opts.axe) expect(await axe(page)).toEqual([]);
}

/** WCAG 3.3.1, 4.1.3: the error is an alert, the field it is about is invalid, described by it, and has the focus. */
async function expectFieldError(ctx: BrowserContext, page: Page, field: string, message: string | RegExp): Promise<void> {
  const alert = page.getByRole('alert');
  expect(await alert.textContent()).toMatch(message);
  const f = await autofocused(ctx, page);
  expect(f).toMatchObject({ role: 'textbox', name: field, invalid: true, description: expect.stringMatching(message) });
  expect(await page.title()).toMatch(/^Error: /);
}

describe('accessibility of the built-in pages in Chromium: keyboard only, at 320 px, WCAG 2.2 AA', () => {
  let s: TestServer;
  let rp: Awaited<ReturnType<typeof startCallbackServer>>;
  let b: Awaited<ReturnType<typeof launchBrowser>>;
  let notes: { clientId: string };
  let tv: { clientId: string };

  beforeAll(async () => {
    s = await startTestServer({ allowRegistration: true });
    rp = await startCallbackServer();
    b = await launchBrowser();
    notes = await s.client({
      client_name: 'Acme Notes', redirect_uris: [rp.url], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'],
      policy_uri: 'https://notes.example/privacy', tos_uri: 'https://notes.example/terms',
    });
    tv = await s.client({ client_name: 'Kitchen Display', grant_types: [DEVICE_GRANT], token_endpoint_auth_method: 'none', scope: 'openid profile' });
    await s.user('alice', 'alice-password', { name: 'Alice' });
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await rp?.close();
    await s?.close();
  });

  const authorizeUrl = (client: { clientId: string }, extra: Record<string, string> = {}) =>
    `${s.issuer}/oauth/authorize?` +
    new URLSearchParams({ client_id: client.clientId, redirect_uri: rp.url, response_type: 'code', scope: 'openid profile email', state: 's', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...extra });
  const narrow = (opts: Parameters<typeof b.browser.newContext>[0] = {}) => b.browser.newContext({ viewport: NARROW, ...opts });

  /** Sign in on the login page by keyboard: the username field has the focus, Tab to the password, Enter submits. */
  async function signIn(ctx: BrowserContext, page: Page, password = 'alice-password', username = 'alice'): Promise<void> {
    expect(await autofocused(ctx, page)).toMatchObject({ role: 'textbox', name: 'Username', required: true });
    await page.keyboard.type(username);
    await page.keyboard.press('Tab');
    expect(await focused(ctx, page)).toMatchObject({ role: 'textbox', name: 'Password', required: true });
    await page.keyboard.type(password);
    await submitWith(page, 'Enter');
  }

  it('sign-in, a wrong password, then consent approved with Space: every page checked, the error announced and tied to its field', async () => {
    const ctx = await narrow();
    const page = await ctx.newPage();
    await page.goto(authorizeUrl(notes, { ui_locales: 'fr-CA ar' }));
    await checkPage(page, { title: 'Sign in', h1: 'Sign in' });
    // The autocomplete tokens that let password managers and autofill do the typing (WCAG 1.3.5, 3.3.8).
    expect(await page.locator('input:not([type=hidden])').evaluateAll((es) => es.map((e) => `${(e as HTMLInputElement).type} ${e.getAttribute('autocomplete')}`)))
      .toEqual(['text username', 'password current-password']);
    expect(await tabOrder(ctx, page)).toEqual([
      'textbox Username', 'textbox Password', 'button Sign in', 'link Privacy policy (opens in a new tab)', 'link Terms of service (opens in a new tab)',
    ]);
    await page.goto(authorizeUrl(notes, { ui_locales: 'fr-CA ar', prompt: 'consent' }));
    await signIn(ctx, page, 'not the password');
    await checkPage(page, { title: 'Error: Sign in', h1: 'Sign in' });
    // The password field has the focus (the username was kept), marked invalid and described by the error.
    await expectFieldError(ctx, page, 'Password', 'Wrong username or password.');
    await page.keyboard.type('alice-password');
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Allow Acme Notes to access your account?', h1: 'Acme Notes wants to access your account' });
    // The scopes asked for are a list a screen reader counts.
    const list = page.getByRole('list');
    expect(await list.getByRole('listitem').allTextContents()).toEqual(['Know who you are (your account identifier)', 'Your basic profile: name, username, picture and locale', 'Your email address']);
    // Deny, then Allow, then the client's links; Shift+Tab goes back the same way.
    expect(await tabOrder(ctx, page)).toEqual(['button Deny', 'button Allow', 'link Privacy policy (opens in a new tab)', 'link Terms of service (opens in a new tab)']);
    expect(await tabTo(ctx, page, 'button Allow', 'Shift+Tab')).toEqual(['link Terms of service (opens in a new tab)', 'link Privacy policy (opens in a new tab)', 'button Allow']);
    const arrived = rp.next();
    await page.keyboard.press('Space');
    expect((await arrived).searchParams.get('code')).toBeTruthy();
    await ctx.close();
  }, 120_000);

  it('consent denied with Enter on Deny sends access_denied', async () => {
    const ctx = await narrow();
    const page = await ctx.newPage();
    await page.goto(authorizeUrl(notes, { prompt: 'consent', state: 'deny' }));
    await signIn(ctx, page);
    await page.getByRole('button', { name: 'Deny' }).waitFor();
    expect(await tabTo(ctx, page, 'button Deny')).toEqual(['button Deny']);
    const arrived = rp.next();
    await page.keyboard.press('Enter');
    const cb = await arrived;
    expect([cb.searchParams.get('error'), cb.searchParams.get('state')]).toEqual(['access_denied', 'deny']);
    await ctx.close();
  }, 60_000);

  it('select_account: "Continue as" comes first and works by keyboard', async () => {
    const ctx = await narrow();
    const page = await ctx.newPage();
    await page.goto(authorizeUrl(notes));
    await signIn(ctx, page);
    await page.goto(authorizeUrl(notes, { prompt: 'select_account consent' }));
    // The focus starts on the choice the page offers first, not on the field below it.
    expect(said(await autofocused(ctx, page))).toBe('button Continue as alice');
    await checkPage(page, { title: 'Sign in', h1: 'Sign in' });
    expect(await tabOrder(ctx, page)).toEqual([
      'button Continue as alice', 'textbox Username', 'textbox Password', 'button Sign in',
      'link Privacy policy (opens in a new tab)', 'link Terms of service (opens in a new tab)',
    ]);
    // Back up by Shift+Tab, through the links and the sign-in form, to the first button.
    await tabTo(ctx, page, 'button Continue as alice', 'Shift+Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    await ctx.close();
  }, 60_000);

  it('sign-up (prompt=create): new-password, an email field, a taken username announced on its field', async () => {
    const ctx = await narrow();
    const page = await ctx.newPage();
    await page.goto(authorizeUrl(notes, { prompt: 'create' }));
    await checkPage(page, { title: 'Create an account', h1: 'Create an account' });
    expect(await page.locator('input:not([type=hidden])').evaluateAll((es) => es.map((e) => `${(e as HTMLInputElement).type} ${e.getAttribute('autocomplete')}`)))
      .toEqual(['text username', 'password new-password', 'text name', 'email email']);
    const type = async (field: string, text: string) => {
      await tabTo(ctx, page, `textbox ${field}`);
      await page.keyboard.type(text);
    };
    expect(said(await autofocused(ctx, page))).toBe('textbox Username');
    await page.keyboard.type('alice');
    await type('Password (at least 8 characters)', 'bob-password');
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Error: Create an account', h1: 'Create an account' });
    await expectFieldError(ctx, page, 'Username', 'That username is taken. Choose another one.');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('bob');
    await type('Password (at least 8 characters)', 'bob-password');
    await type('Email (optional)', 'bob@example.com');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    await ctx.close();
  }, 60_000);

  it('device verification (RFC 8628): sign in, a wrong code announced on its field, the right one, Allow', async () => {
    const d = (await postForm(s.url('/oauth/device_authorization'), { client_id: tv.clientId, scope: 'openid profile' })).json as { user_code: string; device_code: string };
    const ctx = await narrow();
    const page = await ctx.newPage();
    await page.goto(s.url('/device'));
    await checkPage(page, { title: 'Sign in', h1: 'Sign in' });
    await signIn(ctx, page);
    await checkPage(page, { title: 'Connect a device', h1: 'Connect a device' });
    expect(await autofocused(ctx, page)).toMatchObject({ role: 'textbox', name: 'Enter the code shown on your device', required: true, invalid: false });
    expect(await page.locator('#user_code').getAttribute('autocomplete')).toBe('one-time-code');
    await page.keyboard.type('BCDF-GHJK');
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Error: Connect a device', h1: 'Connect a device' });
    await expectFieldError(ctx, page, 'Enter the code shown on your device', 'That code is not valid. Check it and try again.');
    await page.keyboard.press('Control+A');
    await page.keyboard.type(d.user_code);
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Allow Kitchen Display to access your account?', h1: 'Kitchen Display wants to access your account' });
    expect(await tabOrder(ctx, page)).toEqual(['button Deny', 'button Allow']);
    await page.keyboard.press('Shift+Tab'); // wrapped past the end: back onto Allow
    expect(said(await focused(ctx, page))).toBe('button Allow');
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Device connected', h1: 'Device connected' });
    const token = await postForm(s.url('/oauth/token'), { grant_type: DEVICE_GRANT, device_code: d.device_code, client_id: tv.clientId });
    expect(token.status).toBe(200);
    await ctx.close();
  }, 120_000);

  it('CIBA (OpenID CIBA Core §8): sign in on /ciba, each request a section with its binding message, Deny and Allow by keyboard', async () => {
    const kiosk = await s.client({ client_name: 'Kiosk', grant_types: ['urn:openid:params:grant-type:ciba'], backchannel_token_delivery_mode: 'poll', scope: 'openid profile' });
    const ask = async (bindingMessage: string) =>
      (await postForm(s.url('/oauth/bc-authorize'), { scope: 'openid profile', login_hint: 'alice', binding_message: bindingMessage }, { authorization: basic(kiosk.clientId, kiosk.clientSecret!) })).json as { auth_req_id: string };
    const first = await ask('TABLE 12');
    const second = await ask('TABLE 14');
    const ctx = await narrow();
    const page = await ctx.newPage();
    await page.goto(s.url('/ciba'));
    await checkPage(page, { title: 'Sign in', h1: 'Sign in' });
    await signIn(ctx, page);
    await checkPage(page, { title: 'Sign-in requests', h1: 'Sign-in requests' });
    expect(await page.locator('h2').allTextContents()).toEqual(['Kiosk asks you to sign in', 'Kiosk asks you to sign in']);
    const shown = await page.locator('.binding-message').allTextContents(); // newest first (made in the same second here: either order)
    expect([...shown].sort()).toEqual(['TABLE 12', 'TABLE 14']);
    // Each button names its request: a screen reader does not hear four alike.
    expect(await tabOrder(ctx, page)).toEqual(shown.flatMap((m) => [`button Deny Kiosk, ${m}`, `button Allow Kiosk, ${m}`]));
    // Back from the end (the focus wrapped) onto the Allow button of TABLE 12's section.
    for (let i = 0; i < (shown[1] === 'TABLE 12' ? 1 : 3); i++) await page.keyboard.press('Shift+Tab');
    expect(said(await focused(ctx, page))).toBe('button Allow Kiosk, TABLE 12');
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Sign-in allowed', h1: 'Sign-in allowed' });
    const token = await postForm(s.url('/oauth/token'), { grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: first.auth_req_id }, { authorization: basic(kiosk.clientId, kiosk.clientSecret!) });
    expect(token.status, token.text).toBe(200);
    const pending = await postForm(s.url('/oauth/token'), { grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: second.auth_req_id }, { authorization: basic(kiosk.clientId, kiosk.clientSecret!) });
    expect(pending.json.error).toBe('authorization_pending');
    await page.goto(s.url('/ciba'));
    await checkPage(page, { title: 'Sign-in requests', h1: 'Sign-in requests' });
    await ctx.close();
  }, 120_000);

  it('two-step sign-in (RFC 6238): turned on at /mfa by keyboard, then the code page after the password, a wrong code announced on its field', async () => {
    await s.user('tess', 'tess-password');
    const ctx = await narrow();
    const page = await ctx.newPage();
    await page.goto(s.url('/mfa'));
    await checkPage(page, { title: 'Sign in', h1: 'Sign in' });
    await signIn(ctx, page, 'tess-password', 'tess');
    await checkPage(page, { title: 'Two-step sign-in', h1: 'Two-step sign-in' });
    const secret = base32Decode((await page.locator('code.otp-secret').textContent())!)!;
    const now = () => hotp(secret, Math.floor(Date.now() / 1000 / 30));
    expect(await tabOrder(ctx, page)).toEqual(['link Add to an authenticator app on this device', 'textbox Code from your authenticator app', 'button Turn on', 'link Your account']);
    await page.keyboard.press('Shift+Tab'); // wrapped: back onto the link, the button, then the field
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    expect(await focused(ctx, page)).toMatchObject({ role: 'textbox', name: 'Code from your authenticator app', required: true });
    await page.keyboard.type(now());
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Two-step sign-in', h1: 'Two-step sign-in' });
    expect(await page.getByRole('status').textContent()).toContain('now on');
    // A new sign-in: the password, then the code.
    await ctx.clearCookies();
    await page.goto(authorizeUrl(notes, { prompt: 'login' }));
    await signIn(ctx, page, 'tess-password', 'tess');
    await checkPage(page, { title: 'Enter your code', h1: 'Enter your code' });
    expect(await autofocused(ctx, page)).toMatchObject({ role: 'textbox', name: 'Code', required: true, invalid: false });
    expect(await page.locator('#otp').getAttribute('autocomplete')).toBe('one-time-code');
    expect(await page.locator('#otp').getAttribute('inputmode')).toBe('numeric');
    await page.keyboard.type('000000');
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Error: Enter your code', h1: 'Enter your code' });
    await expectFieldError(ctx, page, 'Code', 'That code is not right, or was used already. Enter the code your app shows now.');
    await ctx.close();
  }, 120_000);

  it('two-step sign-in offered inside a sign-in (the request asks for acr mfa): set up by keyboard, the recovery codes, then on to the application', async () => {
    await s.user('ursula', 'ursula-password');
    const ctx = await narrow();
    const page = await ctx.newPage();
    await page.goto(authorizeUrl(notes, { acr_values: 'urn:latchkey:acr:mfa' }));
    await signIn(ctx, page, 'ursula-password', 'ursula');
    await checkPage(page, { title: 'Two-step sign-in', h1: 'Two-step sign-in' });
    expect(await tabOrder(ctx, page)).toEqual([
      'link Add to an authenticator app on this device', 'textbox Code from your authenticator app', 'button Turn on and continue', 'button Not now',
    ]);
    const secret = base32Decode((await page.locator('code.otp-secret').textContent())!)!;
    await page.keyboard.press('Shift+Tab'); // wrapped: back onto "Not now", then "Turn on", then the field
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    expect(await focused(ctx, page)).toMatchObject({ role: 'textbox', name: 'Code from your authenticator app', required: true });
    await page.keyboard.type(hotp(secret, Math.floor(Date.now() / 1000 / 30)));
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Two-step sign-in', h1: 'Two-step sign-in' });
    expect(await page.locator('ul.recovery-codes li').count()).toBe(10);
    expect(await tabOrder(ctx, page)).toEqual(['button Continue to Acme Notes']);
    await page.keyboard.press('Shift+Tab'); // wrapped: back onto the button
    expect(said(await focused(ctx, page))).toBe('button Continue to Acme Notes');
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Allow Acme Notes to access your account?', h1: 'Acme Notes wants to access your account' });
    await ctx.close();
  }, 120_000);

  it('security keys (WebAuthn): the second step offers the key first, then the code; /mfa lists the keys, each removed by keyboard, and the form to add one', async () => {
    const kim = await s.user('kim', 'kim-password');
    const secret = base32Decode((await startOtpSetup(s.ctx, { id: kim, username: 'kim' })).secret)!;
    const now = (steps = 0) => hotp(secret, Math.floor(Date.now() / 1000 / 30) + steps);
    expect(await acceptOtp(s.ctx, kim, now(-1), true)).toBe(true); // the step before (one either side is accepted): this one stays unspent
    // Two keys as /mfa would have stored them at a host name (the markup is what is checked here; test/browser/webauthn
    // uses real ones).
    for (const [id, name, createdAt] of [['a2V5LW9uZQ', 'Blue key', 1_764_000_000], ['a2V5LXR3bw', 'Phone', 1_764_100_000]] as const) {
      await s.lk.store.addWebauthnCredential({ tenantId: 'default', userId: kim, credentialId: id, publicKey: 'pQ', counter: 0, transports: [], name, createdAt, lastUsedAt: null });
    }
    const ctx = await narrow();
    const page = await ctx.newPage();
    await page.goto(s.url('/mfa'));
    await signIn(ctx, page, 'kim-password', 'kim');
    await checkPage(page, { title: 'Confirm it is you', h1: 'Confirm it is you' });
    expect(await tabOrder(ctx, page)).toEqual(['button Use your security key', 'textbox Code', 'button Verify']);
    await page.locator('#otp').focus();
    await page.keyboard.type(now());
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Two-step sign-in', h1: 'Two-step sign-in' });
    expect(await page.locator('h2').allTextContents()).toEqual(['Security keys and passkeys']);
    expect(await tabOrder(ctx, page)).toEqual([
      'textbox Code from your authenticator app', 'button Make new recovery codes', 'button Turn off',
      'button Remove Blue key, added 2025-11-24 16:00 UTC', 'button Remove Phone, added 2025-11-25 19:46 UTC',
      'link Your account', // no key to add: this server's issuer is an IP address, which WebAuthn refuses
    ]);
    expect(await page.locator('main').textContent()).toContain('open this page at the server\'s host name');
    await page.getByRole('button', { name: /^Remove Blue key/ }).focus();
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Two-step sign-in', h1: 'Two-step sign-in' });
    expect(await page.getByRole('status').textContent()).toBe('Security key removed.');
    expect(await page.locator('ul.keys li').allTextContents()).toEqual([expect.stringMatching(/^Phone: added 2025-11-25 19:46 UTC, not used yet/)]);
    await ctx.close();
  }, 120_000);

  it('the account page: sign in, each application a section with what it may use, Remove access by keyboard, the change announced; a new password refused on its field, then changed', async () => {
    await s.user('uma', 'uma-password');
    const board = await s.client({ client_name: 'Team Board', redirect_uris: [rp.url], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'] });
    const ctx = await narrow();
    const page = await ctx.newPage();
    for (const c of [notes, board]) {
      await page.goto(authorizeUrl(c, { prompt: 'consent' }));
      if (c === notes) await signIn(ctx, page, 'uma-password', 'uma');
      const arrived = rp.next();
      await page.getByRole('button', { name: 'Allow' }).press('Enter');
      expect((await arrived).searchParams.get('code')).toBeTruthy();
    }
    await page.goto(s.url('/account'));
    await checkPage(page, { title: 'Your account', h1: 'Your account' }, { axe: true });
    expect(await page.locator('h2').allTextContents()).toEqual(['Your details', 'Applications with access', 'Where you are signed in', 'Signing in']);
    expect(await page.locator('ul.sessions li').allTextContents()).toEqual([expect.stringMatching(/^This browser \(Chrome on Linux\): signed in \d{4}-\d\d-\d\d \d\d:\d\d UTC, last active/)]);
    expect([...(await page.locator('h3').allTextContents())].sort()).toEqual(['Acme Notes', 'Team Board']);
    // Each button names its application: a screen reader does not hear two alike (WCAG 2.4.6; the visible label first, 2.5.3).
    const names = await page.locator('h3').allTextContents();
    const details = ['textbox Full name', 'textbox Given name', 'textbox Family name', 'textbox Email', 'button Save details'];
    expect(await tabOrder(ctx, page)).toEqual([...details, ...names.map((n) => `button Remove access for ${n}`), 'textbox New password', 'button Change password', 'link Two-step sign-in']);
    await page.getByRole('button', { name: 'Remove access for Team Board' }).focus();
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Your account', h1: 'Your account' }, { axe: true });
    expect(await page.getByRole('status').textContent()).toBe('Team Board no longer has access to your account.');
    expect(await page.locator('h3').allTextContents()).toEqual(['Acme Notes']);
    expect(await tabOrder(ctx, page)).toEqual([...details, 'button Remove access', 'textbox New password', 'button Change password', 'link Two-step sign-in']);
    // A new password too short: the error announced and tied to its field, which has the focus (WCAG 3.3.1).
    await page.locator('#new-password').fill('short');
    await page.locator('#new-password').evaluate((e) => e.removeAttribute('minlength')); // past the browser's own check, to the server's
    await page.locator('#new-password').focus();
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Error: Your account', h1: 'Your account' });
    await expectFieldError(ctx, page, 'New password', 'The new password was not accepted: password must be 8-1024 characters.');
    await page.keyboard.type('uma-new-password');
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Your account', h1: 'Your account' });
    expect(await page.getByRole('status').textContent()).toBe('Password changed.');
    // The details: a bad email announced on its field, which has the focus; then saved, the change announced.
    await page.locator('#profile-email').fill('uma at example');
    await page.locator('#profile-email').evaluate((e) => e.setAttribute('type', 'text')); // past the browser's own check, to the server's
    await page.locator('#profile-email').focus();
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Error: Your account', h1: 'Your account' });
    await expectFieldError(ctx, page, 'Email', /^Your details were not saved: email/);
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('uma@example.com');
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Your account', h1: 'Your account' });
    expect(await page.getByRole('status').textContent()).toBe('Your details are saved.');
    await ctx.close();
  }, 120_000);

  it('logout: the confirmation by keyboard, then the signed-out page', async () => {
    const ctx = await narrow();
    const page = await ctx.newPage();
    await page.goto(authorizeUrl(notes));
    await signIn(ctx, page);
    await page.goto(s.url(`/oauth/logout?client_id=${notes.clientId}`));
    await checkPage(page, { title: 'Sign out?', h1: 'Sign out?' });
    expect(await tabOrder(ctx, page)).toEqual(['button Stay signed in', 'button Sign out']);
    await page.keyboard.press('Shift+Tab');
    expect(said(await focused(ctx, page))).toBe('button Sign out');
    await submitWith(page, 'Space');
    await checkPage(page, { title: 'Signed out', h1: 'You are signed out' });
    await ctx.close();
  }, 60_000);

  it('error pages: a bad request and an expired sign-in are announced alerts with a title and heading', async () => {
    const ctx = await narrow();
    const page = await ctx.newPage();
    await page.goto(s.url('/oauth/authorize?client_id=nobody'));
    await checkPage(page, { title: 'Invalid request', h1: 'Invalid request' });
    expect(await page.getByRole('alert').textContent()).toBeTruthy();
    await page.goto(s.url('/interaction/no-such-ticket'));
    await checkPage(page, { title: 'Sign-in expired', h1: 'Sign-in expired' });
    await ctx.close();
  }, 60_000);

  it('form_post without JavaScript: a heading and a Continue button reached by Tab post the response', async () => {
    const ctx = await narrow({ javaScriptEnabled: false });
    const page = await ctx.newPage();
    await page.goto(authorizeUrl(notes, { response_mode: 'form_post', state: 'no-js', prompt: 'consent' }));
    await signIn(ctx, page);
    await tabTo(ctx, page, 'button Allow');
    await submitWith(page, 'Enter');
    // axe-core cannot run where scripts are off: it runs below on the same page in a browser with scripts.
    await checkPage(page, { title: 'Returning to the application', h1: 'Returning to the application' }, { axe: false });
    expect(await page.locator('meta[name=viewport]').getAttribute('content')).toBe('width=device-width,initial-scale=1');
    expect(await tabTo(ctx, page, 'button Continue')).toEqual(['button Continue']);
    const posted = rp.nextPost();
    await page.keyboard.press('Enter');
    expect((await posted).get('state')).toBe('no-js');
    await ctx.close();
  }, 60_000);

  it('form_post with scripts on, held on the page (its script not served): a main landmark and heading, no axe-core violation', async () => {
    const ctx = await narrow();
    const page = await ctx.newPage();
    await page.goto(authorizeUrl(notes, { response_mode: 'form_post', state: 'js', prompt: 'consent' }));
    await signIn(ctx, page);
    await page.route('**/assets/form-post.js', (r) => r.abort());
    await tabTo(ctx, page, 'button Allow');
    await submitWith(page, 'Enter');
    await checkPage(page, { title: 'Returning to the application', h1: 'Returning to the application' });
    await ctx.close();
  }, 60_000);

  it('a long name without spaces (client, user) wraps at 320 px instead of pushing the page sideways', async () => {
    const long = 'Acme' + 'Supercalifragilistic'.repeat(3);
    const wide = await s.client({ client_name: long, redirect_uris: [rp.url], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'] });
    await s.user(`${long.toLowerCase()}@example.com`, 'long-password');
    const ctx = await narrow();
    const page = await ctx.newPage();
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    await page.goto(authorizeUrl(wide));
    expect(await overflow()).toBe(0);
    await autofocused(ctx, page);
    await page.keyboard.type(`${long.toLowerCase()}@example.com`);
    await page.keyboard.press('Tab');
    await page.keyboard.type('long-password');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    expect(await overflow()).toBe(0);
    await page.goto(authorizeUrl(wide, { prompt: 'select_account' }));
    expect(await overflow()).toBe(0);
    await page.goto(s.url(`/oauth/logout?client_id=${wide.clientId}`));
    expect(await overflow()).toBe(0);
    await ctx.close();
  }, 60_000);
});
