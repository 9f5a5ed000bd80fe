import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';

/*
 * Single sign-on without a detour: when the browser's session and the user's consent already cover an
 * authorization request, /oauth/authorize answers with the code itself (the interaction URL would decide the
 * same). Anything that needs a page still goes through the interaction URL, bound to the browser.
 */
describe('authorization with an existing session', () => {
  let s: TestServer;
  let clientId: string;
  const url = (extra: Record<string, string> = {}) =>
    `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...extra });

  beforeAll(async () => {
    s = await startTestServer();
    clientId = (await s.client({ redirect_uris: [CB], token_endpoint_auth_method: 'none', scope: 'openid profile' })).clientId;
    await s.user('sso', 'sso-password');
  });
  afterAll(() => s.close());

  it('OIDC Core §3.1.2.3: signed in and consented, the code comes straight from /oauth/authorize', async () => {
    const agent = new Agent(s.issuer);
    const first = await agent.authorize(url(), 'sso', 'sso-password'); // login and consent pages
    expect(first.searchParams.get('code')).toBeTruthy();

    const again = await agent.request(url({ state: 'st2' }));
    expect([302, 303]).toContain(again.status);
    const to = new URL(again.location!);
    expect(`${to.origin}${to.pathname}`).toBe(CB);
    expect(to.searchParams.get('state')).toBe('st2');
    expect(to.searchParams.get('code')).toBeTruthy();
    expect(to.searchParams.get('iss')).toBe(s.issuer); // RFC 9207
  });

  it('a request the session does not cover (prompt=login, consent for a new scope) still goes to the interaction URL', async () => {
    const agent = new Agent(s.issuer);
    await agent.authorize(url(), 'sso', 'sso-password');
    const cases: Record<string, string>[] = [{ prompt: 'login' }, { prompt: 'consent' }, { scope: 'openid profile' }, { max_age: '0' }];
    for (const extra of cases) {
      const r = await agent.request(url(extra));
      expect(r.status, JSON.stringify(extra)).toBe(303);
      expect(new URL(r.location!, s.issuer).pathname).toMatch(/^\/interaction\//);
      expect(r.headers.get('set-cookie') ?? '').toMatch(/lk_ix=/); // bound to this browser
    }
  });

  it('without a session cookie, the interaction URL as before', async () => {
    const r = await new Agent(s.issuer).request(url());
    expect(r.status).toBe(303);
    expect(new URL(r.location!, s.issuer).pathname).toMatch(/^\/interaction\//);
  });
});

describe('NUL characters in page forms and queries', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('a login form whose username holds NUL, and a /device query holding one, get an error page, never a 500', async () => {
    const clientId = (await s.client({ redirect_uris: [CB], token_endpoint_auth_method: 'none', scope: 'openid' })).clientId;
    const agent = new Agent(s.issuer);
    const page = await agent.follow(
      `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }),
    );
    const r = await agent.login(page, 'a\u0000b', 'x');
    expect(r.status).toBe(400);
    expect(r.html).toMatch(/Invalid request/);
    const d = await agent.request(`${s.issuer}/device?user_code=AB%00CD`);
    expect(d.status).toBe(400);
    // The authorization endpoint's parameters are the engine's: RFC 6749 Appendix A, invalid_request from Params.
    const a = await agent.request(`${s.issuer}/oauth/authorize?client_id=${clientId}&redirect_uri=${encodeURIComponent(CB)}&response_type=code&scope=openid&state=a%00b`);
    expect(a.status).toBe(400);
    expect(a.html).toMatch(/NUL character/);
  });
});
