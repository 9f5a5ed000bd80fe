import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { loadMasterKeys } from '../../src/keys/master-key.js';
import { filePermissionWarnings } from '../../src/server/file-permissions.js';
import { openStore } from '../../src/store/open.js';

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);
const posix = process.platform !== 'win32';

const dirs: string[] = [];
const freshDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'lk-perm-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(!posix)('files holding secrets are private (POSIX)', () => {
  it('the SQLite database is created 0600 in a folder created 0700, and SQLite gives its -wal and -shm files the same mode', async () => {
    const root = freshDir();
    const file = join(root, 'srv', 'data', 'latchkey.db');
    const store = await openStore({ url: `sqlite:${file}` });
    try {
      await store.findTenant('default'); // a read after the migrations' writes: the WAL and its index exist
      expect(modeOf(join(root, 'srv'))).toBe('700');
      expect(modeOf(join(root, 'srv', 'data'))).toBe('700');
      expect(modeOf(file)).toBe('600');
      expect(existsSync(file + '-wal')).toBe(true);
      expect(modeOf(file + '-wal')).toBe('600');
      expect(modeOf(file + '-shm')).toBe('600');
    } finally {
      await store.close();
    }
  });

  it('an existing folder and database keep their modes (openStore never chmods what it did not create)', async () => {
    const root = freshDir();
    chmodSync(root, 0o755);
    const file = join(root, 'latchkey.db');
    const first = await openStore({ url: `sqlite:${file}` });
    await first.close();
    chmodSync(file, 0o640);
    const again = await openStore({ url: `sqlite:${file}` });
    await again.close();
    expect(modeOf(root)).toBe('755');
    expect(modeOf(file)).toBe('640');
  });

  it('an in-memory SQLite database creates no file', async () => {
    const root = freshDir();
    const cwd = process.cwd();
    process.chdir(root);
    try {
      const store = await openStore({ url: 'sqlite::memory:' });
      await store.close();
    } finally {
      process.chdir(cwd);
    }
    expect(existsSync(join(root, ':memory:'))).toBe(false);
  });

  it('master.key is generated 0600 in a data folder created 0700', () => {
    const dataDir = join(freshDir(), 'var', 'data');
    loadMasterKeys({ dataDir });
    expect(modeOf(dataDir)).toBe('700');
    expect(modeOf(join(dataDir, '..'))).toBe('700');
    expect(modeOf(join(dataDir, 'master.key'))).toBe('600');
  });

  it('serve warns (does not refuse) about an existing data folder, database, master.key or secret-holding config file open to group or others', async () => {
    const root = freshDir();
    const dataDir = join(root, 'data');
    loadMasterKeys({ dataDir });
    const db = join(dataDir, 'latchkey.db');
    const store = await openStore({ url: `sqlite:${db}` });
    try {
      const configFile = join(root, 'latchkey.config.json');
      writeFileSync(configFile, JSON.stringify({ dataDir, databaseUrl: `sqlite:${db}` }), { mode: 0o600 });
      const config = () => loadConfig({ file: configFile, env: {} });
      // As created: private, nothing to say.
      expect(filePermissionWarnings(config())).toEqual([]);

      chmodSync(dataDir, 0o755);
      chmodSync(db, 0o644);
      chmodSync(join(dataDir, 'master.key'), 0o640);
      chmodSync(configFile, 0o644);
      const w = filePermissionWarnings(config());
      expect(w).toEqual([
        `the data folder ${dataDir} is accessible to group or others (mode 0755): chmod 700 ${dataDir}`,
        `the SQLite database ${db} is accessible to group or others (mode 0644): chmod 600 ${db} ${db}-wal ${db}-shm`,
        `the key-encryption key ${join(dataDir, 'master.key')} is accessible to group or others (mode 0640): chmod 600 ${join(dataDir, 'master.key')}`,
      ]);
      // The config file matters only when it holds a secret.
      writeFileSync(configFile, JSON.stringify({ dataDir, databaseUrl: `sqlite:${db}`, keyEncryptionKey: 'A'.repeat(43) }));
      chmodSync(db, 0o600);
      chmodSync(db + '-wal', 0o644);
      const k = filePermissionWarnings(config());
      // A configured key-encryption key: master.key is not used (not checked); the folder still holds the database.
      expect(k.some((m) => m.includes('master.key'))).toBe(false);
      expect(k.some((m) => m.startsWith(`the data folder ${dataDir}`))).toBe(true);
      expect(k).toContain(
        `the config file ${configFile}, which holds keyEncryptionKey or a database password, is accessible to group or others (mode 0644): chmod 600 ${configFile}`,
      );
      // -wal/-shm left loose after the database itself was fixed are named one by one.
      expect(k).toContain(`the SQLite database file ${db}-wal is accessible to group or others (mode 0644): chmod 600 ${db}-wal`);

      // No such modes on Windows.
      expect(filePermissionWarnings(config(), 'win32')).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('PostgreSQL with a configured key-encryption key: no local files to check', () => {
    const root = freshDir();
    mkdirSync(join(root, 'data'), { mode: 0o755 });
    chmodSync(join(root, 'data'), 0o755);
    const config = loadConfig({ env: {}, overrides: { dataDir: join(root, 'data'), databaseUrl: 'postgres://db.example/lk', keyEncryptionKey: 'A'.repeat(43) } });
    expect(filePermissionWarnings(config)).toEqual([]);
  });
});
