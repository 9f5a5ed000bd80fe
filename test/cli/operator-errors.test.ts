import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { adminDatabaseUrl, dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';

/**
 * What an operator sees when something around the server is wrong (the port, the configuration, the database):
 * the built CLI (bin/latchkey.js; scripts/test.sh builds dist/ first), one line on stderr, a non-zero exit, and
 * never a process left running.
 */
const BIN = resolve('bin/latchkey.js');

async function freshFolder(): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-operator-'));
  const url = adminDatabaseUrl() ? await testDatabaseUrl(dir) : undefined;
  onTestFinished(async () => {
    if (url) await dropTestDatabase(url);
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, env: url ? { LATCHKEY_DATABASE_URL: url } : {} };
}

function cli(folder: { dir: string; env: Record<string, string> }, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: folder.dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, LATCHKEY_LOG_LEVEL: 'silent', ...folder.env, ...env },
    // Bounded: a process that hangs is the failure some of these tests look for.
    timeout: 60_000,
    killSignal: 'SIGKILL',
  });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

/** A port held by another listener. */
async function portInUse(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as { port: number }).port;
}

describe('latchkey serve on a port that is in use', () => {
  for (const workers of ['1', '2']) {
    it(`--workers ${workers}: one line naming the address, a non-zero exit, and the process (every worker) is gone`, async () => {
      const folder = await freshFolder();
      const port = await portInUse();
      const r = cli(folder, ['serve', '--workers', workers], { LATCHKEY_PORT: String(port), LATCHKEY_DEMO: 'false' });
      // Before: the message was printed and the process stayed up (the database and key checks held it open).
      expect(r.signal).toBeNull();
      expect(r.code).not.toBe(0);
      expect(r.err).toMatch(new RegExp(`^latchkey: .*EADDRINUSE.*127\\.0\\.0\\.1:${port}`, 'm'));
      expect(r.out).not.toMatch(/latchkey: serving/);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    });
  }
});

describe('a database from a newer version', () => {
  it('migrate, commands and serve refuse a database that ran a migration this version does not know, saying it is newer (not "corrupted")', async () => {
    const folder = await freshFolder();
    expect(cli(folder, ['init']).code).toBe(0);
    const url = folder.env.LATCHKEY_DATABASE_URL;
    const { Kysely, PostgresDialect, SqliteDialect } = await import('kysely');
    let db: InstanceType<typeof Kysely<any>>;
    if (url) {
      const pg = (await import('pg')).default;
      db = new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }) });
    } else {
      const SQLite = (await import('better-sqlite3')).default;
      db = new Kysely({ dialect: new SqliteDialect({ database: new SQLite(join(folder.dir, 'data', 'latchkey.db')) }) });
    }
    await db.insertInto('kysely_migration').values({ name: '9999_from_the_future', timestamp: new Date().toISOString() }).execute();
    await db.destroy();

    for (const args of [['migrate'], ['client', 'list'], ['serve', '--workers', '1']]) {
      const r = cli(folder, args, { LATCHKEY_PORT: '0', LATCHKEY_DEMO: 'false' });
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.err.trim().split('\n')).toEqual([
        'latchkey: the database was migrated by a newer version of Latchkey (migration this version does not know: 9999_from_the_future); run that version or a newer one, or restore a backup made with this one',
      ]);
    }
  });
});

describe('options a command does not read', () => {
  it('are refused with one line naming them (they were silently ignored); tenant create takes --issuer like service create; registration-token list --tenant lists that tenant\'s', async () => {
    const folder = await freshFolder();
    expect(cli(folder, ['init']).code).toBe(0);
    const created = cli(folder, ['client', 'create', '--client-id', 'app', '--name', 'before', '--json']);
    expect(created.code).toBe(0);
    const file = join(folder.dir, 'app.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, JSON.stringify({ grant_types: ['client_credentials'], client_name: 'from the file' }));

    const refused = (args: string[], line: string) => {
      const r = cli(folder, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trim().split('\n')).toEqual([`latchkey: ${line}; see latchkey --help`]);
      expect(r.out).toBe('');
    };
    // client update replaces the metadata from --file only: a --name beside it changed nothing, silently.
    refused(['client', 'update', 'app', '--file', file, '--name', 'after'], 'client update does not take --name');
    expect(JSON.parse(cli(folder, ['client', 'show', 'app', '--json']).out).client_name).toBe('before');
    // Sessions are the default tenant's: --tenant listed those anyway.
    refused(['session', 'list', '--user', 'someone', '--tenant', 'acme'], 'session list does not take --tenant');
    refused(['client', 'list', '--port', '9001'], 'client list does not take --port');
    refused(['serve', '--tenant', 'acme'], 'serve does not take --tenant');
    refused(['admin-token', 'create', '--tenant', 'acme'], 'admin-token create does not take --tenant');
    // The options a command does read still work.
    expect(cli(folder, ['client', 'update', 'app', '--file', file, '--json']).code).toBe(0);
    expect(JSON.parse(cli(folder, ['client', 'show', 'app', '--json']).out).client_name).toBe('from the file');

    const t = cli(folder, ['tenant', 'create', 'acme', '--issuer', 'https://id.acme.example', '--json']);
    expect(t.code).toBe(0);
    expect(JSON.parse(t.out).issuer).toBe('https://id.acme.example');

    expect(cli(folder, ['registration-token', 'create', '--tenant', 'acme', '--name', 'acme-reg']).code).toBe(0);
    expect(cli(folder, ['registration-token', 'create', '--name', 'default-reg']).code).toBe(0);
    const names = (args: string[]) => JSON.parse(cli(folder, [...args, '--json']).out).map((x: { name: string }) => x.name).sort();
    expect(names(['registration-token', 'list'])).toEqual(['acme-reg', 'default-reg']);
    expect(names(['registration-token', 'list', '--tenant', 'acme'])).toEqual(['acme-reg']);
  });
});

describe('the master.key', () => {
  it('missing beside a database set up with it: one line saying so, exit 2, and no new master.key left behind; unreadable: one line, exit 2', async () => {
    const folder = await freshFolder();
    expect(cli(folder, ['init']).code).toBe(0);
    const { existsSync, readFileSync, unlinkSync, writeFileSync } = await import('node:fs');
    const file = join(folder.dir, 'data', 'master.key');
    const original = readFileSync(file);
    unlinkSync(file);
    for (const args of [['keys', 'list'], ['serve', '--workers', '1']]) {
      const r = cli(folder, args, { LATCHKEY_PORT: '0', LATCHKEY_DEMO: 'false' });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trim().split('\n')).toEqual([
        `latchkey: ${file} was missing, and the database's signing keys were encrypted with another key: restore the master.key this database was set up with (or set keyEncryptionKey to it), or check dataDir and databaseUrl; no new master.key was kept`,
      ]);
      // Before, a fresh master.key was written (and kept), looking like the right one to the next run.
      expect(existsSync(file)).toBe(false);
    }
    writeFileSync(file, 'not a key\n');
    const r = cli(folder, ['keys', 'list']);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toEqual([`latchkey: ${file} does not hold a 32-byte base64url key`]);
    writeFileSync(file, original);
    expect(cli(folder, ['keys', 'list']).code).toBe(0);
  });
});

describe('latchkey init', () => {
  it('says where the database and the key-encryption key are (on PostgreSQL: the server and database, never the password), not the data folder it may not use', async () => {
    const folder = await freshFolder();
    const r = cli(folder, ['init']);
    expect(r.code).toBe(0);
    const url = folder.env.LATCHKEY_DATABASE_URL;
    const { realpathSync } = await import('node:fs');
    const dataDir = join(realpathSync(folder.dir), 'data');
    if (url) {
      const u = new URL(url);
      expect(r.out.trim()).toBe(`initialised: issuer http://127.0.0.1:9000, 4 signing keys, database ${u.protocol}//${u.host}${u.pathname}, key-encryption key in ${join(dataDir, 'master.key')}`);
      if (u.password) expect(r.out).not.toContain(u.password);
      // With a configured keyEncryptionKey nothing is in the data folder: none is named.
      const again = cli(folder, ['init'], { LATCHKEY_KEY_ENCRYPTION_KEY: readKey(join(dataDir, 'master.key')) });
      expect(again.out.trim()).toBe(`initialised: issuer http://127.0.0.1:9000, 4 signing keys, database ${u.protocol}//${u.host}${u.pathname}`);
    } else {
      expect(r.out.trim()).toBe(`initialised: issuer http://127.0.0.1:9000, 4 signing keys, database ${join(dataDir, 'latchkey.db')}, key-encryption key in ${join(dataDir, 'master.key')}`);
    }
  });
});

function readKey(file: string): string {
  return readFileSync(file, 'utf8').trim();
}

describe('a PostgreSQL database that cannot be reached', () => {
  it('commands and serve say "cannot connect to the database" with its host and name (never the password) and the driver\'s reason, one line, non-zero exit', async () => {
    const folder = await freshFolder();
    // A port nothing listens on: take a free one and let it go.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    const env = { LATCHKEY_DATABASE_URL: `postgres://latchkey:hunter2-secret@127.0.0.1:${port}/auth`, LATCHKEY_PORT: '0', LATCHKEY_DEMO: 'false' };
    for (const args of [['client', 'list'], ['migrate'], ['serve', '--workers', '1']]) {
      const r = cli(folder, args, env);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err.trim().split('\n')).toEqual([`latchkey: cannot connect to the database postgres://127.0.0.1:${port}/auth: connect ECONNREFUSED 127.0.0.1:${port}`]);
      expect(r.err).not.toContain('hunter2');
    }
  });
});

describe('a command that only reads, where there is no database', () => {
  it('list, show and cleanup refuse a missing SQLite database with one line naming it, and create nothing (they made a database and a master.key in the wrong folder and answered "(no clients)")', async ({ skip }) => {
    const folder = await freshFolder();
    if (folder.env.LATCHKEY_DATABASE_URL) return skip(); // PostgreSQL: the database exists or the connection fails (above)
    const { existsSync, realpathSync } = await import('node:fs');
    const db = join(realpathSync(folder.dir), 'data', 'latchkey.db');
    for (const args of [['client', 'list'], ['keys', 'list'], ['user', 'show', 'someone'], ['audit', 'list'], ['cleanup']]) {
      const r = cli(folder, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trim().split('\n')).toEqual([
        `latchkey: no database at ${db}: run this where your data folder is, or set dataDir or databaseUrl (a new one is made by latchkey init)`,
      ]);
      expect(existsSync(join(folder.dir, 'data'))).toBe(false);
    }
    expect(cli(folder, ['init']).code).toBe(0);
    const listed = cli(folder, ['client', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.out.trim()).toBe('(no clients)');
  });
});

describe('usage', () => {
  it('--help prints the usage on stdout and exits 0; no command at all is an error: the usage on stderr, exit 2', async () => {
    const folder = await freshFolder();
    const help = cli(folder, ['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^usage: latchkey <command> \[options\]/);
    expect(help.err).toBe('');
    const none = cli(folder, []);
    expect(none.code).toBe(2);
    expect(none.out).toBe('');
    expect(none.err).toMatch(/^usage: latchkey <command> \[options\]/);
  });
});

describe('a SQLite database this user may not write', () => {
  it('one line naming the file and what to check, not SQLite\'s bare "attempt to write a readonly database"', async ({ skip }) => {
    const folder = await freshFolder();
    if (folder.env.LATCHKEY_DATABASE_URL) return skip(); // PostgreSQL: no file
    expect(cli(folder, ['init']).code).toBe(0);
    const { chmodSync, realpathSync } = await import('node:fs');
    const data = join(folder.dir, 'data');
    // Root writes anything: run as nobody then (the files stay root's); anyone else loses write access.
    const asRoot = process.getuid?.() === 0;
    if (asRoot && spawnSync('runuser', ['--help']).status !== 0) return skip(); // no way to run as another user
    chmodSync(folder.dir, 0o755);
    chmodSync(data, 0o555);
    chmodSync(join(data, 'latchkey.db'), 0o444);
    chmodSync(join(data, 'master.key'), 0o444);
    onTestFinished(() => chmodSync(data, 0o700));
    const r = asRoot
      ? spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, BIN, 'client', 'list'], {
          cwd: folder.dir, encoding: 'utf8', env: { PATH: process.env.PATH, LATCHKEY_LOG_LEVEL: 'silent' }, timeout: 60_000,
        })
      : spawnSync(process.execPath, [BIN, 'client', 'list'], { cwd: folder.dir, encoding: 'utf8', env: { PATH: process.env.PATH, LATCHKEY_LOG_LEVEL: 'silent' }, timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `latchkey: cannot write the database ${join(realpathSync(data), 'latchkey.db')}: attempt to write a readonly database (the user running latchkey needs write access to the file and its folder)`,
    ]);
  });
});

describe('--file', () => {
  it('a --file that cannot be read is one line naming it and exit 2, like other bad input (was the bare ENOENT, exit 1)', async () => {
    const folder = await freshFolder();
    expect(cli(folder, ['init']).code).toBe(0);
    for (const args of [['client', 'create', '--file', 'missing.json'], ['client', 'update', 'x', '--file', 'missing.json'], ['resource', 'create', '--file', 'missing.json']]) {
      const r = cli(folder, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(/^latchkey: cannot read --file missing\.json: ENOENT/);
    }
  });
});
