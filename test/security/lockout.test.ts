import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminToken } from '../../src/services/management-tokens.js';
import { unlockUser } from '../../src/services/users.js';
import { Agent } from '../helpers/agent.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';

describe('account lockout (docs/security.md)', () => {
  let s: TestServer;
  let clock = Date.now();
  let admin: string;
  let clientId: string;
  const subs: Record<string, string> = {};

  beforeAll(async () => {
    s = await startTestServer({ loginRateLimit: 3, loginRateLimitPerIp: 1000, loginRateWindow: 300 }, { clock: () => clock });
    admin = (await createAdminToken(s.lk, { name: 'lockout-test' })).token;
    clientId = (await s.client({ redirect_uris: [CB], skip_consent: true })).clientId;
    for (const u of ['erin', 'frank', 'gina']) subs[u] = await s.user(u, `${u}-password`);
  });
  afterAll(() => s.close());

  const authUrl = () => `${s.issuer}/oauth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'x' })}`;

  /** Fail `n` sign-ins for `user`, then try the right password: the final response. */
  async function lockThenTry(user: string, n: number) {
    const agent = new Agent(s.issuer);
    let page = await agent.follow(authUrl());
    for (let i = 0; i < n; i++) page = await agent.login(page, user, 'wrong-password');
    return { agent, page, final: await agent.login(page, user, `${user}-password`) };
  }

  it('after loginRateLimit failed sign-ins the account is locked: even the right password gets 429 with Retry-After', async () => {
    const { final } = await lockThenTry('erin', 3);
    expect(final.status).toBe(429);
    expect(Number(final.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(final.location).toBeUndefined();
    await s.lk.audit.flush();
    expect((await s.lk.store.listAuditEvents('default', { type: 'login.locked', limit: 10 })).length).toBeGreaterThan(0);
  });

  it('a lock is not forever: it ends with loginRateWindow', async () => {
    const { agent, page } = await lockThenTry('frank', 3);
    clock += 301_000;
    const again = await agent.login(page, 'frank', 'frank-password');
    expect(again.location).toMatch(/^https:\/\/rp\.example\/cb\?code=/);
  });

  it('an operator unlocks a locked account at once (admin API POST /users/{sub}/unlock)', async () => {
    const { agent, page, final } = await lockThenTry('gina', 3);
    expect(final.status).toBe(429);
    const res = await fetch(s.url(`/admin/tenants/default/users/${subs.gina}/unlock`), { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { sub: string }).sub).toBe(subs.gina);
    const again = await agent.login(page, 'gina', 'gina-password');
    expect(again.location).toMatch(/^https:\/\/rp\.example\/cb\?code=/);
    await s.lk.audit.flush();
    const actions = await s.lk.store.listAuditEvents('default', { type: 'admin.action', limit: 10 });
    expect(actions.some((e) => e.detail.operation === 'unlockUser' && e.subject === subs.gina)).toBe(true);
  });

  it('the unlock service (latchkey user unlock) does the same; an unknown user is not found', async () => {
    const { agent, page } = await lockThenTry('erin', 3);
    await unlockUser(s.ctx, subs.erin!);
    expect((await agent.login(page, 'erin', 'erin-password')).location).toMatch(/code=/);
    await expect(unlockUser(s.ctx, 'nobody')).rejects.toThrow(/not found/);
  });
});
