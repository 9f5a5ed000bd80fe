import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envName, loadConfig } from '../../src/config/load.js';

describe('configuration', () => {
  it('works with no file and no env: issuer http://127.0.0.1:9000, SQLite under ./data', () => {
    const c = loadConfig({ env: {} });
    expect(c.issuer).toBe('http://127.0.0.1:9000');
    expect(c.port).toBe(9000);
    expect(c.dataDir).toBe('./data');
    expect(c.databaseUrl).toBeUndefined();
  });

  it('maps camelCase options to LATCHKEY_* env vars', () => {
    expect(envName('accessTokenTtl')).toBe('LATCHKEY_ACCESS_TOKEN_TTL');
    const c = loadConfig({ env: { LATCHKEY_ACCESS_TOKEN_TTL: '120', LATCHKEY_ISSUER: 'https://id.example' } });
    expect(c.accessTokenTtl).toBe(120);
    expect(c.issuer).toBe('https://id.example');
  });

  it('env overrides the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lkcfg-'));
    const f = join(dir, 'c.json');
    writeFileSync(f, JSON.stringify({ port: 1234, logLevel: 'warn' }));
    const c = loadConfig({ file: f, env: { LATCHKEY_PORT: '4321' } });
    expect(c.port).toBe(4321);
    expect(c.logLevel).toBe('warn');
  });

  it('a bad value is one clear line naming the option and its source', () => {
    expect(() => loadConfig({ env: { LATCHKEY_PORT: 'abc' } })).toThrowError(ConfigError);
    expect(() => loadConfig({ env: { LATCHKEY_PORT: 'abc' } })).toThrow(/LATCHKEY_PORT/);
    expect(() => loadConfig({ env: { LATCHKEY_ISSUER: 'https://x.example/?a=b' } })).toThrow(/LATCHKEY_ISSUER/);
    const dir = mkdtempSync(join(tmpdir(), 'lkcfg-'));
    const f = join(dir, 'c.json');
    writeFileSync(f, JSON.stringify({ prot: 1 }));
    expect(() => loadConfig({ file: f, env: {} })).toThrow(/unknown configuration option: prot/);
  });

  it('operations options: workers, migrateOnStart, accessLog and cleanup timings parse from env', () => {
    const c = loadConfig({
      env: {
        LATCHKEY_WORKERS: '3', LATCHKEY_MIGRATE_ON_START: 'false', LATCHKEY_ACCESS_LOG: '1', LATCHKEY_CLEANUP_INTERVAL: '0',
      },
    });
    expect(c).toMatchObject({ workers: 3, migrateOnStart: false, accessLog: true, cleanupInterval: 0 });
    const d = loadConfig({ env: {} });
    expect(d).toMatchObject({ migrateOnStart: true, accessLog: false, metrics: true, cleanupInterval: 300, shutdownTimeout: 10 });
    expect(d.workers).toBeUndefined(); // one per core
    expect(() => loadConfig({ env: { LATCHKEY_WORKERS: '0' } })).toThrow(/LATCHKEY_WORKERS/);
  });
});
