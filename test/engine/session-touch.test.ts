import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, readSession } from '../../src/ui/session.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

/**
 * A browser session in use does not go idle: each use within the idle lifetime keeps it live, however short
 * sessionIdleTtl is configured. lastSeenAt is written at most once a minute, and at least twice per idle lifetime
 * (sessionTouchDue); with the fixed minute alone, a 30 s idle lifetime ended every session 30 s after sign-in.
 */
describe('session idle lifetime shorter than the touch interval', () => {
  let t: TestLatchkey;
  let clock = Date.UTC(2031, 4, 1);
  beforeAll(async () => {
    t = await openTestLatchkey({ sessionIdleTtl: 30 }, { clock: () => clock });
  });
  afterAll(() => t.close());

  it('used every 20 s, a session with a 30 s idle lifetime stays live; left alone for 30 s it has ended', async () => {
    const sub = await t.user('tess', 'tess-password-1');
    const { cookie } = await createSession(t.ctx, sub);
    for (let i = 0; i < 5; i++) {
      clock += 20_000;
      expect(await readSession(t.ctx, cookie), `use ${i + 1}`).toBeDefined();
    }
    clock += 30_000;
    expect(await readSession(t.ctx, cookie)).toBeUndefined();
  });
});
