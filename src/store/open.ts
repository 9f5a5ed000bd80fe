import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import type { Database } from './kysely-store.js';
import { KyselyStore } from './kysely-store.js';
import type { Store } from './types.js';

export interface OpenStoreOptions {
  /** sqlite:PATH, sqlite::memory:, or postgres://… */
  url: string;
  /** Apply pending migrations (default true). */
  migrate?: boolean;
  /** PostgreSQL pool size (default 10). */
  poolSize?: number;
}

export async function openStore(opts: OpenStoreOptions): Promise<Store & { migrate(): Promise<string[]> }> {
  const store = opts.url.startsWith('sqlite:') ? await openSqlite(opts.url.slice('sqlite:'.length)) : await openPostgres(opts.url, opts.poolSize ?? 10);
  if (opts.migrate !== false) await store.migrate();
  return store;
}

async function openSqlite(path: string): Promise<KyselyStore> {
  const { default: SQLite } = await import('better-sqlite3');
  if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
  const database = new SQLite(path);
  // WAL lets readers run beside the writer and survives a crash at any point; NORMAL sync is durable in WAL
  // mode against process crashes (an OS crash may lose the last transactions, never corrupt the file).
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  return new KyselyStore(db, 'sqlite', async () => db.destroy());
}

async function openPostgres(url: string, poolSize: number): Promise<KyselyStore> {
  const pg = await import('pg');
  // int8 columns hold epoch seconds, well inside Number's exact range.
  pg.default.types.setTypeParser(20, (v: string) => Number(v));
  const pool = new pg.default.Pool({ connectionString: url, max: poolSize });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return new KyselyStore(db, 'postgres', async () => db.destroy());
}
