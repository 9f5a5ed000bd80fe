import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
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
      const timer = setTimeout(() => rej(new Error('server did not start: ' + out)), 20_000);
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
  }, 60_000);
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
  }, 60_000);
});
