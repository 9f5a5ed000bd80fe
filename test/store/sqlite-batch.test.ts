import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type OpenedStore } from '../../src/store/open.js';
import type { TokenRecord } from '../../src/store/types.js';
import { dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';

const tok = (hash: string, extra: Partial<TokenRecord> = {}): TokenRecord => ({
  tenantId: 'default', hash, kind: 'access_token', clientId: 'c', subject: null, scope: ['a'], grantId: null,
  issuedAt: 1, expiresAt: 2, revokedAt: null, consumedAt: null, data: {}, ...extra,
});

// SQLite only: group commit is how the SQLite store writes tokens (src/store/sqlite-batch.ts).
describe('SQLite group commit of token inserts', () => {
  let store: OpenedStore;
  beforeAll(async () => {
    store = await openStore({ url: `sqlite:${join(mkdtempSync(join(tmpdir(), 'lk-batch-')), 'db.sqlite')}` });
  });
  afterAll(() => store.close());

  it('many concurrent inserts all settle, and every row is there when its promise resolves', async () => {
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        await store.insertToken(tok(`h${i}`));
        expect(await store.findToken('default', `h${i}`)).toBeDefined();
      }),
    );
  });

  it('a failing row (duplicate key) rejects alone; its neighbours are written', async () => {
    await store.insertToken(tok('dup'));
    const results = await Promise.allSettled([store.insertToken(tok('n1')), store.insertToken(tok('dup')), store.insertToken(tok('n2'))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await store.findToken('default', 'n2')).toBeDefined();
  });

  it('an insert made while another transaction is open waits for it and is not rolled back with it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let outsideDone = false;
    const tx = store
      .transaction(async (t) => {
        await t.insertToken(tok('inside'));
        await gate;
        throw new Error('roll back');
      })
      .catch(() => 'rolled back');
    await new Promise((r) => setTimeout(r, 10));
    const outside = store.insertToken(tok('outside')).then(() => (outsideDone = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(outsideDone).toBe(false); // deferred while the transaction is open
    release();
    expect(await tx).toBe('rolled back');
    await outside;
    expect(await store.findToken('default', 'inside')).toBeUndefined();
    expect(await store.findToken('default', 'outside')).toBeDefined();
  });
});

// The same promises on whichever database this pass runs on (PostgreSQL: MultiRowInsertBatcher).
describe('group commit of token inserts on the test database', () => {
  let store: OpenedStore;
  let url: string;
  beforeAll(async () => {
    url = await testDatabaseUrl(mkdtempSync(join(tmpdir(), 'lk-batch-')));
    store = await openStore({ url });
  });
  afterAll(async () => {
    await store.close();
    await dropTestDatabase(url);
  });

  it('concurrent inserts all settle, each row readable once its promise resolves', async () => {
    await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        await store.insertToken(tok(`g${i}`));
        expect(await store.findToken('default', `g${i}`)).toBeDefined();
      }),
    );
  });

  it('a duplicate key in a batch rejects alone; the rows beside it are written', async () => {
    await store.insertToken(tok('gdup'));
    const results = await Promise.allSettled([store.insertToken(tok('g-n1')), store.insertToken(tok('gdup')), store.insertToken(tok('g-n2'))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await store.findToken('default', 'g-n1')).toBeDefined();
    expect(await store.findToken('default', 'g-n2')).toBeDefined();
  });

  it('replay cache: of concurrent uses of one jti exactly one is first; an expired entry may be taken over', async () => {
    const now = 1_000_000;
    const results = await Promise.all(Array.from({ length: 20 }, () => store.rememberJti('default', 'dpop', 'same-jti', now + 60, now)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await store.rememberJti('default', 'dpop', 'same-jti', now + 200, now + 30)).toBe(false); // still live
    expect(await store.rememberJti('default', 'dpop', 'same-jti', now + 200, now + 61)).toBe(true); // expired: taken over
  });

  it('an insert inside a transaction is not batched: it rolls back with its transaction', async () => {
    await store
      .transaction(async (tx) => {
        await tx.insertToken(tok('g-inside'));
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expect(await store.findToken('default', 'g-inside')).toBeUndefined();
  });
});
