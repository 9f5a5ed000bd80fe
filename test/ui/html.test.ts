import { describe, expect, it } from 'vitest';
import * as html from '../../src/ui/html.js';

/*
 * WCAG 2.2 AA properties of the page templates that need no browser: the stylesheet's colours (worked out here from
 * the CSS custom properties, as axe-core does from the rendered page in test/browser/accessibility.browser.test.ts),
 * and how an error marks and focuses the fields it is about. The keyboard walks are in the browser test.
 */

/** The custom properties of one colour scheme: the light :root, or the dark scheme's :root laid over it. */
function palette(scheme: 'light' | 'dark'): Record<string, string> {
  const css = html.STYLESHEET;
  const vars = (block: string) => Object.fromEntries([...block.matchAll(/--([a-z-]+):(#[0-9a-f]{3,6})/g)].map((m) => [m[1]!, m[2]!]));
  const light = vars(/^:root\{([^}]*)\}/m.exec(css)![1]!);
  if (scheme === 'light') return light;
  return { ...light, ...vars(/@media \(prefers-color-scheme:dark\)\{:root\{([^}]*)\}\}/.exec(css)![1]!) };
}

/** WCAG 2.x relative luminance and contrast ratio of two sRGB colours. */
function contrast(a: string, b: string): number {
  const lum = (hex: string) => {
    const h = hex.length === 4 ? hex.slice(1).split('').map((c) => c + c).join('') : hex.slice(1);
    const [r, g, bl] = [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

describe('the stylesheet meets WCAG 2.2 AA contrast in both colour schemes', () => {
  it.each(['light', 'dark'] as const)('%s: text 4.5:1 (1.4.3); field borders and the focus ring 3:1 (1.4.11)', (scheme) => {
    const c = palette(scheme);
    const text: [string, string, string][] = [
      ['body text on the card', c.fg!, c.card!],
      ['body text in a field', c.fg!, c.bg!],
      ['muted text on the card', c.muted!, c.card!],
      ['placeholder (muted) in a field', c.muted!, c.bg!],
      ['an error on the card', c.err!, c.card!],
      ['a link on the card', c.accent!, c.card!],
      ['the primary button\'s label', c['on-accent']!, c.accent!],
    ];
    const shapes: [string, string, string][] = [
      ['a field\'s and a button\'s border against the card', c.field!, c.card!],
      ['the focus ring against the card', c.accent!, c.card!],
      ['an invalid field\'s border against the card', c.err!, c.card!],
    ];
    for (const [what, fg, bg] of text) expect.soft(contrast(fg, bg), `${scheme}: ${what} (${fg} on ${bg})`).toBeGreaterThanOrEqual(4.5);
    for (const [what, fg, bg] of shapes) expect.soft(contrast(fg, bg), `${scheme}: ${what} (${fg} on ${bg})`).toBeGreaterThanOrEqual(3);
  });

  it('the rules use those properties: no colour of its own besides the custom properties', () => {
    const rules = html.STYLESHEET.replace(/^:root\{[^}]*\}/m, '').replace(/@media \(prefers-color-scheme:dark\)\{:root\{[^}]*\}\}/, '');
    expect(rules.match(/#[0-9a-f]{3,6}\b/gi)).toBeNull();
    expect(rules).toContain('button.primary{background:var(--accent);border-color:var(--accent);color:var(--on-accent)}');
  });

  it('WCAG 2.3.3, 2.4.7: no animation or transition to reduce, and no focus outline taken away', () => {
    expect(html.STYLESHEET).not.toMatch(/animation|transition|scroll-behavior/);
    expect(html.STYLESHEET).not.toMatch(/outline:\s*(none|0)\b/);
    expect(html.STYLESHEET).toContain('a:focus-visible,input:focus-visible,button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}');
  });
});

/** The attributes of one element, by id. */
function field(page: string, id: string): string {
  return new RegExp(`<input[^>]* id="${id}"[^>]*>`).exec(page)![0];
}

describe('WCAG 3.3.1, 4.1.3: a form page with an error', () => {
  const base = { action: '/a', csrf: 'c', clientName: 'App' };

  it('sign-in, wrong password: the title says Error, the message is an alert, both fields are invalid and described by it, the focus on the password', () => {
    const page = html.loginPage('', { ...base, username: 'alice', error: 'Wrong username or password.', invalid: ['username', 'password'] });
    expect(page).toContain('<title>Error: Sign in</title>');
    expect(page).toContain('<p class="error" id="error" role="alert">Wrong username or password.</p>');
    expect(field(page, 'username')).toContain('aria-invalid="true" aria-describedby="error"');
    expect(field(page, 'username')).not.toContain('autofocus');
    expect(field(page, 'password')).toContain('aria-invalid="true" aria-describedby="error" autofocus');
  });

  it('sign-in, username missing: only the username is invalid, and has the focus', () => {
    const page = html.loginPage('', { ...base, error: 'Enter your username and password.', invalid: ['username'] });
    expect(field(page, 'username')).toContain('aria-invalid="true" aria-describedby="error" autofocus');
    expect(field(page, 'password')).not.toMatch(/aria-invalid|autofocus/);
  });

  it('sign-in, an error about the form (too many attempts): no field is marked invalid', () => {
    const page = html.loginPage('', { ...base, username: 'alice', error: 'Too many failed sign-in attempts.' });
    expect(page).toContain('<title>Error: Sign in</title>');
    expect(page).not.toContain('aria-invalid');
    expect(field(page, 'password')).toContain('autofocus');
  });

  it('sign-in without an error: no "Error:" title, no invalid field, the focus on the first field to fill', () => {
    const page = html.loginPage('', base);
    expect(page).toContain('<title>Sign in</title>');
    expect(page).not.toMatch(/aria-invalid|aria-describedby|role="alert"/);
    expect(field(page, 'username')).toContain('autofocus');
  });

  it('select_account: the focus on "Continue as", the signed-in name isolated like every name someone chose', () => {
    const page = html.loginPage('', { ...base, continueAs: 'alice\u202e' });
    expect(page).toContain('<button type="submit" class="primary" autofocus>Continue as <bdi>alice\u202e</bdi></button>');
    expect(page.match(/autofocus/g)).toHaveLength(1);
  });

  it.each(['username', 'password', 'name', 'email'] as const)('sign-up, an error about the %s: that field alone is invalid and focused', (name) => {
    const page = html.createAccountPage('', { ...base, username: 'bob', error: 'Wrong.', invalid: name });
    expect(page).toContain('<title>Error: Create an account</title>');
    expect(page.match(/aria-invalid/g)).toHaveLength(1);
    expect(field(page, name)).toContain('aria-invalid="true" aria-describedby="error" autofocus');
  });

  it('sign-up: the email field is type=email with the email autocomplete token; the password new-password', () => {
    const page = html.createAccountPage('', base);
    expect(field(page, 'email')).toMatch(/type="email"[^>]*autocomplete="email"/);
    expect(field(page, 'password')).toMatch(/type="password"[^>]*autocomplete="new-password"/);
  });

  it('device code: the code field is invalid, described by the error, and focused', () => {
    const page = html.deviceCodePage('', { action: '/d', csrf: 'c', username: 'alice', userCode: 'BCDF-GHJK', error: 'That code is not valid.' });
    expect(page).toContain('<title>Error: Connect a device</title>');
    expect(field(page, 'user_code')).toContain('autocomplete="one-time-code"');
    expect(field(page, 'user_code')).toContain('aria-invalid="true" aria-describedby="error" autofocus');
  });
});

describe('WCAG 2.4.2, 2.4.4: titles and links', () => {
  it('the consent and device pages are titled with the client asking', () => {
    expect(html.consentPage('', { action: '/a', csrf: 'c', clientName: 'Acme <Notes>', scopes: ['openid'], username: 'u' })).toContain('<title>Allow Acme &lt;Notes&gt; to access your account?</title>');
    expect(html.deviceConfirmPage('', { action: '/a', csrf: 'c', userCode: 'BCDF-GHJK', clientName: 'TV', scopes: ['openid'], username: 'u' })).toContain('<title>Allow TV to access your account?</title>');
  });

  it('WCAG G201: the client\'s policy and terms links, which open a new tab, say so', () => {
    expect(html.clientLinks({ policyUri: 'https://a.example/p', tosUri: 'https://a.example/t' })).toBe(
      '<p class="muted client-links"><a href="https://a.example/p" rel="noopener noreferrer" target="_blank">Privacy policy<span class="vh"> (opens in a new tab)</span></a>' +
        ' · <a href="https://a.example/t" rel="noopener noreferrer" target="_blank">Terms of service<span class="vh"> (opens in a new tab)</span></a></p>',
    );
  });
});

describe('WCAG 1.3.1: what a consent page lists is a list, and a list is never empty', () => {
  const base = { action: '/a', csrf: 'c', clientName: 'App', username: 'u' };
  const detail = { type: 'payment_initiation', actions: ['initiate'] };

  it('consent: scopes and claims asked for are list items', () => {
    const page = html.consentPage('', { ...base, scopes: ['openid', 'email'], claims: ['name'] });
    expect(page).toContain('<p>It is asking to:</p>\n<ul class="scopes"><li>Know who you are (your account identifier)</li><li>Your email address</li><li>Read your name</li></ul>');
  });

  it.each([
    ['consent', html.consentPage('', { ...base, scopes: [] })],
    ['device', html.deviceConfirmPage('', { ...base, userCode: 'BCDF-GHJK', scopes: [] })],
  ])('%s, nothing named: a sentence says so, no empty list', (_page, page) => {
    expect(page).not.toContain('<ul');
    expect(page).toContain('without naming any particular permission');
  });

  it.each([
    ['consent', html.consentPage('', { ...base, scopes: [], authorizationDetails: [detail] })],
    ['device', html.deviceConfirmPage('', { ...base, userCode: 'BCDF-GHJK', scopes: [], authorizationDetails: [detail] })],
  ])('%s, authorization details alone (RFC 9396): their list, no empty scope list and no "nothing named"', (_page, page) => {
    expect(page.match(/<ul/g)).toHaveLength(1);
    expect(page).toContain('It is asking to be authorized for:');
    expect(page).not.toContain('without naming any particular permission');
  });

  it('device, scopes and authorization details: two lists, each introduced', () => {
    const page = html.deviceConfirmPage('', { ...base, userCode: 'BCDF-GHJK', scopes: ['openid'], authorizationDetails: [detail] });
    expect(page).toMatch(/It is asking to:<\/p>\n<ul class="scopes"><li>[^<]*<\/li><\/ul>\n<p>And to be authorized for:<\/p>\n<ul class="scopes authorization-details">/);
  });
});

describe('WCAG 2.4.2: the pages in between say what they are', () => {
  it('the page that posts a cross-site logout request again is titled and headed by what it does', () => {
    const page = html.resubmitPage('', { action: '/oauth/logout', fields: [], nonce: 'n', title: 'Continue to sign out' });
    expect(page).toContain('<title>Continue to sign out</title>');
    expect(page).toContain('<h1>Continue to sign out</h1>');
  });
});
