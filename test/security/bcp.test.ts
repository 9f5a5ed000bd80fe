import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** RFC 9700 recommendations that no other test file covers on its own (SECURITY.md maps each to its proof). */
describe('RFC 9700 odds and ends', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
  });
  afterAll(() => s.close());

  const register = (meta: Record<string, unknown>) =>
    fetch(s.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(meta) });

  it('RFC 9700 §2.6: the authorization endpoint does not support CORS', async () => {
    const { clientId } = await s.client({ redirect_uris: ['https://rp.example/cb'] });
    const q = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://rp.example/cb', response_type: 'code', scope: 'openid' });
    for (const method of ['GET', 'OPTIONS']) {
      const r = await fetch(s.url(`/oauth/authorize?${q}`), { method, redirect: 'manual', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
      expect(r.headers.get('access-control-allow-origin'), method).toBeNull();
      expect(r.headers.get('access-control-allow-credentials'), method).toBeNull();
    }
  });

  it('RFC 9700 §2.6: an http redirect URI is refused unless it is on the loopback interface', async () => {
    const bad = await register({ redirect_uris: ['http://rp.example/cb'] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe('invalid_redirect_uri');
    expect((await register({ redirect_uris: ['http://127.0.0.1:8123/cb'], application_type: 'native', token_endpoint_auth_method: 'none' })).status).toBe(201);
  });

  it('RFC 9700 §4.15.1: a dynamically registered client cannot choose its client_id (it could pose as a user\'s sub)', async () => {
    const sub = await s.user('posed', 'posed-password');
    const r = await register({ client_id: sub, redirect_uris: ['https://rp.example/cb'], grant_types: ['authorization_code'] });
    expect(r.status).toBe(201);
    const body = (await r.json()) as { client_id: string };
    expect(body.client_id).not.toBe(sub);
    expect(body.client_id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
  });

  // RFC 9700 §4.11.2: anyone may register a client whose redirect URI is a phishing page, then send users to the
  // server with a request made to fail; the server must not bounce them on to that page automatically.
  const failing = (clientId: string, redirectUri: string) =>
    s.url(`/oauth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, scope: 'openid', state: 'st' })}`);

  it('RFC 9700 §4.11.2: an error in the request of an openly registered client is shown, not redirected to its URI', async () => {
    const reg = (await (await register({ redirect_uris: ['https://phish.example/cb'] })).json()) as { client_id: string };
    for (const method of ['GET', 'POST'] as const) {
      const url = failing(reg.client_id, 'https://phish.example/cb');
      const r = method === 'GET'
        ? await fetch(url, { redirect: 'manual' })
        : await fetch(url.split('?')[0]!, { method, redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: url.split('?')[1] });
      expect(r.status, method).toBe(400);
      expect(r.headers.get('location'), method).toBeNull();
      expect(r.headers.get('content-type'), method).toMatch(/^text\/html/);
      const html = await r.text();
      expect(html, method).toContain('invalid_request');
      expect(html, method).not.toContain('phish.example');
    }
  });

  it('RFC 9700 §4.11.2: a client the operator registered still gets its error redirected (303, with state and iss)', async () => {
    const { clientId } = await s.client({ redirect_uris: ['https://rp.example/cb'] });
    const r = await fetch(failing(clientId, 'https://rp.example/cb'), { redirect: 'manual' });
    expect(r.status).toBe(303);
    const to = new URL(r.headers.get('location')!);
    expect(to.origin + to.pathname).toBe('https://rp.example/cb');
    expect(Object.fromEntries(to.searchParams)).toMatchObject({ error: 'invalid_request', state: 'st', iss: s.issuer });
  });

  it('RFC 9700 §4.11.2, RFC 8252 §7.3: a native app\'s loopback redirect URI stays on the user\'s machine, so its errors are redirected', async () => {
    const reg = (await (await register({ redirect_uris: ['http://127.0.0.1:8123/cb'], application_type: 'native', token_endpoint_auth_method: 'none' })).json()) as { client_id: string };
    const r = await fetch(failing(reg.client_id, 'http://127.0.0.1:8123/cb'), { redirect: 'manual' });
    expect(r.status).toBe(303);
    expect(new URL(r.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });

  it('RFC 9700 §4.11.2: prompt=none for an openly registered client is not bounced back unseen; once the user consented it is answered', async () => {
    await s.user('silent', 'silent-password');
    const reg = (await (await register({ redirect_uris: ['https://phish.example/cb'], token_endpoint_auth_method: 'none' })).json()) as { client_id: string };
    const url = (prompt?: string) =>
      `/oauth/authorize?${new URLSearchParams({ client_id: reg.client_id, redirect_uri: 'https://phish.example/cb', response_type: 'code', scope: 'openid', state: 'st', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...(prompt ? { prompt } : {}) })}`;
    const agent = new Agent(s.issuer);
    // No session: login_required is shown, not redirected.
    const notSignedIn = await agent.follow(url('none'));
    expect([notSignedIn.status, notSignedIn.location]).toEqual([400, undefined]);
    expect(notSignedIn.html).toContain('Error: login_required');
    expect(notSignedIn.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    // Signed in, never consented: consent_required is shown too.
    const login = await agent.follow(url());
    const consentPage = await agent.login(login, 'silent', 'silent-password');
    const noConsent = await agent.follow(url('none'));
    expect([noConsent.status, noConsent.location]).toEqual([400, undefined]);
    expect(noConsent.html).toContain('Error: consent_required');
    // A denial the user chose on the consent page goes back to the client (the user saw who it is).
    const denied = await agent.consent(consentPage, 'deny');
    expect(new URL(denied.location!).searchParams.get('error')).toBe('access_denied');
    // Approved once: the silent request is answered with a code.
    const approved = await agent.authorize(url(), 'silent', 'silent-password');
    expect(approved.searchParams.get('code')).toBeTruthy();
    const silent = await agent.request(url('none'));
    expect(silent.status).toBe(303);
    expect(new URL(silent.location!).searchParams.get('code')).toBeTruthy();
  });

  it('RFC 9700 §4.11.2: prompt=none for a client the operator registered still gets login_required redirected', async () => {
    const { clientId } = await s.client({ redirect_uris: ['https://rp.example/cb'] });
    const q = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://rp.example/cb', response_type: 'code', scope: 'openid', prompt: 'none', state: 'st' });
    const r = await new Agent(s.issuer).follow(`/oauth/authorize?${q}`);
    expect(r.status).toBe(303);
    expect(new URL(r.location!).searchParams.get('error')).toBe('login_required');
  });
});

describe('RFC 9700 §4.11.2 with registrationTrustedHosts', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ registration: 'open', registrationTrustedHosts: ['.trusted.example'] });
  });
  afterAll(() => s.close());

  it('an openly registered client whose redirect URI is on a trusted host gets its errors redirected', async () => {
    const r0 = await fetch(s.url('/oauth/register'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['https://app.trusted.example/cb'] }),
    });
    expect(r0.status).toBe(201);
    const { client_id } = (await r0.json()) as { client_id: string };
    const q = new URLSearchParams({ client_id, redirect_uri: 'https://app.trusted.example/cb', scope: 'openid', state: 'st' });
    const r = await fetch(s.url(`/oauth/authorize?${q}`), { redirect: 'manual' });
    expect(r.status).toBe(303);
    expect(new URL(r.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });
});
