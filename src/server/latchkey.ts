import { AuditLog } from '../audit/audit.js';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { resolve, join } from 'node:path';
import type { JSONWebKeySet } from 'jose';
import { ConfigError } from '../config/load.js';
import { jsonFileProblem } from '../ops/json-error.js';
import { guardedFetch } from '../engine/remote.js';
import type { Config } from '../config/schema.js';
import type { EngineContext, TenantSettings } from '../engine/context.js';
import type { EngineLogger } from '../engine/result.js';
import type { ClientSettings } from '../engine/client-settings.js';
import { KeyEncryptionKeyMismatchError, KeyManager } from '../keys/keystore.js';
import { secretBox, type SecretBox } from '../keys/secret-box.js';
import { loadMasterKeys } from '../keys/master-key.js';
import { openStore } from '../store/open.js';
import { isStoreUnreachable } from '../store/unavailable.js';
import { BackchannelDispatcher, type BackchannelOptions } from '../services/backchannel.js';
import { reissueLogoutToken } from '../tokens/logout-token.js';
import { DEFAULT_TENANT, type Store, type TenantRecord } from '../store/types.js';
import { Hasher, secureRandom, type RandomSource } from '../tokens/handles.js';
import { LatchkeyMetrics } from '../ops/metrics.js';
import { CleanupJob } from '../ops/cleanup.js';
import { issuerOfTenant } from './tenant-issuer.js';
import type { AccountSource } from '../engine/accounts.js';
import { TtlCache } from '../resource-server/ttl-cache.js';

/** Latchkey.context for an id no tenant has (a caller answers 404, not 500). */
export class UnknownTenantError extends Error {
  override name = 'UnknownTenantError';
}

/**
 * How long (ms) a tenant id found missing stays known as missing, and how many such ids are kept: a flood of
 * requests for an unknown /t/<id> costs one query per id per TTL, and a tenant created by another instance is
 * served within the TTL (at once on the instance that created it).
 */
export const UNKNOWN_TENANT_TTL_MS = 5000;
export const UNKNOWN_TENANT_MAX = 1000;

/** The database schema is older than this build and migrations are not run at start (migrateOnStart: false). */
export class SchemaBehindError extends Error {
  override name = 'SchemaBehindError';
}

export interface LatchkeyOptions {
  config: Config;
  log?: EngineLogger;
  clock?: () => number;
  random?: RandomSource;
  backchannel?: BackchannelOptions;
  /** Use this store instead of opening config.databaseUrl (tests). */
  store?: Store;
  /** Apply pending migrations (default: config.migrateOnStart). When false, a schema behind this build is an error. */
  migrate?: boolean;
  /** How often cached signing keys are re-validated against the store, ms (default 30 s; tests lower it). */
  keyRecheckMs?: number;
  /** The default tenant's accounts live in an embedding application (createLatchkey), not in the users table. */
  accounts?: AccountSource;
}

/** A database URL without its credentials and parameters, to print (postgresql://host:port/db). */
export function databaseLocation(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'PostgreSQL';
  }
}

/**
 * A PostgreSQL connection that failed: refused, unreachable, wrong credentials (SQLSTATE class 28), no such database
 * (3D000), a TLS mismatch. Not a failure of a database that was reached (a lock timeout while another instance
 * migrates, a deadlock, a full disk): isStoreUnreachable, not isStoreUnavailable. SQLite opens a file: its errors name it already.
 */
function cannotConnect(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && (/^28[0-9A-Z]{3}$/.test(code) || code === '3D000' || code === 'ENOTFOUND')) return true;
  const message = String((e as { message?: unknown } | undefined)?.message ?? '');
  return isStoreUnreachable(e) || (/SSL|self[- ]signed|certificate/i.test(message) && !(e instanceof ConfigError));
}

/**
 * SQLite's "attempt to write a readonly database" (a database file or folder of another user) names no file: say
 * which, and what to check.
 */
function sqliteFileError(config: Config, e: unknown): Error | undefined {
  const url = databaseUrlOf(config);
  const code = (e as { code?: unknown } | undefined)?.code;
  if (!url.startsWith('sqlite:') || typeof code !== 'string' || !/^SQLITE_(READONLY|CANTOPEN|PERM)/.test(code)) return undefined;
  return new Error(
    `cannot write the database ${url.slice('sqlite:'.length)}: ${(e as Error).message} (the user running latchkey needs write access to the file and its folder)`,
    { cause: e },
  );
}

export function databaseUrlOf(config: Config): string {
  return config.databaseUrl ?? `sqlite:${join(resolve(config.dataDir), 'latchkey.db')}`;
}

export function tenantSettingsFrom(config: Config): TenantSettings {
  return {
    accessTokenTtl: config.accessTokenTtl,
    idTokenTtl: config.idTokenTtl,
    refreshTokenTtl: config.refreshTokenTtl,
    authorizationCodeTtl: config.authorizationCodeTtl,
    interactionTtl: config.interactionTtl,
    sessionTtl: config.sessionTtl,
    sessionIdleTtl: config.sessionIdleTtl,
    accessTokenFormat: config.accessTokenFormat,
    loginRateLimit: config.loginRateLimit,
    loginRateWindow: config.loginRateWindow,
    refreshTokenIdleTtl: config.refreshTokenIdleTtl,
    refreshTokenRotation: config.refreshTokenRotation,
    refreshTokenReuseInterval: config.refreshTokenReuseInterval,
    requirePushedAuthorizationRequests: config.requirePushedAuthorizationRequests,
    pushedAuthorizationRequestTtl: config.pushedAuthorizationRequestTtl,
    allowRemoteRequestUri: config.allowRemoteRequestUri,
    allowRegistration: config.allowRegistration,
    defaultAcr: config.defaultAcr,
    deviceCodeTtl: config.deviceCodeTtl,
    deviceCodeInterval: config.deviceCodeInterval,
    userCodeRateLimit: config.userCodeRateLimit,
    cibaRequestTtl: config.cibaRequestTtl,
    cibaPollInterval: config.cibaPollInterval,
    cibaNotifyUrl: config.cibaNotifyUrl,
    loginRateLimitPerIp: config.loginRateLimitPerIp,
    rateLimitPerClient: config.rateLimitPerClient,
    rateLimitPerIp: config.rateLimitPerIp,
    rateLimitWindow: config.rateLimitWindow,
    dpopNonces: config.dpopNonces,
    dpopProofWindow: config.dpopProofWindow,
    introspectionNamedClientsOnly: config.introspectionNamedClientsOnly,
    requireSignedRequestObject: config.requireSignedRequestObject,
    fapiProfile: config.fapiProfile,
    insecureLegacyClientAssertionAudience: config.insecureLegacyClientAssertionAudience,
    authorizationDetailsTypes: config.authorizationDetailsTypes,
  };
}

/** A tenant's effective settings: the server's (tenantSettingsFrom) under the tenant's own overrides. */
export function settingsOfTenant(config: Config, t: Pick<TenantRecord, 'settings'>): TenantSettings {
  return { ...tenantSettingsFrom(config), ...(t.settings as Partial<TenantSettings>) };
}

/** Every certificate in a PEM bundle. */
export function readCertificates(path: string, option: string): X509Certificate[] {
  let text: string;
  try {
    text = readFileSync(resolve(path), 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read ${option} ${path}: ${(e as Error).message}`);
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) throw new ConfigError(`${option} ${path} holds no PEM certificate`);
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch (e) {
    throw new ConfigError(`${option} ${path}: ${(e as Error).message}`);
  }
}

function readJwks(path: string, option: string): JSONWebKeySet {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(resolve(path), 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read ${option} ${path}: ${jsonFileProblem(e)}`);
  }
  const keys = (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || !keys.length) throw new ConfigError(`${option} ${path} must be a JWK Set ({"keys": [...]})`);
  return parsed as JSONWebKeySet;
}

/** The server-wide client settings from the configuration (files are read once, at start). */
export function clientSettingsFrom(config: Config): ClientSettings {
  return {
    trustAnchors: config.tlsClientCa ? readCertificates(config.tlsClientCa, 'tlsClientCa') : [],
    certificatesAvailable: config.tlsCert !== undefined || config.clientCertificateHeader !== undefined,
    keySet: { allowHttp: config.insecureAllowHttpJwksUri, fetch: guardedFetch(config.insecureRemoteFetchAddresses) },
    registration: config.registration,
    registrationScopes: config.registrationScopes,
    registrationMaxClients: config.registrationMaxClients,
    registrationTrustedHosts: config.registrationTrustedHosts,
    softwareStatementKeys: config.softwareStatementJwks ? readJwks(config.softwareStatementJwks, 'softwareStatementJwks') : undefined,
    allowHttpSectorIdentifierUri: config.insecureAllowHttpSectorIdentifierUri,
    remoteFetchAddresses: config.insecureRemoteFetchAddresses,
    ...(config.mtlsBaseUrl ? { mtls: { issuer: config.issuer, baseUrl: config.mtlsBaseUrl } } : {}),
  };
}

/** The default tenant, served at the root, is created on first start with its signing keys. */
async function ensureDefaultTenant(config: Config, store: Store, keys: KeyManager, clock: () => number): Promise<void> {
  const existing = await store.findTenant(DEFAULT_TENANT);
  if (!existing) {
    try {
      await store.createTenant({ id: DEFAULT_TENANT, issuer: config.issuer, settings: {}, createdAt: Math.floor(clock() / 1000) });
    } catch (e) {
      if (!(await store.findTenant(DEFAULT_TENANT))) throw e; // another instance won the race
    }
  }
  await keys.ensureKeys(DEFAULT_TENANT);
}

/**
 * One running Latchkey: the store, the key manager and a cached engine context per tenant.
 * The HTTP server, the CLI and the Core API all work through this object.
 */
export class Latchkey {
  private readonly contexts = new Map<string, EngineContext>();

  private constructor(
    readonly config: Config,
    readonly store: Store,
    readonly keys: KeyManager,
    readonly hasher: Hasher,
    readonly clock: () => number,
    readonly random: RandomSource,
    private log: EngineLogger | undefined,
    /** Encrypts recoverable secrets (client_secret_jwt) under the key-encryption key. */
    readonly secrets: SecretBox,
    readonly clientSettings: ClientSettings,
    backchannel: BackchannelOptions | undefined,
  ) {
    this.backchannel = new BackchannelDispatcher(store, clock, log, backchannel);
    // Back-Channel Logout §2.6: a late retry gets a fresh logout token (the stored one has expired by then).
    // The dispatcher passes the client as it is now (it gives up deliveries whose client is gone or whose
    // backchannel_logout_uri changed), so the fresh token is for the current client.
    this.backchannel.refresh = async (d, client) => reissueLogoutToken(await this.context(d.tenantId), client, d.logoutToken);
    this.audit = new AuditLog(store, clock, log);
    this.cleanup = new CleanupJob(
      store,
      clock,
      {
        intervalS: config.cleanupInterval,
        graceS: config.cleanupGrace,
        retentionS: config.cleanupRetention,
        auditRetentionS: config.auditRetention,
        // Read from the store each sweep (not the cached contexts): a tenant's settings changed by another instance count.
        sessionIdleTtls: async () =>
          (await store.listTenants()).map((t) => ({ tenantId: t.id, idleTtl: settingsOfTenant(config, t).sessionIdleTtl })),
      },
      this.metrics,
      log,
    );
  }

  /** The audit trail (docs/audit.md). */
  readonly audit: AuditLog;

  /** This process's metrics (GET /metrics; a cluster primary sums its workers'). */
  readonly metrics = new LatchkeyMetrics();

  /** The cleanup job (started by `serve`). */
  readonly cleanup: CleanupJob;

  /** The default tenant's accounts when an embedding application keeps them (createLatchkey's findAccount). */
  accounts: AccountSource | undefined;

  /** Tenant ids recently found missing (UNKNOWN_TENANT_TTL_MS): a negative cache in front of the tenant lookup. */
  readonly unknownTenants = new TtlCache<true>(UNKNOWN_TENANT_MAX, () => this.clock());

  /** Set when shutting down: /readyz answers 503 so balancers stop sending requests. */
  draining = false;

  /** Back-channel logout deliveries (and their retries). */
  readonly backchannel: BackchannelDispatcher;

  /** The server's logger, once attached (none for a library host that attached none). */
  get logger(): EngineLogger | undefined {
    return this.log;
  }

  /** Attach the server's logger (engine failures are logged through it). */
  setLogger(log: EngineLogger): void {
    this.log = log;
    this.backchannel.log = log;
    this.audit.log = log;
    this.cleanup.log = log;
    for (const ctx of this.contexts.values()) ctx.log = log;
  }

  static async open(opts: LatchkeyOptions): Promise<Latchkey> {
    const { config } = opts;
    const clock = opts.clock ?? Date.now;
    const { keys: master, generated } = loadMasterKeys({ configured: config.keyEncryptionKey, dataDir: resolve(config.dataDir) });
    const clientSettings = clientSettingsFrom(config);
    let store: Store;
    if (opts.store) {
      store = opts.store;
      await ensureDefaultTenant(config, store, new KeyManager(store, master.keyEncryptionKey, clock), clock);
    } else {
      const opened = await openStore({ url: databaseUrlOf(config), migrate: false, poolSize: config.databasePoolSize }).catch((e: unknown) => {
        throw sqliteFileError(config, e) ?? e;
      });
      const migrate = opts.migrate ?? config.migrateOnStart;
      try {
        // Several instances may start at once on one PostgreSQL database: migrations and the bootstrap run
        // under one database-wide lock, so exactly one of them creates the default tenant and its first keys.
        await opened.exclusive(async (s) => {
          if (migrate) await s.migrate();
          else {
            const pending = await s.pendingMigrations();
            if (pending.length) {
              throw new SchemaBehindError(
                `the database schema is behind this version (${pending.length} pending migration${pending.length > 1 ? 's' : ''}: ${pending.join(', ')}); run \`latchkey migrate\` first (migrateOnStart is false)`,
              );
            }
          }
          await ensureDefaultTenant(config, s, new KeyManager(s, master.keyEncryptionKey, clock), clock);
        });
      } catch (e) {
        await opened.close();
        if (generated && e instanceof KeyEncryptionKeyMismatchError) {
          // master.key was missing (a wrong dataDir, a restore without it) and one was just made for a database set up
          // with another: drop it, or it would sit in dataDir looking like the right one.
          rmSync(generated, { force: true });
          throw new ConfigError(
            `${generated} was missing, and the database's signing keys were encrypted with another key: restore the master.key this ` +
              'database was set up with (or set keyEncryptionKey to it), or check dataDir and databaseUrl; no new master.key was kept',
          );
        }
        const fileError = sqliteFileError(config, e);
        if (fileError) throw fileError;
        if (!databaseUrlOf(config).startsWith('sqlite:') && cannotConnect(e)) {
          // pg says "connect ECONNREFUSED 127.0.0.1:5432" or "password authentication failed for user x": name the database.
          throw new Error(`cannot connect to the database ${databaseLocation(databaseUrlOf(config))}: ${(e as Error).message}`, { cause: e });
        }
        throw e;
      }
      store = opened;
    }
    const keys = new KeyManager(store, master.keyEncryptionKey, clock, opts.keyRecheckMs, config.keyActivationDelay);
    const secrets = secretBox(master.keyEncryptionKey, 'client-secret');
    const lk = new Latchkey(config, store, keys, new Hasher(master.hashKey), clock, opts.random ?? secureRandom, opts.log, secrets, clientSettings, {
      fetch: guardedFetch(config.insecureRemoteFetchAddresses),
      ...opts.backchannel,
    });
    lk.accounts = opts.accounts;
    keys.startBackgroundChecks();
    return lk;
  }

  /** Issuer of a tenant: the default tenant follows the configured issuer. */
  private issuerOf(t: TenantRecord): string {
    return issuerOfTenant(this.config.issuer, t);
  }

  async context(tenantId: string = DEFAULT_TENANT): Promise<EngineContext> {
    const hit = this.contexts.get(tenantId);
    if (hit) return hit;
    const t = await this.store.findTenant(tenantId);
    if (!t) throw new UnknownTenantError(`unknown tenant ${tenantId}`);
    await this.keys.forTenant(t.id); // preload: requests never load keys themselves
    const ctx: EngineContext = {
      tenant: { id: t.id, issuer: this.issuerOf(t), settings: settingsOfTenant(this.config, t) },
      store: this.store,
      keys: () => this.keys.forTenant(t.id),
      hasher: this.hasher,
      clock: this.clock,
      random: this.random,
      log: this.log,
      secrets: this.secrets,
      clients: this.clientSettings,
      notify: (m) => this.backchannel.notify(m),
      ...(t.id === DEFAULT_TENANT && this.accounts ? { accounts: this.accounts } : {}),
    };
    this.contexts.set(tenantId, ctx);
    return ctx;
  }

  async close(): Promise<void> {
    this.backchannel.stop();
    await this.cleanup.stop();
    this.keys.stopBackgroundChecks();
    await this.keys.settled();
    await this.audit.flush(); // a clean shutdown loses no audit event
    await this.store.close();
  }
}
