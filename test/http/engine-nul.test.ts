import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant } from '../../src/services/tenants.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * RFC 6749 Appendix A: no parameter admits %x00. The UI-hosted endpoints whose parameters the engine parses
 * (authorization, RP-initiated logout) answer it with the engine's own invalid_request (Params.parse), like every
 * other engine endpoint, not with the UI's generic page for its own forms.
 */
describe('a NUL byte in a parameter of a UI-hosted engine endpoint is the engine\'s invalid_request', () => {
  let s: TestServer;
  let clientId: string;

  beforeAll(async () => {
    s = await startTestServer();
    ({ clientId } = await s.client({ redirect_uris: ['https://rp.example/cb'], post_logout_redirect_uris: ['https://rp.example/bye'], skip_consent: true }));
    await createTenant(s.lk, { id: 'nul-tenant' });
  });
  afterAll(() => s.close());

  const engineAnswer = async (res: Response) => {
    const html = await res.text();
    expect(res.status).toBe(400);
    // The engine's error (its code and description), not the UI's own "characters that no valid request holds".
    expect(html).toContain('Error: invalid_request');
    expect(html).toContain('NUL character');
    expect(html).not.toContain('The request holds characters that no valid request holds');
  };

  for (const base of ['', '/t/nul-tenant']) {
    const where = base || 'the default tenant';
    it(`OIDC RP-Initiated Logout §2 (${where}): GET and POST /oauth/logout with a NUL in a parameter`, async () => {
      await engineAnswer(await fetch(s.url(`${base}/oauth/logout?client_id=${clientId}&state=a%00b`)));
      await engineAnswer(await fetch(s.url(`${base}/oauth/logout?post_logout_redirect_uri=https%3A%2F%2Frp.example%2Fbye%00`)));
      await engineAnswer(
        await fetch(s.url(`${base}/oauth/logout`), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `client_id=${clientId}&state=%00` }),
      );
    });

    it(`RFC 6749 §4.1.2.1 (${where}): GET and POST /oauth/authorize with a NUL in a parameter`, async () => {
      const q = `client_id=${clientId}&redirect_uri=${encodeURIComponent('https://rp.example/cb')}&response_type=code&scope=openid&state=x%00y`;
      await engineAnswer(await fetch(s.url(`${base}/oauth/authorize?${q}`), { redirect: 'manual' }));
      await engineAnswer(await fetch(s.url(`${base}/oauth/authorize`), { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: q }));
    });
  }

  it('the UI\'s own forms keep their check: a NUL in the device page\'s user_code gets the UI\'s error page', async () => {
    const res = await fetch(s.url('/device?user_code=AB%00CD'));
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('The request holds characters that no valid request holds');
  });
});
