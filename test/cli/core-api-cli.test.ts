import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.js';
import { Latchkey } from '../../src/server/latchkey.js';
import { loadConfig } from '../../src/config/load.js';
import { adminDatabaseUrl, dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';

const BIN = resolve('bin/latchkey.js');

/** `latchkey service …` and `latchkey service-token …`, run as the built CLI (scripts/test.sh builds dist/ first). */
describe('latchkey service and service-token commands', () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-core-cli-'));
  let databaseUrl: string | undefined;
  const cli = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, LATCHKEY_LOG_LEVEL: 'silent', ...(databaseUrl ? { LATCHKEY_DATABASE_URL: databaseUrl } : {}), ...env },
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  beforeAll(async () => {
    databaseUrl = adminDatabaseUrl() ? await testDatabaseUrl(dir) : undefined;
  });
  afterAll(async () => {
    if (databaseUrl) await dropTestDatabase(databaseUrl);
  });

  it('service create gives a service its issuer and its own keys; list shows it; bad ids, clashing issuers and issuers in the server\'s own URL space are refused', () => {
    const r = cli(['service', 'create', 'acme', '--issuer', 'https://login.acme.example', '--json']);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toMatchObject({ id: 'acme', issuer: 'https://login.acme.example' });
    const d = JSON.parse(cli(['service', 'create', 'beta', '--json']).out);
    expect(d.issuer).toBe('http://127.0.0.1:9000/t/beta'); // default: under the server's issuer
    const list = JSON.parse(cli(['service', 'list', '--json']).out);
    expect(list.map((t: any) => t.id).sort()).toEqual(['acme', 'beta', 'default']);
    for (const bad of [['service', 'create', 'Bad_Id'], ['service', 'create', 'acme'], ['service', 'create', 'gamma', '--issuer', 'https://login.acme.example'], ['service', 'create', 'delta', '--issuer', 'https://x.example/?q=1']]) {
      const b = cli(bad);
      expect(b.code, bad.join(' ')).toBe(2);
      expect(b.err.trim().split('\n')).toHaveLength(1);
    }
    // docs/tenants.md: an explicit issuer may not lie in the server's own URL space (/t/zeta is tenant zeta's).
    const own = cli(['service', 'create', 'eps', '--issuer', 'http://127.0.0.1:9000/t/zeta']);
    expect(own.code).toBe(2);
    expect(own.err).toMatch(/own URL space/);
    // RFC 8414 §2: an http issuer off loopback is refused as serve refuses such a configured issuer.
    const plain = cli(['service', 'create', 'zeta', '--issuer', 'http://login.zeta.example']);
    expect(plain.code).toBe(2);
    expect(plain.err).toMatch(/^latchkey: issuer http:\/\/login\.zeta\.example is http on a host other than loopback.*insecureHttpIssuer/);
    expect(plain.err.trim().split('\n')).toHaveLength(1);
    const allowed = cli(['service', 'create', 'zeta', '--issuer', 'http://login.zeta.example', '--json'], { LATCHKEY_INSECURE_HTTP_ISSUER: 'true' });
    expect(allowed.err).toBe('');
    expect(JSON.parse(allowed.out)).toMatchObject({ id: 'zeta', issuer: 'http://login.zeta.example' });
  }, 90_000); // ten CLI processes, each starting Node and opening the database

  it('service-token create (scoped and all-services), list (no secrets), revoke; the tokens work against the server', async () => {
    const scoped = JSON.parse(cli(['service-token', 'create', '--service', 'acme', '--name', 'acme app', '--json']).out);
    expect(scoped).toMatchObject({ service: 'acme', name: 'acme app', revoked_at: null });
    expect(scoped.token).toMatch(/^lks_[A-Za-z0-9_-]{43}$/);
    const all = JSON.parse(cli(['service-token', 'create', '--json']).out);
    expect(all.service).toBe('*');
    expect(cli(['service-token', 'create', '--service', 'nope']).code).toBe(2);

    const list = cli(['service-token', 'list', '--json']);
    expect(JSON.parse(list.out).map((t: any) => t.id).sort()).toEqual([scoped.id, all.id].sort());
    expect(list.out).not.toContain(scoped.token.slice(4));

    // The server sees what the CLI created (same data folder and key-encryption key).
    const config = loadConfig({ env: {}, file: undefined, overrides: { dataDir: join(dir, 'data'), logLevel: 'silent', demo: false, databaseUrl } });
    const lk = await Latchkey.open({ config });
    const app = await buildApp(lk, { logger: false });
    try {
      const call = (service: string, token: string) =>
        app.inject({ method: 'POST', url: `/api/${service}/service/configuration`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: '{}' });
      expect((await call('acme', scoped.token)).statusCode).toBe(200);
      expect(JSON.parse((await call('acme', scoped.token)).body).responseContent).toContain('https://login.acme.example');
      expect((await call('beta', scoped.token)).statusCode).toBe(401);
      expect((await call('beta', all.token)).statusCode).toBe(200);

      expect(cli(['service-token', 'revoke', scoped.id]).code).toBe(0);
      expect((await call('acme', scoped.token)).statusCode).toBe(401);
      expect(cli(['service-token', 'revoke', scoped.id]).code).toBe(2); // already revoked
      expect(JSON.parse(cli(['service-token', 'list', '--json']).out).find((t: any) => t.id === scoped.id).revoked_at).toEqual(expect.any(Number));
    } finally {
      await app.close();
      await lk.close();
    }
  });
});
