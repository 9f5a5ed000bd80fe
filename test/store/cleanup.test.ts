import { describe, expect, it } from 'vitest';
import { CleanupJob } from '../../src/ops/cleanup.js';
import { LatchkeyMetrics } from '../../src/ops/metrics.js';
import type { OpenedStore } from '../../src/store/open.js';
import { freshTestStore } from '../helpers/database.js';

/**
 * The cleanup job (issue 8): dead rows go in bounded batches, live ones stay, and of many processes (or instances
 * on one PostgreSQL database) one runs each sweep. Runs on SQLite and on PostgreSQL (the second pass).
 */
const NOW = 1_800_000_000;
const GRACE = 3600;
const RETENTION = 7 * 86400;

const freshStore = (): Promise<OpenedStore> => freshTestStore('cleanup');

const job = (store: OpenedStore, opts: { batchSize?: number; intervalS?: number; now?: number; metrics?: LatchkeyMetrics } = {}) =>
  new CleanupJob(store, () => (opts.now ?? NOW) * 1000, { intervalS: opts.intervalS ?? 300, graceS: GRACE, retentionS: RETENTION, batchSize: opts.batchSize }, opts.metrics ?? new LatchkeyMetrics());

async function count(store: OpenedStore, table: string): Promise<number> {
  // Through the store's own connection: the test database may be either dialect.
  const db = (store as unknown as { db: import('kysely').Kysely<any> }).db;
  const r = await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

describe(`cleanup (${process.env.LATCHKEY_TEST_DATABASE_URL ? 'postgres' : 'sqlite'})`, () => {
  it('deletes expired codes, tickets, tokens, sessions (expired or ended), rate-limit windows and finished logout deliveries; keeps live rows and rows within the grace period', async () => {
    const store = await freshStore();
    const T = 'default';
    const old = NOW - GRACE - 10; // dead for longer than the grace period
    const recent = NOW - 10; // dead, but within the grace period
    const live = NOW + 600;
    for (const [h, exp] of [['c-old', old], ['c-recent', recent], ['c-live', live]] as const) {
      await store.insertCode({ tenantId: T, hash: h, clientId: 'c', grantId: 'g', expiresAt: exp, consumedAt: null, data: {} });
      await store.insertTicket({ tenantId: T, hash: 't' + h, clientId: 'c', expiresAt: exp, consumedAt: null, data: {} });
      await store.insertToken({
        tenantId: T, hash: 'k' + h, kind: 'refresh_token', clientId: 'c', subject: 's', scope: [], grantId: 'g',
        issuedAt: NOW - 100_000, expiresAt: exp, revokedAt: null, consumedAt: NOW - 50_000, data: {},
      });
    }
    // Another tenant's expired token goes too: the sweep is global.
    await store.insertToken({ tenantId: 'other', hash: 'k-other', kind: 'access_token', clientId: 'c', subject: null, scope: [], grantId: null, issuedAt: 1, expiresAt: old, revokedAt: null, consumedAt: null, data: {} });
    const session = (hash: string, expiresAt: number, endedAt: number | null) =>
      store.insertSession({ tenantId: T, hash, sid: 'sid-' + hash, subject: 's', authTime: 1, acr: null, createdAt: 1, lastSeenAt: 1, expiresAt, endedAt, data: {} });
    await session('s-expired', old, null);
    await session('s-ended', live + 86400, old);
    await session('s-ended-recently', live + 86400, recent);
    await session('s-live', live, null);
    await store.hit('login:acct:x', NOW - 600, NOW - 300); // a window that is over
    await store.hit('login:acct:x', NOW - 100, NOW + 200); // the current window
    const delivery = (id: string, createdAt: number, nextAttemptAt: number | null, deliveredAt: number | null) =>
      store.insertDelivery({ tenantId: T, id, clientId: 'c', uri: 'https://rp.example/bc', logoutToken: 'x', attempts: 1, nextAttemptAt, deliveredAt, lastError: null, createdAt });
    await delivery('d-delivered-old', NOW - RETENTION - 10, null, NOW - RETENTION - 5);
    await delivery('d-given-up-old', NOW - RETENTION - 10, null, null);
    await delivery('d-delivered-recent', NOW - 100, null, NOW - 90);
    await delivery('d-pending-old', NOW - RETENTION - 10, NOW + 60, null); // still being retried: kept

    for (const [h, exp] of [['p-old', old], ['p-live', live]] as const) {
      await store.insertPushedRequest({ tenantId: T, hash: h, clientId: 'c', expiresAt: exp, consumedAt: null, data: {} });
      await store.insertDeviceCode({
        tenantId: T, hash: 'dc' + h, userCodeHash: 'uc' + h, clientId: 'c', scope: [], status: 'pending', interval: 5, lastPolledAt: null,
        createdAt: exp - 600, expiresAt: exp, subject: null, decidedAt: null, consumedAt: null, data: {},
      });
    }

    // (The store also drops expired entries itself now and then, when assertions arrive; the sweep does not wait for that.)
    expect(await store.rememberJti(T, 'client_assertion', 'jti-live', live, NOW)).toBe(true);
    expect(await store.rememberJti(T, 'client_assertion', 'jti-old', old, old - 60)).toBe(true);

    // Grants: 'g' is kept by its live and recent tokens (and codes); one nothing refers to any more goes, with the
    // tokens and sessions judged by the same cutoff in the same sweep (its only token and its session are dead).
    const grant = (id: string, sid: string | null) =>
      store.insertGrant({ tenantId: T, id, clientId: 'c', subject: 's', scope: [], createdAt: NOW - 100_000, revokedAt: null, data: {}, sid });
    await grant('g', null);
    await grant('g-dead', 'sid-s-expired');
    await store.insertToken({ tenantId: T, hash: 'k-g-dead', kind: 'access_token', clientId: 'c', subject: 's', scope: [], grantId: 'g-dead', issuedAt: 1, expiresAt: old, revokedAt: null, consumedAt: null, data: {} });

    const metrics = new LatchkeyMetrics();
    const deleted = await job(store, { metrics }).sweep();
    expect(deleted).toEqual({
      authorization_codes: 1, tickets: 1, pushed_requests: 1, device_codes: 1, jti_replay_cache: 1, rate_limits: 1, sessions: 2, tokens: 3,
      logout_deliveries: 2,
      audit_events: 0, // this job has no auditRetention: events are kept
      grants: 1,
    });
    expect(metrics.registry.render()).toMatch(/^latchkey_cleanup_deleted_rows_total\{table="grants"\} 1$/m);
    expect(await store.findGrant(T, 'g')).toBeDefined();
    expect(await store.findGrant(T, 'g-dead')).toBeUndefined();

    expect((await store.consumeCode(T, 'c-old', NOW))).toBeUndefined();
    expect((await store.consumeCode(T, 'c-recent', NOW))?.code.hash).toBe('c-recent');
    expect((await store.consumeCode(T, 'c-live', NOW))?.firstUse).toBe(true);
    expect(await store.findTicket(T, 'tc-old')).toBeUndefined();
    expect(await store.findTicket(T, 'tc-recent')).toBeDefined();
    expect(await store.findTicket(T, 'tc-live')).toBeDefined();
    expect(await store.findToken(T, 'kc-old')).toBeUndefined();
    expect(await store.findToken('other', 'k-other')).toBeUndefined();
    expect(await store.findToken(T, 'kc-recent')).toBeDefined(); // a replay within the grace period is still recognised
    expect(await store.findToken(T, 'kc-live')).toBeDefined();
    expect(await store.findSession(T, 's-expired')).toBeUndefined();
    expect(await store.findSession(T, 's-ended')).toBeUndefined();
    expect(await store.findSession(T, 's-ended-recently')).toBeDefined();
    expect(await store.findSession(T, 's-live')).toBeDefined();
    expect(await store.count('login:acct:x', NOW - 600)).toBe(0);
    expect(await store.count('login:acct:x', NOW - 100)).toBe(1);
    expect((await store.listDeliveries(T)).map((d) => d.id).sort()).toEqual(['d-delivered-recent', 'd-pending-old']);
    expect(await store.consumePushedRequest(T, 'p-old', NOW)).toBeUndefined();
    expect(await store.consumePushedRequest(T, 'p-live', NOW)).toBeDefined();
    expect(await store.findDeviceCodeByUserCode(T, 'ucp-old')).toBeUndefined();
    expect(await store.findDeviceCodeByUserCode(T, 'ucp-live')).toBeDefined();
    expect(await store.rememberJti(T, 'client_assertion', 'jti-live', live, NOW)).toBe(false); // still remembered: a replay
    expect(await count(store, 'jti_replay_cache')).toBe(1);

    // Nothing left to do: a second sweep deletes nothing.
    expect(Object.values(await job(store).sweep()).every((n) => n === 0)).toBe(true);
  });

  it('sessions idle past their tenant\'s sessionIdleTtl and the grace go too, in bounded batches; those within it, and a tenant the job is not told of, stay', async () => {
    const store = await freshStore();
    const session = (tenantId: string, hash: string, lastSeenAt: number) =>
      store.insertSession({ tenantId, hash, sid: 'sid-' + hash, subject: 's', authTime: 1, acr: null, createdAt: 1, lastSeenAt, expiresAt: NOW + 86400, endedAt: null, data: {} });
    const idleTtls = [{ tenantId: 'default', idleTtl: 7200 }, { tenantId: 'short', idleTtl: 600 }];
    for (let i = 0; i < 5; i++) await session('default', `d-idle-${i}`, NOW - 7200 - GRACE - 1);
    await session('default', 'd-within-grace', NOW - 7200 - GRACE + 1); // idle, but not for the grace as well
    await session('default', 'd-live', NOW - 60);
    await session('short', 's-idle', NOW - 600 - GRACE - 1); // this tenant's shorter idle lifetime decides
    await session('short', 's-within-grace', NOW - 600 - GRACE + 1);
    await session('untold', 'u-idle', 1); // no idle lifetime named for it: kept until it expires
    const j = new CleanupJob(store, () => NOW * 1000, { intervalS: 300, graceS: GRACE, retentionS: RETENTION, batchSize: 2, sessionIdleTtls: async () => idleTtls });
    expect(await store.purgeIdleSessions('default', NOW - 7200 - GRACE, 2)).toBe(2); // one statement deletes at most the limit
    expect((await j.sweep()).sessions).toBe(4);
    const left = async (tenantId: string, hashes: string[]) => (await Promise.all(hashes.map((h) => store.findSession(tenantId, h)))).map((r) => r?.hash);
    expect(await left('default', ['d-idle-0', 'd-idle-4', 'd-within-grace', 'd-live'])).toEqual([undefined, undefined, 'd-within-grace', 'd-live']);
    expect(await left('short', ['s-idle', 's-within-grace'])).toEqual([undefined, 's-within-grace']);
    expect(await left('untold', ['u-idle'])).toEqual(['u-idle']);
    expect((await j.sweep()).sessions).toBe(0);
  });

  it('a grant of a session swept as idle goes in the same sweep when nothing else keeps it, not at the session\'s absolute end', async () => {
    const store = await freshStore();
    const T = 'default';
    const sweepAt = (now: number) =>
      new CleanupJob(store, () => now * 1000, { intervalS: 300, graceS: GRACE, retentionS: RETENTION, sessionIdleTtls: async () => [{ tenantId: T, idleTtl: 7200 }] }).sweep();
    await store.insertSession({ tenantId: T, hash: 'h', sid: 'sid-idle', subject: 's', authTime: 1, acr: null, createdAt: NOW - 100, lastSeenAt: NOW - 60, expiresAt: NOW + 14 * 86400, endedAt: null, data: {} });
    await store.insertGrant({ tenantId: T, id: 'g-session', clientId: 'c', subject: 's', scope: [], createdAt: NOW - 100_000, revokedAt: null, data: {}, sid: 'sid-idle' });
    await store.insertGrant({ tenantId: T, id: 'g-kept', clientId: 'c', subject: 's', scope: [], createdAt: NOW - 100_000, revokedAt: null, data: {}, sid: 'sid-idle' });
    const later = NOW + 7200 + GRACE + 60;
    await store.insertToken({ tenantId: T, hash: 'k-kept', kind: 'refresh_token', clientId: 'c', subject: 's', scope: [], grantId: 'g-kept', issuedAt: NOW, expiresAt: later + 86400, revokedAt: null, consumedAt: null, data: {} });
    // While the session is live, the sweep keeps both grants and schedules them for its absolute end.
    expect((await sweepAt(NOW)).grants).toBe(0);
    const swept = await sweepAt(later);
    expect(swept.sessions).toBe(1);
    expect(swept.grants).toBe(1);
    expect(await store.findGrant(T, 'g-session')).toBeUndefined();
    expect(await store.findGrant(T, 'g-kept')).toBeDefined(); // its live refresh token keeps it
  });

  it('deletes in bounded batches until the backlog is gone', async () => {
    const store = await freshStore();
    for (let i = 0; i < 23; i++) {
      await store.insertCode({ tenantId: 'default', hash: `old-${i}`, clientId: 'c', grantId: 'g', expiresAt: NOW - GRACE - 1, consumedAt: null, data: {} });
    }
    await store.insertCode({ tenantId: 'default', hash: 'live', clientId: 'c', grantId: 'g', expiresAt: NOW + 60, consumedAt: null, data: {} });
    expect(await store.purgeExpired('authorization_codes', NOW - GRACE, 5)).toBe(5); // one statement deletes at most the limit
    const j = job(store, { batchSize: 5 });
    expect((await j.sweep()).authorization_codes).toBe(18);
    expect(await count(store, 'authorization_codes')).toBe(1);
  });

  it('the cleanup lease: of many concurrent takers exactly one gets it; it is free again once it expires', async () => {
    const store = await freshStore();
    const takers = await Promise.all(Array.from({ length: 20 }, (_, i) => store.acquireLease('cleanup', `p${i}`, NOW, NOW + 300)));
    expect(takers.filter(Boolean)).toHaveLength(1);
    expect(await store.acquireLease('cleanup', 'late', NOW + 299, NOW + 599)).toBe(false);
    const again = await Promise.all(Array.from({ length: 20 }, (_, i) => store.acquireLease('cleanup', `q${i}`, NOW + 300, NOW + 600)));
    expect(again.filter(Boolean)).toHaveLength(1);
    // Leases are independent by name.
    expect(await store.acquireLease('other-job', 'p0', NOW, NOW + 10)).toBe(true);
  });

  it('one sweep per interval across processes: of three jobs ticking at once, one sweeps; the next interval another may', async () => {
    const store = await freshStore();
    await store.insertCode({ tenantId: 'default', hash: 'old', clientId: 'c', grantId: 'g', expiresAt: NOW - GRACE - 1, consumedAt: null, data: {} });
    const jobs = [job(store), job(store), job(store)];
    const outcomes = await Promise.all(jobs.map((j) => j.runIfLeader()));
    expect(outcomes.filter((o) => o !== undefined)).toHaveLength(1);
    expect(outcomes.find((o) => o)!.authorization_codes).toBe(1);
    expect(await job(store, { now: NOW + 299 }).runIfLeader()).toBeUndefined();
    expect(await job(store, { now: NOW + 300 }).runIfLeader()).toBeDefined();
  });
});

describe(`audit retention (${process.env.LATCHKEY_TEST_DATABASE_URL ? 'postgres' : 'sqlite'})`, () => {
  const event = (id: string, atSeconds: number) => ({
    id, tenantId: 'default', at: atSeconds * 1000, type: 'token.issued' as const, clientId: 'c', subject: null, ip: null, resultCode: 'LK2001', detail: {},
  });

  it('audit events older than auditRetention are deleted, newer ones kept; auditRetention 0 keeps every event', async () => {
    const store = await freshStore();
    const DAY = 86400;
    await store.insertAuditEvents([event('a-old', NOW - 91 * DAY), event('a-older', NOW - 400 * DAY), event('a-new', NOW - 89 * DAY), event('a-now', NOW)]);
    const keepAll = new CleanupJob(store, () => NOW * 1000, { intervalS: 300, graceS: GRACE, retentionS: RETENTION, auditRetentionS: 0 }, new LatchkeyMetrics());
    expect((await keepAll.sweep()).audit_events).toBe(0);
    expect(await count(store, 'audit_events')).toBe(4);
    const ninetyDays = new CleanupJob(store, () => NOW * 1000, { intervalS: 300, graceS: GRACE, retentionS: RETENTION, auditRetentionS: 90 * DAY, batchSize: 1 }, new LatchkeyMetrics());
    expect((await ninetyDays.sweep()).audit_events).toBe(2);
    const left = await store.listAuditEvents('default', { limit: 10 });
    expect(left.map((e) => e.id).sort()).toEqual(['a-new', 'a-now']);
  });
});
