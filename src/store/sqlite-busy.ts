import type { CompiledQuery, DatabaseConnection, Driver, QueryResult, TransactionSettings } from 'kysely';
import { SqliteDialect, type SqliteDialectConfig } from 'kysely';

/*
 * Waiting for another process's write lock without blocking the event loop (`serve --workers N` on one SQLite
 * file). SQLite's own busy handler (busy_timeout) sleeps inside the synchronous better-sqlite3 call, 1, 2, 5, 10 ms
 * and more at a time, and the whole worker stalls with it: no request parsed, no response written, while the other
 * worker's commit takes a few tens of µs. So the connection runs with busy_timeout = 0 (open.ts): a statement that
 * cannot have the lock fails at once with SQLITE_BUSY, and the writers retry on a later turn of the event loop,
 * the next turn first, then after a short, capped back-off, for BUSY_DEADLINE_MS in all:
 *   - group commit (sqlite-batch.ts) puts its batch back at the head of its queue;
 *   - Kysely's statements (BusyRetrySqliteDialect below): a BEGIN IMMEDIATE or a statement outside a transaction
 *     that failed with SQLITE_BUSY did nothing (SQLite rolled the statement back), so it is run again.
 * Past the deadline the SQLITE_BUSY error reaches the caller, which answers 503 (unavailable.ts).
 * Readers do not wait for the write lock in WAL mode (only while another process recovers the log after a crash),
 * so the direct read outside Kysely (KyselyStore.findToken's prepared statement) is not retried: it would answer 503.
 * Why not lower busy_timeout around each flush only: SQLite applies the PRAGMA while compiling it, so a cached PRAGMA
 * statement does not set it again, and preparing it costs ~4 µs, twice per flush.
 */

/** How long a write waits for the write lock in all: what busy_timeout gave before (5 s). */
export const BUSY_DEADLINE_MS = 5000;

/** Longest pause between two attempts: another process holds the write lock for one commit, tens of µs. */
const MAX_DELAY_MS = 4;

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_RECOVERY, SQLITE_BUSY_TIMEOUT). */
export function isSqliteBusy(e: unknown): boolean {
  const code = e && typeof e === 'object' ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** Run fn for the attempt-th retry (0-based): on the next turn of the event loop, then after 1, 2, 4, 4… ms. */
export function afterBusy(attempt: number, fn: () => void): void {
  if (attempt === 0) setImmediate(fn);
  else setTimeout(fn, Math.min(2 ** (attempt - 1), MAX_DELAY_MS));
}

/**
 * Kysely's SQLite dialect with SQLITE_BUSY retried asynchronously (see above). Only when the failed statement left
 * no transaction open: a BEGIN (rewritten to BEGIN IMMEDIATE by withStatementCache, so a transaction waits here,
 * before any of its statements ran) or an autocommit statement, both of which SQLite undid whole. A BUSY inside an
 * open transaction (a COMMIT in rollback-journal mode) goes to the caller, and Kysely rolls the transaction back.
 */
export class BusyRetrySqliteDialect extends SqliteDialect {
  constructor(
    config: SqliteDialectConfig,
    /** The better-sqlite3 handle behind config.database: whether a transaction is open. */
    private readonly handle: { readonly inTransaction: boolean },
    private readonly deadlineMs = BUSY_DEADLINE_MS,
  ) {
    super(config);
  }

  override createDriver(): Driver {
    return new BusyRetryDriver(super.createDriver(), this.handle, this.deadlineMs);
  }
}

class BusyRetryConnection implements DatabaseConnection {
  constructor(
    readonly inner: DatabaseConnection,
    private readonly handle: { readonly inTransaction: boolean },
    private readonly deadlineMs: number,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    let since: number | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.inner.executeQuery<R>(query);
      } catch (e) {
        if (!isSqliteBusy(e) || this.handle.inTransaction) throw e;
        const now = performance.now();
        since ??= now;
        if (now - since >= this.deadlineMs) throw e;
        await new Promise<void>((resolve) => afterBusy(attempt, resolve));
      }
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

class BusyRetryDriver implements Driver {
  private readonly wrapped = new WeakMap<DatabaseConnection, BusyRetryConnection>();

  constructor(
    private readonly inner: Driver,
    private readonly handle: { readonly inTransaction: boolean },
    private readonly deadlineMs: number,
  ) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const c = await this.inner.acquireConnection();
    let w = this.wrapped.get(c);
    if (!w) this.wrapped.set(c, (w = new BusyRetryConnection(c, this.handle, this.deadlineMs)));
    return w;
  }

  // The inner driver runs BEGIN/COMMIT/ROLLBACK/SAVEPOINT through the connection it is given: ours, which retries.
  beginTransaction(c: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction(c, settings);
  }
  commitTransaction(c: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction(c);
  }
  rollbackTransaction(c: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction(c);
  }
  savepoint(c: DatabaseConnection, name: string, compile: Parameters<NonNullable<Driver['savepoint']>>[2]): Promise<void> {
    return this.inner.savepoint!(c, name, compile);
  }
  rollbackToSavepoint(c: DatabaseConnection, name: string, compile: Parameters<NonNullable<Driver['savepoint']>>[2]): Promise<void> {
    return this.inner.rollbackToSavepoint!(c, name, compile);
  }
  releaseSavepoint(c: DatabaseConnection, name: string, compile: Parameters<NonNullable<Driver['savepoint']>>[2]): Promise<void> {
    return this.inner.releaseSavepoint!(c, name, compile);
  }

  releaseConnection(c: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(c instanceof BusyRetryConnection ? c.inner : c);
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}
