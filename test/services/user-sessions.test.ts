import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listUserSessions, liveSessionsOf } from '../../src/services/users.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

/**
 * The admin API's and the CLI's "live sessions" of a user go by the cookie's own rule (isSessionLive): a session idle
 * for sessionIdleTtl is as dead as one past sessionTtl, so it is not listed as live (it used to be, until its absolute
 * expiry).
 */
describe('listUserSessions: live by isSessionLive', () => {
  let t: TestLatchkey;
  const clock = Date.UTC(2031, 3, 1);
  const now = Math.floor(clock / 1000);
  beforeAll(async () => {
    t = await openTestLatchkey({ sessionIdleTtl: 3600, sessionTtl: 86400 }, { clock: () => clock });
  });
  afterAll(() => t.close());

  it('an ended, expired or idle session is left out; one idle a second less than sessionIdleTtl is listed', async () => {
    const sub = await t.user('ida', 'ida-password-1');
    const session = (sid: string, lastSeenAt: number, expiresAt: number, endedAt: number | null = null) =>
      t.ctx.store.insertSession({ tenantId: t.ctx.tenant.id, hash: 'h-' + sid, sid, subject: sub, authTime: now - 7200, acr: null, createdAt: now - 7200, lastSeenAt, expiresAt, endedAt, data: {} });
    await session('live', now - 3599, now + 600);
    await session('idle', now - 3600, now + 600);
    await session('expired', now - 10, now);
    await session('ended', now - 10, now + 600, now - 5);
    expect((await listUserSessions(t.ctx, sub)).map((s) => s.sid)).toEqual(['live']); // admin API
    expect((await liveSessionsOf(t.ctx, sub)).map((s) => s.sid)).toEqual(['live']); // `latchkey session list`
  });
});
