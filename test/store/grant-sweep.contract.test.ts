import type { Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { OpenedStore } from '../../src/store/open.js';
import { MAX_AUTHORIZATION_CODE_TTL, type GrantRecord, type TokenRecord } from '../../src/store/types.js';
import { freshTestStore } from '../helpers/database.js';
import { backend } from '../helpers/store-contract.js';

/**
 * The store contract for the grant sweep (GrantSweepStore): a grant is kept while a token, a session of its sid or
 * (for MAX_AUTHORIZATION_CODE_TTL) the code written with it is kept; a dead one is deleted; the sweep visits only
 * grants past their sweep_after. Each test has its own database: the sweep is global, across tenants.
 */

const NOW = 1_800_000_000;
const GRACE = 3600;
const CUTOFF = NOW - GRACE;
const LONG_AGO = NOW - 40 * 86400;
const T = 'default';

const freshStore = (): Promise<OpenedStore> => freshTestStore('grant-sweep');

const grant = (id: string, extra: Partial<GrantRecord> = {}): GrantRecord => ({
  tenantId: T, id, clientId: 'c1', subject: 'alice', scope: ['openid'], createdAt: LONG_AGO, revokedAt: null, data: {}, ...extra,
});

const token = (hash: string, grantId: string, expiresAt: number, extra: Partial<TokenRecord> = {}): TokenRecord => ({
  tenantId: T, hash, kind: 'access_token', clientId: 'c1', subject: 'alice', scope: ['openid'], grantId,
  issuedAt: LONG_AGO, expiresAt, revokedAt: null, consumedAt: null, data: {}, ...extra,
});

const session = (store: OpenedStore, hash: string, sid: string, expiresAt: number, endedAt: number | null) =>
  store.insertSession({ tenantId: T, hash, sid, subject: 'alice', authTime: LONG_AGO, acr: null, createdAt: LONG_AGO, lastSeenAt: NOW - 60, expiresAt, endedAt, data: {} });

/** Sweep at `cutoff` in batches of `limit` until a batch comes back short (as the cleanup job does). */
async function sweepAll(store: OpenedStore, cutoff: number, limit = 500): Promise<{ examined: number; deleted: number }> {
  const sum = { examined: 0, deleted: 0 };
  for (;;) {
    const r = await store.sweepGrants(cutoff, limit);
    expect(r.examined).toBeLessThanOrEqual(limit);
    sum.examined += r.examined;
    sum.deleted += r.deleted;
    if (r.examined < limit) return sum;
  }
}

const exists = async (store: OpenedStore, id: string, tenantId = T) => (await store.findGrant(tenantId, id)) !== undefined;

describe(`store contract, grant sweep (${backend})`, () => {
  it('a grant with a live token, a kept consumed refresh token, a token within the grace, an unexpired code or a live session (sid) is kept; a dead one is deleted', async () => {
    const store = await freshStore();
    // A live access token.
    await store.insertGrant(grant('g-live-token'));
    await store.insertToken(token('t-live', 'g-live-token', NOW + 100));
    // RFC 9700 §4.14.2: a rotated refresh token is kept until its family's end (consumeToken's keepUntil), since
    // presenting it again revokes the family; its grant must still be there to be revoked. Its own expiry is past.
    await store.insertGrant(grant('g-rotated'));
    await store.insertToken(token('t-rotated', 'g-rotated', LONG_AGO + 86400, { kind: 'refresh_token' }));
    expect(await store.consumeToken(T, 't-rotated', NOW - 7200, NOW + 20 * 86400)).toBeDefined();
    // Expired, but within the cleanup's grace: the token row is still kept, so is its grant.
    await store.insertGrant(grant('g-grace'));
    await store.insertToken(token('t-grace', 'g-grace', NOW - 10));
    // RFC 6749 §4.1.2: a code not yet redeemed (made a minute ago) must find its grant.
    await store.insertGrantWithCode(grant('g-code', { createdAt: NOW - 60 }), {
      tenantId: T, hash: 'code-1', clientId: 'c1', grantId: 'g-code', expiresAt: NOW, consumedAt: null, data: {},
    });
    // OIDC Back-Channel Logout §2.5: the session's clients are found through its grants; the session outlives the
    // grant's tokens (expired long ago).
    await store.insertGrant(grant('g-session', { sid: 'sid-live' }));
    await store.insertToken(token('t-session', 'g-session', LONG_AGO + 3600));
    await session(store, 'sh-live', 'sid-live', NOW + 86400, null);
    // Dead: its only token expired long ago, no session.
    await store.insertGrant(grant('g-dead'));
    await store.insertToken(token('t-dead', 'g-dead', LONG_AGO + 3600));
    // Dead: nothing ever referred to it (a code never redeemed, long gone).
    await store.insertGrant(grant('g-empty'));
    // Dead: its session ended (and was logged out) long ago; an expired one likewise.
    await store.insertGrant(grant('g-ended', { sid: 'sid-ended' }));
    await session(store, 'sh-ended', 'sid-ended', NOW + 86400, LONG_AGO + 100);
    await store.insertGrant(grant('g-expired-session', { sid: 'sid-expired' }));
    await session(store, 'sh-expired', 'sid-expired', LONG_AGO + 86400, null);
    // Another tenant's dead grant goes too: the sweep is global.
    await store.insertGrant(grant('g-other', { tenantId: 'other' }));

    const r = await sweepAll(store, CUTOFF);
    expect(r.deleted).toBe(5);
    for (const kept of ['g-live-token', 'g-rotated', 'g-grace', 'g-code', 'g-session']) expect(await exists(store, kept), kept).toBe(true);
    for (const gone of ['g-dead', 'g-empty', 'g-ended', 'g-expired-session']) expect(await exists(store, gone), gone).toBe(false);
    expect(await exists(store, 'g-other', 'other')).toBe(false);

    // The kept ones are not visited again until what keeps them could have ended: the sweep reads past nothing.
    expect(await store.sweepGrants(CUTOFF, 500)).toEqual({ examined: 0, deleted: 0 });
    // Once each has ended (plus the grace), it goes: the rotated token's family ends last.
    expect((await sweepAll(store, NOW + 2 * 86400)).deleted).toBe(4);
    expect(await exists(store, 'g-rotated')).toBe(true);
    expect((await sweepAll(store, NOW + 21 * 86400)).deleted).toBe(1);
    expect(await exists(store, 'g-rotated')).toBe(false);
  });

  it('what is written under a grant after a sweep scheduled it keeps it: no writer has to touch the grant row', async () => {
    const store = await freshStore();
    await store.insertGrant(grant('g'));
    await store.insertToken(token('t1', 'g', NOW + 100, { kind: 'refresh_token' }));
    expect(await store.sweepGrants(CUTOFF, 500)).toEqual({ examined: 1, deleted: 0 });
    // A refresh issues a token that outlives the first; a sliding idle expiry moves a token's end (extendToken).
    await store.insertToken(token('t2', 'g', NOW + 5000));
    await store.extendToken(T, 't1', NOW + 9000);
    expect(await store.sweepGrants(NOW + 200, 500)).toEqual({ examined: 1, deleted: 0 });
    expect(await store.sweepGrants(NOW + 6000, 500)).toEqual({ examined: 0, deleted: 0 }); // rescheduled to t1's new end
    expect(await exists(store, 'g')).toBe(true);
    expect(await store.sweepGrants(NOW + 9001, 500)).toEqual({ examined: 1, deleted: 1 });
    // A session renewed in place (renewSession) likewise.
    await store.insertGrant(grant('gs', { sid: 'sid-1' }));
    await session(store, 'sh-1', 'sid-1', NOW + 100, null);
    expect(await store.sweepGrants(CUTOFF, 500)).toEqual({ examined: 1, deleted: 0 });
    await store.renewSession(T, 'sh-1', { hash: 'sh-2', authTime: NOW, acr: null, lastSeenAt: NOW, expiresAt: NOW + 86400, data: {} });
    expect(await store.sweepGrants(NOW + 200, 500)).toEqual({ examined: 1, deleted: 0 });
    expect(await exists(store, 'gs')).toBe(true);
  });

  it('bounded: each call visits at most its limit of due grants; the live ones are rescheduled, so a backlog is worked off once', async () => {
    const store = await freshStore();
    for (let i = 0; i < 7; i++) await store.insertGrant(grant(`dead-${i}`));
    for (let i = 0; i < 5; i++) {
      await store.insertGrant(grant(`live-${i}`));
      await store.insertToken(token(`t-${i}`, `live-${i}`, NOW + 86400));
    }
    const r = await sweepAll(store, CUTOFF, 3);
    expect(r).toEqual({ examined: 12, deleted: 7 });
    expect(await store.sweepGrants(CUTOFF, 3)).toEqual({ examined: 0, deleted: 0 });
  });

  it.runIf(backend === 'postgres')('PostgreSQL: a grant a token request holds (findGrantLocked) is skipped, never waited for, and what the request issues under it keeps it', async () => {
    const store = await freshStore();
    await store.insertGrant(grant('g-held')); // dead by its rows: nothing refers to it yet
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const request = store.transaction(async (tx) => {
      expect(await tx.findGrantLocked(T, 'g-held')).toBeDefined();
      locked();
      await released;
      await tx.insertToken(token('t-new', 'g-held', NOW + 3600));
    });
    await isLocked;
    // Waiting here for the request would hang this test: the sweep must skip the held row instead.
    expect(await store.sweepGrants(CUTOFF, 500)).toEqual({ examined: 0, deleted: 0 });
    release();
    await request;
    expect(await store.sweepGrants(CUTOFF, 500)).toEqual({ examined: 1, deleted: 0 });
    expect(await exists(store, 'g-held')).toBe(true);
  });

  it('a consumed code presented again after its grant was swept finds no grant to revoke, and revoking the missing grant is harmless', async () => {
    const store = await freshStore();
    await store.insertGrantWithCode(grant('g-c'), { tenantId: T, hash: 'code-x', clientId: 'c1', grantId: 'g-c', expiresAt: LONG_AGO + 60, consumedAt: null, data: {} });
    expect((await store.consumeCode(T, 'code-x', LONG_AGO + 10))?.firstUse).toBe(true);
    expect((await sweepAll(store, CUTOFF)).deleted).toBe(1); // codes are purged by their own target; this one not yet
    const again = await store.consumeCode(T, 'code-x', NOW);
    expect(again?.firstUse).toBe(false);
    expect(await store.findGrant(T, again!.code.grantId)).toBeUndefined();
    await store.revokeGrant(T, again!.code.grantId, NOW); // what the token endpoint does on a reused code (RFC 6749 §4.1.2)
  });

  it('a grant written without sweep_after (by an older instance during an upgrade: the column default 0) is not deleted while its code may be unredeemed', async () => {
    const store = await freshStore();
    const db = (store as unknown as { db: Kysely<any> }).db;
    await db.insertInto('grants').values({ tenant_id: T, id: 'g-old-writer', client_id: 'c1', subject: 'alice', scope: 'openid', created_at: NOW - 30, revoked_at: null, data: '{}', sid: null }).execute();
    await store.insertCode({ tenantId: T, hash: 'code-old', clientId: 'c1', grantId: 'g-old-writer', expiresAt: NOW + 30, consumedAt: null, data: {} });
    expect(await store.sweepGrants(NOW + 60, 500)).toEqual({ examined: 1, deleted: 0 });
    expect(await exists(store, 'g-old-writer')).toBe(true);
    // Rescheduled to the end of the code window: not visited again before it.
    expect(await store.sweepGrants(NOW - 30 + MAX_AUTHORIZATION_CODE_TTL, 500)).toEqual({ examined: 0, deleted: 0 });
    expect(await store.sweepGrants(NOW - 30 + MAX_AUTHORIZATION_CODE_TTL + 1, 500)).toEqual({ examined: 1, deleted: 1 });
  });
});
