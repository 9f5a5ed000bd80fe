import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { openStore, type OpenedStore } from '../../src/store/open.js';
import { dropTestDatabase, testDatabaseUrl } from './database.js';

/** A random id with a readable prefix (tenants, hashes, grants of the contract tests). */
export const id = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

/** The backend the store contract files run against in this pass of the suite. */
export const backend = process.env.LATCHKEY_TEST_DATABASE_URL ? 'postgres' : 'sqlite';

/**
 * Hooks for a store contract file (call inside its describe): one store on this pass's backend (a SQLite file,
 * or a fresh PostgreSQL database) for the whole file, and two fresh tenant ids per test, so the tests stay
 * independent in one database. Read the fields inside tests and hooks, once the hooks have run.
 */
export function useContractStore(): { readonly store: OpenedStore; readonly A: string; readonly B: string } {
  const state = {} as { store: OpenedStore; A: string; B: string };
  let dir = '';
  let url = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-store-'));
    url = await testDatabaseUrl(dir);
    state.store = await openStore({ url });
  });
  afterAll(async () => {
    await state.store?.close();
    if (url) await dropTestDatabase(url);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    state.A = id('tenant-a');
    state.B = id('tenant-b');
  });
  return state;
}
