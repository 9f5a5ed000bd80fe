import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import { describe, expect, it, onTestFinished } from 'vitest';
import { migrations } from '../../src/store/migrations/index.js';
import { Agent } from '../helpers/agent.js';
import { adminDatabaseUrl, dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';
import { basic, freePort, postForm } from '../helpers/server.js';

/**
 * `latchkey serve` as operators run it: the built CLI (scripts/test.sh builds dist/ first) in a fresh folder, one
 * process or a cluster, SQLite or (second pass) PostgreSQL. Every wait here is bounded and waits for an event
 * (a log line, an exit), never for a duration.
 */
const BIN = resolve('bin/latchkey.js');

interface Served {
  proc: ChildProcess;
  dir: string;
  port: number;
  base: string;
  out(): string;
  /** Resolves with the first stdout/stderr text matching re (after `from` characters), or rejects after 30 s. */
  waitFor(re: RegExp, from?: number): Promise<RegExpExecArray>;
  waitUntil<T>(pred: (out: string) => T | undefined | null | false, what: string): Promise<T>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  demo(): { clientId: string; clientSecret: string; password: string };
}

async function freshFolder(): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-serve-'));
  const url = adminDatabaseUrl() ? await testDatabaseUrl(dir) : undefined;
  onTestFinished(async () => {
    if (url) await dropTestDatabase(url);
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, env: url ? { LATCHKEY_DATABASE_URL: url } : {} };
}

async function serve(args: string[], env: Record<string, string> = {}, folder?: { dir: string; env: Record<string, string> }, detached = false): Promise<Served> {
  const { dir, env: dbEnv } = folder ?? (await freshFolder());
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(process.execPath, [BIN, 'serve', ...args], {
    cwd: dir,
    detached, // its own process group, to signal the primary and its workers at once
    env: { PATH: process.env.PATH, LATCHKEY_PORT: String(port), LATCHKEY_ISSUER: base, LATCHKEY_LOG_LEVEL: 'info', ...dbEnv, ...env },
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (b: Buffer) => {
    out += b.toString();
    for (const l of listeners) l();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  onTestFinished(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  /** Resolves once pred(output) holds, checked on every chunk; rejects if the process exits first or after 30 s. */
  const waitUntil = <T>(pred: (out: string) => T | undefined | null | false, what: string) =>
    new Promise<T>((res, rej) => {
      const check = () => {
        const v = pred(out);
        if (v) {
          cleanup();
          res(v);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        rej(new Error(`no ${what} in the output within 60 s:\n${out.slice(-3000)}`));
      }, 60_000);
      const cleanup = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      void exited.then(() =>
        setImmediate(() => {
          if (listeners.has(check)) {
            cleanup();
            rej(new Error(`exited before ${what}:\n${out.slice(-3000)}`));
          }
        }),
      );
      check();
    });
  const waitFor = (re: RegExp, from = 0) => waitUntil((o) => re.exec(o.slice(from)), String(re));
  return {
    proc, dir, port, base, exited, waitFor, waitUntil,
    out: () => out,
    demo() {
      return {
        clientId: 'demo-client',
        clientSecret: /client_secret (\S+)/.exec(out)![1]!,
        password: /user\s+demo \/ (\S+)/.exec(out)![1]!,
      };
    },
  };
}

/**
 * A token request whose body arrives in two parts: the server has the request (and logs "incoming request" at
 * debug level) but cannot answer until the rest of the body comes. That is an in-flight request at a known moment.
 */
function slowTokenRequest(port: number, auth: string, body: string) {
  const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/oauth/token', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } });
  const response = new Promise<{ status: number; json: any }>((res, rej) => {
    req.on('response', (r) => {
      let text = '';
      r.on('data', (c) => (text += c));
      r.on('end', () => res({ status: r.statusCode!, json: JSON.parse(text) }));
    });
    req.on('error', rej);
  });
  // A test that fails before awaiting the response must not leave its rejection unhandled (it is still awaited).
  response.catch(() => {});
  const half = Math.floor(body.length / 2);
  req.write(body.slice(0, half));
  return { response, finish: () => req.end(body.slice(half)) };
}

/** Whether a new TCP connection is refused (the listener is closed). */
function connectionRefused(port: number): Promise<boolean> {
  return new Promise((res) => {
    const r = request({ host: '127.0.0.1', port, path: '/healthz' }, (x) => {
      x.resume();
      res(false);
    });
    r.on('error', (e: NodeJS.ErrnoException) => res(e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET'));
    r.end();
  });
}

describe('latchkey serve: graceful shutdown', () => {
  for (const workers of [1, 2]) {
    it(`--workers ${workers}: SIGTERM lets an in-flight request finish with its 200, ${workers === 1 ? 'refuses new connections, ' : 'stops every worker, '}and the process exits 0`, async () => {
      const s = await serve(['--workers', String(workers)], { LATCHKEY_LOG_LEVEL: 'debug' });
      await s.waitFor(/latchkey: serving/);
      const demo = s.demo();
      const mark = s.out().length;
      const slow = slowTokenRequest(s.port, basic(demo.clientId, demo.clientSecret), 'grant_type=client_credentials&scope=api%3Aread');
      await s.waitFor(/"url":"\/oauth\/token"[^\n]*"msg":"incoming request"/, mark);
      s.proc.kill('SIGTERM');
      // Every process serving requests has begun to drain (its listener is closed) before the body completes.
      await s.waitUntil((o) => (o.slice(mark).match(/"msg":"shutting down: no new connections/g) ?? []).length === workers, `${workers} draining processes`);
      // One process: the listener is closed, a new connection is refused. (In a cluster the primary owns the
      // listening socket and closes it once every worker has closed its listener; a connection arriving in between
      // waits in Node's round-robin queue, see docs/operations.md, so it is not probed here.)
      if (workers === 1) expect(await connectionRefused(s.port)).toBe(true);
      slow.finish();
      const res = await slow.response.catch((e) => {
        throw new Error(`${e.message}\n${s.out().slice(mark)}`);
      });
      expect(res.status).toBe(200);
      expect(res.json.access_token).toBeTruthy();
      expect(await s.exited).toEqual({ code: 0, signal: null });
    });
  }

  it('--workers 2: SIGTERM while the workers are still starting stops each of them cleanly (none is killed by the signal), and the process exits 0', async () => {
    const s = await serve(['--workers', '2']);
    // Both workers forked: each is loading its code, opening the database or listening, not yet ready. Whatever
    // point each has reached when the signal comes, it must end with exit code 0, not by SIGTERM's default action.
    await s.waitUntil((o) => (o.match(/"event":"worker_forked"/g) ?? []).length === 2, 'two forked workers');
    s.proc.kill('SIGTERM');
    const result = await s.exited;
    const exits = [...s.out().matchAll(/"event":"worker_exit"[^\n]*/g)].map((m) => m[0]);
    expect(exits, s.out()).toHaveLength(2);
    for (const line of exits) expect(line).toMatch(/"code":0,"signal":null/);
    expect(result, s.out()).toEqual({ code: 0, signal: null });
  });

  it('--workers 2: SIGTERM to every process at once (systemd, Ctrl-C) while the workers are starting stops the cluster cleanly, and the process exits 0', async () => {
    const s = await serve(['--workers', '2'], {}, undefined, true);
    await s.waitUntil((o) => (o.match(/"event":"worker_forked"/g) ?? []).length === 2, 'two forked workers');
    // The primary first, so that it is shutting down when a worker stops on its own signal (as systemd's
    // KillMode=control-group, which signals the main process first); then the whole group, the workers included.
    const mark = s.out().length;
    s.proc.kill('SIGTERM');
    await s.waitFor(/"msg":"shutting down: draining every worker"/, mark);
    process.kill(-s.proc.pid!, 'SIGTERM');
    const result = await s.exited;
    // Each worker stopped on its own listener (before listening, or draining), or was killed by the signal before
    // any of its code ran (nothing was listening then); the primary counts either as clean.
    const exits = [...s.out().matchAll(/"event":"worker_exit"[^\n]*/g)].map((m) => m[0]);
    expect(exits, s.out()).toHaveLength(2);
    for (const line of exits) expect(line).toMatch(/"code":0,"signal":null|"code":null,"signal":"SIGTERM"/);
    expect(result, s.out()).toEqual({ code: 0, signal: null });
  });
});

describe('latchkey serve --workers N (node:cluster)', () => {
  it('a worker that dies is replaced; metrics are summed over the workers by the primary', async () => {
    const s = await serve(['--workers', '2']);
    await s.waitFor(/latchkey: serving[^\n]*2 workers/);
    const demo = s.demo();
    for (let i = 0; i < 4; i++) {
      const r = await postForm(`${s.base}/oauth/token`, { grant_type: 'client_credentials' }, { authorization: basic(demo.clientId, demo.clientSecret), connection: 'close' });
      expect(r.status).toBe(200);
    }
    const pids = [...s.out().matchAll(/"event":"worker_ready","worker":\d+,"workerPid":(\d+)/g)].map((m) => Number(m[1]));
    expect(new Set(pids).size).toBe(2);
    const mark = s.out().length;
    process.kill(pids[0]!, 'SIGKILL');
    await s.waitFor(/"event":"worker_died"[^\n]*"signal":"SIGKILL"/, mark);
    await s.waitFor(/"event":"worker_ready"/, mark);
    const after = await postForm(`${s.base}/oauth/token`, { grant_type: 'client_credentials' }, { authorization: basic(demo.clientId, demo.clientSecret), connection: 'close' });
    expect(after.status).toBe(200);
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    expect(metrics).toMatch(/^latchkey_worker_restarts_total 1$/m);
    // Figures are the cluster's: at least the tokens issued since the last scrape of the dead worker are summed.
    const issued = Number(/^latchkey_tokens_issued_total\{grant_type="client_credentials"\} (\d+)$/m.exec(metrics)?.[1]);
    expect(issued).toBeGreaterThanOrEqual(1);
    s.proc.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
  });

  it('exactly-once holds across worker processes: 40 concurrent redemptions of one code, 20 of one refresh token, one success each', async () => {
    const s = await serve(['--workers', '2'], { LATCHKEY_ACCESS_LOG: 'true' });
    await s.waitFor(/latchkey: serving/);
    const demo = s.demo();
    const redirectUri = `${s.base}/demo/callback`;
    const verifier = 'x'.repeat(50);
    const url = `${s.base}/oauth/authorize?${new URLSearchParams({
      client_id: demo.clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid offline_access', state: 's',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', prompt: 'consent',
    })}`;
    // The demo redirect URI is on this server, so the agent would follow it: stop at the redirect instead.
    const agent = new Agent(`${s.base}/no-follow`);
    let r = await agent.follow(url);
    for (let i = 0; i < 5 && r.location && !r.location.startsWith(redirectUri); i++) r = await agent.follow(r.location);
    if (r.html.includes('name="password"')) r = await agent.login(r, 'demo', demo.password);
    while (r.location && !r.location.startsWith(redirectUri)) r = await agent.follow(r.location);
    if (r.html.includes('/consent')) r = await agent.consent(r, 'approve');
    const code = new URL(r.location!).searchParams.get('code')!;
    expect(code).toBeTruthy();

    const auth = basic(demo.clientId, demo.clientSecret);
    const redeem = () => postForm(`${s.base}/oauth/token`, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }, { authorization: auth, connection: 'close' });
    const redemptions = await Promise.all(Array.from({ length: 40 }, redeem));
    const won = redemptions.filter((x) => x.status === 200);
    expect(won).toHaveLength(1);
    expect(redemptions.filter((x) => x.status === 400).every((x) => x.json.error === 'invalid_grant')).toBe(true);
    expect(redemptions.filter((x) => x.status !== 200 && x.status !== 400)).toEqual([]);

    // A fresh code for the refresh race (the one above revoked its grant when it was reused, RFC 6749 §4.1.2).
    r = await agent.follow(url);
    while (r.location && !r.location.startsWith(redirectUri)) r = await agent.follow(r.location);
    if (r.html.includes('/consent')) r = await agent.consent(r, 'approve');
    const code2 = new URL(r.location!).searchParams.get('code')!;
    const first = await postForm(`${s.base}/oauth/token`, { grant_type: 'authorization_code', code: code2, redirect_uri: redirectUri, code_verifier: verifier }, { authorization: auth });
    expect(first.status).toBe(200);
    const rt = first.json.refresh_token as string;
    const refreshes = await Promise.all(
      Array.from({ length: 20 }, () => postForm(`${s.base}/oauth/token`, { grant_type: 'refresh_token', refresh_token: rt }, { authorization: auth, connection: 'close' })),
    );
    expect(refreshes.filter((x) => x.status === 200)).toHaveLength(1);
    expect(refreshes.filter((x) => x.status !== 200).every((x) => x.status === 400 && x.json.error === 'invalid_grant')).toBe(true);

    // Both workers took part (the access log carries each process's pid).
    const tokenPids = new Set([...s.out().matchAll(/"pid":(\d+)[^\n]*"event":"access"[^\n]*"url":"\/oauth\/token"/g)].map((m) => m[1]));
    expect(tokenPids.size).toBe(2);
    s.proc.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
  });
});

describe('cleanup', () => {
  it('serve sweeps expired rows on its interval, in one worker of the cluster; `latchkey cleanup` sweeps at once', async () => {
    const folder = await freshFolder();
    const s = await serve(['--workers', '2'], { LATCHKEY_CLEANUP_INTERVAL: '2', LATCHKEY_DEMO: 'false' }, folder);
    await s.waitFor(/latchkey: serving/);
    // Rows written by another process (this test) while the cluster runs: on SQLite, a third process on the file.
    const { openStore } = await import('../../src/store/open.js');
    const store = await openStore({ url: folder.env.LATCHKEY_DATABASE_URL ?? `sqlite:${join(folder.dir, 'data', 'latchkey.db')}` });
    try {
      const long = Math.floor(Date.now() / 1000) - 2 * 86400;
      const mark = s.out().length;
      // In one transaction, so that no sweep sees some of them.
      await store.transaction(async (tx) => {
        for (const h of ['a', 'b', 'c']) {
          await tx.insertCode({ tenantId: 'default', hash: `expired-${h}`, clientId: 'c', grantId: 'g', expiresAt: long, consumedAt: null, data: {} });
        }
        await tx.insertCode({ tenantId: 'default', hash: 'live', clientId: 'c', grantId: 'g', expiresAt: long + 3 * 86400, consumedAt: null, data: {} });
      });
      const line = await s.waitFor(/\{[^\n]*"event":"cleanup"[^\n]*\}/, mark);
      const record = JSON.parse(line[0]);
      expect(record.deleted.authorization_codes).toBe(3);
      expect(record.worker).toBeGreaterThanOrEqual(1); // a worker swept, not the primary
      expect((await store.consumeCode('default', 'expired-a', 0))).toBeUndefined();
      expect((await store.consumeCode('default', 'live', 0))?.firstUse).toBe(true);
      const metrics = await (await fetch(`${s.base}/metrics`)).text();
      expect(metrics).toMatch(/^latchkey_cleanup_deleted_rows_total\{table="authorization_codes"\} 3$/m);
    } finally {
      await store.close();
    }
    s.proc.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);

    const once = spawnSync(process.execPath, [BIN, 'cleanup', '--json'], { cwd: folder.dir, encoding: 'utf8', env: { PATH: process.env.PATH, LATCHKEY_LOG_LEVEL: 'silent', ...folder.env } });
    expect(once.status).toBe(0);
    expect(Object.values(JSON.parse(once.stdout).deleted).every((n) => n === 0)).toBe(true);
  });
});

describe('explicit migrations (migrateOnStart: false)', () => {
  it('serve refuses, with one line, a database whose schema is behind; after `latchkey migrate` it starts', async () => {
    const folder = await freshFolder();
    // A database at an older schema: every migration but this topic's (0006_ops_cleanup), as one made by the
    // release before it, which already had 0007. Upgrading it runs the earlier-numbered migration (unordered).
    const url = folder.env.LATCHKEY_DATABASE_URL;
    let db: Kysely<any>;
    if (url) {
      const pg = (await import('pg')).default;
      db = new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }) });
    } else {
      const SQLite = (await import('better-sqlite3')).default;
      const { mkdirSync } = await import('node:fs');
      mkdirSync(join(folder.dir, 'data'), { recursive: true });
      db = new Kysely({ dialect: new SqliteDialect({ database: new SQLite(join(folder.dir, 'data', 'latchkey.db')) }) });
    }
    const previousRelease = Object.fromEntries(Object.entries(migrations).filter(([name]) => name !== '0006_ops_cleanup'));
    expect(Object.keys(previousRelease)).toContain('0007_tokens_partial_grant_idx');
    const migrator = new Migrator({ db, provider: { getMigrations: async () => previousRelease } });
    const older = await migrator.migrateToLatest();
    expect(older.error).toBeUndefined();
    await db.destroy();

    for (const workers of ['1', '2']) {
      const s = await serve(['--workers', workers], { LATCHKEY_MIGRATE_ON_START: 'false', LATCHKEY_LOG_LEVEL: 'silent' }, folder);
      const { code } = await s.exited;
      expect(code).not.toBe(0);
      const lines = s.out().trim().split('\n');
      expect(lines[0]).toMatch(/^latchkey: the database schema is behind this version \(1 pending migration: 0006_ops_cleanup\); run `latchkey migrate` first/);
      expect(lines).toHaveLength(1);
    }

    const migrated = spawnSync(process.execPath, [BIN, 'migrate', '--json'], { cwd: folder.dir, encoding: 'utf8', env: { PATH: process.env.PATH, LATCHKEY_LOG_LEVEL: 'silent', LATCHKEY_MIGRATE_ON_START: 'false', ...folder.env } });
    expect(migrated.status).toBe(0);
    expect(JSON.parse(migrated.stdout)).toEqual({ ok: true });

    const s = await serve(['--workers', '1'], { LATCHKEY_MIGRATE_ON_START: 'false' }, folder);
    await s.waitFor(/latchkey: serving/);
    expect((await fetch(`${s.base}/readyz`)).status).toBe(200);
    s.proc.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
  });
});
