import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant } from '../../src/services/tenants.js';
import * as html from '../../src/ui/html.js';
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
