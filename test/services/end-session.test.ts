import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEventInput } from '../../src/audit/audit.js';
import { endBrowserSession, endUserSession } from '../../src/services/users.js';
import { ServiceError } from '../../src/services/errors.js';
import { createSession } from '../../src/ui/session.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

/*
 * endBrowserSession is the one way a browser session ends by logout (RP-initiated, admin API, CLI `session end`):
 * performLogout, then the `logout` audit event (docs/audit.md). These tests pin the rules every caller now shares.
 */
describe('endBrowserSession: a session ends and its logout is recorded, once', () => {
  let t: TestLatchkey;
  let sub: string;
  const recorded: AuditEventInput[] = [];
  const audit = { record: (e: AuditEventInput) => void recorded.push(e) };

  beforeAll(async () => {
    t = await openTestLatchkey();
    sub = await t.user('grace', 'grace-password');
  });
  afterAll(() => t?.close());

  it('OIDC RP-Initiated Logout §2: the session ends and one logout event names the user, the session, the RP and the address', async () => {
    recorded.length = 0;
    const { session } = await createSession(t.ctx, sub);
    const outcome = await endBrowserSession(t.ctx, audit, session.sid, { method: 'rp_initiated', clientId: 'rp-1', ip: '192.0.2.1' });
    expect(outcome).toMatchObject({ ended: true, subject: sub });
    expect(recorded).toEqual([{ tenantId: 'default', type: 'logout', clientId: 'rp-1', subject: sub, ip: '192.0.2.1', detail: { method: 'rp_initiated', sid: session.sid } }]);
    expect((await t.ctx.store.findSessionBySid('default', session.sid))?.endedAt).not.toBeNull();
  });

  it('an operator\'s session end records its source and no client; a session that already ended is not recorded again', async () => {
    recorded.length = 0;
    const { session } = await createSession(t.ctx, sub);
    expect((await endBrowserSession(t.ctx, audit, session.sid, { method: 'session_end', source: 'cli' })).ended).toBe(true);
    expect((await endBrowserSession(t.ctx, audit, session.sid, { method: 'session_end', source: 'cli' })).ended).toBe(false);
    expect(recorded).toEqual([{ tenantId: 'default', type: 'logout', clientId: null, subject: sub, ip: null, detail: { method: 'session_end', sid: session.sid, source: 'cli' } }]);
  });

  it('with a subject, only that user\'s session ends (admin API endUserSession answers 404 for anyone else\'s)', async () => {
    recorded.length = 0;
    const other = await t.user('heidi', 'heidi-password');
    const { session } = await createSession(t.ctx, sub);
    expect((await endBrowserSession(t.ctx, audit, session.sid, { method: 'session_end', source: 'admin_api' }, other)).ended).toBe(false);
    await expect(endUserSession(t.ctx, audit, other, session.sid)).rejects.toBeInstanceOf(ServiceError);
    await expect(endUserSession(t.ctx, audit, sub, 'x'.repeat(101))).rejects.toBeInstanceOf(ServiceError);
    expect(recorded).toEqual([]);
    expect((await t.ctx.store.findSessionBySid('default', session.sid))?.endedAt).toBeNull();
    await endUserSession(t.ctx, audit, sub, session.sid, '198.51.100.7');
    expect(recorded).toEqual([{ tenantId: 'default', type: 'logout', clientId: null, subject: sub, ip: '198.51.100.7', detail: { method: 'session_end', sid: session.sid, source: 'admin_api' } }]);
  });
});
