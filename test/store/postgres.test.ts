import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
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
});
