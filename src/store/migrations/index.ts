import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';

/**
 * Portable schema: text, bigint (epoch seconds) and JSON-as-text only, so that SQLite and PostgreSQL share
 * every migration and every query. Migrations are append-only: never edit one that has shipped.
 */
const m001: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('tenants')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('issuer', 'text', (c) => c.notNull())
      .addColumn('settings', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('clients')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('secret_hash', 'text')
      .addColumn('metadata', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('clients_pk', ['tenant_id', 'client_id'])
      .execute();

    await db.schema
      .createTable('users')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('username', 'text', (c) => c.notNull())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('claims', 'text', (c) => c.notNull())
      .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('users_pk', ['tenant_id', 'id'])
      .addUniqueConstraint('users_username_uq', ['tenant_id', 'username'])
      .execute();

    await db.schema
      .createTable('signing_keys')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('kid', 'text', (c) => c.notNull())
      .addColumn('alg', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('public_jwk', 'text', (c) => c.notNull())
      .addColumn('private_jwe', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('seq', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('signing_keys_pk', ['tenant_id', 'kid'])
      .execute();

    await db.schema
      .createTable('tokens')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('subject', 'text')
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('grant_id', 'text')
      .addColumn('issued_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .addColumn('consumed_at', 'bigint')
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('tokens_pk', ['tenant_id', 'hash'])
      .execute();
    await db.schema.createIndex('tokens_grant_idx').on('tokens').columns(['tenant_id', 'grant_id']).execute();
    await db.schema.createIndex('tokens_expires_idx').on('tokens').column('expires_at').execute();

    await db.schema
      .createTable('grants')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('subject', 'text')
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('grants_pk', ['tenant_id', 'id'])
      .execute();

    await db.schema
      .createTable('authorization_codes')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('grant_id', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('consumed_at', 'bigint')
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('authorization_codes_pk', ['tenant_id', 'hash'])
      .execute();

    await db.schema
      .createTable('tickets')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('consumed_at', 'bigint')
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('tickets_pk', ['tenant_id', 'hash'])
      .execute();

    await db.schema
      .createTable('sessions')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('sid', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('auth_time', 'bigint', (c) => c.notNull())
      .addColumn('acr', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('ended_at', 'bigint')
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('sessions_pk', ['tenant_id', 'hash'])
      .execute();
    await db.schema.createIndex('sessions_sid_idx').on('sessions').columns(['tenant_id', 'sid']).execute();

    await db.schema
      .createTable('consents')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('consents_pk', ['tenant_id', 'subject', 'client_id'])
      .execute();

    await db.schema
      .createTable('rate_limits')
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('window_start', 'bigint', (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('rate_limits_pk', ['key', 'window_start'])
      .execute();
    void sql;
  },
};

/** Sessions and logout: which grants a browser session produced, and back-channel logout deliveries. */
const m005: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.alterTable('grants').addColumn('sid', 'text').execute();
    await db.schema.createIndex('grants_sid_idx').on('grants').columns(['tenant_id', 'sid']).execute();
    await db.schema
      .createTable('logout_deliveries')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('uri', 'text', (c) => c.notNull())
      .addColumn('logout_token', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', 'bigint')
      .addColumn('delivered_at', 'bigint')
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('logout_deliveries_pk', ['tenant_id', 'id'])
      .execute();
    await db.schema.createIndex('logout_deliveries_due_idx').on('logout_deliveries').column('next_attempt_at').execute();
  },
};

/**
 * Most tokens (client_credentials) have no grant: a partial index keeps their inserts from touching it.
 * Measured: about a third off the cost of an insert on SQLite (bench/README.md).
 */
const m007: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.dropIndex('tokens_grant_idx').execute();
    await db.schema
      .createIndex('tokens_grant_idx')
      .on('tokens')
      .columns(['tenant_id', 'grant_id'])
      .where(sql.ref('grant_id'), 'is not', null)
      .execute();
  },
};

/** Pushed authorization requests (RFC 9126) and device authorizations (RFC 8628). */
const m003FrontParDevice: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('pushed_requests')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('consumed_at', 'bigint')
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('pushed_requests_pk', ['tenant_id', 'hash'])
      .execute();
    await db.schema.createIndex('pushed_requests_expires_idx').on('pushed_requests').column('expires_at').execute();

    await db.schema
      .createTable('device_codes')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('user_code_hash', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('poll_interval', 'integer', (c) => c.notNull())
      .addColumn('last_polled_at', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('subject', 'text')
      .addColumn('decided_at', 'bigint')
      .addColumn('consumed_at', 'bigint')
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('device_codes_pk', ['tenant_id', 'hash'])
      // Two live authorizations must never share a user code: the user would approve the wrong device.
      .addUniqueConstraint('device_codes_user_code_uq', ['tenant_id', 'user_code_hash'])
      .execute();
    await db.schema.createIndex('device_codes_expires_idx').on('device_codes').column('expires_at').execute();
  },
};

/** Issue 6 (clients): the client-assertion replay cache, management tokens, lookups by user and by client. */
const m0004Clients: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('jti_replay_cache')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('namespace', 'text', (c) => c.notNull())
      .addColumn('jti', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('jti_replay_cache_pk', ['tenant_id', 'namespace', 'jti'])
      .execute();
    await db.schema.createIndex('idx_0004_jti_replay_expires').on('jti_replay_cache').column('expires_at').execute();

    await db.schema
      .createTable('management_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('tenant_id', 'text')
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('name', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .addColumn('remaining_uses', 'integer')
      .addUniqueConstraint('management_tokens_hash_uq', ['hash'])
      .execute();

    await db.schema.createIndex('idx_0004_tokens_subject').on('tokens').columns(['tenant_id', 'subject']).execute();
    await db.schema.createIndex('idx_0004_tokens_client').on('tokens').columns(['tenant_id', 'client_id']).execute();
    await db.schema.createIndex('idx_0004_grants_subject').on('grants').columns(['tenant_id', 'subject']).execute();
    await db.schema.createIndex('idx_0004_grants_client').on('grants').columns(['tenant_id', 'client_id']).execute();
    await db.schema.createIndex('idx_0004_sessions_subject').on('sessions').columns(['tenant_id', 'subject']).execute();
  },
};

/** Core API (issue 7): service access tokens, looked up by their keyed hash; tenant_id null = every service. */
const m0008Core: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('service_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text')
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('name', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .addUniqueConstraint('service_tokens_hash_uq', ['hash'])
      .execute();
  },
};

/** Issue 11 (sec): the audit trail (docs/audit.md). */
const m0010SecAudit: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('audit_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text')
      .addColumn('subject', 'text')
      .addColumn('ip', 'text')
      .addColumn('result_code', 'text')
      .addColumn('detail', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('audit_events_tenant_at_idx').on('audit_events').columns(['tenant_id', 'at']).execute();
  },
};

/** Token services (issue 4): the resource server registry (RFC 8707) and the refresh-token reuse grace mark. */
const m002TokenServices: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('resource_servers')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('identifier', 'text', (c) => c.notNull())
      .addColumn('metadata', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('resource_servers_pk', ['tenant_id', 'identifier'])
      .execute();
    // RFC 9700 §4.14.2: when a rotated refresh token was accepted once more within the reuse interval.
    await db.schema.alterTable('tokens').addColumn('reused_at', 'bigint').execute();
  },
};

/**
 * Operations (issue 8): the lease table that lets one process of a cluster (or of all instances on one database)
 * run each cleanup sweep, and the expiry indexes the sweeps' bounded deletes use.
 */
const m006ops: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('ops_leases')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('holder', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('idx_0006_ops_codes_expires').on('authorization_codes').column('expires_at').execute();
    await db.schema.createIndex('idx_0006_ops_tickets_expires').on('tickets').column('expires_at').execute();
    await db.schema.createIndex('idx_0006_ops_sessions_expires').on('sessions').column('expires_at').execute();
    await db.schema.createIndex('idx_0006_ops_sessions_ended').on('sessions').column('ended_at').execute();
    await db.schema.createIndex('idx_0006_ops_rate_limits_expires').on('rate_limits').column('expires_at').execute();
    await db.schema.createIndex('idx_0006_ops_deliveries_created').on('logout_deliveries').column('created_at').execute();
  },
};

/**
 * Tokens without a subject (client_credentials) need no entry in the by-subject index: a partial index keeps
 * their inserts from touching it. Lookups by subject (`subject = ?`) imply `subject IS NOT NULL`, so both SQLite
 * and PostgreSQL still use it.
 */
const m0011PerfSubjectIdx: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.dropIndex('idx_0004_tokens_subject').execute();
    // The cleanup deletes audit events by age across tenants (auditRetention).
    await db.schema.createIndex('idx_0011_audit_events_at').on('audit_events').column('at').execute();
    await db.schema
      .createIndex('idx_0011_tokens_subject')
      .on('tokens')
      .columns(['tenant_id', 'subject'])
      .where(sql.ref('subject'), 'is not', null)
      .execute();
  },
};

/**
 * Staged key activation (issue 8): a rotated-in key is published at once and signs only from activates_at, so
 * every instance publishes it before any instance signs with it. Keys that existed before signed from creation.
 */
const m0012KeysStaged: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.alterTable('signing_keys').addColumn('activates_at', 'bigint').execute();
    await db.updateTable('signing_keys').set({ activates_at: sql`created_at` }).execute();
  },
};

/**
 * A redeemed device code records the grant its redemption made, so a second redemption of it revokes that grant
 * and every token it issued (as a reused authorization code does). Null while unredeemed, and on codes redeemed
 * before this column existed.
 */
const m0013DeviceCodeGrant: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.alterTable('device_codes').addColumn('grant_id', 'text').execute();
  },
};

/**
 * Deleting a client deletes its consents (engine/client-removal.ts); the consents' key starts with the subject, so
 * that delete read the whole table. Consents are written once per user and client, so the index costs little.
 * (Tickets, pushed requests and device codes live minutes and are purged, so their client deletes stay scans.)
 */
const m0014ConsentsClientIdx: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.createIndex('idx_0014_consents_client').on('consents').columns(['tenant_id', 'client_id']).execute();
  },
};

/**
 * Dead grants are swept (GrantSweepStore): `sweep_after` is the earliest time a grant can be dead, and the sweep reads
 * only grants past it, through this index. Existing rows get 0, so the first sweeps visit each once (in batches) and
 * either delete it or move it to the end of what refers to it; so does a grant written by an older instance during a
 * rolling upgrade (the sweep never deletes a grant younger than MAX_AUTHORIZATION_CODE_TTL, whatever its column says).
 * A constant default: no table rewrite on PostgreSQL (11+) or SQLite.
 */
const m0015GrantsSweep: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.alterTable('grants').addColumn('sweep_after', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.createIndex('idx_0015_grants_sweep_after').on('grants').column('sweep_after').execute();
  },
};

/** Idle sessions are swept by tenant and last activity (CleanupJob, purgeIdleSessions). */
const m0016SessionsIdle: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.createIndex('idx_0016_sessions_last_seen').on('sessions').columns(['tenant_id', 'last_seen_at']).execute();
  },
};

/** CIBA (engine/ciba.ts): a user's pending backchannel authentication requests are listed by tenant and subject. */
const m0017DeviceCodesSubject: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.createIndex('idx_0017_device_codes_subject').on('device_codes').columns(['tenant_id', 'subject']).execute();
  },
};

/** Two-step sign-in (services/mfa.ts): a user's authenticator app (RFC 6238), one per user. */
const m0018UserOtp: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('user_otp')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('confirmed_at', 'bigint')
      .addColumn('last_step', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('user_otp_pk', ['tenant_id', 'user_id'])
      .execute();
  },
};

/** Two-step sign-in's recovery codes (services/mfa.ts): each a keyed hash, spent once. */
const m0019UserRecoveryCodes: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('user_recovery_codes')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .addPrimaryKeyConstraint('user_recovery_codes_pk', ['tenant_id', 'user_id', 'hash'])
      .execute();
  },
};

/**
 * Two-step sign-in with security keys and passkeys (services/webauthn.ts, W3C WebAuthn Level 2): a user's registered
 * credentials, each with its public key (COSE) and signature counter. A credential id names one key for the tenant.
 */
const m0020UserWebauthn: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('user_webauthn')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('credential_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text', (c) => c.notNull())
      .addColumn('counter', 'bigint', (c) => c.notNull())
      .addColumn('transports', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_used_at', 'bigint')
      .addPrimaryKeyConstraint('user_webauthn_pk', ['tenant_id', 'credential_id'])
      .execute();
    await db.schema.createIndex('idx_0020_user_webauthn_user').on('user_webauthn').columns(['tenant_id', 'user_id']).execute();
  },
};

export const migrations: Record<string, Migration> = {
  '0001_initial': m001,
  '0005_sessions_logout': m005,
  '0007_tokens_partial_grant_idx': m007,
  '0003_front_par_device': m003FrontParDevice,
  '0004_clients_auth': m0004Clients,
  '0008_core_service_tokens': m0008Core,
  '0010_sec_audit_events': m0010SecAudit,
  '0002_token_services': m002TokenServices,
  '0006_ops_cleanup': m006ops,
  '0011_perf_tokens_subject_idx': m0011PerfSubjectIdx,
  '0012_keys_staged_activation': m0012KeysStaged,
  '0013_device_code_grant': m0013DeviceCodeGrant,
  '0014_consents_client_idx': m0014ConsentsClientIdx,
  '0015_grants_sweep': m0015GrantsSweep,
  '0016_sessions_idle': m0016SessionsIdle,
  '0017_device_codes_subject': m0017DeviceCodesSubject,
  '0018_user_otp': m0018UserOtp,
  '0019_user_recovery_codes': m0019UserRecoveryCodes,
  '0020_user_webauthn': m0020UserWebauthn,
};

class InlineProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

/** The database was migrated by a newer Latchkey: it has run migrations this build does not know. */
export class SchemaAheadError extends Error {
  override name = 'SchemaAheadError';
}

/**
 * Migrations the database has run that this build does not know, oldest name first. Kysely's Migrator calls that
 * "corrupted migrations: previously executed migration X is missing", which sends an operator who started an older
 * version on a newer database looking for damage instead of the newer version (or a backup of this one).
 */
async function unknownExecutedMigrations(db: Kysely<any>): Promise<string[]> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === 'kysely_migration')) return [];
  const rows = (await db.selectFrom('kysely_migration').select('name').orderBy('name').execute()) as { name: string }[];
  return rows.map((r) => r.name).filter((n) => !Object.hasOwn(migrations, n));
}

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const unknown = await unknownExecutedMigrations(db);
  if (unknown.length) {
    throw new SchemaAheadError(
      `the database was migrated by a newer version of Latchkey (migration${unknown.length > 1 ? 's' : ''} this version does not know: ${unknown.join(', ')}); ` +
        'run that version or a newer one, or restore a backup made with this one',
    );
  }
  // Branches developed in parallel append migrations with interleaved names; each one is independent of the
  // others, so a database that already ran 0005 may still run 0003 when it arrives.
  const migrator = new Migrator({ db, provider: new InlineProvider(), allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Names of the migrations this build knows that the database has not run yet (empty: the schema is current). */
export async function pendingMigrations(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new InlineProvider(), allowUnorderedMigrations: true });
  return (await migrator.getMigrations()).filter((m) => m.executedAt === undefined).map((m) => m.name);
}
