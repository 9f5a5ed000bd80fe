import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { makeTestPki } from '../helpers/certs.js';
import { tlsFetch } from '../helpers/https-fetch.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';

interface Page { name: string; status: number; html: string; headers: Headers }

/** The rules every HTML page must follow (RFC 9700 §4.16 clickjacking, no referrer leak, no script injection). */
function checkPage(p: Page): void {
  const where = `${p.name} (${p.status})`;
  expect(p.headers.get('content-type'), where).toMatch(/^text\/html/);
  const csp = p.headers.get('content-security-policy') ?? '';
  expect(csp, where).toContain("frame-ancestors 'none'");
  expect(csp, where).not.toContain('unsafe-inline');
  expect(csp, where).not.toContain('unsafe-eval');
  expect(p.headers.get('x-content-type-options'), where).toBe('nosniff');
  expect(p.headers.get('referrer-policy'), where).toBe('no-referrer');
  expect(p.headers.get('cache-control'), where).toContain('no-store');
  // Every inline script is allowed by a nonce or hash of the CSP; none would run without one.
  for (const m of p.html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
    const attrs = m[1]!;
    if (/\bsrc=/.test(attrs)) continue;
    const nonce = /nonce="([^"]+)"/.exec(attrs)?.[1];
    const hash = `'sha256-${createHash('sha256').update(m[2]!).digest('base64')}'`;
    expect(nonce ? csp.includes(`'nonce-${nonce}'`) : csp.includes(hash), `${where}: inline script allowed by the CSP`).toBe(true);
  }
  expect(p.html, where).not.toMatch(/\son[a-z]+\s*=/i); // no inline event handlers
}

function checkCookies(setCookies: string[], secure: boolean): void {
  for (const c of setCookies) {
    expect(c, c).toMatch(/;\s*HttpOnly/i);
    expect(c, c).toMatch(/;\s*SameSite=(Lax|Strict)/i);
    if (secure) expect(c, c).toMatch(/;\s*Secure/i);
  }
}

describe('security headers on every HTML page, and no-store on every token or code response', () => {
  let s: TestServer;
  let conf: { clientId: string; clientSecret?: string };
  let dev: { clientId: string };
  let ciba: { clientId: string; clientSecret?: string };
  const pages: Page[] = [];
  const cookies: string[] = [];

  /** Wrap Agent.request so every response it sees is checked and its cookies collected. */
  function recording(agent: Agent, name: string): Agent {
    const orig = agent.request.bind(agent);
    agent.request = async (url, init) => {
      const r = await orig(url, init);
      cookies.push(...r.headers.getSetCookie());
      if ((r.headers.get('content-type') ?? '').startsWith('text/html')) pages.push({ name: `${name}: ${new URL(url, s.issuer).pathname}`, status: r.status, html: r.html, headers: r.headers });
      return r;
    };
    return agent;
  }

  beforeAll(async () => {
    s = await startTestServer({ demo: true, allowRegistration: true });
    conf = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] });
    dev = await s.client({ token_endpoint_auth_method: 'none', grant_types: [DEVICE] });
    ciba = await s.client({ grant_types: ['urn:openid:params:grant-type:ciba'], backchannel_token_delivery_mode: 'poll', scope: 'openid' });
    await s.user('alice', 'alice-password');
  });
  afterAll(() => s.close());

  const authUrl = (extra: Record<string, string> = {}) =>
    `${s.issuer}/oauth/authorize?${new URLSearchParams({ client_id: conf.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's', ...extra })}`;

  it('login, consent, form_post, error, create-account, device, CIBA, two-step sign-in, account, logout confirmation, signed-out and demo pages', async () => {
    // error page (unknown client)
    await recording(new Agent(s.issuer), 'error').follow(`${s.issuer}/oauth/authorize?client_id=nobody&response_type=code`);
    // login page, a failed login, consent page, form_post page
    const a = recording(new Agent(s.issuer), 'code flow');
    const login = await a.follow(authUrl({ response_mode: 'form_post', scope: 'openid profile' }));
    const again = await a.login(login, 'alice', 'wrong');
    const consent = await a.login(again, 'alice', 'alice-password');
    expect(consent.html).toContain('/consent');
    const post = await a.consent(consent, 'approve');
    expect(post.html).toContain('<form');
    // create-account page (prompt=create)
    await recording(new Agent(s.issuer), 'create').follow(authUrl({ prompt: 'create' }));
    // device pages: sign in, code entry, confirmation, done
    const d = await postForm(s.url('/oauth/device_authorization'), { client_id: dev.clientId, scope: 'openid' });
    const userCode = d.json.user_code as string;
    const da = recording(new Agent(s.issuer), 'device');
    const dlogin = await da.follow(`/device?user_code=${encodeURIComponent(userCode)}`);
    const codePage = await da.follow(Agent.formAction(dlogin.html, '/device/login'), {
      form: { csrf: Agent.formValue(dlogin.html, 'csrf')!, user_code: userCode, username: 'alice', password: 'alice-password' },
    });
    const confirm = await da.follow('/device', { form: { csrf: Agent.formValue(codePage.html, 'csrf')!, user_code: userCode } });
    await da.follow('/device/confirm', { form: { csrf: Agent.formValue(confirm.html, 'csrf')!, binding: Agent.formValue(confirm.html, 'binding')!, user_code: userCode, decision: 'approve' } });
    // CIBA pages: sign in, the requests, the decision
    await postForm(s.url('/oauth/bc-authorize'), { scope: 'openid', login_hint: 'alice', binding_message: 'HDR' }, { authorization: basic(ciba.clientId, ciba.clientSecret!) });
    const ca = recording(new Agent(s.issuer), 'ciba');
    const clogin = await ca.follow('/ciba');
    const requests = await ca.follow(Agent.formAction(clogin.html, '/ciba/login'), { form: { csrf: Agent.formValue(clogin.html, 'csrf')!, username: 'alice', password: 'alice-password' } });
    expect(requests.html).toContain('HDR');
    await ca.follow('/ciba', { form: { csrf: Agent.formValue(requests.html, 'csrf')!, request: Agent.formValue(requests.html, 'request')!, decision: 'approve' } });
    // logout confirmation and signed-out pages (no id_token_hint: the user is asked)
    const ask = await a.follow(`${s.issuer}/oauth/logout`);
    expect(ask.html).toContain('<form');
    await a.follow(Agent.formAction(ask.html, '/logout/'), { form: { csrf: Agent.formValue(ask.html, 'csrf') ?? '', decision: 'yes', confirm: 'yes' } });
    // two-step sign-in offered inside a sign-in (the request asks for acr mfa), then its recovery codes; and /mfa
    await s.user('zed', 'zed-password');
    const m = recording(new Agent(s.issuer), 'mfa offer');
    const offer = await m.login(await m.follow(authUrl({ acr_values: 'urn:latchkey:acr:mfa' })), 'zed', 'zed-password');
    expect(offer.html).toContain('two-step sign-in');
    await m.follow(Agent.formAction(offer.html, '/mfa'), { form: { csrf: Agent.formValue(offer.html, 'csrf')!, decision: 'on', otp: '000000' } });
    await m.follow('/mfa');
    // the account page: its sign-in form, then the applications with access, then removing one
    const acc = recording(new Agent(s.issuer), 'account');
    const alogin = await acc.follow('/account');
    const apps = await acc.follow(Agent.formAction(alogin.html, '/account/login'), { form: { csrf: Agent.formValue(alogin.html, 'csrf')!, username: 'alice', password: 'alice-password' } });
    expect(apps.html).toContain('<section class="app-access">');
    await acc.follow('/account', { form: { csrf: Agent.formValue(apps.html, 'csrf')!, client: Agent.formValue(apps.html, 'client')!, decision: 'remove' } });
    // demo callback
    await recording(new Agent(s.issuer), 'demo').follow(`${s.issuer}/demo/callback?code=abc&state=x`);

    const names = pages.map((p) => p.name).join('\n');
    for (const path of ['/oauth/authorize', '/interaction/', '/device', '/device/confirm', '/ciba', '/mfa', '/account', '/oauth/logout', '/logout/', '/demo/callback']) {
      expect(names, `a page at ${path} was checked`).toContain(path);
    }
    expect(pages.some((p) => p.html.includes('action="/interaction/') && p.html.includes('/create'))).toBe(true);
    for (const p of pages) checkPage(p);
    expect(cookies.length).toBeGreaterThan(0);
    checkCookies(cookies, false);
  });

  it('token and code carrying responses are Cache-Control: no-store (RFC 6749 §5.1)', async () => {
    const a = new Agent(s.issuer);
    await a.authorize(authUrl(), 'alice', 'alice-password');
    // Signed in with consent: the authorization endpoint answers at once with the redirect carrying the code.
    const redirect = await a.follow(authUrl());
    expect(redirect.location).toMatch(/^https:\/\/rp\.example\/cb\?code=/);
    expect(redirect.headers.get('cache-control')).toBe('no-store');
    const code = new URL(redirect.location!).searchParams.get('code')!;
    const tok = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code, redirect_uri: CB }, { authorization: basic(conf.clientId, conf.clientSecret!) });
    expect(tok.status).toBe(200);
    expect(tok.headers.get('cache-control')).toBe('no-store');
    const dv = await postForm(s.url('/oauth/device_authorization'), { client_id: dev.clientId });
    expect(dv.headers.get('cache-control')).toBe('no-store');
    const poll = await postForm(s.url('/oauth/token'), { grant_type: DEVICE, device_code: dv.json.device_code, client_id: dev.clientId });
    expect(poll.headers.get('cache-control')).toBe('no-store');
  });
});

describe('cookies over HTTPS', () => {
  it('sessionCookieSameSite none: the session cookie is SameSite=None and Secure (a client\'s hidden iframe finds the session), every other cookie stays Lax', async () => {
    const pki = makeTestPki();
    const s = await startTestServer({ tlsCert: pki.server.certFile, tlsKey: pki.server.keyFile, sessionCookieSameSite: 'none' });
    try {
      const c = await s.client({ redirect_uris: [CB], skip_consent: true });
      await s.user('alice', 'alice-password');
      const agent = new Agent(s.issuer, tlsFetch({ ca: pki.ca.cert }));
      const seen: string[] = [];
      const orig = agent.request.bind(agent);
      agent.request = async (url, init) => {
        const r = await orig(url, init);
        seen.push(...r.headers.getSetCookie());
        return r;
      };
      const authorize = `/oauth/authorize?${new URLSearchParams({ client_id: c.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`;
      const done = await agent.login(await agent.follow(authorize), 'alice', 'alice-password');
      expect(done.location).toMatch(/^https:\/\/rp\.example\/cb\?code=/);
      const session = seen.filter((h) => h.startsWith('__Host-lk_session='));
      expect(session.length).toBeGreaterThan(0);
      for (const h of session) expect(h).toMatch(/;\s*SameSite=None(;|$)/);
      for (const h of session) expect(h).toMatch(/;\s*Secure(;|$)/);
      const others = seen.filter((h) => !h.startsWith('__Host-lk_session='));
      expect(others.length).toBeGreaterThan(0);
      checkCookies(others, true);
    } finally {
      await s.close();
    }
  });

  it('every cookie is Secure when the issuer is https', async () => {
    const pki = makeTestPki();
    const s = await startTestServer({ tlsCert: pki.server.certFile, tlsKey: pki.server.keyFile });
    try {
      const c = await s.client({ redirect_uris: [CB], skip_consent: true });
      await s.user('alice', 'alice-password');
      const f = tlsFetch({ ca: pki.ca.cert });
      const res = await f(`${s.issuer}/oauth/authorize?${new URLSearchParams({ client_id: c.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid' })}`);
      const setCookie = res.headers.get('set-cookie') ?? '';
      const loc = res.headers.get('location');
      let page = res;
      if (loc) page = await f(new URL(loc, s.issuer).toString());
      const all = [setCookie, page.headers.get('set-cookie') ?? ''].filter(Boolean).flatMap((h) => h.split(/,(?=\s*[A-Za-z0-9_-]+=)/));
      expect(all.length).toBeGreaterThan(0);
      checkCookies(all, true);
    } finally {
      await s.close();
    }
  });
});
