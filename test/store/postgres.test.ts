import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type Kysely, sql } from 'kysely';
import { loadConfig } from '../../src/config/load.js';
import { Latchkey } from '../../src/server/latchkey.js';
import { openStore } from '../../src/store/open.js';
import { DEFAULT_TENANT } from '../../src/store/types.js';
import { adminDatabaseUrl, dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';

/**
 * PostgreSQL only (the second pass, scripts/with-postgres.sh). Several instances of a scaled-out deployment
 * start at once on one fresh database: migrations, the default tenant and its first signing keys must be
 * created exactly once. SQLite is the embedded, one-process backend.
 */
describe.runIf(adminDatabaseUrl())('PostgreSQL backend', () => {
  async function freshDatabase() {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-start-'));
    const url = await testDatabaseUrl(dir);
    onTestFinished(async () => {
      await dropTestDatabase(url);
      rmSync(dir, { recursive: true, force: true });
    });
    return { dir, url };
  }

  it('concurrent openStore calls migrate the schema once, without failing', async () => {
    const { url } = await freshDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openStore({ url, poolSize: 2 })));
    try {
      for (const s of stores) await s.ping();
      expect(await stores[0]!.migrate()).toEqual([]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('TLS settings in the database URL reach the driver (sslmode=verify-full against a server without TLS fails)', async () => {
    const { url } = await freshDatabase();
    const u = new URL(url);
    u.searchParams.set('sslmode', 'verify-full');
    await expect(openStore({ url: u.toString() })).rejects.toThrow(/SSL/i);
  });

  it('Latchkey.open x4 at once: one default tenant, exactly one active key per alg', async () => {
    const { dir, url } = await freshDatabase();
    const keyEncryptionKey = randomBytes(32).toString('base64url');
    const config = loadConfig({
      env: {},
      overrides: { dataDir: dir, databaseUrl: url, keyEncryptionKey, logLevel: 'silent', demo: false, databasePoolSize: 1 },
    });
    const instances = await Promise.all(Array.from({ length: 4 }, () => Latchkey.open({ config })));
    try {
      const keys = await instances[0]!.store.listKeys(DEFAULT_TENANT);
      const active = keys.filter((k) => k.status === 'active').map((k) => k.alg).sort();
      expect(active).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256']);
      expect(keys).toHaveLength(4);
      expect((await instances[1]!.store.listTenants()).map((t) => t.id)).toEqual([DEFAULT_TENANT]);
      // Every instance signs with the same keys.
      const kids = await Promise.all(instances.map(async (lk) => (await (await lk.context()).keys()).signingKey('ES256').kid));
      expect(new Set(kids).size).toBe(1);
    } finally {
      await Promise.all(instances.map((lk) => lk.close()));
    }
  });

  it("the store's own transactions: fixed statements run by name on the transaction's connection, a failed one rolls back and gives its connection back", async () => {
    const { url } = await freshDatabase();
    const store = await openStore({ url, poolSize: 1 });
    try {
      const grant = (id: string) => ({
        tenantId: DEFAULT_TENANT, id, clientId: 'c', subject: 'u', scope: ['openid'], createdAt: 1, revokedAt: null, data: {}, sid: null,
      });
      // First, before anything outside a transaction has prepared the grants read on this (only) connection.
      const named = await store.transaction(async (tx) => {
        await tx.insertGrant(grant('kept'));
        expect((await tx.findGrant(DEFAULT_TENANT, 'kept'))?.id).toBe('kept');
        // pg_prepared_statements lists this session's named statements: the fixed() read above is one of them.
        const db = (tx as unknown as { db: Kysely<unknown> }).db;
        return (await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(db)).rows.map((r) => r.statement);
      });
      expect(named.some((t) => t.startsWith('select') && t.includes('from "grants"'))).toBe(true);
      // With one connection in the pool, a transaction that did not release its connection would hang the next one.
      for (let i = 0; i < 3; i++) {
        await expect(
          store.transaction(async (tx) => {
            await tx.insertGrant(grant(`g${i}`));
            throw new Error('fails after a write');
          }),
        ).rejects.toThrow('fails after a write');
        expect(await store.findGrant(DEFAULT_TENANT, `g${i}`)).toBeUndefined();
      }
      expect((await store.findGrant(DEFAULT_TENANT, 'kept'))?.id).toBe('kept');
      // A statement the server refuses inside the transaction aborts it; the connection survives.
      await expect(store.transaction(async (tx) => tx.insertGrant(grant('kept')))).rejects.toThrow(/duplicate key/);
      expect(await store.listGrantsBySid(DEFAULT_TENANT, 'none')).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
