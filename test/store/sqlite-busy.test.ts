import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { describe, expect, it, onTestFinished } from 'vitest';
import { internalErrorResult } from '../../src/engine/result.js';
import { openStore } from '../../src/store/open.js';
import { SqliteInsertBatcher } from '../../src/store/sqlite-batch.js';
import { BusyRetrySqliteDialect } from '../../src/store/sqlite-busy.js';
import type { TokenRecord } from '../../src/store/types.js';
import { isStoreUnavailable } from '../../src/store/unavailable.js';
import { adminDatabaseUrl } from '../helpers/database.js';

/**
 * `serve --workers N` on SQLite: several connections write one file, and one of them may hold the write lock when
 * another wants it. SQLite's busy handler would sleep inside the synchronous call (the whole event loop with it);
 * instead the store's writers fail at once (busy_timeout 0) and retry on later turns (src/store/sqlite-busy.ts).
 * Every wait below is for an event or a few turns of the event loop; nothing asserts a duration. SQLite pass only.
 */
describe.skipIf(adminDatabaseUrl())('SQLite: another connection holding the write lock never blocks the event loop', () => {
  function file(): string {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-busy-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    return join(dir, 'latchkey.db');
  }
  /** A connection as the store opens it: WAL, and no waiting inside SQLite for a lock. */
  function connect(path: string): Database.Database {
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 0');
    onTestFinished(() => {
      db.close();
    });
    return db;
  }
  /** A few turns of the event loop, timers included (the batcher's back-off is a few ms at most). */
  const turns = () => new Promise((r) => setTimeout(r, 25));
  const xs = (db: Database.Database) => db.prepare('select x from t order by x').pluck().all();
  const tok = (hash: string): TokenRecord => ({
    tenantId: 'default', hash, kind: 'access_token', clientId: 'c', subject: null, scope: ['a'], grantId: null,
    issuedAt: 1, expiresAt: 4_000_000_000, revokedAt: null, consumedAt: null, data: {},
  });

  it('group commit: a batch that meets the lock waits on later turns (timers run meanwhile), rows queued meanwhile join it, and callers are answered only after the commit', async () => {
    const path = file();
    const db = connect(path);
    db.exec('create table t (x integer primary key)');
    const other = connect(path);
    const reader = connect(path);
    const batcher = new SqliteInsertBatcher(db, 'insert into t (x) values (?)', () => false);
    const log: string[] = [];

    other.exec('begin immediate');
    const first = batcher.insert([1]).then(() => log.push('first answered'));
    await turns();
    log.push('a timer ran while the batch waited');
    const second = batcher.insert([2]).then(() => log.push('second answered'));
    await turns();
    expect(xs(reader)).toEqual([]);
    log.push('lock released');
    other.exec('commit');
    await Promise.all([first, second]);
    expect(log).toEqual(['a timer ran while the batch waited', 'lock released', 'first answered', 'second answered']);
    expect(xs(reader)).toEqual([1, 2]);
  });

  it('group commit: past the deadline the callers get the SQLITE_BUSY error, which answers 503 temporarily_unavailable; the next batch commits once the lock is free', async () => {
    const path = file();
    const db = connect(path);
    db.exec('create table t (x integer primary key)');
    const other = connect(path);
    const batcher = new SqliteInsertBatcher(db, 'insert into t (x) values (?)', () => false, 'run', 30);

    other.exec('begin immediate');
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    const errors = await Promise.all([batcher.insert([1]).catch((e: unknown) => e), batcher.insert([2]).catch((e: unknown) => e)]);
    clearInterval(ticker);
    expect(ticks).toBeGreaterThan(0); // the event loop ran while they waited
    for (const e of errors) {
      expect(e).toMatchObject({ code: 'SQLITE_BUSY' });
      expect(isStoreUnavailable(e)).toBe(true);
      expect(internalErrorResult('X', e)).toMatchObject({ status: 503, resultCode: 'LK9501', headers: { 'Retry-After': '1' } });
    }
    other.exec('rollback');
    await batcher.insert([3]);
    expect(xs(db)).toEqual([3]);
  });

  it('group commit: a BUSY in the middle of the transaction rolls back what ran and retries the whole batch; it is never written row by row as if one row were bad', async () => {
    const path = file();
    const db = connect(path);
    db.exec('create table t (x integer primary key)');
    // The second row's first write fails as a write meeting the lock does (the first row already ran).
    let failed = false;
    const inTransaction: boolean[] = [];
    db.function('busy_once', (x: number) => {
      inTransaction.push(db.inTransaction);
      if (x === 2 && !failed) {
        failed = true;
        throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      }
      return x;
    });
    const batcher = new SqliteInsertBatcher(db, 'insert into t (x) values (busy_once(?))', () => false);
    const results = await Promise.allSettled([batcher.insert([1]), batcher.insert([2]), batcher.insert([3])]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    // Row 1 was rolled back (a second write of it would break the primary key); every write ran in a transaction.
    expect(xs(db)).toEqual([1, 2, 3]);
    expect(inTransaction).toEqual([true, true, true, true, true]);
  });

  it('store transactions wait at BEGIN IMMEDIATE on later turns, before their first statement runs; autocommit statements wait likewise; both then commit', async () => {
    const path = file();
    const store = await openStore({ url: `sqlite:${path}` });
    onTestFinished(() => store.close());
    await store.insertToken(tok('existing'));
    const other = connect(path);
    const log: string[] = [];

    other.exec('begin immediate');
    let started = false;
    const tx = store
      .transaction(async (t) => {
        started = true;
        await t.insertToken(tok('in-transaction'));
      })
      .then(() => log.push('transaction committed'));
    await turns();
    log.push('a timer ran while the transaction waited');
    expect(started).toBe(false);
    other.exec('commit');
    log.push('lock released');
    await tx;
    expect(log).toEqual(['a timer ran while the transaction waited', 'lock released', 'transaction committed']);
    expect(await store.findToken('default', 'in-transaction')).toBeDefined();

    other.exec('begin immediate');
    const revoke = store.revokeToken('default', 'existing', 5).then(() => log.push('revoked'));
    await turns();
    log.push('a timer ran while the update waited');
    other.exec('commit');
    await revoke;
    expect(log.slice(3)).toEqual(['a timer ran while the update waited', 'revoked']);
    expect((await store.findToken('default', 'existing'))?.revokedAt).toBe(5);

    // A fixed-SQL write (a prepared statement run on the connection directly) that meets the lock falls back to
    // Kysely's executor and waits the same way, instead of failing at once.
    other.exec('begin immediate');
    const ticket = store
      .insertTicket({ tenantId: 'default', hash: 'fixed-sql-ticket', clientId: 'c', expiresAt: 10_000_000_000, consumedAt: null, data: {} })
      .then(() => log.push('ticket stored'));
    await turns();
    log.push('a timer ran while the fixed write waited');
    other.exec('commit');
    await ticket;
    expect(log.slice(5)).toEqual(['a timer ran while the fixed write waited', 'ticket stored']);
    expect(await store.findTicket('default', 'fixed-sql-ticket')).toBeDefined();
  });

  it('Kysely on SQLite: past the deadline a transaction and an autocommit statement fail with SQLITE_BUSY (a 503), and nothing stays open', async () => {
    const path = file();
    const db = connect(path);
    db.exec('create table t (x integer primary key)');
    const other = connect(path);
    const k = new Kysely<{ t: { x: number } }>({ dialect: new BusyRetrySqliteDialect({ database: db }, db, 30) });
    other.exec('begin immediate');
    const inTx = await k.transaction().execute(async (trx) => trx.insertInto('t').values({ x: 1 }).execute()).catch((e: unknown) => e);
    const plain = await sql`insert into t (x) values (2)`.execute(k).catch((e: unknown) => e);
    for (const e of [inTx, plain]) {
      expect(e).toMatchObject({ code: 'SQLITE_BUSY' });
      expect(isStoreUnavailable(e)).toBe(true);
    }
    expect(db.inTransaction).toBe(false);
    other.exec('rollback');
    await k.transaction().execute(async (trx) => trx.insertInto('t').values({ x: 3 }).execute());
    expect(xs(db)).toEqual([3]);
    await k.destroy();
  });

  it('two processes issuing tokens at once (group commit and transactions), a third connection holding the lock as they start: no error, every token they were told is stored is there', async () => {
    const path = file();
    await (await openStore({ url: `sqlite:${path}` })).close(); // migrated once, before the writers open it
    const holder = connect(path);
    const rounds = 20;
    const perRound = 25;
    const writers = ['a', 'b'].map((name) => writer(path, name, rounds, perRound));
    await Promise.all(writers.map((w) => w.next('ready')));
    holder.exec('begin immediate');
    for (const w of writers) w.go();
    // Both event loops turn while their first writes wait for the lock.
    await Promise.all(writers.map((w) => w.next('tick')));
    holder.exec('commit');
    const results = await Promise.all(writers.map((w) => w.result()));

    const store = await openStore({ url: `sqlite:${path}`, migrate: false });
    onTestFinished(() => store.close());
    for (const r of results) {
      expect(r.errors).toEqual([]);
      expect(r.stored).toHaveLength(rounds * (perRound + 1));
      const missing: string[] = [];
      for (const h of r.stored) if (!(await store.findToken('default', h))) missing.push(h);
      expect(missing).toEqual([]);
    }
  });
});

/** test/fixtures/sqlite-writer.ts in a process of its own; every wait is for a line of its output (or its exit), at most 30 s. */
function writer(path: string, name: string, rounds: number, perRound: number) {
  const proc = spawn(process.execPath, ['--import', 'tsx', resolve('test/fixtures/sqlite-writer.ts'), path, name, String(rounds), String(perRound)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  onTestFinished(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  proc.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    for (const w of waiters) w();
  });
  proc.stderr.on('data', (b: Buffer) => (err += b.toString()));
  let exited = false;
  proc.once('exit', () => {
    exited = true;
    for (const w of waiters) w();
  });
  const until = <T>(pick: () => T | undefined, what: string) =>
    new Promise<T>((res, rej) => {
      const check = () => {
        const v = pick();
        if (v !== undefined) done(() => res(v));
        else if (exited) done(() => rej(new Error(`writer ${name} exited before ${what}: ${out}\n${err}`)));
      };
      const timer = setTimeout(() => done(() => rej(new Error(`no ${what} from writer ${name} within 30 s: ${out}\n${err}`))), 30_000);
      const done = (f: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        f();
      };
      waiters.add(check);
      check();
    });
  return {
    next: (line: string) => until(() => (out.split('\n').includes(line) ? true : undefined), line),
    go: () => proc.stdin.end('go\n'),
    result: () =>
      until(() => {
        const last = out.split('\n').find((l) => l.startsWith('{'));
        return last ? (JSON.parse(last) as { stored: string[]; errors: string[] }) : undefined;
      }, 'result'),
  };
}
