import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * RP-Initiated Logout 1.0 §6: "Logout requests without a valid id_token_hint value are a potential means of denial of
 * service; therefore, OPs should obtain explicit confirmation from the End-User before acting upon them." Neither a
 * confirmation page fetched in another browser nor a cross-site request may sign a browser out without that.
 */
describe('logout confirmation cannot be bypassed (RP-Initiated Logout §6)', () => {
  let s: TestServer;
  let app: { clientId: string; clientSecret?: string };
  const CB = 'https://rp.example/cb';
  const BYE = 'https://rp.example/bye';

  beforeAll(async () => {
    s = await startTestServer();
    app = await s.client({ redirect_uris: [CB], post_logout_redirect_uris: [BYE], grant_types: ['authorization_code'], skip_consent: true });
    await s.user('dana', 'dana-password-1');
    await s.user('eve', 'eve-password-1');
  });
  afterAll(() => s.close());

  const authorizeUrl = (extra: Record<string, string> = {}) =>
    `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: app.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', ...extra });
  const signedIn = async (agent: Agent) => (await agent.follow(authorizeUrl({ prompt: 'none' }))).location?.includes('code=') === true;

  it('RP-Initiated Logout §6: a confirmation form fetched in another browser (its action and CSRF token) does not sign this browser out', async () => {
    const attacker = new Agent(s.issuer);
    await attacker.authorize(authorizeUrl(), 'eve', 'eve-password-1');
    const page = await attacker.request(`${s.issuer}/oauth/logout?client_id=${app.clientId}`);
    expect(page.html).toContain('Sign out?');
    const action = Agent.formAction(page.html, '/logout/');
    const csrf = Agent.formValue(page.html, 'csrf')!;

    const victim = new Agent(s.issuer);
    await victim.authorize(authorizeUrl(), 'dana', 'dana-password-1');
    const r = await victim.request(action, { form: { decision: 'logout', csrf } });
    expect(r.status).toBe(403);
    expect(r.headers.getSetCookie().some((c) => c.startsWith('lk_session='))).toBe(false);
    expect(await signedIn(victim)).toBe(true);
    expect(await signedIn(attacker)).toBe(true); // the attacker's ticket is spent, its session untouched
  });

  it('RP-Initiated Logout §6: a logout request without the session cookie (a cross-site POST, SameSite=Lax) does not clear it', async () => {
    const victim = new Agent(s.issuer);
    await victim.authorize(authorizeUrl(), 'dana', 'dana-password-1');
    // What a cross-site auto-submitting form sends: no cookie (SameSite=Lax), yet its answer's Set-Cookie would apply.
    const res = await fetch(`${s.issuer}/oauth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: app.clientId, post_logout_redirect_uri: BYE, state: 'x' }).toString(),
      redirect: 'manual',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`${BYE}?state=x`);
    expect(res.headers.getSetCookie().some((c) => c.startsWith('lk_session='))).toBe(false);
    expect(await signedIn(victim)).toBe(true);
  });

  it('RP-Initiated Logout §2: with its own confirmation the browser is signed out and its cookie cleared', async () => {
    const user = new Agent(s.issuer);
    await user.authorize(authorizeUrl(), 'dana', 'dana-password-1');
    const page = await user.request(`${s.issuer}/oauth/logout?client_id=${app.clientId}&post_logout_redirect_uri=${encodeURIComponent(BYE)}`);
    const r = await user.request(Agent.formAction(page.html, '/logout/'), { form: { decision: 'logout', csrf: Agent.formValue(page.html, 'csrf')! } });
    expect(r.status).toBe(303);
    expect(r.location).toBe(BYE);
    expect(r.headers.getSetCookie().some((c) => c.startsWith('lk_session=;'))).toBe(true);
    expect(await signedIn(user)).toBe(false);
  });

  it('the consent form answered without a session redirects with Cache-Control: no-store (its Location names the ticket)', async () => {
    const consenting = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code'] });
    const agent = new Agent(s.issuer);
    const login = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: consenting.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid' }));
    const consent = await agent.login(login, 'dana', 'dana-password-1');
    expect(consent.html).toContain('wants to access your account');
    agent.dropCookie('lk_session');
    const r = await agent.request(Agent.formAction(consent.html, '/consent'), { form: { decision: 'approve', csrf: Agent.formValue(consent.html, 'csrf')! } });
    expect(r.status).toBe(303);
    expect(r.headers.get('cache-control')).toBe('no-store');
  });

  it('RP-Initiated Logout §2: a client_id sent with an id_token_hint must be the client the ID token was issued to', async () => {
    const other = await s.client({ redirect_uris: [CB], post_logout_redirect_uris: [BYE], grant_types: ['authorization_code'], skip_consent: true });
    const agent = new Agent(s.issuer);
    const cb = await agent.authorize(authorizeUrl(), 'dana', 'dana-password-1');
    const tokens = (await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB }, { authorization: basic(app.clientId, app.clientSecret!) })).json;
    const logout = (p: Record<string, string>) => agent.request(`${s.issuer}/oauth/logout?${new URLSearchParams(p)}`);
    const wrong = await logout({ id_token_hint: tokens.id_token, client_id: other.clientId, post_logout_redirect_uri: BYE, state: 'w' });
    expect(wrong.status).toBe(400);
    expect(wrong.location).toBeUndefined();
    expect(await signedIn(agent)).toBe(true);
    const right = await logout({ id_token_hint: tokens.id_token, client_id: app.clientId, post_logout_redirect_uri: BYE, state: 'r' });
    expect(right.status).toBe(303); // tied to the session by the hint's sid: no confirmation
    expect(right.location).toBe(`${BYE}?state=r`);
    expect(await signedIn(agent)).toBe(false);
  });

  it('RP-Initiated Logout §2: a cross-site POST (Sec-Fetch-Site: cross-site, no cookie) gets a page posting the same fields again from this origin, and clears nothing', async () => {
    const res = await fetch(`${s.issuer}/oauth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' },
      body: new URLSearchParams({ client_id: app.clientId, post_logout_redirect_uri: BYE, state: '"><script>x()</script>' }).toString(),
      redirect: 'manual',
    });
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()).toEqual([]);
    const csp = res.headers.get('content-security-policy')!;
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("form-action 'self' https://rp.example"); // the redirect after the repost (Chrome checks it)
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(html).toContain(`<form method="post" action="/oauth/logout">`);
    expect(html).toContain('name="state" value="&quot;&gt;&lt;script&gt;x()&lt;/script&gt;"');
    expect(html).not.toContain('<script>x()');
    expect(html).toContain(`<script nonce="${nonce}">`);
  });
});
