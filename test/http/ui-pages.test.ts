import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant } from '../../src/services/tenants.js';
import * as html from '../../src/ui/html.js';
import { Agent } from '../helpers/agent.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/*
 * The stylesheet link is part of the page template (ui/html.ts layout): every page links the stylesheet under the
 * path its pages are served at, built with the page, not patched into the reply afterwards.
 */

const pages: Record<string, (base: string) => string> = {
  login: (b) => html.loginPage(b, { action: '/a', csrf: 'c', clientName: 'App' }),
  consent: (b) => html.consentPage(b, { action: '/a', csrf: 'c', clientName: 'App', scopes: ['openid'], username: 'u' }),
  error: (b) => html.errorPage(b, 'Oops', 'It failed', 'invalid_request'),
  message: (b) => html.messagePage(b, 'Done', 'All done'),
  demoCallback: (b) => html.demoCallbackPage(b, new URLSearchParams('code=x')),
  logoutConfirm: (b) => html.logoutConfirmPage(b, { action: '/a', csrf: 'c' }),
  createAccount: (b) => html.createAccountPage(b, { action: '/a', csrf: 'c', clientName: 'App' }),
  signedOut: (b) => html.signedOutPage(b, { frames: [], nonce: 'n' }),
  deviceCode: (b) => html.deviceCodePage(b, { action: '/a', csrf: 'c', username: 'u' }),
  deviceConfirm: (b) => html.deviceConfirmPage(b, { action: '/a', csrf: 'c', userCode: 'ABCD-EFGH', clientName: 'TV', scopes: ['openid'], username: 'u' }),
};

describe('the security-key script (ui/html.ts WEBAUTHN_SCRIPT)', () => {
  it('is valid JavaScript, linked under the base with the page\'s nonce, and only on pages that offer a key', () => {
    expect(() => new Function(html.WEBAUTHN_SCRIPT)).not.toThrow();
    const options = { challenge: 'c', rpId: 'x', allowCredentials: [], note: '"</script><b>' };
    const withKey = html.otpPage('/t/acme', { action: '/t/acme/login', csrf: 'c', pending: 'p', webauthn: { nonce: 'n1', options } });
    expect(withKey).toContain('<script nonce="n1" src="/t/acme/assets/webauthn.js"></script>');
    expect(withKey).not.toContain('</script><b>'); // the options are an escaped attribute
    expect(withKey).toContain('data-webauthn-box hidden'); // hidden until the script finds WebAuthn
    expect(html.otpPage('', { action: '/login', csrf: 'c', pending: 'p' })).not.toContain('<script');
    // /mfa at an IP address: the keys listed, none to add, and why.
    const atAddress = html.mfaPage('', { action: '/mfa', csrf: 'c', username: 'u', on: true, keys: [{ id: 'k', name: 'Blue', createdAt: 0, lastUsedAt: null }], keysNeedHostName: true });
    expect(atAddress).toContain('Blue');
    expect(atAddress).not.toContain('data-webauthn');
    expect(atAddress).toContain('host name');
  });
});

const links = (page: string) => [...page.matchAll(/<link rel="stylesheet" href="([^"]*)">/g)].map((m) => m[1]);

describe('the page template links the stylesheet where the pages are served', () => {
  it.each(Object.keys(pages))('%s page: one stylesheet link, at <base>/assets/latchkey.css', (name) => {
    expect(links(pages[name]!(''))).toEqual(['/assets/latchkey.css']);
    expect(links(pages[name]!('/t/acme'))).toEqual(['/t/acme/assets/latchkey.css']);
    expect(links(pages[name]!('/a"b'))).toEqual(['/a&quot;b/assets/latchkey.css']); // escaped like any attribute
  });
});

describe('pages served at the root and under a tenant link a stylesheet that is served there', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
    await createTenant(s.lk, { id: 'styled' });
  });
  afterAll(() => s?.close());

  it.each([['the root', ''], ['a tenant', '/t/styled']])('%s: the error page of a bad authorization request links %s/assets/latchkey.css, served as text/css', async (_name, base) => {
    const res = await fetch(s.url(`${base}/oauth/authorize?client_id=nobody`));
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const href = links(await res.text());
    expect(href).toEqual([`${base}/assets/latchkey.css`]);
    const css = await fetch(s.url(href[0]!));
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await css.text()).toBe(html.STYLESHEET);
  });
});

describe('WCAG 3.3.1: an error the server finds in a form marks the field it is about (the browser cannot: these pass its checks)', () => {
  let s: TestServer;
  let client: { clientId: string };
  const CB = 'https://rp.example/cb';
  beforeAll(async () => {
    s = await startTestServer({ allowRegistration: true });
    client = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code'] });
    await s.user('alice', 'alice-password');
  });
  afterAll(() => s?.close());

  const authorizeUrl = (extra: Record<string, string> = {}) =>
    '/oauth/authorize?' + new URLSearchParams({ client_id: client.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', ...extra });
  /** The ids of the fields marked invalid, and the one with the focus. */
  const marked = (page: string) => ({
    invalid: [...page.matchAll(/<input[^>]* id="(\w+)"[^>]*aria-invalid="true" aria-describedby="error"/g)].map((m) => m[1]),
    focus: /<input[^>]* id="(\w+)"[^>]* autofocus/.exec(page)?.[1],
  });

  it.each([
    ['a username with a space', { username: 'bob smith', password: 'bob-password' }, 'username'],
    ['a password too short (sent past the browser\'s minlength)', { username: 'bob', password: 'short' }, 'password'],
    ['an email address the server refuses', { username: 'bob', password: 'bob-password', email: 'bob@' }, 'email'],
    ['a taken username', { username: 'alice', password: 'bob-password' }, 'username'],
  ])('sign-up, %s: that field is invalid, described by the alert, and focused', async (_what, form, name) => {
    const a = new Agent(s.issuer);
    const page = await a.follow(authorizeUrl({ prompt: 'create' }));
    const r = await a.follow(Agent.formAction(page.html, '/create'), { form: { csrf: Agent.formValue(page.html, 'csrf')!, ...form } });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.html).toContain('<p class="error" id="error" role="alert">');
    expect(marked(r.html)).toEqual({ invalid: [name], focus: name });
  });

  it.each([
    ['no password', { username: 'alice', password: '' }, ['password'], 'password'],
    ['no username', { username: '', password: 'x' }, ['username'], 'username'],
    ['a wrong password', { username: 'alice', password: 'wrong-password' }, ['username', 'password'], 'password'],
  ])('sign-in, %s: the fields at fault are invalid; the focus on the one to fix', async (_what, form, invalid, focus) => {
    const a = new Agent(s.issuer);
    const page = await a.follow(authorizeUrl());
    const r = await a.follow(Agent.formAction(page.html, '/login'), { form: { csrf: Agent.formValue(page.html, 'csrf')!, ...form } });
    expect(r.status).toBe(400);
    expect(r.html).toContain('<title>Error: Sign in</title>');
    expect(marked(r.html)).toEqual({ invalid, focus });
  });
});
