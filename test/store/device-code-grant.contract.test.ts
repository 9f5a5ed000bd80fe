import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { migrations } from '../../src/store/migrations/index.js';
import { openStore, type OpenedStore } from '../../src/store/open.js';
import type { DeviceCodeRecord } from '../../src/store/types.js';
import { dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';
import { backend, id, useContractStore } from '../helpers/store-contract.js';

/**
 * A redeemed device code records the grant its redemption made (migration 0013_device_code_grant), so a second
 * redemption can revoke that grant. On SQLite and (second pass) PostgreSQL.
 */
const NOW = 1_700_000_000;
const RACERS = 50;

const device = (tenantId: string, hash: string, userCodeHash: string): DeviceCodeRecord => ({
  tenantId, hash, userCodeHash, clientId: 'tv', scope: ['openid'], status: 'pending', interval: 5, lastPolledAt: null,
  createdAt: NOW, expiresAt: NOW + 600, subject: null, decidedAt: null, consumedAt: null, data: {},
});

describe(`store contract: the grant a device code's redemption made (${backend})`, () => {
  const contract = useContractStore();
  let store: OpenedStore;
  let A: string;
  let B: string;
  beforeEach(() => {
    ({ store, A, B } = contract);
  });

  it(`consumeDeviceCode records the grant in its one conditional statement: ${RACERS} racers, one winner, whose grant the row keeps`, async () => {
    const d = device(A, id('dc'), id('uc'));
    await store.insertDeviceCode(d);
    await store.decideDeviceCode(A, d.userCodeHash, { status: 'approved', subject: 'alice', data: {} }, NOW);
    expect((await store.findDeviceCode(A, d.hash))?.grantId).toBeUndefined(); // none until redeemed
    const grants = Array.from({ length: RACERS }, (_, i) => `grant-${i}`);
    const results = await Promise.all(grants.map((g) => store.consumeDeviceCode(A, d.hash, NOW + 2, g)));
    const winners = results.filter((r) => r !== undefined);
    expect(winners).toHaveLength(1);
    const winner = winners[0]!;
    expect(grants).toContain(winner.grantId);
    expect(winner).toMatchObject({ consumedAt: NOW + 2, status: 'approved', subject: 'alice' });
    expect(await store.findDeviceCode(A, d.hash)).toEqual(winner);
    // A later redemption neither wins nor overwrites the recorded grant.
    expect(await store.consumeDeviceCode(A, d.hash, NOW + 3, 'grant-late')).toBeUndefined();
    expect((await store.findDeviceCode(A, d.hash))?.grantId).toBe(winner.grantId);
  });

  it('findDeviceCode reads by device code hash within the tenant and changes nothing', async () => {
    const d = device(A, id('dc'), id('uc'));
    await store.insertDeviceCode(d);
    expect(await store.findDeviceCode(A, d.hash)).toEqual(d);
    expect(await store.findDeviceCode(B, d.hash)).toBeUndefined();
    expect(await store.findDeviceCode(A, id('nope'))).toBeUndefined();
    expect(await store.findDeviceCodeByUserCode(A, d.userCodeHash)).toEqual(d); // not polled, not spent
  });

  it('CIBA: listPendingDeviceCodesOf lists one user\'s pending, unexpired requests in one tenant, newest first; revokeSubject denies them', async () => {
    const named = (hash: string, subject: string, createdAt: number, tenant = A): DeviceCodeRecord => ({ ...device(tenant, hash, id('uc')), subject, createdAt, expiresAt: createdAt + 300, data: { ciba: { mode: 'poll' } } });
    const older = named(id('c1'), 'alice', NOW);
    const newer = named(id('c2'), 'alice', NOW + 10);
    const expired = { ...named(id('c3'), 'alice', NOW - 400) };
    const bobs = named(id('c4'), 'bob', NOW);
    const otherTenant = named(id('c5'), 'alice', NOW, B);
    const decided = named(id('c6'), 'alice', NOW);
    for (const r of [older, newer, expired, bobs, otherTenant, decided]) await store.insertDeviceCode(r);
    await store.decideDeviceCode(A, decided.userCodeHash, { status: 'denied', subject: 'alice', data: {} }, NOW + 11);
    const listed = await store.listPendingDeviceCodesOf(A, 'alice', NOW + 20, 10);
    expect(listed.map((r) => r.hash)).toEqual([newer.hash, older.hash]);
    expect(listed[0]).toMatchObject({ subject: 'alice', status: 'pending', data: { ciba: { mode: 'poll' } } });
    expect(await store.listPendingDeviceCodesOf(A, 'alice', NOW + 20, 1)).toHaveLength(1);
    expect((await store.listPendingDeviceCodesOf(B, 'alice', NOW + 20, 10)).map((r) => r.hash)).toEqual([otherTenant.hash]);
    // A user disabled while requests wait: they are denied (the client's next token request is access_denied).
    await store.revokeSubject(A, 'alice', NOW + 21);
    expect(await store.listPendingDeviceCodesOf(A, 'alice', NOW + 22, 10)).toEqual([]);
    expect((await store.findDeviceCode(A, newer.hash))?.status).toBe('denied');
    expect((await store.findDeviceCode(A, bobs.hash))?.status).toBe('pending');
    expect((await store.findDeviceCode(B, otherTenant.hash))?.status).toBe('pending');
  });
});

describe(`migration 0013_device_code_grant (${backend})`, () => {
  it('upgrades a database of the previous schema: its device codes stay readable and redeemable, with no grant recorded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-0013-'));
    const url = await testDatabaseUrl(dir);
    let store: OpenedStore | undefined;
    try {
      // The schema as the release before this migration left it.
      let db: Kysely<any>;
      if (url.startsWith('sqlite:')) {
        const SQLite = (await import('better-sqlite3')).default;
        db = new Kysely({ dialect: new SqliteDialect({ database: new SQLite(url.slice('sqlite:'.length)) }) });
      } else {
        const pg = (await import('pg')).default;
        db = new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }) });
      }
      const previous = Object.fromEntries(Object.entries(migrations).filter(([name]) => name !== '0013_device_code_grant'));
      const older = await new Migrator({ db, provider: { getMigrations: async () => previous } }).migrateToLatest();
      expect(older.error).toBeUndefined();
      const row = (hash: string, userCodeHash: string, consumedAt: number | null) => ({
        tenant_id: 'default', hash, user_code_hash: userCodeHash, client_id: 'tv', scope: 'openid', status: 'approved', poll_interval: 5,
        last_polled_at: null, created_at: NOW, expires_at: NOW + 600, subject: 'alice', decided_at: NOW, consumed_at: consumedAt, data: '{}',
      });
      await db.insertInto('device_codes').values([row('redeemed', 'uc-1', NOW + 1), row('approved', 'uc-2', null)]).execute();
      await db.destroy();

      store = await openStore({ url });
      expect(await store.pendingMigrations()).toEqual([]);
      const redeemed = await store.findDeviceCode('default', 'redeemed');
      expect(redeemed).toMatchObject({ consumedAt: NOW + 1, subject: 'alice' });
      expect(redeemed?.grantId).toBeUndefined(); // redeemed before redemptions recorded their grant
      expect(await store.consumeDeviceCode('default', 'approved', NOW + 2, 'g-1')).toMatchObject({ consumedAt: NOW + 2, grantId: 'g-1' });
      expect((await store.findDeviceCode('default', 'approved'))?.grantId).toBe('g-1');
    } finally {
      await store?.close();
      await dropTestDatabase(url);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
