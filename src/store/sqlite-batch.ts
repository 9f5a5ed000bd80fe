import type BetterSqlite3 from 'better-sqlite3';
import { afterBusy, BUSY_DEADLINE_MS, isSqliteBusy } from './sqlite-busy.js';

interface Pending {
  /** The statement's parameters; with several statements, one array per statement. */
  params: unknown[];
  resolve: (value: unknown) => void;
  reject: (e: unknown) => void;
  result?: unknown;
  /** When this row's first attempt met another process's write lock (performance.now()). */
  busySince?: number;
}

/**
 * Group commit for SQLite: inserts queued during one turn of the event loop are written in one transaction, and
 * each caller's promise settles only after that transaction committed, so nothing is acknowledged before it is
 * durable. A commit costs more than the insert (a WAL append per transaction), so under load this roughly halves
 * the cost of each token (bench/README.md). better-sqlite3 is synchronous, so the flush runs whole between two
 * awaits of any other query; it waits while a Kysely transaction is open on the shared connection (that
 * transaction spans awaits, and our rows must not land inside it).
 *
 * Another process on the same file (`serve --workers N`) may hold the write lock: the connection does not wait for
 * it (busy_timeout 0, sqlite-busy.ts), the transaction fails at BEGIN IMMEDIATE with SQLITE_BUSY, and the batch
 * goes back to the head of the queue for a later turn, joined by the rows queued meanwhile; its callers are
 * answered when it commits, or with the SQLITE_BUSY error once they waited busyDeadlineMs.
 *
 * With several statements (a grant and its authorization code), each caller's unit runs them all inside a
 * savepoint of the batch transaction (better-sqlite3 nests transactions that way): all of a unit or none of it.
 */
export class SqliteInsertBatcher {
  private queue: Pending[] = [];
  private scheduled = false;
  /** Consecutive flushes that met SQLITE_BUSY: the back-off before the next (sqlite-busy.ts afterBusy). */
  private busyAttempts = 0;
  private prepared: { one: (row: Pending) => unknown; many: (rows: Pending[]) => void } | undefined;

  constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly sql: string | readonly string[],
    private readonly transactionOpen: () => boolean,
    /** 'get': each caller gets the row its statement returned (an upsert's RETURNING), else undefined. */
    private readonly mode: 'run' | 'get' = 'run',
    /** How long a row waits for another process's write lock before its caller gets the SQLITE_BUSY error. */
    private readonly busyDeadlineMs = BUSY_DEADLINE_MS,
    /** Called before the batch is written: ends the turn's read transaction (sqlite-read-scope.ts). */
    private readonly beforeWrite?: () => void,
  ) {}

  /** Prepared on first use: the table exists only once migrations ran. */
  private get p() {
    if (!this.prepared) {
      const get = this.mode === 'get';
      let one: (row: Pending) => unknown;
      if (typeof this.sql === 'string') {
        const stmt = this.db.prepare(this.sql);
        one = (r) => (get ? stmt.get(...r.params) : (stmt.run(...r.params), undefined));
      } else {
        const stmts = this.sql.map((text) => this.db.prepare(text));
        // Inside the batch transaction a nested transaction is a savepoint: a unit that fails leaves nothing.
        one = this.db.transaction((r: Pending) => {
          stmts.forEach((stmt, i) => stmt.run(...(r.params[i] as unknown[])));
          return undefined;
        });
      }
      const many = this.db.transaction((rows: Pending[]) => {
        for (const r of rows) r.result = one(r);
      });
      // IMMEDIATE: the write lock is taken at BEGIN, so a busy database fails the batch before any row ran (a
      // deferred BEGIN would meet it at the first INSERT; either way better-sqlite3 rolls back what ran).
      this.prepared = { one, many: many.immediate };
    }
    return this.prepared;
  }

  insert(params: unknown[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ params, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Called by the store when its last open transaction ended. */
  resume(): void {
    if (this.queue.length) this.schedule();
  }

  private flush(): void {
    this.scheduled = false;
    if (this.transactionOpen() || !this.queue.length) return; // resume() reschedules
    const batch = this.queue;
    this.queue = [];
    let p: NonNullable<typeof this.prepared>;
    try {
      p = this.p;
    } catch (e) {
      if (isSqliteBusy(e)) return this.retryLater(batch, e); // the schema could not be read yet
      for (const x of batch) x.reject(e);
      return;
    }
    try {
      this.beforeWrite?.();
      p.many(batch);
    } catch (e) {
      // Contention is no bad row: never answer it row by row (each would fail alike, as the client's error).
      if (isSqliteBusy(e)) return this.retryLater(batch, e);
      // One bad row must not fail its neighbours: write them one by one to find it.
      for (let i = 0; i < batch.length; i++) {
        const x = batch[i]!;
        try {
          x.resolve(p.one(x));
        } catch (e) {
          if (isSqliteBusy(e)) return this.retryLater(batch.slice(i), e);
          x.reject(e);
        }
      }
      this.busyAttempts = 0;
      return;
    }
    this.busyAttempts = 0;
    for (const x of batch) x.resolve(this.mode === 'get' ? x.result : undefined);
  }

  /** Another process holds the write lock: rows back to the head of the queue, tried again on a later turn. */
  private retryLater(rows: Pending[], busy: unknown): void {
    const now = performance.now();
    const keep: Pending[] = [];
    for (const x of rows) {
      x.busySince ??= now;
      if (now - x.busySince >= this.busyDeadlineMs) x.reject(busy);
      else keep.push(x);
    }
    this.queue = keep.length ? keep.concat(this.queue) : this.queue;
    if (!this.queue.length || this.scheduled) return;
    this.scheduled = true;
    afterBusy(this.busyAttempts++, () => this.flush());
  }
}

/**
 * Group commit for PostgreSQL: token rows queued during one turn of the event loop go to the database as ONE
 * multi-row INSERT (one statement, one commit, one WAL flush) instead of one round trip and commit each. Each
 * caller's promise settles after that statement committed (autocommit), so nothing is acknowledged before it is
 * durable. Flushes run concurrently on the pool. A failed batch is retried row by row, so one bad row (a duplicate
 * key) fails alone.
 */
export class MultiRowInsertBatcher<Row> {
  private queue: { row: Row; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    private readonly insertMany: (rows: Row[]) => Promise<void>,
    /** Rows per statement (PostgreSQL allows 65,535 parameters in one statement). */
    private readonly maxRows = 500,
  ) {}

  insert(row: Row): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.maxRows);
      this.insertMany(batch.map((b) => b.row)).then(
        () => {
          for (const b of batch) b.resolve();
        },
        () => {
          for (const b of batch) this.insertMany([b.row]).then(b.resolve, b.reject);
        },
      );
    }
  }
}

/**
 * Batched point reads for PostgreSQL: the look-ups by key queued during one turn of the event loop go to the
 * database as one statement per group (`… where "tenant_id" = $1 and "hash" = any($2)`), instead of one round trip
 * each. A round trip costs far more than the row (client and server CPU per statement), so under load this is most
 * of a read's cost. Each read sees the database no earlier than when it was asked. A failed statement fails the
 * reads it carried.
 */
export class KeyedReadBatcher<Row> {
  private queue = new Map<string, Map<string, { resolve: (row: Row | undefined) => void; reject: (e: unknown) => void }[]>>();
  private scheduled = false;

  constructor(
    /** The rows of `group` whose key is one of `keys` (any order; absent keys have none). */
    private readonly readMany: (group: string, keys: string[]) => Promise<Row[]>,
    private readonly keyOf: (row: Row) => string,
    /** Keys per statement. */
    private readonly maxKeys = 500,
  ) {}

  read(group: string, key: string): Promise<Row | undefined> {
    return new Promise((resolve, reject) => {
      let keys = this.queue.get(group);
      if (!keys) this.queue.set(group, (keys = new Map()));
      const waiting = keys.get(key);
      if (waiting) waiting.push({ resolve, reject });
      else keys.set(key, [{ resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = new Map();
    for (const [group, keys] of queue) {
      const all = [...keys.keys()];
      for (let i = 0; i < all.length; i += this.maxKeys) {
        const chunk = all.slice(i, i + this.maxKeys);
        this.readMany(group, chunk).then(
          (rows) => {
            const found = new Map<string, Row>();
            for (const r of rows) found.set(this.keyOf(r), r);
            for (const k of chunk) for (const w of keys.get(k)!) w.resolve(found.get(k));
          },
          (e) => {
            for (const k of chunk) for (const w of keys.get(k)!) w.reject(e);
          },
        );
      }
    }
  }
}
