import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { EngineContext } from '../../src/engine/context.js';
import { buildApp } from '../../src/http/app.js';
import { Latchkey } from '../../src/server/latchkey.js';
import { registerClient } from '../../src/services/clients.js';
import { createUser } from '../../src/services/users.js';
import { openStore, type OpenedStore } from '../../src/store/open.js';
import { DEFAULT_TENANT, type Store } from '../../src/store/types.js';
import pg from 'pg';
import { adminDatabaseUrl, dropTestDatabase, testDatabaseUrl } from './database.js';
import { freePort, testConfigBase } from './server.js';

/**
 * Fault injection for the store (test/reliability/store-faults.test.ts): a Store that forwards every call to a real
 * one (SQLite or PostgreSQL, as the test pass picks) and, once armed, makes the Nth counted call (or the Nth call of
 * one method) fail before it reaches the database, with an error shaped as the backends' own: what a statement that
 * met a dead connection, a busy SQLite file or an I/O error, or a bug, throws. Calls made inside a transaction go
 * through the wrapper too (the transaction's store is wrapped), and opening the transaction is itself a call (a
 * BEGIN that fails).
 */

/**
 * What the failing call throws. `unavailable` is the backend's outage (503 by unavailable.ts); `ioerr` and `bug` are
 * 500s. `terminate` (PostgreSQL only) throws nothing itself: it ends every server session of the database
 * (pg_terminate_backend, as a failover or an operator does) and lets the call run into the dead connection.
 */
export type FaultKind = 'unavailable' | 'ioerr' | 'bug' | 'terminate';

/** Text in every injected error's message: no answer may carry it (no internal message text to a client). */
export const FAULT_MARKER = 'lkfault-7c1e';

export function faultError(kind: Exclude<FaultKind, 'terminate'>, dialect: 'sqlite' | 'postgres'): Error {
  if (kind === 'unavailable') {
    return dialect === 'sqlite'
      ? Object.assign(new Error(`database is locked (${FAULT_MARKER})`), { code: 'SQLITE_BUSY' })
      : Object.assign(new Error(`terminating connection due to administrator command (${FAULT_MARKER})`), { code: '57P01' });
  }
  if (kind === 'ioerr') {
    return dialect === 'sqlite'
      ? Object.assign(new Error(`disk I/O error (${FAULT_MARKER})`), { code: 'SQLITE_IOERR' })
      : Object.assign(new Error(`could not write to file "pg_wal/xlogtemp" (${FAULT_MARKER})`), { code: '58030' });
  }
  return new TypeError(`Cannot read properties of undefined (reading 'x') (${FAULT_MARKER})`);
}

/**
 * Calls made by background work (audit flushes, key re-checks, the back-channel dispatcher, cleanup): not counted
 * and never failed, so that the count of a request's own calls is the same on every run.
 */
export const BACKGROUND_METHODS: ReadonlySet<string> = new Set([
  'insertAuditEvents', 'keysVersion', 'dueDeliveries', 'claimDelivery', 'updateDelivery', 'acquireLease', 'purgeExpired', 'purgeIdleSessions',
  'close', 'ping',
]);

export class FaultPlan {
  /** Counted calls since the last arm(), by method name (transaction included). */
  readonly calls: string[] = [];
  private target: number | undefined;
  private method: string | undefined;
  private kind: FaultKind = 'bug';
  /** The method that was failed, once one was. */
  fired: string | undefined;
  /** Methods neither counted nor failed (BACKGROUND_METHODS unless a test replaces it). */
  background: ReadonlySet<string> = BACKGROUND_METHODS;

  constructor(readonly dialect: 'sqlite' | 'postgres') {}

  /** Fail the nth counted call from now (1-based), or the nth call of `method`. */
  arm(n: number, kind: FaultKind, method?: string): void {
    this.calls.length = 0;
    this.target = n;
    this.kind = kind;
    this.method = method;
    this.fired = undefined;
  }

  disarm(): void {
    this.target = undefined;
  }

  /**
   * 'statement' (SQLite): count and fail better-sqlite3 statements (each query, BEGIN, COMMIT; the group-commit
   * batches' inserts) instead of store calls, with the error SQLite itself throws. See sqliteStatementFaults.
   */
  level: 'call' | 'statement' = 'call';

  /**
   * SQLite statements run by background work (audit rows, key re-checks, the dispatcher, cleanup): not counted. Nor
   * is the END of a turn's read transaction (src/store/sqlite-read-scope.ts): it runs at the turn's end, whichever
   * request is under way then, and its reads have already answered (a failed END is rolled back and absorbed).
   */
  static readonly BACKGROUND_SQL = /audit_events|ops_leases|max\("seq"\)|"next_attempt_at" <=|logout_deliveries" set|^end$/;

  /**
   * Set while background work runs its statements synchronously (the audit group commit, see sqliteStatementFaults):
   * its BEGIN IMMEDIATE and COMMIT name no table, so BACKGROUND_SQL cannot tell them from a request's own.
   */
  inBackground = 0;

  /** Called by each SQLite statement (level 'statement'): throws SQLite's own error when it is the armed one. */
  enterStatement(sql: string): void {
    if (this.level !== 'statement' || this.target === undefined || this.inBackground > 0 || FaultPlan.BACKGROUND_SQL.test(sql)) return;
    this.calls.push(sql.slice(0, 60));
    if (this.calls.length === this.target) {
      this.target = undefined;
      this.fired = sql.slice(0, 60);
      // better-sqlite3's SqliteError: a message and the extended result code name.
      const code = this.kind === 'unavailable' ? 'SQLITE_BUSY' : 'SQLITE_IOERR_WRITE';
      throw Object.assign(new Error(`${code === 'SQLITE_BUSY' ? 'database is locked' : 'disk I/O error'} (${FAULT_MARKER})`), { name: 'SqliteError', code });
    }
  }

  /** PostgreSQL: end every session of the test's database (set by startFaultyServer). */
  terminate: (() => Promise<void>) | undefined;

  /** Called before each call reaches the store: throws the fault when this call is the armed one. */
  async enter(name: string): Promise<void> {
    if (this.level !== 'call' || this.target === undefined || this.background.has(name)) return;
    if (this.method !== undefined && name !== this.method) return;
    this.calls.push(name);
    if (this.calls.length === this.target) {
      this.target = undefined;
      this.fired = name;
      if (this.kind !== 'terminate') throw faultError(this.kind, this.dialect);
      if (!this.terminate) throw new Error('terminate is for PostgreSQL');
      await this.terminate();
    }
  }
}

/** `inner` with every call going through `plan` first. */
export function faultyStore<S extends Store>(inner: S, plan: FaultPlan): S {
  const wrap = (target: Store): Store =>
    new Proxy(target, {
      get(t, prop, receiver) {
        const value = Reflect.get(t, prop, receiver);
        if (typeof value !== 'function' || typeof prop !== 'string') return value;
        if (prop === 'transaction') {
          return async <T>(fn: (tx: Store) => Promise<T>): Promise<T> => {
            await plan.enter('transaction');
            // A store already in a transaction runs fn in it, on itself: fn gets this same wrapper (`receiver`).
            return t.transaction((tx) => fn(tx === t ? (receiver as Store) : wrap(tx)));
          };
        }
        return async (...args: unknown[]) => {
          await plan.enter(prop);
          return (value as (...a: unknown[]) => unknown).apply(t, args);
        };
      },
    });
  return wrap(inner) as S;
}

export interface FaultyServer {
  lk: Latchkey;
  ctx: EngineContext;
  app: FastifyInstance;
  issuer: string;
  /** The real store (not failing): for checking what the database holds. */
  store: OpenedStore;
  plan: FaultPlan;
  databaseUrl: string;
  url(path: string): string;
  client(meta: Record<string, unknown>): Promise<{ clientId: string; clientSecret?: string }>;
  user(username: string, password: string): Promise<string>;
  close(): Promise<void>;
}

/** The real HTTP server (as startTestServer) over a store that fails when its plan says so. */
export async function startFaultyServer(overrides: ConfigInput = {}, opts: { clock?: () => number; poolSize?: number } = {}): Promise<FaultyServer> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-faults-'));
  const databaseUrl = await testDatabaseUrl(dir);
  const store = await openStore({ url: databaseUrl, poolSize: opts.poolSize });
  const plan = new FaultPlan(store.dialect);
  const unpatch = store.dialect === 'sqlite' ? await sqliteStatementFaults(plan, store) : () => {};
  const admin = adminDatabaseUrl();
  if (store.dialect === 'postgres' && admin) {
    const name = new URL(databaseUrl).pathname.slice(1);
    plan.terminate = async () => {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      try {
        const others = 'from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()';
        await c.query(`select pg_terminate_backend(pid) ${others}`, [name]);
        // pg_terminate_backend only signals: wait until the sessions are gone, so the call meets a dead connection.
        while ((await c.query<{ n: number }>(`select count(*)::int as n ${others}`, [name])).rows[0]!.n > 0) {
          await new Promise((r) => setTimeout(r, 5)); // a poll, not a spin: the machine is shared
        }
      } finally {
        await c.end();
      }
    };
  }
  const config = loadConfig({
    env: {},
    file: undefined,
    overrides: {
      ...testConfigBase(dir),
      issuer,
      port,
      databaseUrl,
      ...overrides,
    },
  });
  const lk = await Latchkey.open({ config, store: faultyStore(store, plan), clock: opts.clock });
  const ctx = await lk.context(DEFAULT_TENANT);
  const app = await buildApp(lk, { logger: false });
  await app.listen({ host: '127.0.0.1', port });
  return {
    lk,
    ctx,
    app,
    issuer,
    store,
    plan,
    databaseUrl,
    url: (path) => issuer + path,
    async client(meta) {
      const { json } = await registerClient(ctx, meta);
      return { clientId: json.client_id as string, clientSecret: json.client_secret as string | undefined };
    },
    async user(username, password) {
      return (await createUser(ctx, { username, password, claims: {} })).id;
    },
    async close() {
      plan.disarm();
      unpatch();
      await app.close();
      await lk.close(); // closes the store through the wrapper
      await dropTestDatabase(databaseUrl);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * SQLite statement faults: every better-sqlite3 statement (Kysely's queries, the store's prepared ones, the
 * group-commit batchers') asks `plan` first. Patched on the Statement prototype of the module, for this process's
 * test file; the returned function puts it back.
 */
async function sqliteStatementFaults(plan: FaultPlan, store: OpenedStore): Promise<() => void> {
  // The audit trail's group commit (a timer 50 ms after the events a setup request recorded) could land inside the
  // next request and have its BEGIN IMMEDIATE counted as that request's: its flush runs synchronously, so it is
  // bracketed here and not counted.
  const audit = (store as unknown as { auditBatcher?: { flush: () => void } }).auditBatcher;
  if (!audit || typeof audit.flush !== 'function') throw new Error('the SQLite store has no audit batcher to bracket');
  const flush = audit.flush;
  audit.flush = function (this: unknown) {
    plan.inBackground++;
    try {
      return flush.call(this);
    } finally {
      plan.inBackground--;
    }
  };
  const { default: SQLite } = await import('better-sqlite3');
  const probe = new SQLite(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, (...a: unknown[]) => unknown>;
  probe.close();
  const saved: Record<string, (...a: unknown[]) => unknown> = {};
  for (const m of ['run', 'get', 'all', 'iterate']) {
    const original = proto[m]!;
    saved[m] = original;
    proto[m] = function (this: { source: string }, ...args: unknown[]) {
      plan.enterStatement(this.source);
      return original.apply(this, args);
    };
  }
  return () => {
    Object.assign(proto, saved);
    audit.flush = flush;
  };
}
