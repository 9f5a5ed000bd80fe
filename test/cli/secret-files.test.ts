import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { Latchkey } from '../../src/server/latchkey.js';
import { verifyPassword } from '../../src/services/users.js';
import { DEFAULT_TENANT } from '../../src/store/types.js';
import { adminDatabaseUrl, dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';

const BIN = resolve('bin/latchkey.js');

/**
 * Review 8 F6: passwords and client secrets from a file or standard input, never only as arguments (visible in ps
 * and shell history). Runs the built CLI (scripts/test.sh builds dist/ first) in a fresh folder.
 */
describe('latchkey CLI: --password-file and --secret-file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-cli-secrets-'));
  let databaseUrl: string | undefined;
  let aliceSub = '';
  const cli = (args: string[], input?: string) => {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd: dir,
      input,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, LATCHKEY_LOG_LEVEL: 'silent', ...(databaseUrl ? { LATCHKEY_DATABASE_URL: databaseUrl } : {}) },
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  /** Whether `password` is the stored password of `username`, read by a server on the CLI's database. */
  const passwordWorks = async (username: string, password: string) => {
    const config = loadConfig({ env: {}, file: undefined, overrides: { dataDir: join(dir, 'data'), logLevel: 'silent', demo: false, databaseUrl } });
    const lk = await Latchkey.open({ config });
    try {
      const u = await lk.store.findUserByUsername(DEFAULT_TENANT, username);
      return verifyPassword(u!.passwordHash, password);
    } finally {
      await lk.close();
    }
  };

  beforeAll(async () => {
    databaseUrl = adminDatabaseUrl() ? await testDatabaseUrl(dir) : undefined;
  });
  afterAll(async () => {
    if (databaseUrl) await dropTestDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  });

  it('user create --password-file FILE reads the password from the file, its trailing newline dropped', async () => {
    const f = join(dir, 'alice.pw');
    writeFileSync(f, 'correct horse battery\n', { mode: 0o600 });
    const r = cli(['user', 'create', '--username', 'alice', '--password-file', f, '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    aliceSub = JSON.parse(r.out).sub;
    expect(await passwordWorks('alice', 'correct horse battery')).toBe(true);
    expect(await passwordWorks('alice', 'correct horse battery\n')).toBe(false);
  });

  it('user set-password --password-file - reads standard input; a too short password from it is refused like one given with --password', async () => {
    const sub = aliceSub;
    expect(cli(['user', 'set-password', sub, '--password-file', '-'], 'a brand new password\r\n').code).toBe(0);
    expect(await passwordWorks('alice', 'a brand new password')).toBe(true);
    const short = cli(['user', 'set-password', sub, '--password-file', '-'], 'short\n');
    expect(short.code).toBe(2);
    expect(await passwordWorks('alice', 'a brand new password')).toBe(true);
    const fromStdin = cli(['user', 'create', '--username', 'bob', '--password-file', '-'], 'bob password here');
    expect(fromStdin.code).toBe(0);
    expect(await passwordWorks('bob', 'bob password here')).toBe(true);
  });

  it('client create --secret-file sets the client secret from a file or standard input', () => {
    const f = join(dir, 'svc.secret');
    writeFileSync(f, 's'.repeat(40) + '\n', { mode: 0o600 });
    const fromFile = JSON.parse(cli(['client', 'create', '--client-id', 'svc-f', '--secret-file', f, '--json']).out);
    expect(fromFile.client_secret).toBe('s'.repeat(40));
    const fromStdin = JSON.parse(cli(['client', 'create', '--client-id', 'svc-s', '--secret-file', '-', '--json'], 't'.repeat(40) + '\n').out);
    expect(fromStdin.client_secret).toBe('t'.repeat(40));
  });

  it('--password-file and --secret-file drop every trailing line break, as LATCHKEY_<NAME>_FILE does (src/config/secret-file.ts)', async () => {
    const f = join(dir, 'dave.pw');
    writeFileSync(f, 'dave password here\r\n\n', { mode: 0o600 });
    expect(cli(['user', 'create', '--username', 'dave', '--password-file', f]).code).toBe(0);
    expect(await passwordWorks('dave', 'dave password here')).toBe(true);
    const secret = JSON.parse(cli(['client', 'create', '--client-id', 'svc-n', '--secret-file', '-', '--json'], 'u'.repeat(40) + '\n\n').out);
    expect(secret.client_secret).toBe('u'.repeat(40));
  });

  it('bad secret input exits 2 with one line: both forms at once, an empty or missing file, --file and --secret-file both on stdin', () => {
    const f = join(dir, 'empty');
    writeFileSync(f, '\n');
    const cases: [string[], RegExp, string?][] = [
      [['user', 'create', '--username', 'carol', '--password', 'long enough pw', '--password-file', f], /not both/],
      [['user', 'create', '--username', 'carol', '--password-file', f], /is empty/],
      [['user', 'create', '--username', 'carol', '--password-file', join(dir, 'nope')], /cannot read --password-file/],
      [['client', 'create', '--file', '-', '--secret-file', '-'], /cannot both read standard input/, '{}'],
    ];
    for (const [args, re, input] of cases) {
      const r = cli(args, input);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.err, args.join(' ')).toMatch(re);
    }
  }, 90_000);

  it('the usage says --password and --secret are visible to other local users and names the file forms', () => {
    const help = cli(['--help']).out;
    expect(help).toMatch(/--password-file F\|-/);
    expect(help).toMatch(/--secret-file F\|-/);
    expect(help).toMatch(/--password and --secret are visible to other users of this machine \(ps/);
  });
});
