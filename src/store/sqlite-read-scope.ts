import type BetterSqlite3 from 'better-sqlite3';

/**
 * The point reads of one event-loop turn in one SQLite read transaction.
 *
 * In WAL mode every statement outside a transaction is a transaction of its own: SQLite takes a read lock on the
 * shared-memory index at its start and drops it at its end, two `fcntl` calls. On this project's benchmark VM a
 * system call costs a few µs, and a point read by key measured 5.9 µs alone against 1.0 µs when ten ran inside one
 * BEGIN … COMMIT (bench/README.md, the fifteenth round): most of a read was the locking around it.
 *
 * So the store's direct reads outside its transactions (KyselyStore.fixed: tokens, users, grants, sessions, consents and tickets by key)
 * share one deferred read transaction, opened by the first of them in a turn and ended in the next check phase
 * (setImmediate), or earlier, before anything else uses the connection:
 *   - every statement Kysely prepares that is not a plain SELECT (isPlainRead), its BEGIN included (open.ts
 *     withStatementCache);
 *   - every group commit (sqlite-batch.ts) and every direct write (fixed());
 *   - closing the store.
 * A plain SELECT Kysely runs while the scope is open joins it: read-only (`Statement.readonly`, which SQLite also
 * says of BEGIN), returning rows (`reader`, which an `INSERT … RETURNING` also is), and a SELECT. No write ever runs inside the scope, so nothing is acknowledged
 * before its own commit, and a read after a write of this process starts a new snapshot and sees it.
 *
 * What a reader may see: the database as of the first read of its turn, not as of its own statement. Another
 * process's commit (`serve --workers N`) made during that turn shows from the next turn on: under a millisecond
 * under load, as if the read had been made at the turn's start. Single-use checks (codes, refresh tokens, replay
 * caches) are conditional writes in write transactions, never decided by these reads.
 */
export class SqliteReadScope {
  private open = false;
  private statements: { begin: BetterSqlite3.Statement; commit: BetterSqlite3.Statement; rollback: BetterSqlite3.Statement } | undefined;
  private readonly endOfTurn = () => this.end();

  constructor(private readonly db: BetterSqlite3.Database) {}

  /** Whether the connection's open transaction, if any, is this scope's read transaction. */
  get active(): boolean {
    return this.open;
  }

  /**
   * Run a read-only statement inside the turn's read transaction, opening it if none is. When the connection is in
   * another transaction (a caller's, synchronous), the statement simply runs in it.
   */
  read<T>(run: () => T): T {
    if (!this.open) {
      if (this.db.inTransaction) return run();
      const s = (this.statements ??= {
        // Spelled apart from the store's other transactions' BEGIN IMMEDIATE and COMMIT (the statement-level fault
        // tests tell them apart: test/helpers/faulty-store.ts).
        begin: this.db.prepare('begin deferred'),
        commit: this.db.prepare('end'),
        rollback: this.db.prepare('rollback'),
      });
      s.begin.run(); // deferred: the read lock is taken by the first read, never a write lock
      this.open = true;
      setImmediate(this.endOfTurn);
    }
    try {
      return run();
    } catch (e) {
      this.end(); // e.g. SQLITE_BUSY while another process recovers the log: the caller retries outside the scope
      throw e;
    }
  }

  /** End the read transaction, if one is open: before any other use of the connection, and at the turn's end. */
  end(): void {
    if (!this.open) return;
    this.open = false;
    const s = this.statements!;
    try {
      s.commit.run(); // a read-only transaction: its COMMIT only drops the read lock
    } catch {
      if (this.db.inTransaction) s.rollback.run();
    }
  }
}

const plainReads = new WeakMap<BetterSqlite3.Statement, boolean>();

/**
 * A SELECT that writes nothing (not an `INSERT … RETURNING`, not a transaction statement, not a PRAGMA). Decided once
 * per prepared statement: every direct read asks (statements are cached, so this is a map look-up per read).
 */
export function isPlainRead(stmt: BetterSqlite3.Statement): boolean {
  let plain = plainReads.get(stmt);
  if (plain === undefined) plainReads.set(stmt, (plain = stmt.readonly && stmt.reader && /^\s*select\b/i.test(stmt.source)));
  return plain;
}
