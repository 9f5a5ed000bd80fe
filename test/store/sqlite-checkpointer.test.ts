import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import type { TokenRecord } from '../../src/store/types.js';

const tok = (hash: string): TokenRecord => ({
  tenantId: 'default', hash, kind: 'access_token', clientId: 'c', subject: null, scope: ['a'], grantId: null,
  issuedAt: 1, expiresAt: 2, revokedAt: null, consumedAt: null, data: { pad: 'x'.repeat(200) },
});

async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

// SQLite only: WAL checkpoints run in a worker thread (src/store/sqlite-checkpointer.ts).
describe('SQLite WAL checkpoints off the request thread', () => {
  it('rows written through the store reach the database file without the request thread checkpointing', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'lk-ckpt-')), 'db.sqlite');
    const store = await openStore({ url: `sqlite:${file}` });
    try {
      const before = statSync(file).size;
      await Promise.all(Array.from({ length: 3000 }, (_, i) => store.insertToken(tok(`h${i}`))));
      // The store's own connection checkpoints only past 16,384 pages (a backstop); these rows are far fewer, so
      // only the worker's checkpoints can have copied them into the main file.
      expect(await until(() => statSync(file).size > before + 3000 * 200)).toBe(true);
      expect(await store.findToken('default', 'h2999')).toBeDefined();
    } finally {
      await store.close();
    }
  });

  it('closing the store stops the worker and leaves a database another process can open with every row', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'lk-ckpt-')), 'db.sqlite');
    const store = await openStore({ url: `sqlite:${file}` });
    await Promise.all(Array.from({ length: 500 }, (_, i) => store.insertToken(tok(`k${i}`))));
    await store.close();
    const db = new BetterSqlite3(file);
    expect(db.prepare('select count(*) as n from tokens').get()).toEqual({ n: 500 });
    db.close();
  });
});
