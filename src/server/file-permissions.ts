import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { configFileOf } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { masterKeyFile } from '../keys/master-key.js';
import { databaseUrlOf } from './latchkey.js';

/** The mode of path when group or others have any access to it; undefined when they have none or it is missing. */
function looseMode(path: string): number | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
  return mode & 0o077 ? mode : undefined;
}

const octal = (mode: number) => mode.toString(8).padStart(4, '0');

/**
 * Start-up warnings (not refusals: the operator may have reasons, e.g. a group-shared backup) for the files that
 * hold secrets when group or others can read them: the data folder, the SQLite database (password hashes, user
 * claims, audit log, encrypted signing keys) and its -wal/-shm files, master.key, and a config file that holds
 * keyEncryptionKey or a database password. Latchkey creates all of them private (0700/0600); these are files made by
 * an older version or by hand. Nothing on Windows, which has no such modes.
 */
export function filePermissionWarnings(config: Config, platform: NodeJS.Platform = process.platform): string[] {
  if (platform === 'win32') return [];
  const warnings: string[] = [];
  const check = (path: string, what: string, fix: string, why = '', also: string[] = []): boolean => {
    const mode = looseMode(path);
    if (mode === undefined) return false;
    warnings.push(`${what} ${path}${why} is accessible to group or others (mode ${octal(mode)}): chmod ${fix} ${[path, ...also].join(' ')}`);
    return true;
  };
  const dataDir = resolve(config.dataDir);
  const url = databaseUrlOf(config);
  const sqlitePath = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : undefined;
  const dbFile = sqlitePath && sqlitePath !== ':memory:' ? resolve(sqlitePath) : undefined;
  const usesMasterKey = config.keyEncryptionKey === undefined;
  if (usesMasterKey || (dbFile !== undefined && dirname(dbFile) === dataDir)) check(dataDir, 'the data folder', '700');
  if (dbFile !== undefined) {
    // SQLite gives the -wal and -shm files the database's mode: one line for all three, unless only they are loose.
    const companions = [dbFile + '-wal', dbFile + '-shm'].filter((f) => existsSync(f));
    if (!check(dbFile, 'the SQLite database', '600', '', companions)) for (const f of companions) check(f, 'the SQLite database file', '600');
  }
  if (usesMasterKey) check(masterKeyFile(dataDir), 'the key-encryption key', '600');
  const file = configFileOf(config);
  if (file?.holdsSecret) check(file.file, 'the config file', '600', ', which holds keyEncryptionKey or a database password,');
  return warnings;
}
