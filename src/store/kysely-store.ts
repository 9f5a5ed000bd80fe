import { CompiledQuery, Kysely, PostgresDialect, type PostgresPool, type Transaction, sql } from 'kysely';
import type {
  AuthorizationCodeRecord,
  ManagementTokenRecord,
  ClientRecord,
  DeviceCodeRecord,
  OtpRecord,
  WebauthnCredentialRecord,
  PushedRequestRecord,
  ConsentRecord,
  GrantRecord,
  ResourceServerRecord,
  LogoutDeliveryRecord,
  ServiceTokenRecord,
  SessionRecord,
  SigningKeyRecord,
  Store,
  TenantRecord,
  TicketRecord,
  TokenRecord,
  UserRecord,
  AuditEventQuery,
  AuditEventRecord,
} from './types.js';
import { migrateToLatest, pendingMigrations } from './migrations/index.js';
import { MAX_AUTHORIZATION_CODE_TTL, type PurgeTarget } from './types.js';
import type { ClientWriteCondition } from './types.js';
import type BetterSqlite3 from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { KeyedReadBatcher, MultiRowInsertBatcher, SqliteInsertBatcher } from './sqlite-batch.js';
import { isPlainRead, type SqliteReadScope } from './sqlite-read-scope.js';
import { isSqliteBusy } from './sqlite-busy.js';

/* Row shapes as stored. JSON lives in text columns so both dialects share every query. */
interface TenantRow { id: string; issuer: string; settings: string; created_at: number }
interface RecoveryCodeRow { tenant_id: string; user_id: string; hash: string; used_at: number | null }
interface WebauthnRow {
  tenant_id: string; credential_id: string; user_id: string; public_key: string; counter: number; transports: string; name: string; created_at: number; last_used_at: number | null;
}
interface OtpRow { tenant_id: string; user_id: string; secret: string; confirmed_at: number | null; last_step: number; created_at: number }
interface ClientRow { tenant_id: string; client_id: string; secret_hash: string | null; metadata: string; created_at: number }
interface UserRow { tenant_id: string; id: string; username: string; password_hash: string; claims: string; disabled: number; created_at: number }
interface KeyRow { tenant_id: string; kid: string; alg: string; status: string; public_jwk: string; private_jwe: string; created_at: number; seq: number; activates_at: number | null }
interface TokenRow {
  tenant_id: string; hash: string; kind: string; client_id: string; subject: string | null; scope: string;
  grant_id: string | null; issued_at: number; expires_at: number; revoked_at: number | null; consumed_at: number | null; data: string;
  reused_at?: number | null;
}
interface GrantRow {
  tenant_id: string; id: string; client_id: string; subject: string | null; scope: string; created_at: number; revoked_at: number | null; data: string;
  sid: string | null; sweep_after: number;
}
interface DeliveryRow {
  tenant_id: string; id: string; client_id: string; uri: string; logout_token: string; attempts: number;
  next_attempt_at: number | null; delivered_at: number | null; last_error: string | null; created_at: number;
}
interface CodeRow { tenant_id: string; hash: string; client_id: string; grant_id: string; expires_at: number; consumed_at: number | null; data: string }
interface TicketRow { tenant_id: string; hash: string; client_id: string; expires_at: number; consumed_at: number | null; data: string }
interface SessionRow {
  tenant_id: string; hash: string; sid: string; subject: string; auth_time: number; acr: string | null; created_at: number;
  last_seen_at: number; expires_at: number; ended_at: number | null; data: string;
}
interface ConsentRow { tenant_id: string; subject: string; client_id: string; scope: string; updated_at: number }
interface RateRow { key: string; window_start: number; count: number; expires_at: number }
interface ResourceServerRow { tenant_id: string; identifier: string; metadata: string; created_at: number }
interface LeaseRow { name: string; holder: string; expires_at: number }
interface ServiceTokenRow { id: string; tenant_id: string | null; hash: string; name: string | null; created_at: number; revoked_at: number | null }
interface PushedRow { tenant_id: string; hash: string; client_id: string; expires_at: number; consumed_at: number | null; data: string }
interface DeviceRow {
  tenant_id: string; hash: string; user_code_hash: string; client_id: string; scope: string; status: string; poll_interval: number;
  last_polled_at: number | null; created_at: number; expires_at: number; subject: string | null; decided_at: number | null;
  consumed_at: number | null; data: string; grant_id?: string | null;
};
interface AuditRow {
  id: string; tenant_id: string; at: number; type: string; client_id: string | null; subject: string | null; ip: string | null;
  result_code: string | null; detail: string;
}
interface JtiRow { tenant_id: string; namespace: string; jti: string; expires_at: number }
interface ManagementTokenRow {
  id: string; kind: string; tenant_id: string | null; hash: string; name: string | null; created_at: number;
  expires_at: number | null; revoked_at: number | null; remaining_uses: number | null;
}

export interface Database {
  tenants: TenantRow;
  clients: ClientRow;
  users: UserRow;
  signing_keys: KeyRow;
  tokens: TokenRow;
  grants: GrantRow;
  authorization_codes: CodeRow;
  tickets: TicketRow;
  sessions: SessionRow;
  consents: ConsentRow;
  rate_limits: RateRow;
  resource_servers: ResourceServerRow;
  logout_deliveries: DeliveryRow;
  pushed_requests: PushedRow;
  device_codes: DeviceRow;
  jti_replay_cache: JtiRow;
  management_tokens: ManagementTokenRow;
  service_tokens: ServiceTokenRow;
  audit_events: AuditRow;
  ops_leases: LeaseRow;
  user_otp: OtpRow;
  user_recovery_codes: RecoveryCodeRow;
  user_webauthn: WebauthnRow;
}

const j = (v: unknown) => JSON.stringify(v);
const p = <T>(s: string): T => JSON.parse(s) as T;
const sc = (s: string[]) => s.join(' ');
const ps = (s: string) => (s === '' ? [] : s.split(' '));
const n = (v: number | string | null): number | null => (v === null ? null : Number(v));

const toTenant = (r: TenantRow): TenantRecord => ({ id: r.id, issuer: r.issuer, settings: p(r.settings), createdAt: Number(r.created_at) });
// Extends the freshly parsed object instead of spreading it: spreading a JSON.parse result into a literal is
// several times slower, and this runs on every authenticated request.
const toClient = (r: ClientRow): ClientRecord => {
  const c = p<ClientRecord>(r.metadata);
  c.tenantId = r.tenant_id;
  c.clientId = r.client_id;
  c.secretHash = r.secret_hash;
  c.createdAt = Number(r.created_at);
  return c;
};
const toUser = (r: UserRow): UserRecord => ({
  tenantId: r.tenant_id, id: r.id, username: r.username, passwordHash: r.password_hash,
  claims: p(r.claims), disabled: Number(r.disabled) === 1, createdAt: Number(r.created_at),
});
const toKey = (r: KeyRow): SigningKeyRecord => ({
  tenantId: r.tenant_id, kid: r.kid, alg: r.alg, status: r.status as SigningKeyRecord['status'],
  publicJwk: p(r.public_jwk), privateJwe: r.private_jwe, createdAt: Number(r.created_at),
  activatesAt: r.activates_at === null || r.activates_at === undefined ? Number(r.created_at) : Number(r.activates_at),
});
const toToken = (r: TokenRow): TokenRecord => ({
  tenantId: r.tenant_id, hash: r.hash, kind: r.kind as TokenRecord['kind'], clientId: r.client_id, subject: r.subject,
  scope: ps(r.scope), grantId: r.grant_id, issuedAt: Number(r.issued_at), expiresAt: Number(r.expires_at),
  revokedAt: n(r.revoked_at), consumedAt: n(r.consumed_at), data: p(r.data),
});
const toGrant = (r: GrantRow): GrantRecord => ({
  tenantId: r.tenant_id, id: r.id, clientId: r.client_id, subject: r.subject, scope: ps(r.scope),
  createdAt: Number(r.created_at), revokedAt: n(r.revoked_at), data: p(r.data), sid: r.sid,
});
const toDelivery = (r: DeliveryRow): LogoutDeliveryRecord => ({
  tenantId: r.tenant_id, id: r.id, clientId: r.client_id, uri: r.uri, logoutToken: r.logout_token, attempts: Number(r.attempts),
  nextAttemptAt: n(r.next_attempt_at), deliveredAt: n(r.delivered_at), lastError: r.last_error, createdAt: Number(r.created_at),
});
const toCode = (r: CodeRow): AuthorizationCodeRecord => ({
  tenantId: r.tenant_id, hash: r.hash, clientId: r.client_id, grantId: r.grant_id,
  expiresAt: Number(r.expires_at), consumedAt: n(r.consumed_at), data: p(r.data),
});
const toTicket = (r: TicketRow): TicketRecord => ({
  tenantId: r.tenant_id, hash: r.hash, clientId: r.client_id, expiresAt: Number(r.expires_at), consumedAt: n(r.consumed_at), data: p(r.data),
});
const toServiceToken = (r: ServiceTokenRow): ServiceTokenRecord => ({
  id: r.id, tenantId: r.tenant_id, hash: r.hash, name: r.name, createdAt: Number(r.created_at), revokedAt: n(r.revoked_at),
});
const toSession = (r: SessionRow): SessionRecord => ({
  tenantId: r.tenant_id, hash: r.hash, sid: r.sid, subject: r.subject, authTime: Number(r.auth_time), acr: r.acr,
  createdAt: Number(r.created_at), lastSeenAt: Number(r.last_seen_at), expiresAt: Number(r.expires_at), endedAt: n(r.ended_at), data: p(r.data),
});

const toResourceServer = (r: ResourceServerRow): ResourceServerRecord => ({
  ...p<Omit<ResourceServerRecord, 'tenantId' | 'identifier' | 'createdAt'>>(r.metadata),
  tenantId: r.tenant_id,
  identifier: r.identifier,
  createdAt: Number(r.created_at),
});
function deliveryRow(d: LogoutDeliveryRecord): DeliveryRow {
  return {
    tenant_id: d.tenantId, id: d.id, client_id: d.clientId, uri: d.uri, logout_token: d.logoutToken, attempts: d.attempts,
    next_attempt_at: d.nextAttemptAt, delivered_at: d.deliveredAt, last_error: d.lastError, created_at: d.createdAt,
  };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** A small TTL map of client records, frozen so that no caller can change what others will read. */
class ClientCache {
  private readonly map = new Map<string, { c: ClientRecord; at: number }>();
  constructor(private readonly ttlMs: number, private readonly max = 10_000) {}
  get(tenantId: string, clientId: string): ClientRecord | undefined {
    const e = this.map.get(`${tenantId}\u0000${clientId}`);
    if (!e) return undefined;
    if (Date.now() - e.at > this.ttlMs) {
      this.map.delete(`${tenantId}\u0000${clientId}`);
      return undefined;
    }
    return e.c;
  }
  set(c: ClientRecord): void {
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
    this.map.set(`${c.tenantId}\u0000${c.clientId}`, { c: deepFreeze(c), at: Date.now() });
  }
  delete(tenantId: string, clientId: string): void {
    this.map.delete(`${tenantId}\u0000${clientId}`);
  }
}
const toPushed = (r: PushedRow): PushedRequestRecord => ({
  tenantId: r.tenant_id, hash: r.hash, clientId: r.client_id, expiresAt: Number(r.expires_at), consumedAt: n(r.consumed_at), data: p(r.data),
});
const toDevice = (r: DeviceRow): DeviceCodeRecord => ({
  tenantId: r.tenant_id, hash: r.hash, userCodeHash: r.user_code_hash, clientId: r.client_id, scope: ps(r.scope),
  status: r.status as DeviceCodeRecord['status'], interval: Number(r.poll_interval), lastPolledAt: n(r.last_polled_at),
  createdAt: Number(r.created_at), expiresAt: Number(r.expires_at), subject: r.subject, decidedAt: n(r.decided_at),
  consumedAt: n(r.consumed_at), data: p(r.data), ...(r.grant_id ? { grantId: r.grant_id } : {}),
});
const toManagementToken = (r: ManagementTokenRow): ManagementTokenRecord => ({
  id: r.id, kind: r.kind as ManagementTokenRecord['kind'], tenantId: r.tenant_id, hash: r.hash, name: r.name,
  createdAt: Number(r.created_at), expiresAt: n(r.expires_at), revokedAt: n(r.revoked_at), remainingUses: n(r.remaining_uses),
});

function clientRow(c: ClientRecord): ClientRow {
  const { tenantId, clientId, secretHash, createdAt, ...metadata } = c;
  return { tenant_id: tenantId, client_id: clientId, secret_hash: secretHash, metadata: j(metadata), created_at: createdAt };
}

const INSERT_TOKEN =
  'insert into "tokens" ("tenant_id", "hash", "kind", "client_id", "subject", "scope", "grant_id", "issued_at", "expires_at", "revoked_at", "consumed_at", "data") values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';

const tokenParams = (t: TokenRecord) => [
  t.tenantId, t.hash, t.kind, t.clientId, t.subject, sc(t.scope), t.grantId, t.issuedAt, t.expiresAt, t.revokedAt, t.consumedAt, j(t.data),
];

const INSERT_GRANT =
  'insert into "grants" ("tenant_id", "id", "client_id", "subject", "scope", "created_at", "revoked_at", "data", "sid", "sweep_after") values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
// sweep_after (GrantSweepStore): nothing can be dead before the code written with the grant has expired.
const grantParams = (g: GrantRecord) => [
  g.tenantId, g.id, g.clientId, g.subject, sc(g.scope), g.createdAt, g.revokedAt, j(g.data), g.sid ?? null, g.createdAt + MAX_AUTHORIZATION_CODE_TTL,
];
const INSERT_CODE = 'insert into "authorization_codes" ("tenant_id", "hash", "client_id", "grant_id", "expires_at", "consumed_at", "data") values (?, ?, ?, ?, ?, ?, ?)';
/** PostgreSQL only (SQLite has no data-modifying WITH): a grant and its code in one statement. */
const INSERT_GRANT_WITH_CODE = `with "g" as (${INSERT_GRANT}) ${INSERT_CODE}`;
const codeParams = (c: AuthorizationCodeRecord) => [c.tenantId, c.hash, c.clientId, c.grantId, c.expiresAt, c.consumedAt, j(c.data)];

/** Prepared statements of KyselyStore.fixed, per SQLite connection; the texts are constants, so the set is small. */
const prepared = new WeakMap<BetterSqlite3.Database, Map<string, BetterSqlite3.Statement>>();
function preparedFor(database: BetterSqlite3.Database, text: string): BetterSqlite3.Statement {
  let byText = prepared.get(database);
  if (!byText) prepared.set(database, (byText = new Map()));
  let stmt = byText.get(text);
  if (!stmt) byText.set(text, (stmt = database.prepare(text)));
  return stmt;
}

/** What KyselyStore needs of a pg Pool: named statements (fixed) and, for transactions, a connection of its own. */
export interface PgQueryable {
  query(q: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
  connect?(): Promise<PgPoolClient>;
}

/** A pooled pg connection (pg.PoolClient), as the store's PostgreSQL transactions use it. */
export interface PgPoolClient {
  query(q: string | { name: string; text: string; values: unknown[] }, values?: unknown[]): Promise<{ rows: unknown[]; command?: string }>;
  /** pg: a truthy argument destroys the connection instead of returning it to the pool. */
  release(destroy?: boolean): void;
}

/**
 * A Kysely bound to one pooled connection for the length of a transaction the store opened itself (transaction()),
 * cached per connection: the query builder's statements run on it unnamed, fixed() ones by name on the same
 * connection. Kysely never releases it (its release is a no-op); the store does, once the transaction ended.
 */
const kyselyOnClient = new WeakMap<PgPoolClient, Kysely<Database>>();
function kyselyOn(client: PgPoolClient): Kysely<Database> {
  let db = kyselyOnClient.get(client);
  if (!db) {
    const held = { query: (text: string, values?: unknown[]) => client.query(text, values), release: () => {} };
    const pool = { connect: async () => held, end: async () => {} } as unknown as PostgresPool;
    kyselyOnClient.set(client, (db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })));
  }
  return db;
}

/**
 * The columns of the tables fixed() statements read, in schema order. test/store/fixed-columns.test.ts checks them
 * against the migrated schema, so a migration that adds a column fails there until it is listed here.
 */
export const FIXED_COLUMNS: Record<string, readonly string[]> = {
  tokens: ['tenant_id', 'hash', 'kind', 'client_id', 'subject', 'scope', 'grant_id', 'issued_at', 'expires_at', 'revoked_at', 'consumed_at', 'data', 'reused_at'],
  grants: ['tenant_id', 'id', 'client_id', 'subject', 'scope', 'created_at', 'revoked_at', 'data', 'sid', 'sweep_after'],
  authorization_codes: ['tenant_id', 'hash', 'client_id', 'grant_id', 'expires_at', 'consumed_at', 'data'],
  tickets: ['tenant_id', 'hash', 'client_id', 'expires_at', 'consumed_at', 'data'],
  sessions: ['tenant_id', 'hash', 'sid', 'subject', 'auth_time', 'acr', 'created_at', 'last_seen_at', 'expires_at', 'ended_at', 'data'],
  users: ['tenant_id', 'id', 'username', 'password_hash', 'claims', 'disabled', 'created_at'],
  consents: ['tenant_id', 'subject', 'client_id', 'scope', 'updated_at'],
};

/**
 * A fixed() text for each dialect: `select * from "t"` and `update "t" … returning *` with t's columns spelled out,
 * and for PostgreSQL `?` numbered `$1`, `$2`, … (the texts hold no other `?`), plus a statement name.
 */
const fixedTexts = new Map<string, { sqlite: string; postgres: string; name: string }>();
export function fixedText(text: string): { sqlite: string; postgres: string; name: string } {
  let out = fixedTexts.get(text);
  if (out === undefined) {
    const listed = (table: string) => {
      const cols = FIXED_COLUMNS[table];
      if (!cols) throw new Error(`fixed(): no column list for table ${table}`);
      return cols.map((c) => `"${c}"`).join(', ');
    };
    let sqlite = text.replace(/^select \* from "(\w+)"/, (_, t: string) => `select ${listed(t)} from "${t}"`);
    sqlite = sqlite.replace(/^(update "(\w+)" .*) returning \*$/, (_, head: string, t: string) => `${head} returning ${listed(t)}`);
    if (sqlite.includes('*')) throw new Error(`fixed(): a * left in ${text}`);
    let i = 0;
    out = { sqlite, postgres: sqlite.replace(/\?/g, () => `$${++i}`), name: `lk_fixed_${fixedTexts.size + 1}` };
    fixedTexts.set(text, out);
  }
  return out;
}

/**
 * One Store implementation over Kysely for both dialects. The dialect only changes how the connection is made
 * (see open.ts); every query here is portable SQL (RETURNING and ON CONFLICT exist in both). The few places
 * where PostgreSQL's concurrency differs (SQLite runs one writer at a time, PostgreSQL many) take an advisory
 * lock on PostgreSQL only.
 */
export class KyselyStore implements Store {
  constructor(
    private readonly db: Kysely<Database> | Transaction<Database>,
    readonly dialect: 'sqlite' | 'postgres',
    private readonly onClose: () => Promise<void> = async () => {},
    private readonly inTransaction = false,
    /** Bound to one connection that holds the start-up lock (see exclusive). */
    private readonly pinned = false,
    /** The root store's client cache: a store bound to a transaction does not read it but must invalidate it. */
    rootClientCache?: ClientCache,
  ) {
    this.clientCache = inTransaction || pinned ? undefined : new ClientCache(5000);
    this.resourceServerCache = inTransaction || pinned ? undefined : new Map();
    this.staleClients = this.clientCache ?? rootClientCache;
  }

  /** Where client writes invalidate cached records (the root's cache, also from inside a transaction). */
  private readonly staleClients: ClientCache | undefined;

  /**
   * The resource server registry (RFC 8707) is read on token requests (to infer a default audience from the
   * scope, RFC 9068 §3) and changes rarely: like clients, the root store keeps each tenant's list for 5 s,
   * frozen; a change made here is seen at once, one made by another instance within 5 s.
   */
  private readonly resourceServerCache: Map<string, { list: readonly ResourceServerRecord[]; at: number }> | undefined;

  /**
   * Clients are read on every back-channel request and change rarely: the root store keeps them for a few seconds
   * (transaction-bound stores never cache). A change made here is seen at once; one made by another process or
   * instance within clientCacheTtlMs.
   */
  private readonly clientCache: ClientCache | undefined;

  /** SQLite only: group commit for token inserts made outside a transaction (see sqlite-batch.ts). */
  private tokenBatcher: SqliteInsertBatcher | undefined;
  /** SQLite only: replay-cache upserts (DPoP proofs, client assertions) group-committed like token inserts. */
  private jtiBatcher: SqliteInsertBatcher | undefined;
  /** SQLite only: audit rows through one prepared statement (Kysely would compile a new multi-row insert per batch). */
  private auditBatcher: SqliteInsertBatcher | undefined;
  /** SQLite only: a grant and its code as one unit, group-committed (insertGrantWithCode). */
  private grantCodeBatcher: SqliteInsertBatcher | undefined;
  private openTransactions = 0;

  /** PostgreSQL only: group commit of token inserts made outside a transaction (see MultiRowInsertBatcher). */
  private pgTokenBatcher: MultiRowInsertBatcher<TokenRecord> | undefined;

  /** PostgreSQL only: the pool, for fixed() statements run as named prepared statements outside transactions. */
  private pgPool: PgQueryable | undefined;

  /** PostgreSQL only: the token look-ups of one turn in one statement (see KeyedReadBatcher). */
  private pgTokenReads: KeyedReadBatcher<TokenRow> | undefined;

  enablePostgresBatching(pool?: PgQueryable): void {
    if (this.dialect !== 'postgres' || this.inTransaction || this.pinned) return;
    this.pgPool = pool;
    if (pool) {
      const text = `${fixedText('select * from "tokens" where "tenant_id" = ?').postgres} and "hash" = any($2::text[])`;
      this.pgTokenReads = new KeyedReadBatcher<TokenRow>(
        async (tenantId, hashes) => (await pool.query({ name: 'lk_tokens_by_hashes', text, values: [tenantId, hashes] })).rows as TokenRow[],
        (r) => r.hash,
      );
    }
    const db = this.db as Kysely<Database>;
    this.pgTokenBatcher = new MultiRowInsertBatcher<TokenRecord>(async (rows) => {
      await db
        .insertInto('tokens')
        .values(rows.map((t) => ({
          tenant_id: t.tenantId, hash: t.hash, kind: t.kind, client_id: t.clientId, subject: t.subject, scope: sc(t.scope),
          grant_id: t.grantId, issued_at: t.issuedAt, expires_at: t.expiresAt, revoked_at: t.revokedAt, consumed_at: t.consumedAt, data: j(t.data),
        })))
        .execute();
    });
  }

  /** SQLite only: the one connection, for group commit and for fixed() statements run on it directly. */
  private sqliteDatabase: BetterSqlite3.Database | undefined;

  /** SQLite only, on the root store: the read transaction its direct reads share within a turn. */
  private sqliteReads: SqliteReadScope | undefined;

  enableSqliteBatching(database: BetterSqlite3.Database, reads?: SqliteReadScope): void {
    this.sqliteDatabase = database;
    this.sqliteReads = reads;
    const beforeWrite = reads ? () => reads.end() : undefined;
    this.tokenBatcher = new SqliteInsertBatcher(
      database,
      INSERT_TOKEN,
      () => this.openTransactions > 0,
      'run',
      undefined,
      beforeWrite,
    );
    this.jtiBatcher = new SqliteInsertBatcher(
      database,
      `insert into "jti_replay_cache" ("tenant_id", "namespace", "jti", "expires_at") values (?, ?, ?, ?) on conflict ("tenant_id", "namespace", "jti") do update set "expires_at" = ? where "jti_replay_cache"."expires_at" <= ? returning "jti"`,
      () => this.openTransactions > 0,
      'get',
      undefined,
      beforeWrite,
    );
    this.grantCodeBatcher = new SqliteInsertBatcher(database, [INSERT_GRANT, INSERT_CODE], () => this.openTransactions > 0, 'run', undefined, beforeWrite);
    this.auditBatcher = new SqliteInsertBatcher(
      database,
      `insert into "audit_events" ("id", "tenant_id", "at", "type", "client_id", "subject", "ip", "result_code", "detail") values (?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict ("id") do nothing`,
      () => this.openTransactions > 0,
      'run',
      undefined,
      beforeWrite,
    );
  }

  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this);
    const connect = this.pgPool?.connect;
    if (connect && !this.pinned) return this.pgTransaction(() => connect.call(this.pgPool), fn);
    this.openTransactions++;
    try {
      return await (this.db as Kysely<Database>).transaction().execute((trx) => {
        const tx = new KyselyStore(trx, this.dialect, async () => {}, true, this.pinned, this.staleClients);
        tx.sqliteDatabase = this.sqliteDatabase; // the transaction holds the one connection: fixed() may use it
        return fn(tx);
      });
    } finally {
      if (--this.openTransactions === 0) {
        this.tokenBatcher?.resume();
        this.grantCodeBatcher?.resume();
        this.auditBatcher?.resume();
        this.jtiBatcher?.resume();
      }
    }
  }

  /**
   * PostgreSQL: a transaction on a pooled connection the store holds itself rather than through Kysely's
   * transaction(), whose connection is out of reach: so fixed() statements inside it run as named prepared
   * statements too (parsed and planned once per connection). BEGIN, COMMIT and ROLLBACK as Kysely sends them; a
   * connection whose ROLLBACK (or BEGIN, COMMIT) failed is destroyed, not returned to the pool.
   */
  private async pgTransaction<T>(connect: () => Promise<PgPoolClient>, fn: (tx: Store) => Promise<T>): Promise<T> {
    const client = await connect();
    let destroy = false;
    // A statement the server refused has a SQLSTATE; anything else (a dead socket, a timeout) leaves the
    // connection in an unknown state.
    const failed = (e: unknown) => {
      const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
      if (!(typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code))) destroy = true;
      return e;
    };
    try {
      await client.query('begin').catch((e) => Promise.reject(failed(e)));
      let out: T;
      try {
        const tx = new KyselyStore(kyselyOn(client), 'postgres', async () => {}, true, false, this.staleClients);
        tx.pgClient = client;
        out = await fn(tx);
      } catch (e) {
        await client.query('rollback').catch(() => {
          destroy = true;
        });
        throw e;
      }
      const { command } = await client.query('commit').catch((e) => Promise.reject(failed(e)));
      // PostgreSQL completes COMMIT with a ROLLBACK tag when an earlier error aborted the transaction.
      if (command === 'ROLLBACK') throw new Error('the transaction was aborted by an earlier error and rolled back');
      return out;
    } finally {
      client.release(destroy);
    }
  }

  /** PostgreSQL, inside a transaction the store opened (pgTransaction): its connection. */
  private pgClient: PgPoolClient | undefined;

  /**
   * Run a statement whose text never varies (`?` placeholders; `*` stands for the table's columns, spelled out by
   * fixedText), without the query builder: building and compiling a query costs more than running these point reads
   * and single-row writes (bench/README.md).
   * - SQLite: a cached prepared statement runs on the connection directly when that is safe: inside this store's
   *   own transaction (which holds the connection) or when no transaction is open (another one's uncommitted rows
   *   would be visible).
   * - PostgreSQL, outside a transaction: a named prepared statement on a pooled connection, so the server parses
   *   and plans it once per connection (a point read measured ~85 µs of client and server CPU instead of ~150).
   *   The columns are listed, never `*`: a column added by a newer instance's migration must not change a cached
   *   plan's result type (which PostgreSQL refuses).
   * - PostgreSQL, inside the store's own transaction (pgTransaction): a named prepared statement on its connection.
   * - Otherwise (a pinned store's transaction): the fixed text through Kysely's executor, on the transaction's connection.
   */
  private async fixed<R>(text: string, params: readonly unknown[]): Promise<R[]> {
    const f = fixedText(text);
    const database = this.sqliteDatabase;
    if (database && (this.inTransaction || this.openTransactions === 0)) {
      const stmt = preparedFor(database, f.sqlite);
      const reads = this.inTransaction ? undefined : this.sqliteReads;
      try {
        // Outside a transaction: a read joins the turn's read transaction, anything else ends it first (sqlite-read-scope.ts).
        if (reads && isPlainRead(stmt)) return reads.read(() => stmt.all(...params) as R[]);
        reads?.end();
        if (stmt.reader) return stmt.all(...params) as R[];
        stmt.run(...params);
        return [];
      } catch (e) {
        // busy_timeout is 0 (sqlite-busy.ts): outside a transaction, a statement that met another process's write
        // lock did nothing, and Kysely's executor below retries it without blocking the event loop. Inside ours
        // (BEGIN IMMEDIATE holds the lock) a BUSY cannot happen; anything else is the caller's error.
        if (this.inTransaction || !isSqliteBusy(e)) throw e;
      }
    }
    if (this.pgClient) return (await this.pgClient.query({ name: f.name, text: f.postgres, values: params as unknown[] })).rows as R[];
    if (this.pgPool && !this.inTransaction) {
      return (await this.pgPool.query({ name: f.name, text: f.postgres, values: params as unknown[] })).rows as R[];
    }
    const compiled = CompiledQuery.raw(this.dialect === 'postgres' ? f.postgres : f.sqlite, params as unknown[]);
    return (await this.db.executeQuery<R>(compiled)).rows as R[];
  }

  async migrate(): Promise<string[]> {
    return migrateToLatest(this.db as Kysely<Database>);
  }

  /** Migrations this build has that the database has not run. */
  async pendingMigrations(): Promise<string[]> {
    return pendingMigrations(this.db as Kysely<Database>);
  }

  /**
   * Run fn holding the start-up lock: a session-level advisory lock on PostgreSQL, on a connection of its own
   * that fn's store also uses (so a pool of one cannot deadlock, and Kysely's Migrator can still open its own
   * transactions, which an advisory *transaction* lock would forbid). On SQLite fn simply runs.
   */
  async exclusive<T>(fn: (store: KyselyStore) => Promise<T>): Promise<T> {
    if (this.dialect !== 'postgres' || this.pinned || this.inTransaction) return fn(this);
    return (this.db as Kysely<Database>).connection().execute(async (conn) => {
      await sql`select pg_advisory_lock(hashtext('latchkey.startup'))`.execute(conn);
      let ok = false;
      try {
        const out = await fn(new KyselyStore(conn, this.dialect, async () => {}, false, true, this.staleClients));
        ok = true;
        return out;
      } finally {
        // When the connection itself failed, its session (and the lock) is gone already.
        await sql`select pg_advisory_unlock(hashtext('latchkey.startup'))`.execute(conn).catch((e) => {
          if (ok) throw e;
        });
      }
    });
  }

  /**
   * Inside a transaction: serialise writers of one tenant's row family on PostgreSQL (read-modify-write
   * sequences such as "max(seq) + 1, demote the active key"). SQLite already runs one write transaction at a time.
   */
  private async lockTenant(db: Kysely<Database> | Transaction<Database>, scope: string, tenantId: string): Promise<void> {
    if (this.dialect !== 'postgres') return;
    await sql`select pg_advisory_xact_lock(hashtext(${scope}), hashtext(${tenantId}))`.execute(db);
  }

  async ping(): Promise<void> {
    await this.db.selectFrom('tenants').select('id').limit(1).execute();
  }

  async close(): Promise<void> {
    await this.onClose();
  }

  // tenants
  async findTenant(id: string) {
    const r = await this.db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toTenant(r);
  }
  async createTenant(t: TenantRecord) {
    await this.db.insertInto('tenants').values({ id: t.id, issuer: t.issuer, settings: j(t.settings), created_at: t.createdAt }).execute();
  }
  async listTenants() {
    return (await this.db.selectFrom('tenants').selectAll().orderBy('created_at').execute()).map(toTenant);
  }

  // clients
  async findClient(tenantId: string, clientId: string) {
    const hit = this.clientCache?.get(tenantId, clientId);
    if (hit) return hit;
    const r = await this.db.selectFrom('clients').selectAll().where('tenant_id', '=', tenantId).where('client_id', '=', clientId).executeTakeFirst();
    const c = r && toClient(r);
    if (c) this.clientCache?.set(c);
    return c;
  }
  async createClient(c: ClientRecord) {
    this.staleClients?.delete(c.tenantId, c.clientId);
    await this.db.insertInto('clients').values(clientRow(c)).execute();
  }
  async updateClient(c: ClientRecord, condition?: ClientWriteCondition) {
    this.staleClients?.delete(c.tenantId, c.clientId);
    // A fresh revision with every write: a conditional write built from what was read before this one then finds none.
    const row = clientRow({ ...c, revision: randomBytes(16).toString('base64url') });
    let q = this.db
      .updateTable('clients')
      .set({ secret_hash: row.secret_hash, metadata: row.metadata })
      .where('tenant_id', '=', c.tenantId)
      .where('client_id', '=', c.clientId);
    if (condition) q = q.where(this.registrationTokenIs(condition));
    if (condition?.revision !== undefined) q = q.where(this.clientRevisionIs(condition.revision));
    const r = await q.executeTakeFirst();
    // Again after the write: a read racing it may have cached the old record in between.
    this.staleClients?.delete(c.tenantId, c.clientId);
    return Number(r.numUpdatedRows) > 0;
  }
  /** The clients row's registration access token hash (inside the metadata JSON) is the expected one; null: it has none. */
  private registrationTokenIs(condition: ClientWriteCondition) {
    return this.metadataMemberIs('registrationAccessTokenHash', condition.registrationAccessTokenHash);
  }
  /** The clients row's revision (inside the metadata JSON) is the expected one; null: it has none (stored before revisions). */
  private clientRevisionIs(revision: string | null) {
    return this.metadataMemberIs('revision', revision);
  }
  /** A string member of the clients row's metadata JSON equals `value`, or is absent when `value` is null. */
  private metadataMemberIs(member: 'registrationAccessTokenHash' | 'revision', value: string | null) {
    const v = this.metadataMember(member);
    return value === null ? sql<boolean>`${v} is null` : sql<boolean>`${v} = ${value}`;
  }
  /** A string member of the clients row's metadata JSON (null when absent). */
  private metadataMember(member: 'registrationAccessTokenHash' | 'revision' | 'registeredThrough') {
    return this.dialect === 'postgres' ? sql`("metadata"::json ->> ${sql.lit(member)})` : sql`json_extract("metadata", ${sql.lit(`$.${member}`)})`;
  }
  async createClientWithinLimit(c: ClientRecord, max: number) {
    return this.transaction(async (store) => {
      const tx = store as KyselyStore;
      // PostgreSQL runs concurrent transactions: without the lock, two could each count max - 1 and both insert.
      await tx.lockTenant(tx.db, 'latchkey.open_registration', c.tenantId);
      const through = tx.metadataMember('registeredThrough');
      const row = await tx.db
        .selectFrom('clients')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('tenant_id', '=', c.tenantId)
        .where(sql<boolean>`${tx.metadataMember('registrationAccessTokenHash')} is not null`)
        .where(sql<boolean>`(${through} is null or ${through} <> 'token')`)
        .executeTakeFirst();
      if (Number(row?.n ?? 0) >= max) return false;
      await tx.createClient(c);
      return true;
    });
  }
  async listClients(tenantId: string) {
    return (await this.db.selectFrom('clients').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at').orderBy('client_id').execute()).map(toClient);
  }
  async deleteClient(tenantId: string, clientId: string, condition?: ClientWriteCondition) {
    this.staleClients?.delete(tenantId, clientId);
    let q = this.db.deleteFrom('clients').where('tenant_id', '=', tenantId).where('client_id', '=', clientId);
    if (condition) q = q.where(this.registrationTokenIs(condition));
    if (condition?.revision !== undefined) q = q.where(this.clientRevisionIs(condition.revision));
    const r = await q.executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // users
  async findUserById(tenantId: string, id: string) {
    const r = (await this.fixed<UserRow>('select * from "users" where "tenant_id" = ? and "id" = ?', [tenantId, id]))[0];
    return r && toUser(r);
  }
  async findUserByUsername(tenantId: string, username: string) {
    const r = await this.db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).where('username', '=', username).executeTakeFirst();
    return r && toUser(r);
  }
  async createUser(u: UserRecord) {
    await this.db
      .insertInto('users')
      .values({
        tenant_id: u.tenantId, id: u.id, username: u.username, password_hash: u.passwordHash,
        claims: j(u.claims), disabled: u.disabled ? 1 : 0, created_at: u.createdAt,
      })
      .execute();
  }
  async listUsers(tenantId: string) {
    return (await this.db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at').orderBy('username').execute()).map(toUser);
  }
  async deleteUser(tenantId: string, id: string) {
    const r = await this.db.deleteFrom('users').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
    // The user's authenticator app goes with the account (a user made again under the same id does not inherit it).
    await this.db.deleteFrom('user_otp').where('tenant_id', '=', tenantId).where('user_id', '=', id).execute();
    await this.db.deleteFrom('user_recovery_codes').where('tenant_id', '=', tenantId).where('user_id', '=', id).execute();
    await this.db.deleteFrom('user_webauthn').where('tenant_id', '=', tenantId).where('user_id', '=', id).execute();
    return Number(r.numDeletedRows) > 0;
  }

  // authenticator apps (RFC 6238; services/mfa.ts)
  async findOtp(tenantId: string, userId: string) {
    const r = await this.db.selectFrom('user_otp').selectAll().where('tenant_id', '=', tenantId).where('user_id', '=', userId).executeTakeFirst();
    return r && { tenantId: r.tenant_id, userId: r.user_id, secret: r.secret, confirmedAt: n(r.confirmed_at), lastStep: Number(r.last_step), createdAt: Number(r.created_at) };
  }
  async putPendingOtp(o: OtpRecord) {
    const r = await this.db
      .insertInto('user_otp')
      .values({ tenant_id: o.tenantId, user_id: o.userId, secret: o.secret, confirmed_at: null, last_step: o.lastStep, created_at: o.createdAt })
      .onConflict((oc) => oc.columns(['tenant_id', 'user_id']).doUpdateSet({ secret: o.secret, last_step: o.lastStep, created_at: o.createdAt }).where('user_otp.confirmed_at', 'is', null))
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }
  async acceptOtpStep(tenantId: string, userId: string, step: number, opts: { confirm: boolean; now: number; recoveryCodes?: string[] }): Promise<boolean> {
    const codes = opts.recoveryCodes;
    if (codes) {
      // The confirmation and the user's first recovery codes commit together: never two-step sign-in on without them.
      return this.transaction(async (tx) => {
        const won = await tx.acceptOtpStep(tenantId, userId, step, { confirm: opts.confirm, now: opts.now });
        if (won) await tx.replaceRecoveryCodes(tenantId, userId, codes);
        return won;
      });
    }
    const r = await this.db
      .updateTable('user_otp')
      .set({ last_step: step, ...(opts.confirm ? { confirmed_at: opts.now } : {}) })
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('last_step', '<', step)
      .where('confirmed_at', opts.confirm ? 'is' : 'is not', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
  async deleteOtp(tenantId: string, userId: string) {
    return this.transaction(async (tx) => {
      const db = (tx as KyselyStore).db;
      const r = await db.deleteFrom('user_otp').where('tenant_id', '=', tenantId).where('user_id', '=', userId).executeTakeFirst();
      await db.deleteFrom('user_recovery_codes').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
      // Security keys are a second way to the same second step: they go when two-step sign-in does.
      await db.deleteFrom('user_webauthn').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
      return Number(r.numDeletedRows) > 0;
    });
  }
  async replaceRecoveryCodes(tenantId: string, userId: string, hashes: string[]) {
    await this.transaction(async (tx) => {
      const db = (tx as KyselyStore).db;
      await db.deleteFrom('user_recovery_codes').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
      if (hashes.length) await db.insertInto('user_recovery_codes').values(hashes.map((hash) => ({ tenant_id: tenantId, user_id: userId, hash, used_at: null }))).execute();
    });
  }
  async useRecoveryCode(tenantId: string, userId: string, hash: string, now: number) {
    const r = await this.db
      .updateTable('user_recovery_codes')
      .set({ used_at: now })
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('hash', '=', hash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
  // security keys and passkeys (WebAuthn; services/webauthn.ts)
  async listWebauthnCredentials(tenantId: string, userId: string): Promise<WebauthnCredentialRecord[]> {
    const rows = await this.db.selectFrom('user_webauthn').selectAll().where('tenant_id', '=', tenantId).where('user_id', '=', userId).orderBy('created_at').orderBy('credential_id').execute();
    return rows.map((r) => ({
      tenantId: r.tenant_id, userId: r.user_id, credentialId: r.credential_id, publicKey: r.public_key, counter: Number(r.counter),
      transports: JSON.parse(r.transports) as string[], name: r.name, createdAt: Number(r.created_at), lastUsedAt: n(r.last_used_at),
    }));
  }
  async addWebauthnCredential(c: WebauthnCredentialRecord) {
    const r = await this.db
      .insertInto('user_webauthn')
      .values({
        tenant_id: c.tenantId, credential_id: c.credentialId, user_id: c.userId, public_key: c.publicKey, counter: c.counter,
        transports: JSON.stringify(c.transports), name: c.name, created_at: c.createdAt, last_used_at: c.lastUsedAt,
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'credential_id']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }
  async useWebauthnCredential(tenantId: string, userId: string, credentialId: string, previousCounter: number, counter: number, now: number) {
    const r = await this.db
      .updateTable('user_webauthn')
      .set({ counter, last_used_at: now })
      .where('tenant_id', '=', tenantId)
      .where('credential_id', '=', credentialId)
      .where('user_id', '=', userId)
      .where('counter', '=', previousCounter)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
  async deleteWebauthnCredential(tenantId: string, userId: string, credentialId: string) {
    const r = await this.db.deleteFrom('user_webauthn').where('tenant_id', '=', tenantId).where('credential_id', '=', credentialId).where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
  async countRecoveryCodes(tenantId: string, userId: string) {
    const r = await this.db
      .selectFrom('user_recovery_codes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  // signing keys
  async listKeys(tenantId: string) {
    return (await this.db.selectFrom('signing_keys').selectAll().where('tenant_id', '=', tenantId).orderBy('seq').execute()).map(toKey);
  }
  async addActiveKeys(keys: SigningKeyRecord[]) {
    await this.transaction(async (tx) => {
      const db = (tx as KyselyStore).db;
      // Two rotations at once would both read the same max(seq) and both leave an active key per alg.
      for (const tenantId of [...new Set(keys.map((k) => k.tenantId))].sort()) await this.lockTenant(db, 'latchkey.signing_keys', tenantId);
      for (const k of keys) {
        const max = await db.selectFrom('signing_keys').select((eb) => eb.fn.max('seq').as('m')).where('tenant_id', '=', k.tenantId).executeTakeFirst();
        const seq = Number(max?.m ?? 0) + 1;
        const activatesAt = k.activatesAt ?? k.createdAt;
        // A staged key (issue 8) leaves the current key signing until its activation time.
        if (activatesAt <= k.createdAt) {
          await db
            .updateTable('signing_keys')
            .set({ status: 'published' })
            .where('tenant_id', '=', k.tenantId)
            .where('alg', '=', k.alg)
            .where('status', '=', 'active')
            .execute();
        }
        await db
          .insertInto('signing_keys')
          .values({
            tenant_id: k.tenantId, kid: k.kid, alg: k.alg, status: 'active', public_jwk: j(k.publicJwk),
            private_jwe: k.privateJwe, created_at: k.createdAt, seq, activates_at: activatesAt,
          })
          .execute();
      }
    });
  }
  async keysVersion(tenantId: string) {
    const r = await this.db.selectFrom('signing_keys').select((eb) => eb.fn.max('seq').as('m')).where('tenant_id', '=', tenantId).executeTakeFirst();
    return Number(r?.m ?? 0);
  }

  // tokens
  async insertToken(t: TokenRecord) {
    if (this.pgTokenBatcher) return this.pgTokenBatcher.insert(t);
    if (this.tokenBatcher) {
      await this.tokenBatcher.insert(tokenParams(t));
      return;
    }
    await this.fixed(INSERT_TOKEN, tokenParams(t));
  }
  async findToken(tenantId: string, hash: string) {
    // Every introspection, revocation and UserInfo call reads one token by key (see fixed()); on PostgreSQL, outside
    // a transaction, the reads of one turn share one statement.
    const r = this.pgTokenReads
      ? await this.pgTokenReads.read(tenantId, hash)
      : (await this.fixed<TokenRow>('select * from "tokens" where "tenant_id" = ? and "hash" = ?', [tenantId, hash]))[0];
    return r && toToken(r);
  }
  async consumeToken(tenantId: string, hash: string, now: number, keepUntil?: number) {
    const r = await this.db
      .updateTable('tokens')
      .set(keepUntil === undefined ? { consumed_at: now } : { consumed_at: now, expires_at: keepUntil })
      .where('tenant_id', '=', tenantId)
      .where('hash', '=', hash)
      .where('consumed_at', 'is', null)
      .where('revoked_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    return r && toToken(r);
  }
  async extendToken(tenantId: string, hash: string, expiresAt: number) {
    await this.db
      .updateTable('tokens')
      .set({ expires_at: expiresAt })
      .where('tenant_id', '=', tenantId)
      .where('hash', '=', hash)
      .where('revoked_at', 'is', null)
      .execute();
  }
  async reuseRotatedToken(tenantId: string, hash: string, now: number, rotatedSince: number) {
    const r = await this.db
      .updateTable('tokens')
      .set({ reused_at: now })
      .where('tenant_id', '=', tenantId)
      .where('hash', '=', hash)
      .where('consumed_at', '>=', rotatedSince)
      .where('reused_at', 'is', null)
      .where('revoked_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    return r && toToken(r);
  }
  async revokeToken(tenantId: string, hash: string, now: number) {
    await this.db
      .updateTable('tokens')
      .set({ revoked_at: now })
      .where('tenant_id', '=', tenantId)
      .where('hash', '=', hash)
      .where('revoked_at', 'is', null)
      .execute();
  }

  // grants
  async insertGrant(g: GrantRecord) {
    await this.fixed(INSERT_GRANT, grantParams(g));
  }
  async listGrantsBySid(tenantId: string, sid: string) {
    return (await this.db.selectFrom('grants').selectAll().where('tenant_id', '=', tenantId).where('sid', '=', sid).orderBy('created_at').execute()).map(toGrant);
  }
  async findGrant(tenantId: string, id: string) {
    const r = (await this.fixed<GrantRow>('select * from "grants" where "tenant_id" = ? and "id" = ?', [tenantId, id]))[0];
    return r && toGrant(r);
  }
  async findGrantLocked(tenantId: string, id: string) {
    if (this.dialect !== 'postgres') return this.findGrant(tenantId, id);
    // The lock an UPDATE of the grant takes (revokeGrant's): two token requests of one grant take turns, so one that
    // revokes the grant in its own transaction (refresh-token.ts, an ended session) never waits on the other's lock
    // while the other waits on its. Weaker than FOR UPDATE: inserts that only reference the grant are not held up.
    const r = (await this.fixed<GrantRow>('select * from "grants" where "tenant_id" = ? and "id" = ? for no key update', [tenantId, id]))[0];
    return r && toGrant(r);
  }
  async findUserLocked(tenantId: string, id: string) {
    if (this.dialect !== 'postgres') return this.findUserById(tenantId, id);
    // FOR SHARE conflicts with the lock an UPDATE (setDisabled) or DELETE (deleteUser) of the row takes; several
    // token requests of one user still run side by side.
    const r = (await this.fixed<UserRow>('select * from "users" where "tenant_id" = ? and "id" = ? for share', [tenantId, id]))[0];
    return r && toUser(r);
  }
  async revokeGrant(tenantId: string, id: string, now: number) {
    await this.transaction(async (tx) => {
      const db = (tx as KyselyStore).db;
      await db.updateTable('grants').set({ revoked_at: now }).where('tenant_id', '=', tenantId).where('id', '=', id).where('revoked_at', 'is', null).execute();
      await db.updateTable('tokens').set({ revoked_at: now }).where('tenant_id', '=', tenantId).where('grant_id', '=', id).where('revoked_at', 'is', null).execute();
    });
  }

  // authorization codes
  async insertCode(c: AuthorizationCodeRecord) {
    await this.fixed(INSERT_CODE, codeParams(c));
  }
  async insertGrantWithCode(g: GrantRecord, c: AuthorizationCodeRecord) {
    if (this.grantCodeBatcher) {
      await this.grantCodeBatcher.insert([grantParams(g), codeParams(c)]);
      return;
    }
    if (this.pgPool && !this.inTransaction) {
      // PostgreSQL: one statement writes both rows (a data-modifying WITH runs to completion whether or not it is
      // read), atomic on its own: one round trip instead of a transaction's four.
      await this.fixed(INSERT_GRANT_WITH_CODE, [...grantParams(g), ...codeParams(c)]);
      return;
    }
    await this.transaction(async (tx) => {
      await tx.insertGrant(g);
      await tx.insertCode(c);
    });
  }
  async consumeCode(tenantId: string, hash: string, now: number) {
    const won = (
      await this.fixed<CodeRow>('update "authorization_codes" set "consumed_at" = ? where "tenant_id" = ? and "hash" = ? and "consumed_at" is null returning *', [now, tenantId, hash])
    )[0];
    if (won) return { code: toCode(won), firstUse: true };
    const seen = await this.findCode(tenantId, hash);
    return seen && { code: seen, firstUse: false };
  }
  async findCode(tenantId: string, hash: string) {
    const r = (await this.fixed<CodeRow>('select * from "authorization_codes" where "tenant_id" = ? and "hash" = ?', [tenantId, hash]))[0];
    return r && toCode(r);
  }

  // tickets
  async insertTicket(t: TicketRecord) {
    await this.fixed('insert into "tickets" ("tenant_id", "hash", "client_id", "expires_at", "consumed_at", "data") values (?, ?, ?, ?, ?, ?)', [
      t.tenantId, t.hash, t.clientId, t.expiresAt, t.consumedAt, j(t.data),
    ]);
  }
  async findTicket(tenantId: string, hash: string) {
    const r = (await this.fixed<TicketRow>('select * from "tickets" where "tenant_id" = ? and "hash" = ?', [tenantId, hash]))[0];
    return r && toTicket(r);
  }
  async updateTicketData(tenantId: string, hash: string, data: Record<string, unknown>) {
    await this.db.updateTable('tickets').set({ data: j(data) }).where('tenant_id', '=', tenantId).where('hash', '=', hash).where('consumed_at', 'is', null).execute();
  }
  async releaseTicket(tenantId: string, hash: string, consumedAt: number) {
    const r = await this.db.updateTable('tickets').set({ consumed_at: null }).where('tenant_id', '=', tenantId).where('hash', '=', hash).where('consumed_at', '=', consumedAt).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
  async consumeTicket(tenantId: string, hash: string, now: number) {
    const r = (await this.fixed<TicketRow>('update "tickets" set "consumed_at" = ? where "tenant_id" = ? and "hash" = ? and "consumed_at" is null returning *', [now, tenantId, hash]))[0];
    return r && toTicket(r);
  }

  // sessions
  async insertSession(s: SessionRecord) {
    await this.db
      .insertInto('sessions')
      .values({
        tenant_id: s.tenantId, hash: s.hash, sid: s.sid, subject: s.subject, auth_time: s.authTime, acr: s.acr, created_at: s.createdAt,
        last_seen_at: s.lastSeenAt, expires_at: s.expiresAt, ended_at: s.endedAt, data: j(s.data),
      })
      .execute();
  }
  async findSession(tenantId: string, hash: string) {
    const r = (await this.fixed<SessionRow>('select * from "sessions" where "tenant_id" = ? and "hash" = ?', [tenantId, hash]))[0];
    return r && toSession(r);
  }
  async touchSession(tenantId: string, hash: string, now: number) {
    await this.db.updateTable('sessions').set({ last_seen_at: now }).where('tenant_id', '=', tenantId).where('hash', '=', hash).execute();
  }
  async endSession(tenantId: string, hash: string, now: number) {
    await this.db.updateTable('sessions').set({ ended_at: now }).where('tenant_id', '=', tenantId).where('hash', '=', hash).where('ended_at', 'is', null).execute();
  }

  async findSessionBySid(tenantId: string, sid: string) {
    const r = await this.db.selectFrom('sessions').selectAll().where('tenant_id', '=', tenantId).where('sid', '=', sid).executeTakeFirst();
    return r && toSession(r);
  }
  async listSessionsBySubject(tenantId: string, subject: string, now: number) {
    const rows = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('subject', '=', subject)
      .where('ended_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map(toSession);
  }
  async endSessionBySid(tenantId: string, sid: string, now: number) {
    const r = await this.db.updateTable('sessions').set({ ended_at: now }).where('tenant_id', '=', tenantId).where('sid', '=', sid).where('ended_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
  async renewSession(tenantId: string, hash: string, next: Pick<SessionRecord, 'hash' | 'authTime' | 'acr' | 'lastSeenAt' | 'expiresAt' | 'data'>) {
    const r = await this.db
      .updateTable('sessions')
      .set({ hash: next.hash, auth_time: next.authTime, acr: next.acr, last_seen_at: next.lastSeenAt, expires_at: next.expiresAt, data: j(next.data) })
      .where('tenant_id', '=', tenantId)
      .where('hash', '=', hash)
      .where('ended_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    return r && toSession(r as SessionRow);
  }

  // back-channel logout deliveries
  async insertDelivery(d: LogoutDeliveryRecord) {
    await this.db.insertInto('logout_deliveries').values(deliveryRow(d)).execute();
  }
  async updateDelivery(d: LogoutDeliveryRecord) {
    const row = deliveryRow(d);
    await this.db
      .updateTable('logout_deliveries')
      .set({ attempts: row.attempts, next_attempt_at: row.next_attempt_at, delivered_at: row.delivered_at, last_error: row.last_error })
      .where('tenant_id', '=', d.tenantId)
      .where('id', '=', d.id)
      .execute();
  }
  async dueDeliveries(now: number, limit: number) {
    return (await this.db.selectFrom('logout_deliveries').selectAll().where('next_attempt_at', '<=', now).orderBy('next_attempt_at').limit(limit).execute()).map(toDelivery);
  }
  async claimDelivery(tenantId: string, id: string, expectedNext: number, leaseUntil: number) {
    const r = await this.db
      .updateTable('logout_deliveries')
      .set({ next_attempt_at: leaseUntil })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('next_attempt_at', '=', expectedNext)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
  async listDeliveries(tenantId: string, clientId?: string) {
    let q = this.db.selectFrom('logout_deliveries').selectAll().where('tenant_id', '=', tenantId);
    if (clientId) q = q.where('client_id', '=', clientId);
    return (await q.orderBy('created_at').execute()).map(toDelivery);
  }

  // consents
  async findConsent(tenantId: string, subject: string, clientId: string) {
    const r = (
      await this.fixed<ConsentRow>('select * from "consents" where "tenant_id" = ? and "subject" = ? and "client_id" = ?', [tenantId, subject, clientId])
    )[0];
    return r && ({ tenantId: r.tenant_id, subject: r.subject, clientId: r.client_id, scope: ps(r.scope), updatedAt: Number(r.updated_at) } satisfies ConsentRecord);
  }
  async listConsentsOfSubject(tenantId: string, subject: string) {
    const rows = await this.db.selectFrom('consents').selectAll().where('tenant_id', '=', tenantId).where('subject', '=', subject).orderBy('updated_at', 'desc').orderBy('client_id').execute();
    return rows.map((r) => ({ tenantId: r.tenant_id, subject: r.subject, clientId: r.client_id, scope: ps(r.scope), updatedAt: Number(r.updated_at) }) satisfies ConsentRecord);
  }
  async saveConsent(c: ConsentRecord) {
    await this.db
      .insertInto('consents')
      .values({ tenant_id: c.tenantId, subject: c.subject, client_id: c.clientId, scope: sc(c.scope), updated_at: c.updatedAt })
      .onConflict((oc) => oc.columns(['tenant_id', 'subject', 'client_id']).doUpdateSet({ scope: sc(c.scope), updated_at: c.updatedAt }))
      .execute();
  }

  async addConsent(c: ConsentRecord, notBefore: number) {
    return this.transaction(async (tx) => {
      const db = (tx as KyselyStore).db;
      // The row first, so that on PostgreSQL the locked read below has a row to lock: two first consents at once then
      // take turns instead of the second overwriting the first (on SQLite the transaction's BEGIN IMMEDIATE does).
      await db
        .insertInto('consents')
        .values({ tenant_id: c.tenantId, subject: c.subject, client_id: c.clientId, scope: '', updated_at: notBefore - 1 })
        .onConflict((oc) => oc.columns(['tenant_id', 'subject', 'client_id']).doNothing())
        .execute();
      let read = db.selectFrom('consents').select(['scope', 'updated_at']).where('tenant_id', '=', c.tenantId).where('subject', '=', c.subject).where('client_id', '=', c.clientId);
      if (this.dialect === 'postgres') read = read.forUpdate();
      const prior = await read.executeTakeFirstOrThrow();
      const kept = Number(prior.updated_at) >= notBefore ? ps(prior.scope) : [];
      const scope = [...new Set([...kept, ...c.scope])];
      await db
        .updateTable('consents')
        .set({ scope: sc(scope), updated_at: c.updatedAt })
        .where('tenant_id', '=', c.tenantId)
        .where('subject', '=', c.subject)
        .where('client_id', '=', c.clientId)
        .execute();
      return scope;
    });
  }

  // rate limits
  async hit(key: string, windowStart: number, expiresAt: number) {
    const r = await this.db
      .insertInto('rate_limits')
      .values({ key, window_start: windowStart, count: 1, expires_at: expiresAt })
      .onConflict((oc) => oc.columns(['key', 'window_start']).doUpdateSet((eb) => ({ count: eb('rate_limits.count', '+', 1) })))
      .returning('count')
      .executeTakeFirstOrThrow();
    return Number(r.count);
  }
  async count(key: string, windowStart: number) {
    const r = await this.db.selectFrom('rate_limits').select('count').where('key', '=', key).where('window_start', '=', windowStart).executeTakeFirst();
    return r ? Number(r.count) : 0;
  }
  async reset(key: string) {
    await this.db.deleteFrom('rate_limits').where('key', '=', key).execute();
  }

  // resource servers (RFC 8707)
  async findResourceServer(tenantId: string, identifier: string) {
    if (this.resourceServerCache) return (await this.listResourceServers(tenantId)).find((r) => r.identifier === identifier);
    const r = await this.db.selectFrom('resource_servers').selectAll().where('tenant_id', '=', tenantId).where('identifier', '=', identifier).executeTakeFirst();
    return r && toResourceServer(r);
  }
  async listResourceServers(tenantId: string) {
    const hit = this.resourceServerCache?.get(tenantId);
    if (hit && Date.now() - hit.at <= 5000) return hit.list as ResourceServerRecord[];
    const list = (await this.db.selectFrom('resource_servers').selectAll().where('tenant_id', '=', tenantId).orderBy('identifier').execute()).map(toResourceServer);
    if (this.resourceServerCache) {
      if (this.resourceServerCache.size >= 10_000) this.resourceServerCache.delete(this.resourceServerCache.keys().next().value!);
      this.resourceServerCache.set(tenantId, { list: deepFreeze(list), at: Date.now() });
    }
    return list;
  }
  async createResourceServer(rs: ResourceServerRecord) {
    const { tenantId, identifier, createdAt, ...metadata } = rs;
    await this.db.insertInto('resource_servers').values({ tenant_id: tenantId, identifier, metadata: j(metadata), created_at: createdAt }).execute();
    this.resourceServerCache?.delete(tenantId);
  }
  async deleteResourceServer(tenantId: string, identifier: string) {
    const r = await this.db.deleteFrom('resource_servers').where('tenant_id', '=', tenantId).where('identifier', '=', identifier).executeTakeFirst();
    this.resourceServerCache?.delete(tenantId);
    return Number(r.numDeletedRows) > 0;
  }
  async updateResourceServer(rs: ResourceServerRecord) {
    const { tenantId, identifier, createdAt: _kept, ...metadata } = rs;
    const r = await this.db.updateTable('resource_servers').set({ metadata: j(metadata) }).where('tenant_id', '=', tenantId).where('identifier', '=', identifier).executeTakeFirst();
    this.resourceServerCache?.delete(tenantId);
    return Number(r.numUpdatedRows) > 0;
  }

  // pushed authorization requests (RFC 9126)
  async insertPushedRequest(r: PushedRequestRecord) {
    await this.db
      .insertInto('pushed_requests')
      .values({ tenant_id: r.tenantId, hash: r.hash, client_id: r.clientId, expires_at: r.expiresAt, consumed_at: r.consumedAt, data: j(r.data) })
      .execute();
  }
  async consumePushedRequest(tenantId: string, hash: string, now: number, clientId?: string) {
    let q = this.db
      .updateTable('pushed_requests')
      .set({ consumed_at: now })
      .where('tenant_id', '=', tenantId)
      .where('hash', '=', hash)
      .where('consumed_at', 'is', null);
    if (clientId !== undefined) q = q.where('client_id', '=', clientId); // RFC 9126 §4: bound to the pushing client
    const r = await q
      .returningAll()
      .executeTakeFirst();
    return r && toPushed(r);
  }

  // device authorizations (RFC 8628)
  async insertDeviceCode(d: DeviceCodeRecord) {
    await this.db
      .insertInto('device_codes')
      .values({
        tenant_id: d.tenantId, hash: d.hash, user_code_hash: d.userCodeHash, client_id: d.clientId, scope: sc(d.scope), status: d.status,
        poll_interval: d.interval, last_polled_at: d.lastPolledAt, created_at: d.createdAt, expires_at: d.expiresAt, subject: d.subject,
        decided_at: d.decidedAt, consumed_at: d.consumedAt, data: j(d.data),
      })
      .execute();
  }
  async findDeviceCodeByUserCode(tenantId: string, userCodeHash: string) {
    const r = await this.db.selectFrom('device_codes').selectAll().where('tenant_id', '=', tenantId).where('user_code_hash', '=', userCodeHash).executeTakeFirst();
    return r && toDevice(r);
  }
  async pollDeviceCode(tenantId: string, hash: string, now: number, clientId: string) {
    const onTime = await this.db
      .updateTable('device_codes')
      .set({ last_polled_at: now })
      .where('tenant_id', '=', tenantId)
      .where('hash', '=', hash)
      .where('client_id', '=', clientId) // RFC 8628 §3.5: another client's poll leaves the row alone
      .where((eb) => eb.or([eb('last_polled_at', 'is', null), eb(eb('last_polled_at', '+', eb.ref('poll_interval')), '<=', now)]))
      .returningAll()
      .executeTakeFirst();
    if (onTime) return { record: toDevice(onTime), slowDown: false };
    const early = await this.db
      .updateTable('device_codes')
      .set((eb) => ({ poll_interval: eb('poll_interval', '+', 5), last_polled_at: now }))
      .where('tenant_id', '=', tenantId)
      .where('hash', '=', hash)
      .where('client_id', '=', clientId)
      .returningAll()
      .executeTakeFirst();
    return early && { record: toDevice(early), slowDown: true };
  }
  async decideDeviceCode(
    tenantId: string,
    userCodeHash: string,
    decision: { status: 'approved' | 'denied'; subject: string | null; scope?: string[]; data: Record<string, unknown> },
    now: number,
  ) {
    const r = await this.db
      .updateTable('device_codes')
      .set({
        status: decision.status,
        subject: decision.subject,
        decided_at: now,
        data: j(decision.data),
        ...(decision.scope ? { scope: sc(decision.scope) } : {}),
      })
      .where('tenant_id', '=', tenantId)
      .where('user_code_hash', '=', userCodeHash)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .returningAll()
      .executeTakeFirst();
    return r && toDevice(r);
  }
  async consumeDeviceCode(tenantId: string, hash: string, now: number, grantId?: string) {
    const r = await this.db
      .updateTable('device_codes')
      .set({ consumed_at: now, ...(grantId !== undefined ? { grant_id: grantId } : {}) })
      .where('tenant_id', '=', tenantId)
      .where('hash', '=', hash)
      .where('status', '=', 'approved')
      .where('consumed_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    return r && toDevice(r);
  }
  async listPendingDeviceCodesOf(tenantId: string, subject: string, now: number, limit: number) {
    const rows = await this.db
      .selectFrom('device_codes')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('subject', '=', subject)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toDevice);
  }
  async findDeviceCode(tenantId: string, hash: string) {
    const r = await this.db.selectFrom('device_codes').selectAll().where('tenant_id', '=', tenantId).where('hash', '=', hash).executeTakeFirst();
    return r && toDevice(r);
  }

  // users (issue 6)
  async updateUser(u: UserRecord) {
    const r = await this.db
      .updateTable('users')
      .set({ username: u.username, password_hash: u.passwordHash, claims: j(u.claims), disabled: u.disabled ? 1 : 0 })
      .where('tenant_id', '=', u.tenantId)
      .where('id', '=', u.id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  // signing keys (issue 6)
  async retireKey(tenantId: string, kid: string, from: 'published' | 'active' = 'published') {
    return this.transaction(async (tx) => {
      const db = (tx as KyselyStore).db;
      await this.lockTenant(db, 'latchkey.signing_keys', tenantId);
      // keysVersion is max(seq): the retired row takes the next seq, so every instance sees a new version.
      const max = await db.selectFrom('signing_keys').select((eb) => eb.fn.max('seq').as('m')).where('tenant_id', '=', tenantId).executeTakeFirst();
      const r = await db
        .updateTable('signing_keys')
        .set({ status: 'retired', seq: Number(max?.m ?? 0) + 1 })
        .where('tenant_id', '=', tenantId)
        .where('kid', '=', kid)
        .where('status', '=', from) // whether the key may go is keyStates' rule (KeyManager.retire); this only settles races
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    });
  }

  // grants and sessions by user or client (issue 6)
  async listGrantsOfSubject(tenantId: string, subject: string) {
    const rows = await this.db
      .selectFrom('grants')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('subject', '=', subject)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .execute();
    return rows.map(toGrant);
  }
  async revokeSubject(tenantId: string, subject: string, now: number) {
    await this.transaction(async (tx) => {
      const db = (tx as KyselyStore).db;
      // Device codes first (PostgreSQL): a redemption in progress holds its code's row, so this waits for it to commit,
      // and the statements below (each its own snapshot) then see the grant and tokens it made. Run last, they missed
      // them, and the redeemed code no longer matched: the tokens stayed live (RFC 7009 §2.1).
      await db.updateTable('device_codes').set({ status: 'denied' }).where('tenant_id', '=', tenantId).where('subject', '=', subject).where('status', 'in', ['approved', 'pending']).where('consumed_at', 'is', null).execute();
      await db.updateTable('grants').set({ revoked_at: now }).where('tenant_id', '=', tenantId).where('subject', '=', subject).where('revoked_at', 'is', null).execute();
      await db.updateTable('tokens').set({ revoked_at: now }).where('tenant_id', '=', tenantId).where('subject', '=', subject).where('revoked_at', 'is', null).execute();
    });
  }
  async revokeClientTokens(tenantId: string, clientId: string, now: number) {
    await this.transaction(async (tx) => {
      const db = (tx as KyselyStore).db;
      await db.updateTable('grants').set({ revoked_at: now }).where('tenant_id', '=', tenantId).where('client_id', '=', clientId).where('revoked_at', 'is', null).execute();
      await db.updateTable('tokens').set({ revoked_at: now }).where('tenant_id', '=', tenantId).where('client_id', '=', clientId).where('revoked_at', 'is', null).execute();
    });
  }
  // replay cache (issue 6)
  private lastJtiPurge = 0;
  async rememberJti(tenantId: string, namespace: string, jti: string, expiresAt: number, now: number) {
    // An expired entry may be taken over (its assertion can no longer be accepted anyway); a live one may not.
    // INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING is one statement on both dialects: 0 rows = replay.
    // On SQLite, outside transactions, the statements of one event-loop turn share one commit (sqlite-batch.ts).
    const r = this.jtiBatcher
      ? await this.jtiBatcher.insert([tenantId, namespace, jti, expiresAt, expiresAt, now])
      : await this.db
          .insertInto('jti_replay_cache')
          .values({ tenant_id: tenantId, namespace, jti, expires_at: expiresAt })
          .onConflict((oc) =>
            oc
              .columns(['tenant_id', 'namespace', 'jti'])
              .doUpdateSet({ expires_at: expiresAt })
              .where('jti_replay_cache.expires_at', '<=', now),
          )
          .returning('jti')
          .executeTakeFirst();
    if (now - this.lastJtiPurge >= 60) {
      this.lastJtiPurge = now;
      await this.db.deleteFrom('jti_replay_cache').where('expires_at', '<=', now).execute();
    }
    return r !== undefined;
  }

  // management tokens (issue 6)
  async insertManagementToken(t: ManagementTokenRecord) {
    await this.db
      .insertInto('management_tokens')
      .values({
        id: t.id, kind: t.kind, tenant_id: t.tenantId, hash: t.hash, name: t.name, created_at: t.createdAt,
        expires_at: t.expiresAt, revoked_at: t.revokedAt, remaining_uses: t.remainingUses,
      })
      .execute();
  }
  async listManagementTokens(kind: ManagementTokenRecord['kind']) {
    return (await this.db.selectFrom('management_tokens').selectAll().where('kind', '=', kind).orderBy('created_at').orderBy('id').execute()).map(toManagementToken);
  }
  async findManagementToken(kind: ManagementTokenRecord['kind'], hash: string, now: number) {
    const r = await this.db
      .selectFrom('management_tokens')
      .selectAll()
      .where('kind', '=', kind)
      .where('hash', '=', hash)
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .where((eb) => eb.or([eb('remaining_uses', 'is', null), eb('remaining_uses', '>', 0)]))
      .executeTakeFirst();
    return r && toManagementToken(r);
  }
  async useManagementToken(kind: ManagementTokenRecord['kind'], hash: string, now: number) {
    // One conditional statement: a counted token cannot be used more often than allowed, even by racers.
    const r = await this.db
      .updateTable('management_tokens')
      .set((eb) => ({ remaining_uses: eb.case().when('remaining_uses', 'is', null).then(null).else(eb('remaining_uses', '-', 1)).end() }))
      .where('kind', '=', kind)
      .where('hash', '=', hash)
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .where((eb) => eb.or([eb('remaining_uses', 'is', null), eb('remaining_uses', '>', 0)]))
      .returningAll()
      .executeTakeFirst();
    return r && toManagementToken(r);
  }
  async revokeManagementToken(kind: ManagementTokenRecord['kind'], id: string, now: number) {
    const r = await this.db
      .updateTable('management_tokens')
      .set({ revoked_at: now })
      .where('kind', '=', kind)
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  // Core API service tokens
  async insertServiceToken(t: ServiceTokenRecord) {
    await this.db
      .insertInto('service_tokens')
      .values({ id: t.id, tenant_id: t.tenantId, hash: t.hash, name: t.name, created_at: t.createdAt, revoked_at: t.revokedAt })
      .execute();
  }
  async findServiceTokenByHash(hash: string) {
    const r = await this.db.selectFrom('service_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
    return r && toServiceToken(r);
  }
  async listServiceTokens() {
    return (await this.db.selectFrom('service_tokens').selectAll().orderBy('created_at').orderBy('id').execute()).map(toServiceToken);
  }
  async revokeServiceToken(id: string, now: number) {
    const r = await this.db.updateTable('service_tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  // audit events (docs/audit.md)
  async insertAuditEvents(events: AuditEventRecord[]) {
    if (events.length === 0) return;
    if (this.auditBatcher) {
      const b = this.auditBatcher;
      await Promise.all(events.map((e) => b.insert([e.id, e.tenantId, e.at, e.type, e.clientId, e.subject, e.ip, e.resultCode, j(e.detail)])));
      return;
    }
    await this.db
      .insertInto('audit_events')
      .values(events.map((e) => ({
        id: e.id, tenant_id: e.tenantId, at: e.at, type: e.type, client_id: e.clientId, subject: e.subject, ip: e.ip,
        result_code: e.resultCode, detail: j(e.detail),
      })))
      .onConflict((oc) => oc.column('id').doNothing()) // AuditLog retries a batch whose reply was lost
      .execute();
  }
  async listAuditEvents(tenantId: string, q: AuditEventQuery) {
    let query = this.db.selectFrom('audit_events').selectAll().where('tenant_id', '=', tenantId);
    if (q.type !== undefined) query = query.where('type', '=', q.type);
    if (q.since !== undefined) query = query.where('at', '>=', q.since);
    const rows = await query.orderBy('at', 'desc').orderBy('id', 'desc').limit(q.limit).execute();
    return rows.map((r) => ({
      id: r.id, tenantId: r.tenant_id, at: Number(r.at), type: r.type, clientId: r.client_id, subject: r.subject, ip: r.ip,
      resultCode: r.result_code, detail: p<Record<string, unknown>>(r.detail),
    }));
  }
  // operations: cleanup leases and bounded deletes
  async acquireLease(name: string, holder: string, now: number, until: number) {
    const inserted = await this.db
      .insertInto('ops_leases')
      .values({ name, holder, expires_at: until })
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return true;
    const r = await this.db
      .updateTable('ops_leases')
      .set({ holder, expires_at: until })
      .where('name', '=', name)
      .where('expires_at', '<=', now)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async purgeExpired(target: PurgeTarget, cutoff: number, limit: number) {
    const p = PURGES[target];
    const keys = sql.join(p.keys.map((k) => sql.ref(k)));
    // Portable bounded delete: the primary keys of at most `limit` dead rows, then those rows (row values in IN
    // work on SQLite ≥ 3.15 and PostgreSQL; neither has DELETE … LIMIT in every build).
    const r = await sql`delete from ${sql.table(p.table)} where (${keys}) in (select ${keys} from ${sql.table(p.table)} where ${p.dead(cutoff)} limit ${limit})`.execute(this.db);
    return Number(r.numAffectedRows ?? 0);
  }

  async purgeIdleSessions(tenantId: string, lastSeenBefore: number, limit: number) {
    // The outer condition again: on PostgreSQL a row touched (last_seen_at moved) between the subquery's read and the
    // delete is re-checked against it (READ COMMITTED re-reads the updated row), and kept.
    // One tenant: its rows named by hash (no row-value IN, which can lead PostgreSQL's planner to a hash join over the
    // whole table), both sides found by the (tenant_id, last_seen_at) index.
    const idle = sql`"tenant_id" = ${tenantId} and "last_seen_at" < ${lastSeenBefore}`;
    return this.transaction(async (store) => {
      const tx = store as KyselyStore;
      const r = await sql<{ sid: string }>`delete from "sessions" where ${idle} and "hash" in (select "hash" from "sessions" where ${idle} limit ${limit}) returning "sid"`.execute(tx.db);
      // Their grants were scheduled for the sweep at the sessions' absolute end (sweepGrants): due now instead, so the
      // same sweep deletes those nothing else keeps (its grant pass runs after the sessions).
      if (r.rows.length) {
        await sql`update "grants" set "sweep_after" = 0 where "tenant_id" = ${tenantId} and "sid" in (${sql.join(r.rows.map((x) => x.sid))}) and "sweep_after" > 0`.execute(tx.db);
      }
      return r.rows.length;
    });
  }

  /**
   * GrantSweepStore. One transaction per batch: a SELECT takes the batch (the oldest grants past their sweep_after, by
   * its index), an UPDATE moves each one's sweep_after to the end of what refers to it, a DELETE removes those of them
   * that end before the cutoff, re-checking the rule itself. On PostgreSQL the SELECT takes the rows FOR UPDATE SKIP
   * LOCKED: the sweep never waits on (or deadlocks with) a request holding a grant (a token request's findGrantLocked,
   * a revocation), and until commit none can take one of the batch; the UPDATE and DELETE, later statements, read what
   * such a request committed before (READ COMMITTED: a fresh snapshot each), so a token issued under a grant at the
   * last moment keeps it. SQLite runs one writer at a time. The UPDATE and DELETE name their rows by key, one tenant
   * at a time (`tenant_id = ? and id in (…)`): a primary-key lookup on both dialects, where a row-value IN list or
   * subquery lets PostgreSQL's planner pick a hash join over the whole table.
   */
  async sweepGrants(cutoff: number, limit: number) {
    return this.transaction(async (store) => {
      const tx = store as KyselyStore;
      const skipLocked = tx.dialect === 'postgres' ? sql` for update skip locked` : sql``;
      const batch = await sql<{ tenant_id: string; id: string }>`select "tenant_id", "id" from "grants" where "sweep_after" < ${cutoff} order by "sweep_after" limit ${limit}${skipLocked}`.execute(tx.db);
      if (batch.rows.length === 0) return { examined: 0, deleted: 0 };
      const byTenant = new Map<string, string[]>();
      for (const r of batch.rows) byTenant.set(r.tenant_id, [...(byTenant.get(r.tenant_id) ?? []), r.id]);
      const larger = (a: ReturnType<typeof sql>, b: ReturnType<typeof sql>) => sql`(case when ${a} > ${b} then ${a} else ${b} end)`;
      const codeWindow = sql`("grants"."created_at" + ${MAX_AUTHORIZATION_CODE_TTL})`;
      // Kept rows as the cleanup keeps them (PURGES): a token until its expires_at (a rotated refresh token's is its
      // family's end, consumeToken), a session until it expires or ends, whichever is first.
      const tokensEnd = sql`(select max("t"."expires_at") from "tokens" as "t" where "t"."tenant_id" = "grants"."tenant_id" and "t"."grant_id" = "grants"."id")`;
      const sessionEnd = sql`(select max(case when "s"."ended_at" is not null and "s"."ended_at" < "s"."expires_at" then "s"."ended_at" else "s"."expires_at" end) from "sessions" as "s" where "s"."tenant_id" = "grants"."tenant_id" and "s"."sid" = "grants"."sid")`;
      const end = larger(larger(sql`coalesce(${tokensEnd}, ${codeWindow})`, sql`coalesce(${sessionEnd}, ${codeWindow})`), codeWindow);
      let deleted = 0;
      for (const [tenantId, ids] of byTenant) {
        const keys = sql`"tenant_id" = ${tenantId} and "id" in (${sql.join(ids)})`;
        const visited = await sql<{ id: string; sweep_after: number | string }>`update "grants" set "sweep_after" = ${end} where ${keys} returning "id", "sweep_after"`.execute(tx.db);
        const dead = visited.rows.filter((r) => Number(r.sweep_after) < cutoff).map((r) => r.id);
        if (dead.length === 0) continue;
        const r = await sql`delete from "grants" where "tenant_id" = ${tenantId} and "id" in (${sql.join(dead)}) and ${codeWindow} < ${cutoff}
          and not exists (select 1 from "tokens" as "t" where "t"."tenant_id" = "grants"."tenant_id" and "t"."grant_id" = "grants"."id" and "t"."expires_at" >= ${cutoff})
          and not exists (select 1 from "sessions" as "s" where "s"."tenant_id" = "grants"."tenant_id" and "s"."sid" = "grants"."sid" and "s"."expires_at" >= ${cutoff} and ("s"."ended_at" is null or "s"."ended_at" >= ${cutoff}))`.execute(tx.db);
        deleted += Number(r.numAffectedRows ?? 0);
      }
      return { examined: batch.rows.length, deleted };
    });
  }

  // consent and pending-interaction cleanup (ConsentCleanupStore): one statement each
  async deleteConsent(tenantId: string, subject: string, clientId: string) {
    const r = await this.db.deleteFrom('consents').where('tenant_id', '=', tenantId).where('subject', '=', subject).where('client_id', '=', clientId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
  async deleteClientConsents(tenantId: string, clientId: string) {
    return this.deleteOfClient('consents', tenantId, clientId);
  }
  async deleteSubjectConsents(tenantId: string, subject: string) {
    const r = await this.db.deleteFrom('consents').where('tenant_id', '=', tenantId).where('subject', '=', subject).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
  async deleteClientTickets(tenantId: string, clientId: string) {
    return this.deleteOfClient('tickets', tenantId, clientId);
  }
  async deleteClientPushedRequests(tenantId: string, clientId: string) {
    return this.deleteOfClient('pushed_requests', tenantId, clientId);
  }
  async deleteClientDeviceCodes(tenantId: string, clientId: string) {
    return this.deleteOfClient('device_codes', tenantId, clientId);
  }
  /** Delete a client's rows of one table; how many went. */
  private async deleteOfClient(table: 'consents' | 'tickets' | 'pushed_requests' | 'device_codes', tenantId: string, clientId: string): Promise<number> {
    const r = await this.db.deleteFrom(table).where('tenant_id', '=', tenantId).where('client_id', '=', clientId).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

/** What "dead" means per table for the cleanup job (see MaintenanceStore.purgeExpired). */
const PURGES: Record<PurgeTarget, { table: string; keys: string[]; dead: (cutoff: number) => ReturnType<typeof sql> }> = {
  authorization_codes: { table: 'authorization_codes', keys: ['tenant_id', 'hash'], dead: (c) => sql`expires_at < ${c}` },
  tickets: { table: 'tickets', keys: ['tenant_id', 'hash'], dead: (c) => sql`expires_at < ${c}` },
  tokens: { table: 'tokens', keys: ['tenant_id', 'hash'], dead: (c) => sql`expires_at < ${c}` },
  sessions: { table: 'sessions', keys: ['tenant_id', 'hash'], dead: (c) => sql`(expires_at < ${c} or ended_at < ${c})` },
  rate_limits: { table: 'rate_limits', keys: ['key', 'window_start'], dead: (c) => sql`expires_at < ${c}` },
  logout_deliveries: { table: 'logout_deliveries', keys: ['tenant_id', 'id'], dead: (c) => sql`next_attempt_at is null and created_at < ${c}` },
  pushed_requests: { table: 'pushed_requests', keys: ['tenant_id', 'hash'], dead: (c) => sql`expires_at < ${c}` },
  device_codes: { table: 'device_codes', keys: ['tenant_id', 'hash'], dead: (c) => sql`expires_at < ${c}` },
  jti_replay_cache: { table: 'jti_replay_cache', keys: ['tenant_id', 'namespace', 'jti'], dead: (c) => sql`expires_at < ${c}` },
  // Audit events carry milliseconds; the cutoff is in seconds.
  audit_events: { table: 'audit_events', keys: ['id'], dead: (c) => sql`at < ${c * 1000}` },
};
