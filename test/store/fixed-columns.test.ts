import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXED_COLUMNS, fixedText } from '../../src/store/kysely-store.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

describe('fixed SQL texts (KyselyStore.fixed)', () => {
  let t: TestLatchkey;
  beforeAll(async () => {
    t = await openTestLatchkey();
  });
  afterAll(() => t.close());

  it('every table a fixed text reads lists exactly the columns of the migrated schema (no column left out)', async () => {
    const db = (t.lk.store as unknown as { db: Kysely<unknown> }).db;
    const tables = await db.introspection.getTables();
    for (const [table, cols] of Object.entries(FIXED_COLUMNS)) {
      const live = tables.find((x) => x.name === table);
      expect(live, table).toBeDefined();
      expect([...cols].sort(), table).toEqual(live!.columns.map((c) => c.name).sort());
    }
  });

  it('`*` is spelled out, placeholders are numbered for PostgreSQL, and each text has its own statement name', () => {
    const read = fixedText('select * from "tickets" where "tenant_id" = ? and "hash" = ?');
    expect(read.sqlite).toBe('select "tenant_id", "hash", "client_id", "expires_at", "consumed_at", "data" from "tickets" where "tenant_id" = ? and "hash" = ?');
    expect(read.postgres).toBe('select "tenant_id", "hash", "client_id", "expires_at", "consumed_at", "data" from "tickets" where "tenant_id" = $1 and "hash" = $2');
    const update = fixedText('update "tickets" set "consumed_at" = ? where "tenant_id" = ? and "hash" = ? and "consumed_at" is null returning *');
    expect(update.postgres).toMatch(/^update "tickets" set "consumed_at" = \$1 where "tenant_id" = \$2 and "hash" = \$3 and "consumed_at" is null returning "tenant_id", .*"data"$/);
    expect(update.name).not.toBe(read.name);
    expect(fixedText('select * from "tickets" where "tenant_id" = ? and "hash" = ?')).toBe(read);
    expect(() => fixedText('select * from "no_such_table" where "id" = ?')).toThrow(/no column list/);
  });
});
