import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { adminDatabaseUrl, dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';
import { freePort } from '../helpers/server.js';

/**
 * `latchkey serve` (the built CLI; scripts/test.sh builds dist/ first) on a fresh database with issuers other than
 * the loopback default: the demo and the http-issuer rule (review 8 F2, F3). Waits are for output or an exit.
 */
const BIN = resolve('bin/latchkey.js');

async function serve(env: Record<string, string>, args: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-serve-defaults-'));
  const url = adminDatabaseUrl() ? await testDatabaseUrl(dir) : undefined;
  const port = await freePort();
  const proc = spawn(process.execPath, [BIN, 'serve', ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH, LATCHKEY_HOST: '127.0.0.1', LATCHKEY_PORT: String(port), LATCHKEY_LOG_LEVEL: 'info', ...(url ? { LATCHKEY_DATABASE_URL: url } : {}), ...env },
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (b) => (out += b));
  proc.stderr.on('data', (b) => (err += b));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  onTestFinished(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    if (url) await dropTestDatabase(url);
    rmSync(dir, { recursive: true, force: true });
  });
  /** Resolves once it serves (true) or exits (false), whichever comes first; at most 30 s. */
  const started = new Promise<boolean>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`neither served nor exited within 30 s:\n${out}\n${err}`)), 30_000);
    const check = () => {
      if (/latchkey: serving /.test(out)) {
        clearTimeout(timer);
        res(true);
      }
    };
    proc.stdout.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      setImmediate(() => res(/latchkey: serving /.test(out)));
    });
  });
  const stop = async () => {
    proc.kill('SIGTERM');
    return exited;
  };
  return { started, exited, stop, out: () => out, err: () => err };
}

describe('latchkey serve with a non-loopback issuer', () => {
  it('review 8 F2: a fresh database with an https production issuer gets no demo client or user by default', async () => {
    const s = await serve({ LATCHKEY_ISSUER: 'https://login.example.com', LATCHKEY_WORKERS: '1' });
    expect(await s.started).toBe(true);
    expect(await s.stop()).toBe(0);
    expect(s.out()).not.toMatch(/demo/);
  });

  it('RFC 8414 §2: an http issuer off loopback stops serve at once, one line, exit code 2 like other configuration errors', async () => {
    const s = await serve({ LATCHKEY_ISSUER: 'http://login.example.com' });
    expect(await s.started).toBe(false);
    expect(await s.exited).toBe(2);
    expect(s.err().trim().split('\n')).toHaveLength(1);
    expect(s.err()).toMatch(/^latchkey: issuer http:\/\/login\.example\.com is http on a host other than loopback: .*insecureHttpIssuer/);
    expect(s.out()).toBe('');
  });

  it('insecureHttpIssuer and an explicit demo: true start (cluster primary), each with its warning, and the demo is seeded', async () => {
    const s = await serve({ LATCHKEY_ISSUER: 'http://login.example.com', LATCHKEY_INSECURE_HTTP_ISSUER: 'true', LATCHKEY_DEMO: 'true', LATCHKEY_WORKERS: '2' });
    expect(await s.started).toBe(true);
    expect(await s.stop()).toBe(0);
    const warnings = s.out().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.level === 40).map((l) => l.msg as string);
    expect(warnings.filter((m) => /^insecureHttpIssuer is on/.test(m))).toHaveLength(1);
    expect(warnings.filter((m) => /^demo is on with issuer http:\/\/login\.example\.com/.test(m))).toHaveLength(1);
    expect(s.out()).toMatch(/client_id\s+demo-client/);
  });
});
