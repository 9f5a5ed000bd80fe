import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

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
});
