import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { onTestFinished } from 'vitest';
import { openStore, type OpenedStore } from '../../src/store/open.js';

/**
 * Test databases. When LATCHKEY_TEST_DATABASE_URL is set (scripts/with-postgres.sh sets it to a superuser URL
 * for the PostgreSQL pass), every call creates a fresh PostgreSQL database through it, so tests that create
 * fixed ids (`svc-a`, `demo-client`) never meet each other; otherwise a SQLite file in the test's folder.
 */
export const adminDatabaseUrl = (): string | undefined => process.env.LATCHKEY_TEST_DATABASE_URL || undefined;

let admin: pg.Pool | undefined;
function adminPool(url: string): pg.Pool {
  if (!admin) {
    // Small and quick to let go: vitest workers must be able to exit while it is idle.
    admin = new pg.Pool({ connectionString: url, max: 2, idleTimeoutMillis: 1000, allowExitOnIdle: true });
    admin.on('error', () => {});
  }
  return admin;
}

const created = new Map<string, { adminUrl: string; name: string }>();

/** A fresh database URL for one Latchkey instance (see dropTestDatabase). */
export async function testDatabaseUrl(dir: string): Promise<string> {
  const adminUrl = adminDatabaseUrl();
  if (!adminUrl) return `sqlite:${join(dir, 'latchkey.db')}`;
  const name = `lk_${randomBytes(8).toString('hex')}`;
  await adminPool(adminUrl).query(`CREATE DATABASE "${name}"`);
  const u = new URL(adminUrl); // keeps credentials and ?sslmode=…
  u.pathname = `/${name}`;
  const url = u.toString();
  created.set(url, { adminUrl, name });
  return url;
}

/** Drop a database made by testDatabaseUrl (best effort; a SQLite file goes with its folder). */
export async function dropTestDatabase(url: string): Promise<void> {
  const db = created.get(url);
  if (!db) return;
  created.delete(url);
  try {
    await adminPool(db.adminUrl).query(`DROP DATABASE IF EXISTS "${db.name}" WITH (FORCE)`);
  } catch {
    // The cluster is thrown away after the run anyway.
  }
}

/** A migrated store on a fresh test database (SQLite, or PostgreSQL in that pass), closed and dropped after the test. */
export async function freshTestStore(prefix: string): Promise<OpenedStore> {
  const dir = mkdtempSync(join(tmpdir(), `latchkey-${prefix}-`));
  const url = await testDatabaseUrl(dir);
  const store = await openStore({ url });
  onTestFinished(async () => {
    await store.close();
    await dropTestDatabase(url);
    rmSync(dir, { recursive: true, force: true });
  });
  return store;
}

/**
 * Until `done` settles or another session of the database `monitor` is connected to waits for a lock (seen in
 * pg_stat_activity, never a timer): how a race test knows a concurrent write has either finished or is blocked
 * by the locks the test holds. Any session of that database waiting for a lock counts, so the test's database must
 * have no other traffic.
 */
export async function finishedOrWaitingForLock(monitor: pg.Client, done: Promise<unknown>): Promise<void> {
  let settled = false;
  void done.then(() => (settled = true), () => (settled = true));
  while (!settled) {
    const { rows } = await monitor.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
    );
    if (rows[0]!.n > 0) return;
    await new Promise((r) => setTimeout(r, 2)); // a poll, not a spin: the machine is shared
  }
}
