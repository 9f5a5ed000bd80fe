import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { adminDatabaseUrl, dropTestDatabase, testDatabaseUrl } from './database.js';

const BIN = resolve('bin/latchkey.js');

/**
 * The built CLI (scripts/test.sh builds dist/ first) run in a fresh folder, on that folder's own database: a fresh
 * PostgreSQL database when the PostgreSQL pass is on (open() in beforeAll, close() in afterAll), else SQLite in the folder.
 */
export function cliFolder(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let databaseUrl: string | undefined;
  return {
    dir,
    cli(args: string[], input?: string, env: Record<string, string> = {}) {
      const r = spawnSync(process.execPath, [BIN, ...args], {
        cwd: dir,
        input,
        encoding: 'utf8',
        env: { PATH: process.env.PATH, LATCHKEY_LOG_LEVEL: 'silent', ...(databaseUrl ? { LATCHKEY_DATABASE_URL: databaseUrl } : {}), ...env },
      });
      return { code: r.status, out: r.stdout, err: r.stderr };
    },
    async open() {
      databaseUrl = adminDatabaseUrl() ? await testDatabaseUrl(dir) : undefined;
    },
    async close() {
      if (databaseUrl) await dropTestDatabase(databaseUrl);
    },
  };
}
