import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { EngineContext } from '../../src/engine/context.js';
import { buildApp } from '../../src/http/app.js';
import { Latchkey } from '../../src/server/latchkey.js';
import { registerClient } from '../../src/services/clients.js';
import { createUser } from '../../src/services/users.js';
import { DEFAULT_TENANT } from '../../src/store/types.js';
import type { RandomSource } from '../../src/tokens/handles.js';
import { dropTestDatabase, testDatabaseUrl } from './database.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The database a test uses: a fresh PostgreSQL database per call when LATCHKEY_TEST_DATABASE_URL is set
 * (scripts/with-postgres.sh sets it for the second pass), otherwise a fresh SQLite file in the temp folder.
 */
export { dropTestDatabase, testDatabaseUrl } from './database.js';

export interface TestLatchkey {
  lk: Latchkey;
  ctx: EngineContext;
  dir: string;
  close(): Promise<void>;
  client(meta: Record<string, unknown>): Promise<{ clientId: string; clientSecret?: string }>;
  user(username: string, password: string, claims?: Record<string, unknown>): Promise<string>;
}

/** A Latchkey (store, keys, default tenant) without HTTP, for engine tests. */
export async function openTestLatchkey(
  overrides: ConfigInput = {},
  opts: { clock?: () => number; random?: RandomSource; keyRecheckMs?: number } = {},
): Promise<TestLatchkey> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-test-'));
  const ownDatabase = overrides.databaseUrl === undefined ? await testDatabaseUrl(dir) : undefined;
  const cleanup = async () => {
    if (ownDatabase) await dropTestDatabase(ownDatabase);
    rmSync(dir, { recursive: true, force: true });
  };
  let lk: Latchkey;
  try {
    const config = loadConfig({
      env: {},
      file: undefined,
      overrides: {
        ...testConfigBase(dir),
        ...overrides,
        databaseUrl: overrides.databaseUrl ?? ownDatabase,
      },
    });
    lk = await Latchkey.open({ config, clock: opts.clock, random: opts.random, keyRecheckMs: opts.keyRecheckMs });
  } catch (e) {
    await cleanup();
    throw e;
  }
  const ctx = await lk.context(DEFAULT_TENANT);
  return {
    lk,
    ctx,
    dir,
    async close() {
      await lk.close();
      await cleanup();
    },
    async client(meta) {
      const { json } = await registerClient(ctx, meta);
      return { clientId: json.client_id as string, clientSecret: json.client_secret as string | undefined };
    },
    async user(username, password, claims = {}) {
      return (await createUser(ctx, { username, password, claims })).id;
    },
  };
}

export interface TestServer extends TestLatchkey {
  app: FastifyInstance;
  issuer: string;
  url(path: string): string;
}

/** The real HTTP(S) server on a random loopback port, issuer = its own URL. */
export async function startTestServer(overrides: ConfigInput = {}, opts: { clock?: () => number } = {}): Promise<TestServer> {
  // A test that needs its URLs before the server starts (mtlsBaseUrl) may choose the port and issuer itself.
  const port = overrides.port !== undefined ? Number(overrides.port) : await freePort();
  // With tlsCert/tlsKey the server speaks HTTPS itself, so its issuer does too.
  const issuer = (overrides.port !== undefined && overrides.issuer) || `${overrides.tlsCert ? 'https' : 'http'}://127.0.0.1:${port}`;
  const t = await openTestLatchkey({ issuer, port, ...overrides }, opts);
  const app = await buildApp(t.lk, { logger: false });
  await app.listen({ host: '127.0.0.1', port });
  return {
    ...t,
    app,
    issuer,
    url: (path: string) => issuer + path,
    async close() {
      await app.close();
      await t.close();
    },
  };
}

export function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return 'Basic ' + Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64');
}

/** A response body as JSON, or undefined when it is not JSON (an HTML page, an empty body). */
export function jsonOrUndefined(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The configuration every test server starts from: its own data directory and key, quiet, no demo data. */
export function testConfigBase(dir: string) {
  return {
    dataDir: dir,
    keyEncryptionKey: randomBytes(32).toString('base64url'),
    logLevel: 'silent' as const,
    demo: false,
    // Tests serve jwks_uri documents and request objects from loopback servers.
    insecureRemoteFetchAddresses: 'loopback' as const,
  };
}

export async function postForm(url: string, body: string | Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof body === 'string' ? body : new URLSearchParams(body).toString(),
  });
  const text = await res.text();
  const json = jsonOrUndefined(text);
  return { status: res.status, headers: res.headers, text, json };
}

export interface TestInstance extends TestServer {
  /** This instance's own address (the issuer is shared by all instances and only identifies them). */
  base: string;
}

/**
 * Several Latchkey HTTP servers sharing ONE database and ONE keyEncryptionKey, like instances behind a load
 * balancer: each listens on its own loopback port and is called there (`url(path)`, `base`), while all carry the
 * same issuer string, since tokens name the issuer and must be valid at every instance. On the PostgreSQL pass
 * the database is a fresh PostgreSQL database; on SQLite, one file (one host, several processes' worth of stores).
 */
export async function startTestInstances(
  n: number,
  overrides: ConfigInput = {},
  opts: { clock?: () => number; keyRecheckMs?: number } = {},
): Promise<{ instances: TestInstance[]; issuer: string; databaseUrl: string; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-instances-'));
  const databaseUrl = await testDatabaseUrl(dir);
  const keyEncryptionKey = randomBytes(32).toString('base64url');
  const issuer = 'http://login.latchkey.test';
  const instances: TestInstance[] = [];
  const close = async () => {
    await Promise.all(instances.map((i) => i.close()));
    await dropTestDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const t = await openTestLatchkey({ issuer, port, databaseUrl, keyEncryptionKey, dataDir: dir, ...overrides }, opts);
      const app = await buildApp(t.lk, { logger: false });
      await app.listen({ host: '127.0.0.1', port });
      instances.push({
        ...t,
        app,
        issuer,
        base,
        url: (path: string) => base + path,
        async close() {
          await app.close();
          await t.close();
        },
      });
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { instances, issuer, databaseUrl, close };
}
