import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { openStore } from '../../src/store/open.js';
import { adminDatabaseUrl } from '../helpers/database.js';

/**
 * SQLite with several processes on one file (`serve --workers N`): each process has its own connection, so
 * SQLite's file locks, not the driver's mutex, order the writers. SQLite pass only.
 */
describe.skipIf(adminDatabaseUrl())('SQLite shared by several processes', () => {
  function file(): string {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-sqlite-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    return join(dir, 'latchkey.db');
  }

  it('a deferred transaction that reads, then writes after another process wrote, fails at once (SQLITE_BUSY_SNAPSHOT): why we BEGIN IMMEDIATE', () => {
    const path = file();
    const a = new Database(path);
    a.pragma('journal_mode = WAL');
    a.pragma('busy_timeout = 5000');
    const b = new Database(path);
    b.pragma('busy_timeout = 5000');
    try {
      a.exec('create table t (x integer)');
      a.exec('begin');
      a.prepare('select count(*) from t').get();
      b.exec('insert into t values (1)');
      expect(() => a.exec('insert into t values (2)')).toThrow(expect.objectContaining({ code: 'SQLITE_BUSY_SNAPSHOT' }));
      a.exec('rollback');
    } finally {
      a.close();
      b.close();
    }
  });

  it('store transactions take the write lock at BEGIN (IMMEDIATE), so other processes wait their turn instead of failing', async () => {
    const path = file();
    const store = await openStore({ url: `sqlite:${path}` });
    const other = new Database(path);
    other.pragma('busy_timeout = 0'); // report at once rather than wait: this test must not block its own thread
    try {
      await store.transaction(async (tx) => {
        await tx.findTenant('nobody'); // a read only, and still the write lock is held
        expect(() => other.exec('begin immediate')).toThrow(expect.objectContaining({ code: 'SQLITE_BUSY' }));
      });
      other.exec('begin immediate'); // free again after COMMIT
      other.exec('rollback');
    } finally {
      other.close();
      await store.close();
    }
  });
});
