import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { adminDatabaseUrl } from '../helpers/database.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';
import { basic, dropTestDatabase, freePort, postForm, testDatabaseUrl } from '../helpers/server.js';

const BIN = resolve('bin/latchkey.js');
const CB = 'https://rp.example/cb';

/**
 * Crash safety: load against a real `latchkey serve` process, SIGKILL it mid-load, start it again on the same
 * database, and check that nothing acknowledged was lost: every access token answered with 200 is active, and
 * every refresh token whose rotation was answered with 200 stays consumed. Runs on SQLite and on PostgreSQL.
 */
describe('crash safety: SIGKILL under load loses nothing acknowledged', () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-crash-'));
  let env: NodeJS.ProcessEnv;
  let issuer: string;
  let dbUrl: string;
  let proc: ChildProcess | undefined;
  const secret = randomBytes(32).toString('base64url');

  const cli = (args: string[], input?: string) => spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env, input, encoding: 'utf8' });

  async function start(): Promise<ChildProcess> {
    const p = spawn(process.execPath, [BIN, 'serve'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (b) => (out += b));
    p.stderr!.on('data', (b) => (out += b));
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error('server did not start: ' + out)), 60_000);
      const check = () => {
        if (out.includes('serving')) {
          clearTimeout(timer);
          res();
        }
      };
      p.stdout!.on('data', check);
      p.once('exit', (code) => rej(new Error(`server exited ${code}: ${out}`)));
    });
    return p;
  }

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    dbUrl = await testDatabaseUrl(dir);
    env = {
      PATH: process.env.PATH, LATCHKEY_PORT: String(port), LATCHKEY_ISSUER: issuer, LATCHKEY_DATABASE_URL: dbUrl,
      LATCHKEY_DEMO: 'false', LATCHKEY_LOG_LEVEL: 'warn', LATCHKEY_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
    };
    const meta = { client_id: 'crash', client_secret: secret, redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token', 'client_credentials'], scope: 'openid offline_access api', skip_consent: true };
    expect(cli(['client', 'create', '--file', '-', '--json'], JSON.stringify(meta)).status).toBe(0);
    expect(cli(['user', 'create', '--username', 'dora', '--password', 'dora-password']).status).toBe(0);
    proc = await start();
  }, 90_000);
  afterAll(async () => {
    proc?.kill('SIGKILL');
    await dropTestDatabase(dbUrl);
  });

  it('every 200 token survives a SIGKILL mid-load; every acknowledged rotation stays consumed', async () => {
    const auth = { authorization: basic('crash', secret) };
    // A refresh-token chain to rotate during the load.
    const cb = await new Agent(issuer).authorize(`${issuer}/oauth/authorize?` + new URLSearchParams({ client_id: 'crash', redirect_uri: CB, response_type: 'code', scope: 'openid offline_access' }), 'dora', 'dora-password');
    let rt = (await postForm(`${issuer}/oauth/token`, { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB }, auth)).json.refresh_token as string;

    const issued: string[] = [];
    const rotated: string[] = [];
    let stop = false;
    const deadline = Date.now() + 10_000; // bounded in time as well as by the kill
    const worker = async () => {
      while (!stop && Date.now() < deadline) {
        try {
          const r = await postForm(`${issuer}/oauth/token`, { grant_type: 'client_credentials', scope: 'api' }, auth);
          if (r.status === 200) issued.push(r.json.access_token);
        } catch {
          return; // connection refused once the server is gone
        }
      }
    };
    const rotator = async () => {
      while (!stop && Date.now() < deadline) {
        try {
          const r = await postForm(`${issuer}/oauth/token`, { grant_type: 'refresh_token', refresh_token: rt }, auth);
          if (r.status !== 200) return;
          rotated.push(rt);
          rt = r.json.refresh_token;
        } catch {
          return;
        }
      }
    };
    const load = Promise.all([...Array.from({ length: 8 }, worker), rotator()]);
    // Kill mid-load once enough work was acknowledged (bounded by the deadline), not after a fixed time: no speed is assumed.
    while ((issued.length < 25 || rotated.length < 3) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    proc!.kill('SIGKILL');
    await new Promise((r) => proc!.once('exit', r));
    stop = true;
    await load;
    expect(issued.length).toBeGreaterThan(20);
    expect(rotated.length).toBeGreaterThan(2);

    proc = await start();
    const introspect = (token: string) => postForm(`${issuer}/oauth/introspect`, { token }, auth);
    for (const t of issued) expect((await introspect(t)).json.active, 'an acknowledged access token was lost').toBe(true);
    for (const t of rotated) expect((await introspect(t)).json.active, 'a rotated refresh token came back to life').toBe(false);
  }, 90_000);
});

/**
 * Crash safety with the DATABASE restarted: PostgreSQL is crashed (`pg_ctl stop -m immediate`) and started again
 * under load while Latchkey keeps running. Nothing acknowledged is lost, requests during the outage fail cleanly
 * (5xx with an OAuth error body, never a token, never internals), /readyz says unready then ready, and Latchkey
 * serves again once the database is back, without a restart of its own. PostgreSQL only: it runs on a private
 * cluster of its own (test/helpers/pg-cluster.ts), so the shared one of scripts/with-postgres.sh is not disturbed.
 */
describe.skipIf(!adminDatabaseUrl())('crash safety: PostgreSQL restarted under load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-pgrestart-'));
  let env: NodeJS.ProcessEnv;
  let issuer: string;
  let cluster: PgCluster | undefined;
  let proc: ChildProcess | undefined;
  let out = '';
  const secret = randomBytes(32).toString('base64url');
  const cli = (args: string[], input?: string) => spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env, input, encoding: 'utf8' });

  beforeAll(async () => {
    cluster = await startPgCluster();
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    env = {
      PATH: process.env.PATH, LATCHKEY_PORT: String(port), LATCHKEY_ISSUER: issuer, LATCHKEY_DATABASE_URL: cluster.url,
      LATCHKEY_DEMO: 'false', LATCHKEY_LOG_LEVEL: 'fatal', LATCHKEY_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
      LATCHKEY_WORKERS: '1',
    };
    const meta = { client_id: 'pgcrash', client_secret: secret, redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token', 'client_credentials'], scope: 'openid offline_access api', skip_consent: true };
    const made = cli(['client', 'create', '--file', '-', '--json'], JSON.stringify(meta));
    expect(made.status, made.stderr).toBe(0);
    expect(cli(['user', 'create', '--username', 'dora', '--password', 'dora-password']).status).toBe(0);
    const p = spawn(process.execPath, [BIN, 'serve'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    p.stdout!.on('data', (b) => (out += b));
    p.stderr!.on('data', (b) => (out += b));
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error('server did not start: ' + out)), 60_000);
      const poll = setInterval(() => {
        fetch(`${issuer}/readyz`).then((r) => {
          if (r.status === 200) {
            clearTimeout(timer);
            clearInterval(poll);
            res();
          }
        }, () => {});
      }, 100);
      p.once('exit', (code) => {
        clearInterval(poll);
        rej(new Error(`server exited ${code}: ${out}`));
      });
    });
  }, 90_000);
  afterAll(() => {
    proc?.kill('SIGKILL');
    cluster?.destroy();
  });

  it('a database crash and restart under load loses nothing acknowledged, fails cleanly meanwhile, and Latchkey recovers by itself', async () => {
    const auth = { authorization: basic('pgcrash', secret) };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // Codes to redeem during the load, and a refresh-token chain to rotate.
    const codes: string[] = [];
    for (let i = 0; i < 13; i++) {
      const cb = await new Agent(issuer).authorize(`${issuer}/oauth/authorize?` + new URLSearchParams({ client_id: 'pgcrash', redirect_uri: CB, response_type: 'code', scope: 'openid offline_access' }), 'dora', 'dora-password');
      codes.push(cb.searchParams.get('code')!);
    }
    let rt = (await postForm(`${issuer}/oauth/token`, { grant_type: 'authorization_code', code: codes.pop()!, redirect_uri: CB }, auth)).json.refresh_token as string;

    let phase: 'before' | 'down' | 'after' = 'before';
    const issued: string[] = [];
    const rotated: string[] = [];
    const redeemed: string[] = [];
    const failures: { status: number; type: string; retryAfter: string | null; body: string; phase: string }[] = [];
    const unexpected: string[] = [];
    let okAfter = 0;
    let stop = false;
    const deadline = Date.now() + 60_000;

    /** One token request; 200s are returned, 5xx kept for inspection, anything else is unexpected. */
    const call = async (form: Record<string, string>, allow4xx = false) => {
      let r: Awaited<ReturnType<typeof postForm>>;
      try {
        r = await postForm(`${issuer}/oauth/token`, form, auth);
      } catch (e) {
        unexpected.push(`${form.grant_type}: connection failed: ${(e as Error).message}`);
        await sleep(50);
        return undefined;
      }
      if (r.status === 200) {
        if (phase === 'after') okAfter++;
        return r;
      }
      if (r.status >= 500) {
        failures.push({ status: r.status, type: r.headers.get('content-type') ?? '', retryAfter: r.headers.get('retry-after'), body: r.text, phase });
        await sleep(20); // no hot loop while the database is away
        return undefined;
      }
      if (!allow4xx) unexpected.push(`${form.grant_type} in phase ${phase}: ${r.status} ${r.text}`);
      return r;
    };
    const worker = async () => {
      while (!stop && Date.now() < deadline) {
        const r = await call({ grant_type: 'client_credentials', scope: 'api' });
        if (r?.status === 200) issued.push(r.json.access_token);
      }
    };
    const rotator = async () => {
      while (!stop && Date.now() < deadline) {
        const r = await call({ grant_type: 'refresh_token', refresh_token: rt }, true);
        if (!r) continue; // 5xx: the rotation may or may not have committed; try the same token again
        if (r.status === 200) {
          rotated.push(rt);
          rt = r.json.refresh_token;
          continue;
        }
        // A rotation committed while its answer was lost to the crash: the retry is a replay (RFC 9700 §4.14.2),
        // which is refused. Only acceptable once the database went away.
        if (phase === 'before' || r.json.error !== 'invalid_grant') unexpected.push(`refresh in phase ${phase}: ${r.status} ${r.text}`);
        return;
      }
    };
    const redeemer = async () => {
      while (!stop && Date.now() < deadline && codes.length) {
        const code = codes.pop()!;
        const r = await call({ grant_type: 'authorization_code', code, redirect_uri: CB });
        if (r?.status === 200) {
          redeemed.push(code);
          issued.push(r.json.access_token);
        }
        await sleep(30);
      }
    };
    const readyz = async () => {
      try {
        const r = await fetch(`${issuer}/readyz`);
        return { status: r.status, body: (await r.json()) as Record<string, any> };
      } catch {
        return { status: 0, body: {} };
      }
    };
    const waitFor = async (cond: () => boolean | Promise<boolean>, what: string) => {
      while (!(await cond())) {
        if (Date.now() > deadline) {
          const last = await readyz();
          throw new Error(`timed out waiting for ${what}: issued ${issued.length}, rotated ${rotated.length}, failures ${failures.length}, 200s after ${okAfter}, /readyz ${last.status} ${JSON.stringify(last.body)}, unexpected ${unexpected.slice(0, 3).join('; ')}; server output: ${out.slice(-3000)}`);
        }
        await sleep(25);
      }
    };

    const load = Promise.all([...Array.from({ length: 6 }, worker), rotator(), redeemer()]);
    try {
      await waitFor(() => issued.length >= 25 && rotated.length >= 3 && redeemed.length >= 3, 'load before the crash');

      phase = 'down';
      await cluster!.stopImmediate();
      let unready: Record<string, any> | undefined;
      await waitFor(async () => {
        const r = await readyz();
        if (r.status === 503) unready = r.body;
        return unready !== undefined && failures.length >= 5;
      }, '/readyz 503 and failing requests while the database is down');
      expect(unready).toMatchObject({ status: 'unavailable', checks: { database: 'failed' } });

      await cluster!.start();
      phase = 'after';
      await waitFor(async () => (await readyz()).status === 200, '/readyz 200 after the database came back');
      await waitFor(() => okAfter >= 20, 'token requests answered 200 again');
    } finally {
      stop = true;
      await load;
    }

    expect(unexpected, unexpected.join('\n')).toEqual([]);
    expect(proc!.exitCode, 'Latchkey kept running').toBeNull();
    // Failures during the outage: clean spec errors, never a token, never a stack trace or driver message.
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.some((f) => f.status === 503), 'a database outage is answered 503 temporarily_unavailable').toBe(true);
    for (const f of failures) {
      expect([500, 503], f.body).toContain(f.status);
      expect(f.type).toMatch(/^application\/json/);
      const body = JSON.parse(f.body) as Record<string, unknown>;
      // The database being away is said as such (503, retry later); anything else is a generic server_error.
      expect(body.error, f.body).toBe(f.status === 503 ? 'temporarily_unavailable' : 'server_error');
      if (f.status === 503) expect(f.retryAfter).toMatch(/^\d+$/);
      expect(Object.keys(body).filter((k) => !['error', 'error_description'].includes(k))).toEqual([]);
      expect(f.body).not.toMatch(/\bat |ECONN|postgres|terminat|Error:/i);
    }

    // Nothing acknowledged was lost; nothing consumed came back.
    const introspect = async (token: string) => (await postForm(`${issuer}/oauth/introspect`, { token }, auth)).json.active;
    for (const t of issued) expect(await introspect(t), 'an acknowledged access token was lost').toBe(true);
    for (const t of rotated) expect(await introspect(t), 'a rotated refresh token came back to life').toBe(false);
    // Last: a replayed code revokes what it issued (RFC 6749 §4.1.2).
    for (const code of redeemed) {
      const again = await postForm(`${issuer}/oauth/token`, { grant_type: 'authorization_code', code, redirect_uri: CB }, auth);
      expect(again.status, 'a redeemed code was redeemable again').toBe(400);
      expect(again.json.error).toBe('invalid_grant');
    }
  }, 120_000);
});
