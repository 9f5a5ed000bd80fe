import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type OpenedStore } from '../../src/store/open.js';
import { isPlainRead, SqliteReadScope } from '../../src/store/sqlite-read-scope.js';
import type { TokenRecord } from '../../src/store/types.js';

/*
 * src/store/sqlite-read-scope.ts: the store's direct point reads of one event-loop turn share one SQLite read
 * transaction. What must hold: no write ever runs inside it (each is committed, and visible to another connection,
 * before its caller hears of it), a transaction can open in the turn of a read, and the scope ends by the next turn.
 */

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

const token = (hash: string, extra: Partial<TokenRecord> = {}): TokenRecord => ({
  tenantId: 't',
  hash,
  kind: 'access_token',
  clientId: 'c',
  subject: null,
  scope: ['a'],
  grantId: null,
  issuedAt: 1,
  expiresAt: 4_000_000_000,
  revokedAt: null,
  consumedAt: null,
  data: {},
  ...extra,
});

describe('SQLite: the reads of a turn share one read transaction', () => {
  let dir: string;
  let file: string;
  let store: OpenedStore;
  /** The store's own connection (to see whether a transaction is open on it). */
  let own: Database.Database;
  /** Another connection to the same file: what another process (`serve --workers N`) sees. */
  let other: Database.Database;
  const countOther = (hash: string) => (other.prepare('select count(*) as n from tokens where hash = ?').get(hash) as { n: number }).n;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-read-scope-'));
    file = join(dir, 'db.sqlite');
    store = await openStore({ url: `sqlite:${file}` });
    own = (store as unknown as { sqliteDatabase: Database.Database }).sqliteDatabase;
    other = new Database(file);
    other.pragma('busy_timeout = 2000');
    await store.createTenant({ id: 't', issuer: 'https://t.example', settings: {}, createdAt: 1 });
    await store.insertToken(token('h1'));
    await turn();
  });

  afterEach(async () => {
    other.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads of one turn run in one transaction, ended by the next turn', async () => {
    expect(own.inTransaction).toBe(false);
    expect((await store.findToken('t', 'h1'))?.hash).toBe('h1');
    expect(own.inTransaction).toBe(true);
    expect(await store.findToken('t', 'nope')).toBeUndefined();
    expect(own.inTransaction).toBe(true);
    await turn();
    expect(own.inTransaction).toBe(false);
  });

  it("a group-committed write after a read in the same turn is committed, and visible elsewhere, before it is acknowledged", async () => {
    await store.findToken('t', 'h1');
    expect(own.inTransaction).toBe(true);
    await store.insertToken(token('h2'));
    expect(countOther('h2')).toBe(1);
    expect(own.inTransaction).toBe(false);
    expect((await store.findToken('t', 'h2'))?.hash).toBe('h2'); // a new snapshot: this process's own write
  });

  it('a group commit scheduled before the turn\'s first read still runs outside the read transaction', async () => {
    const written = store.insertToken(token('h5')); // its flush is scheduled first, the read scope's end after it
    expect((await store.findToken('t', 'h1'))?.hash).toBe('h1');
    expect(own.inTransaction).toBe(true);
    await written;
    expect(countOther('h5')).toBe(1);
  });

  it('a single-statement write through the query builder after a read is committed at once', async () => {
    await store.findToken('t', 'h1');
    await store.revokeToken('t', 'h1', 5);
    expect((other.prepare('select revoked_at from tokens where hash = ?').get('h1') as { revoked_at: number }).revoked_at).toBe(5);
    expect((await store.findToken('t', 'h1'))?.revokedAt).toBe(5);
  });

  it('a transaction can begin in the turn of a read, and commits on its own', async () => {
    await store.findToken('t', 'h1');
    await store.transaction(async (tx) => {
      expect((await tx.findToken('t', 'h1'))?.hash).toBe('h1');
      await tx.insertToken(token('h3'));
    });
    expect(countOther('h3')).toBe(1);
    expect(own.inTransaction).toBe(false);
  });

  it('another connection\'s commit shows from the next turn (the snapshot is the turn\'s first read)', async () => {
    await store.findToken('t', 'h1');
    other.prepare("update tokens set revoked_at = 9 where hash = 'h1'").run();
    expect((await store.findToken('t', 'h1'))?.revokedAt).toBeNull();
    await turn();
    expect((await store.findToken('t', 'h1'))?.revokedAt).toBe(9);
  });

  it('the store keeps working when a read fails inside the scope', async () => {
    const db = new Database(':memory:');
    const scope = new SqliteReadScope(db);
    expect(() => scope.read(() => db.prepare('select * from missing').all())).toThrow();
    expect(db.inTransaction).toBe(false);
    expect(scope.read(() => db.prepare('select 1 as x').get())).toEqual({ x: 1 });
    expect(db.inTransaction).toBe(true);
    scope.end();
    expect(db.inTransaction).toBe(false);
    db.close();
  });

  it('only plain SELECTs join: not INSERT … RETURNING, not BEGIN, not a PRAGMA', () => {
    const db = new Database(':memory:');
    db.exec('create table x (a integer)');
    expect(isPlainRead(db.prepare('select * from x'))).toBe(true);
    expect(isPlainRead(db.prepare('  SELECT count(*) from x'))).toBe(true);
    expect(isPlainRead(db.prepare('insert into x (a) values (1) returning a'))).toBe(false);
    expect(isPlainRead(db.prepare('begin immediate'))).toBe(false);
    expect(isPlainRead(db.prepare('pragma user_version'))).toBe(false);
    expect(isPlainRead(db.prepare('update x set a = 2'))).toBe(false);
    db.close();
  });

  it("a query-builder INSERT … RETURNING after a read is not run inside the read's transaction", async () => {
    await store.findToken('t', 'h1');
    const db = (store as unknown as { db: Kysely<any> }).db;
    const rows = await sql<{ hash: string }>`insert into tokens (tenant_id, hash, kind, client_id, scope, issued_at, expires_at, data) values ('t', 'h4', 'access_token', 'c', 'a', 1, 4000000000, '{}') returning hash`.execute(db);
    expect(rows.rows).toEqual([{ hash: 'h4' }]);
    expect(own.inTransaction).toBe(false);
    expect(countOther('h4')).toBe(1);
  });
});
