import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configFileOf, envName, loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

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

  it('an issuer (or mtlsBaseUrl) that is no URL at all, and a flag that is not a boolean, are ConfigErrors naming the option and what it takes', () => {
    // Before, a value new URL() cannot parse escaped the schema as a bare TypeError "Invalid URL" (exit 1, no option).
    const bad = (env: Record<string, string>) => () => loadConfig({ env });
    for (const [name, value] of [['LATCHKEY_ISSUER', 'login.example.com'], ['LATCHKEY_ISSUER', 'foo'], ['LATCHKEY_MTLS_BASE_URL', 'mtls']] as const) {
      expect(bad({ [name]: value })).toThrow(ConfigError);
      expect(bad({ [name]: value })).toThrow(`invalid configuration option ${name}: must be an http(s) URL without query, fragment or trailing slash`);
    }
    for (const name of ['LATCHKEY_DEMO', 'LATCHKEY_METRICS', 'LATCHKEY_ACCESS_LOG']) {
      expect(bad({ [name]: 'yes' })).toThrow(`invalid configuration option ${name}: must be true or false (or 1 or 0)`);
    }
  });

  it('sessionCookieSameSite none needs an https issuer (browsers drop a SameSite=None cookie that is not Secure)', () => {
    expect(() => loadConfig({ env: { LATCHKEY_SESSION_COOKIE_SAME_SITE: 'none' } })).toThrow(/LATCHKEY_SESSION_COOKIE_SAME_SITE: none needs an https issuer/);
    expect(loadConfig({ env: { LATCHKEY_SESSION_COOKIE_SAME_SITE: 'none', LATCHKEY_ISSUER: 'https://login.example.com' } }).sessionCookieSameSite).toBe('none');
    expect(loadConfig({ env: {} }).sessionCookieSameSite).toBe('lax');
    expect(() => loadConfig({ env: { LATCHKEY_SESSION_COOKIE_SAME_SITE: 'strict' } })).toThrow(ConfigError);
  });

  it('a PostgreSQL databaseUrl that is no URL is a ConfigError that does not repeat it (pg would throw a TypeError holding it whole, password included)', () => {
    for (const url of ['postgres://lk:PWSECRET@[bad/db', 'postgresql://lk:PWSECRET@host:notaport/db']) {
      let err: unknown;
      try {
        loadConfig({ env: { LATCHKEY_DATABASE_URL: url } });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/^invalid configuration option LATCHKEY_DATABASE_URL: is not a valid URL/);
      expect(JSON.stringify({ ...(err as object), message: (err as Error).message, stack: (err as Error).stack })).not.toContain('PWSECRET');
    }
    // What pg itself accepts stays accepted: an empty host (a Unix socket in the query), reserved characters pg tolerates.
    for (const url of ['postgres://lk:pw@/lk?host=/run/postgresql', 'postgres:///lk?host=/tmp', 'postgres://lk:p@ss@db.example/lk', 'postgres://lk:pw@[::1]:5432/lk']) {
      expect(loadConfig({ env: { LATCHKEY_DATABASE_URL: url } }).databaseUrl).toBe(url);
    }
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

  it('a LATCHKEY_* variable that is set but empty is an error naming it, for every option (and LATCHKEY_CONFIG)', () => {
    // A deployment template whose substitution came out empty must not start on defaults (a loopback issuer, a
    // local master.key that differs per instance on a shared database).
    for (const name of ['LATCHKEY_ISSUER', 'LATCHKEY_KEY_ENCRYPTION_KEY', 'LATCHKEY_DATABASE_URL', 'LATCHKEY_PORT', 'LATCHKEY_TRUSTED_PROXIES', 'LATCHKEY_CONFIG']) {
      expect(() => loadConfig({ env: { [name]: '' } }), name).toThrowError(ConfigError);
      expect(() => loadConfig({ env: { [name]: '' } }), name).toThrow(new RegExp(`^${name} is set but empty`));
    }
    const d = loadConfig({ env: { LATCHKEY_ISSUER: 'https://id.example' } });
    expect(d.issuer).toBe('https://id.example');
  });

  it('LATCHKEY_<NAME>_FILE reads the option from a file, without its trailing line break', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lkcfg-'));
    const kek = 'A'.repeat(43);
    writeFileSync(join(dir, 'kek'), kek + '\n');
    writeFileSync(join(dir, 'db'), 'postgres://lk:s3cret@db.example/lk\r\n');
    writeFileSync(join(dir, 'issuer'), 'https://id.example');
    const c = loadConfig({
      env: { LATCHKEY_KEY_ENCRYPTION_KEY_FILE: join(dir, 'kek'), LATCHKEY_DATABASE_URL_FILE: join(dir, 'db'), LATCHKEY_ISSUER_FILE: join(dir, 'issuer') },
    });
    expect(c.keyEncryptionKey).toBe(kek);
    expect(c.databaseUrl).toBe('postgres://lk:s3cret@db.example/lk');
    expect(c.issuer).toBe('https://id.example');
    // Above the config file, like the variable itself.
    const f = join(dir, 'c.json');
    writeFileSync(f, JSON.stringify({ issuer: 'https://file.example' }));
    expect(loadConfig({ file: f, env: { LATCHKEY_ISSUER_FILE: join(dir, 'issuer') } }).issuer).toBe('https://id.example');
    // A bad value names the variable it came through (never the value: it may be a secret).
    writeFileSync(join(dir, 'port'), 'abc\n');
    expect(() => loadConfig({ env: { LATCHKEY_PORT_FILE: join(dir, 'port') } })).toThrow(/invalid configuration option LATCHKEY_PORT_FILE/);
    writeFileSync(join(dir, 'badkek'), 'not-a-key\n');
    expect(() => loadConfig({ env: { LATCHKEY_KEY_ENCRYPTION_KEY_FILE: join(dir, 'badkek') } })).toThrow(/LATCHKEY_KEY_ENCRYPTION_KEY_FILE/);
    expect(() => loadConfig({ env: { LATCHKEY_KEY_ENCRYPTION_KEY_FILE: join(dir, 'badkek') } })).not.toThrow(/not-a-key/);
  });

  it('LATCHKEY_<NAME>_FILE: both forms set, an unreadable or empty file, or an empty _FILE variable are errors naming the variable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lkcfg-'));
    writeFileSync(join(dir, 'kek'), 'A'.repeat(43) + '\n');
    writeFileSync(join(dir, 'empty'), '\n');
    mkdirSync(join(dir, 'folder'));
    const load = (env: Record<string, string>) => () => loadConfig({ env });
    expect(load({ LATCHKEY_KEY_ENCRYPTION_KEY: 'B'.repeat(43), LATCHKEY_KEY_ENCRYPTION_KEY_FILE: join(dir, 'kek') })).toThrow(
      /both LATCHKEY_KEY_ENCRYPTION_KEY and LATCHKEY_KEY_ENCRYPTION_KEY_FILE are set/,
    );
    expect(load({ LATCHKEY_KEY_ENCRYPTION_KEY: '', LATCHKEY_KEY_ENCRYPTION_KEY_FILE: join(dir, 'kek') })).toThrowError(ConfigError);
    expect(load({ LATCHKEY_KEY_ENCRYPTION_KEY_FILE: join(dir, 'missing') })).toThrow(/^cannot read LATCHKEY_KEY_ENCRYPTION_KEY_FILE \(.*missing\): ENOENT/);
    expect(load({ LATCHKEY_KEY_ENCRYPTION_KEY_FILE: join(dir, 'folder') })).toThrow(/^cannot read LATCHKEY_KEY_ENCRYPTION_KEY_FILE/);
    expect(load({ LATCHKEY_KEY_ENCRYPTION_KEY_FILE: join(dir, 'empty') })).toThrow(/^LATCHKEY_KEY_ENCRYPTION_KEY_FILE \(.*empty\) is empty/);
    expect(load({ LATCHKEY_ISSUER_FILE: '' })).toThrow(/^LATCHKEY_ISSUER_FILE is set but empty/);
    expect(load({ LATCHKEY_KEY_ENCRYPTION_KEY_FILE: join(dir, 'missing') })).toThrowError(ConfigError);
  });

  it('no option\'s LATCHKEY_<NAME>_FILE variable is another option\'s variable', () => {
    const names = new Set(Object.keys(configSchema.shape).map(envName));
    for (const n of names) expect(names.has(n + '_FILE'), n).toBe(false);
  });

  it('the config file is remembered with whether it holds a secret (keyEncryptionKey, a database password), for the permission check', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lkcfg-'));
    const write = (name: string, o: object) => {
      writeFileSync(join(dir, name), JSON.stringify(o));
      return join(dir, name);
    };
    const plain = write('plain.json', { issuer: 'https://id.example', databaseUrl: 'postgres://lk@db.example/lk' });
    expect(configFileOf(loadConfig({ file: plain, env: {} }))).toEqual({ file: plain, holdsSecret: false });
    expect(configFileOf(loadConfig({ file: write('kek.json', { keyEncryptionKey: 'A'.repeat(43) }), env: {} }))?.holdsSecret).toBe(true);
    expect(configFileOf(loadConfig({ file: write('pw.json', { databaseUrl: 'postgres://lk:pw@db.example/lk' }), env: {} }))?.holdsSecret).toBe(true);
    expect(configFileOf(loadConfig({ file: write('pwq.json', { databaseUrl: 'postgresql://db.example/lk?user=lk&password=pw' }), env: {} }))?.holdsSecret).toBe(true);
    expect(configFileOf(loadConfig({ env: {} }))).toBeUndefined();
  });
});
