import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type OpenedStore } from '../../src/store/open.js';
import { dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';
import { backend } from '../helpers/store-contract.js';

/**
 * Deleting a client deletes its consents by (tenant, client) (engine/client-removal.ts). The consents' primary key
 * starts with the subject, so without migration 0014's index that delete reads every consent of every client.
 * The plan is read from the database itself (SQLite EXPLAIN QUERY PLAN; PostgreSQL EXPLAIN with sequential scans
 * priced out, so an index that can serve the delete is chosen even on an empty table).
 */
describe(`deleting a client's consents uses an index (${backend})`, () => {
  let dir = '';
  let url = '';
  let store: OpenedStore;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-idx-'));
    url = await testDatabaseUrl(dir);
    store = await openStore({ url });
  });
  afterAll(async () => {
    await store?.close();
    await dropTestDatabase(url);
    rmSync(dir, { recursive: true, force: true });
  });

  it('DELETE FROM consents WHERE tenant_id = ? AND client_id = ? is planned on idx_0014_consents_client', async () => {
    let plan: string;
    if (url.startsWith('sqlite:')) {
      const SQLite = (await import('better-sqlite3')).default;
      const db = new SQLite(url.slice('sqlite:'.length), { readonly: true });
      try {
        const rows = db.prepare('explain query plan delete from consents where tenant_id = ? and client_id = ?').all('t', 'c') as { detail: string }[];
        plan = rows.map((r) => r.detail).join('\n');
      } finally {
        db.close();
      }
    } else {
      const pg = (await import('pg')).default;
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query('set enable_seqscan = off');
        const { rows } = await c.query<{ 'QUERY PLAN': string }>(`explain delete from consents where tenant_id = 't' and client_id = 'c'`);
        plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      } finally {
        await c.end();
      }
    }
    expect(plan).toContain('idx_0014_consents_client');
  });
});
