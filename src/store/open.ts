import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, type SqliteDatabase } from 'kysely';
import type { Database } from './kysely-store.js';
import { KyselyStore } from './kysely-store.js';
import type { Store } from './types.js';
import { BACKSTOP_PAGES, startCheckpointer, type Checkpointer } from './sqlite-checkpointer.js';
import { BusyRetrySqliteDialect } from './sqlite-busy.js';
import { isPlainRead, SqliteReadScope } from './sqlite-read-scope.js';

export interface OpenStoreOptions {
  /** sqlite:PATH, sqlite::memory:, or postgres://… (TLS through the URL: ?sslmode=verify-full&sslrootcert=PATH). */
  url: string;
  /** Apply pending migrations (default true). */
  migrate?: boolean;
  /** PostgreSQL pool size (default 10). */
  poolSize?: number;
}

/** What openStore returns: a Store that can also migrate and serialise start-up work across instances. */
export interface OpenedStore extends Store {
  migrate(): Promise<string[]>;
  /** Migrations this build has that the database has not run (empty: the schema is current). */
  pendingMigrations(): Promise<string[]>;
  /**
   * Run fn while holding the database-wide start-up lock (a PostgreSQL advisory lock; on SQLite just fn), with a
   * store bound to the connection that holds it. Two instances starting at once on one database run their
   * migrations and bootstrap (default tenant, first keys) one after the other.
   */
  exclusive<T>(fn: (store: OpenedStore) => Promise<T>): Promise<T>;
}

export async function openStore(opts: OpenStoreOptions): Promise<OpenedStore> {
  const store = opts.url.startsWith('sqlite:') ? await openSqlite(opts.url.slice('sqlite:'.length)) : await openPostgres(opts.url, opts.poolSize ?? 10);
  if (opts.migrate !== false) {
    try {
      await store.exclusive((s) => s.migrate());
    } catch (e) {
      await store.close();
      throw e;
    }
  }
  return store;
}

async function openSqlite(path: string): Promise<KyselyStore> {
  const { default: SQLite } = await import('better-sqlite3');
  if (path !== ':memory:') createPrivately(resolve(path));
  const database = new SQLite(path);
  // WAL lets readers run beside the writer and survives a crash at any point; NORMAL sync is durable in WAL
  // mode against process crashes (an OS crash may lose the last transactions, never corrupt the file).
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  // No waiting inside SQLite for another process's write lock (`serve --workers N`): its busy handler sleeps in the
  // synchronous call and stalls the event loop. Writers retry on later turns instead, for 5 s (sqlite-busy.ts).
  database.pragma('busy_timeout = 0');
  // 32 MiB of page cache (the default is 2 MiB): the token index takes random inserts, and once it outgrows the
  // cache every insert reads pages back from the OS.
  database.pragma('cache_size = -32768');
  // Checkpoints (and their fsyncs) run in a worker thread, not inside a request's commit (sqlite-checkpointer.ts).
  let checkpointer: Checkpointer | undefined;
  if (path !== ':memory:') {
    database.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
    // After the log restarts from its beginning, its file is cut back to this size (bytes).
    database.pragma('journal_size_limit = 67108864');
    checkpointer = startCheckpointer(resolve(path), { onError: (m) => process.emitWarning(`latchkey: WAL checkpoint failed: ${m}`) });
  }
  // The point reads of a turn share one read transaction (sqlite-read-scope.ts); Kysely's writes end it first.
  const reads = new SqliteReadScope(database);
  const db = new Kysely<Database>({ dialect: new BusyRetrySqliteDialect({ database: withStatementCache(database, 500, reads) }, database) });
  const store = new KyselyStore(db, 'sqlite', async () => {
    reads.end();
    await checkpointer?.stop();
    await db.destroy();
  });
  store.enableSqliteBatching(database, reads);
  return store;
}

/**
 * The database holds password hashes, user claims, the audit log and the encrypted signing keys: its folder is
 * created 0700 and the file 0600 before SQLite opens it (SQLite gives the -wal and -shm files the database file's
 * mode). Existing folders and files are left as they are (`serve` warns about loose ones: file-permissions.ts).
 * Windows has no such modes.
 */
function createPrivately(file: string): void {
  const posix = process.platform !== 'win32';
  mkdirSync(dirname(file), { recursive: true, ...(posix ? { mode: 0o700 } : {}) });
  if (!posix) return;
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

const INT8_OID = 20;

/**
 * Kysely's SQLite driver prepares every statement on every call, and preparing costs more than running the small
 * queries the hot paths make (bench/README.md). Kysely emits the same SQL text for the same query shape, with
 * values as parameters, so statements are cached by text. Bounded, so that shapes whose text varies (IN lists of
 * different lengths) cannot grow it without limit. Safe to share: better-sqlite3 runs a statement to completion
 * synchronously, and the driver serialises every query on its single connection.
 */
export function withStatementCache(database: BetterSqlite3.Database, max = 500, reads?: SqliteReadScope): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => {
      reads?.end();
      database.close();
    },
    prepare(sql: string) {
      // Kysely opens transactions with a plain (deferred) BEGIN. With several processes on one file (`serve
      // --workers N`), a deferred transaction that reads and then writes fails with SQLITE_BUSY at once, without
      // waiting, when another process wrote in between (WAL snapshot upgrade); IMMEDIATE takes the write lock at
      // BEGIN, where it waits its turn (retried, not slept: sqlite-busy.ts). In one process the driver serialises
      // transactions anyway.
      if (sql === 'begin') sql = 'begin immediate';
      let stmt = cache.get(sql);
      if (!stmt) {
        stmt = database.prepare(sql);
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
        cache.set(sql, stmt);
      }
      // Kysely runs what it prepares at once, synchronously: anything but a plain read must not run inside the turn's
      // read transaction, so that ends here; a SELECT may join it. (SQLite calls BEGIN, COMMIT and SAVEPOINT
      // read-only too: they write nothing themselves. So: read-only, returning rows, and a SELECT.)
      if (reads?.active && !isPlainRead(stmt)) reads.end();
      return stmt;
    },
  };
}

async function openPostgres(url: string, poolSize: number): Promise<KyselyStore> {
  const { default: pg } = await import('pg');
  // int8 (bigint columns, count(*), max(seq)) arrives as a string by default; ours hold epoch seconds and
  // counters, well inside Number's exact range. Set per pool, not on the pg module every user of it shares.
  const types = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === INT8_OID && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
  };
  // A connection attempt to a database that does not answer (network partition, host down) fails after 10 s
  // instead of queueing requests for ever; a refused one fails at once.
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types, connectionTimeoutMillis: 10_000 });
  // An idle connection can fail (server restart, network): pg then emits 'error' on the pool, which would
  // crash the process if unhandled. The pool drops that connection and opens a new one on the next query.
  // After close, connections still shutting down may report errors of no interest to anyone.
  let closing = false;
  pool.on('error', (err) => {
    if (!closing) process.emitWarning(`latchkey: idle PostgreSQL connection failed: ${err.message}`);
  });
  // A connection that is checked out (inside a transaction, between two statements) and dies with the server has
  // no pool listener: pg then emits 'error' on the client, which would crash the process on a database restart
  // (test/reliability/crash.test.ts). Every client gets a listener of its own; the statement that uses the dead
  // connection fails (the request answers 5xx) and the pool discards the connection when it is released.
  pool.on('connect', (client) => {
    client.on('error', (err) => {
      if (!closing) process.emitWarning(`latchkey: PostgreSQL connection failed: ${err.message}`);
    });
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const store = new KyselyStore(db, 'postgres', async () => {
    closing = true;
    await db.destroy();
  });
  store.enablePostgresBatching(pool);
  return store;
}
