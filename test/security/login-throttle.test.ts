import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';

describe('login throttling under concurrency (OWASP Authentication Cheat Sheet: account lockout)', () => {
  let s: TestServer;
  let clientId: string;

  beforeAll(async () => {
    s = await startTestServer({ loginRateLimit: 3, loginRateLimitPerIp: 1000, loginRateWindow: 300 });
    clientId = (await s.client({ redirect_uris: [CB], skip_consent: true })).clientId;
    await s.user('hana', 'hana-password');
    await s.user('ivan', 'ivan-password');
  });
  afterAll(() => s.close());

  const authUrl = () => `${s.issuer}/oauth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'x' })}`;

  it('OWASP account lockout: concurrent wrong passwords get no more password checks than loginRateLimit', async () => {
    const agent = new Agent(s.issuer);
    const page = await agent.follow(authUrl());
    const action = Agent.formAction(page.html, '/login');
    const csrf = Agent.formValue(page.html, 'csrf')!;
    // All at once: each request must count before its (slow) password check, not after it.
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => agent.request(action, { form: { csrf, username: 'hana', password: `guess-${i}` } })),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((st) => st === 400)).toHaveLength(3); // wrong password: 400, a form has no HTTP challenge (RFC 9110 §15.5.2)
    expect(statuses.filter((st) => st === 429)).toHaveLength(9);
  });

  it('OWASP account lockout: successful sign-ins from one address do not count as failures of that address', async () => {
    const busy = await startTestServer({ loginRateLimit: 2, loginRateWindow: 300 });
    try {
      const id = (await busy.client({ redirect_uris: [CB], skip_consent: true })).clientId;
      const url = `${busy.issuer}/oauth/authorize?${new URLSearchParams({ client_id: id, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'x' })}`;
      for (let i = 0; i < 4; i++) await busy.user(`u${i}`, `u${i}-password`);
      // Four users behind one address sign in: more than the limit of 2, yet none is refused.
      for (let i = 0; i < 4; i++) expect((await new Agent(busy.issuer).authorize(url, `u${i}`, `u${i}-password`)).searchParams.get('code')).toBeTruthy();
      // Failures still count: two wrong passwords, then the address is refused even for a right one.
      const agent = new Agent(busy.issuer);
      let page = await agent.follow(url);
      for (let i = 0; i < 2; i++) page = await agent.login(page, `u${i}`, 'wrong-password');
      expect((await agent.login(page, 'u3', 'u3-password')).status).toBe(429);
    } finally {
      await busy.close();
    }
  });

  it('OWASP account lockout: the right password after fewer than loginRateLimit failures still signs in', async () => {
    const agent = new Agent(s.issuer);
    let page = await agent.follow(authUrl());
    for (let i = 0; i < 2; i++) page = await agent.login(page, 'ivan', 'wrong-password');
    expect((await agent.login(page, 'ivan', 'ivan-password')).location).toMatch(/^https:\/\/rp\.example\/cb\?code=/);
  });
});

describe('user-code throttling under concurrency (RFC 8628 §5.1)', () => {
  it('RFC 8628 §5.1: concurrent wrong user codes get no more lookups than userCodeRateLimit', async () => {
    const s = await startTestServer({ userCodeRateLimit: 3 });
    try {
      await s.user('jo', 'jo-password');
      const agent = new Agent(s.issuer);
      const login = await agent.follow('/device');
      const codePage = await agent.follow(Agent.formAction(login.html, '/device/login'), {
        form: { csrf: Agent.formValue(login.html, 'csrf')!, user_code: '', username: 'jo', password: 'jo-password' },
      });
      const csrf = Agent.formValue(codePage.html, 'csrf')!;
      const guesses = ['BCDF', 'BCDG', 'BCDH', 'BCDJ', 'BCDK', 'BCDL', 'BCDM', 'BCDN', 'BCDP', 'BCDQ', 'BCDR', 'BCDS'];
      const answers = await Promise.all(guesses.map((g) => agent.request('/device', { form: { csrf, user_code: `${g}-GHJK` } })));
      const statuses = answers.map((a) => a.status);
      // At most userCodeRateLimit codes are looked up. Each attempt counts against the user and the address, and
      // concurrent attempts may reach the two counters in different orders, so fewer may pass; never more.
      const looked = statuses.filter((st) => st === 400).length;
      expect(looked).toBeLessThanOrEqual(3);
      expect(statuses.filter((st) => st === 429)).toHaveLength(12 - looked);
    } finally {
      await s.close();
    }
  });
});
