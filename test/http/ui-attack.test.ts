import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { postForm, startTestServer, type TestServer } from '../helpers/server.js';

/** The sign-in, sign-up, consent, device and logout pages against a hostile client or page (HTTP, scripted agent). */
describe('browser-facing pages under attack (HTTP)', () => {
  let s: TestServer;
  let client: { clientId: string };
  const CB = 'https://rp.example/cb';

  beforeAll(async () => {
    s = await startTestServer({ allowRegistration: true });
    client = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code'] });
    await s.user('alice', 'alice-password');
  });
  afterAll(() => s.close());

  const authorizeUrl = (extra: Record<string, string> = {}) =>
    '/oauth/authorize?' + new URLSearchParams({ client_id: client.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', ...extra });

  it('Initiating User Registration §4: signing up with a taken username shows the form again with the reason (409), not a server error', async () => {
    const a = new Agent(s.issuer);
    const page = await a.follow(authorizeUrl({ prompt: 'create' }));
    const r = await a.follow(Agent.formAction(page.html, '/create'), { form: { csrf: Agent.formValue(page.html, 'csrf')!, username: 'alice', password: 'another-password' } });
    expect(r.status).toBe(409);
    expect(r.html).toContain('That username is taken');
    expect(r.html).toContain('value="alice"');
    expect(r.headers.getSetCookie().some((c) => c.startsWith('lk_session='))).toBe(false);
  });

  it('a finished sign-in (issued or refused) clears its binding cookie instead of leaving it until interactionTtl', async () => {
    for (const decision of ['deny', 'approve'] as const) { // deny first: an approval is remembered
      const a = new Agent(s.issuer);
      const login = await a.follow(authorizeUrl({ state: decision }));
      expect(a.cookies().some((n) => n.includes('lk_ix'))).toBe(true);
      const consent = await a.login(login, 'alice', 'alice-password');
      const done = await a.consent(consent, decision);
      expect(new URL(done.location!).searchParams.get('state')).toBe(decision);
      expect(done.headers.getSetCookie().some((c) => /lk_ix[^=]*=;.*Max-Age=0/i.test(c)), decision).toBe(true);
      expect(a.cookies().filter((n) => n.includes('lk_ix')), decision).toEqual([]);
      expect(a.cookies()).toContain('lk_session');
    }
    // Consent remembered: the sign-in ends at the interaction URL after the password, with no consent form.
    const a = new Agent(s.issuer);
    const login = await a.follow(authorizeUrl({ state: 'remembered' }));
    const done = await a.login(login, 'alice', 'alice-password');
    expect(new URL(done.location!).searchParams.get('code')).toBeTruthy();
    expect(a.cookies().filter((n) => n.includes('lk_ix'))).toEqual([]);
  });

  it('client metadata and request parameters a hostile client controls are text on the login, consent, device, logout and error pages', async () => {
    const X = `<script>alert(1)</script>"'><img src=x onerror=alert(2)>`;
    const evil = await s.client({
      client_name: X, redirect_uris: [CB], post_logout_redirect_uris: ['https://rp.example/bye'], logo_uri: 'https://rp.example/l.png?"><script>',
      policy_uri: 'https://rp.example/p?"><b>', tos_uri: 'https://rp.example/t', token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
    });
    await s.user('<b>mallory</b>', 'mallory-password', { name: X });
    const a = new Agent(s.issuer);
    const url = (extra: Record<string, string>) => '/oauth/authorize?' + new URLSearchParams({ client_id: evil.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid profile', state: X, code_challenge: 'E9Melhoa2OwvFrEMTJguCHDoeqcy2Z-4zXtNtEq1ZGE', code_challenge_method: 'S256', ...extra });
    const pages: { status: number; html: string; headers: Headers }[] = [];
    const login = await a.follow(url({ login_hint: X, ui_locales: X, claims_locales: X, acr_values: X, nonce: X }));
    pages.push(login, await a.login(login, '<b>mallory</b>', 'mallory-password')); // the consent page
    expect(pages[1]!.html).toContain('wants to access your account');
    pages.push(await a.follow(url({ redirect_uri: `https://evil.example/?${X}` }))); // an error page: not redirected
    expect(pages[2]!.status).toBe(400);
    pages.push(await a.follow('/oauth/logout?' + new URLSearchParams({ client_id: evil.clientId, post_logout_redirect_uri: 'https://rp.example/bye', state: X })));
    expect(pages[3]!.html).toContain('Sign out?');
    const dev = await postForm(s.url('/oauth/device_authorization'), { client_id: evil.clientId, scope: 'openid profile' });
    const code = await a.follow(`/device?user_code=${encodeURIComponent(X)}`);
    pages.push(code, await a.follow('/device', { form: { csrf: Agent.formValue(code.html, 'csrf')!, user_code: dev.json.user_code } }));
    expect(pages[5]!.html).toContain('to access your account?</title>'); // the device confirmation page
    for (const p of pages) {
      expect(p.html).not.toMatch(/<script>alert|<img src=x|"><script>|"><b>|<b>mallory/);
      expect(p.html).not.toMatch(/<script(?! nonce)/);
      expect(p.headers.get('content-security-policy')).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
      expect(p.headers.get('x-frame-options')).toBe('DENY');
      expect(p.headers.get('cache-control')).toBe('no-store');
    }
    expect(pages[1]!.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img src=x onerror=alert(2)&gt;</bdi> wants to access');
  });

  it('a right-to-left client name, or a username with bidirectional controls (U+202E), is isolated (<bdi>): it cannot reorder the page\'s own words', async () => {
    const RLO = '\u202e';
    // Registration refuses bidirectional controls in client_name (client-metadata.ts); a right-to-left name is legitimate
    // and still reorders neutral text next to it unless isolated. Usernames are the operator's or the user's own.
    const NAME = '\u05e4\u05d5\u05d8\u05d5 (1)';
    const spoof = await s.client({ client_name: NAME, redirect_uris: [CB], grant_types: ['authorization_code'], post_logout_redirect_uris: ['https://rp.example/bye'] });
    await s.user(`bob${RLO}`, 'bob-password-1');
    const a = new Agent(s.issuer);
    const login = await a.follow('/oauth/authorize?' + new URLSearchParams({ client_id: spoof.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid' }));
    expect(login.html).toContain(`to continue to <strong><bdi>${NAME}</bdi></strong>`);
    const consent = await a.login(login, `bob${RLO}`, 'bob-password-1');
    expect(consent.html).toContain(`<h1><bdi>${NAME}</bdi> wants to access your account</h1>`);
    expect(consent.html).toContain(`Signed in as <strong><bdi>bob${RLO}</bdi></strong>`);
    const logout = await a.follow(`/oauth/logout?client_id=${spoof.clientId}`);
    expect(logout.html).toContain(`<strong><bdi>${NAME}</bdi></strong> asked to sign you out.`);
  });

  it('CSP3 §2.3.1: a redirect URI whose host no host-source can name (an underscore, an IPv6 literal) is allowed by its scheme in form-action, not dropped as an invalid source', async () => {
    const odd = await s.client({ redirect_uris: ['https://rp_1.example/cb'], grant_types: ['authorization_code'] });
    const a = new Agent(s.issuer);
    const q = { client_id: odd.clientId, redirect_uri: 'https://rp_1.example/cb', response_type: 'code', scope: 'openid' };
    const login = await a.follow('/oauth/authorize?' + new URLSearchParams(q));
    expect(login.headers.get('content-security-policy')).toContain("form-action 'self' https:;");
    await a.login(login, 'alice', 'alice-password');
    const fp = await a.follow('/oauth/authorize?' + new URLSearchParams({ ...q, response_mode: 'form_post', prompt: 'none' }));
    expect(fp.html).toContain('action="https://rp_1.example/cb"');
    expect(fp.headers.get('content-security-policy')).toContain('form-action https:;');
  });
});
