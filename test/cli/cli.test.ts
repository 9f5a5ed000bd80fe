import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { adminDatabaseUrl, dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';

const BIN = resolve('bin/latchkey.js');

/** On the PostgreSQL pass, the database the spawned CLI uses (none: its default SQLite file in data/). */
const databaseEnv = (url: string | undefined): Record<string, string> => (url ? { LATCHKEY_DATABASE_URL: url } : {});
/** Set per describe block (see beforeAll below): its tests build on each other, like its shared data folder. */
let databaseUrl: string | undefined;

/** Runs the built CLI (scripts/test.sh builds dist/ first) in a fresh folder. */
function cli(dir: string, args: string[], input?: string, env: Record<string, string> = {}, timeout?: number) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    input,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, LATCHKEY_LOG_LEVEL: 'silent', ...databaseEnv(databaseUrl), ...env },
    timeout,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('latchkey CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-cli-'));
  beforeAll(async () => {
    databaseUrl = adminDatabaseUrl() ? await testDatabaseUrl(dir) : undefined;
  });
  afterAll(async () => {
    if (databaseUrl) await dropTestDatabase(databaseUrl);
  });

  it('init creates the key-encryption key (0600), database and signing keys', () => {
    const r = cli(dir, ['init', '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out);
    expect(out.keys.map((k: any) => k.alg).sort()).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256']);
    const mode = spawnSync('stat', ['-c', '%a', join(dir, 'data', 'master.key')], { encoding: 'utf8' }).stdout.trim();
    expect(mode).toBe('600');
    // On the PostgreSQL pass the CLI really used PostgreSQL.
    expect(existsSync(join(dir, 'data', 'latchkey.db'))).toBe(!databaseUrl);
  });

  it('a keyEncryptionKey other than the one the database was set up with: one line saying so, exit 2, for commands and serve', () => {
    const other = { LATCHKEY_KEY_ENCRYPTION_KEY: 'A'.repeat(43) };
    const mismatch = /^latchkey: the signing keys in the database \(tenant default, key [\w-]+\) were encrypted with a different keyEncryptionKey \(or master\.key\)/;
    const keys = cli(dir, ['keys', 'list'], undefined, other);
    expect(keys.code).toBe(2);
    expect(keys.err).toMatch(mismatch);
    expect(keys.err.trim().split('\n')).toHaveLength(1);
    // serve stops at start, in a cluster's primary too (before any worker is forked), never serving.
    const serve = cli(dir, ['serve'], undefined, { ...other, LATCHKEY_PORT: '0', LATCHKEY_DEMO: 'false', LATCHKEY_WORKERS: '2' }, 60_000);
    expect(serve.code).toBe(2);
    expect(serve.err).toMatch(mismatch);
    expect(serve.err.trim().split('\n')).toHaveLength(1);
    expect(serve.out).not.toMatch(/serving/);
    // Its own key (master.key) still works.
    expect(cli(dir, ['keys', 'list']).code).toBe(0);
  });

  it('client create from stdin JSON with an explicit id and secret, then list, show, delete', () => {
    const meta = { client_id: 'svc-a', client_secret: 's'.repeat(40), grant_types: ['client_credentials'], scope: 'api:read' };
    const c = cli(dir, ['client', 'create', '--file', '-', '--json'], JSON.stringify(meta));
    expect(c.code).toBe(0);
    const created = JSON.parse(c.out);
    expect(created).toMatchObject({ client_id: 'svc-a', client_secret: 's'.repeat(40), grant_types: ['client_credentials'] });
    const l = JSON.parse(cli(dir, ['client', 'list', '--json']).out);
    expect(l.map((x: any) => x.client_id)).toContain('svc-a');
    expect(JSON.stringify(l)).not.toContain('s'.repeat(40));
    const sh = JSON.parse(cli(dir, ['client', 'show', 'svc-a', '--json']).out);
    expect(sh.client_secret).toBeUndefined();
    expect(cli(dir, ['client', 'delete', 'svc-a']).code).toBe(0);
    expect(cli(dir, ['client', 'show', 'svc-a']).code).not.toBe(0);
  });

  it('client create with flags generates id and a high-entropy secret', () => {
    const r = cli(dir, ['client', 'create', '--name', 'Web', '--redirect-uri', 'https://app.example/cb', '--grant', 'authorization_code', '--json']);
    expect(r.code).toBe(0);
    const c = JSON.parse(r.out);
    expect(Buffer.from(c.client_secret, 'base64url').length).toBe(32);
    expect(c.redirect_uris).toEqual(['https://app.example/cb']);
  });

  it('client create --cors-origin sets allowed_cors_origins (CORS: the client\'s web origins); a value with a path is refused', () => {
    const r = cli(dir, ['client', 'create', '--public', '--redirect-uri', 'https://spa.example/cb', '--grant', 'authorization_code', '--cors-origin', 'https://spa.example', '--cors-origin', 'http://localhost:5173', '--json']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).allowed_cors_origins).toEqual(['https://spa.example', 'http://localhost:5173']);
    const bad = cli(dir, ['client', 'create', '--public', '--redirect-uri', 'https://spa.example/cb', '--grant', 'authorization_code', '--cors-origin', 'https://spa.example/app']);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/allowed_cors_origins/);
  });

  it('bad input exits non-zero with one clear line', () => {
    const short = cli(dir, ['client', 'create', '--secret', 'short', '--json']);
    expect(short.code).not.toBe(0);
    expect(short.err.trim().split('\n')).toHaveLength(1);
    expect(short.err).toMatch(/client_secret/);
    const badUri = cli(dir, ['client', 'create', '--redirect-uri', 'not a uri', '--grant', 'authorization_code']);
    expect(badUri.code).not.toBe(0);
    expect(badUri.err).toMatch(/invalid_redirect_uri/);
    const badJson = cli(dir, ['client', 'create', '--file', '-'], '{nope');
    expect(badJson.code).not.toBe(0);
    expect(badJson.err).toMatch(/not valid JSON/);
    const badCfg = spawnSync(process.execPath, [BIN, 'keys', 'list'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, LATCHKEY_PORT: 'x' } });
    expect(badCfg.status).not.toBe(0);
    expect(badCfg.stderr.trim()).toMatch(/^latchkey: invalid configuration option LATCHKEY_PORT/);
    expect(cli(dir, ['frobnicate']).code).not.toBe(0);
  });

  it('an option the CLI does not know, or an argument a command does not take, is refused before anything runs', () => {
    // `serve --prot 8080` (a typo) started the server on the default port; `client delete ID --bogus` deleted.
    const serve = cli(dir, ['serve', '--prot', '8080'], undefined, {}, 20_000);
    expect(serve.code).toBe(2);
    expect(serve.out).toBe('');
    expect(serve.err).toBe('latchkey: serve does not take --prot; see latchkey --help\n');
    expect(cli(dir, ['migrate', 'now']).err).toBe('latchkey: migrate takes no argument, not also "now"; see latchkey --help\n');

    const made = cli(dir, ['client', 'create', '--client-id', 'keep-me', '--grant', 'client_credentials', '--json']);
    expect(made.code).toBe(0);
    const del = cli(dir, ['client', 'delete', 'keep-me', '--bogus']);
    expect(del.code).toBe(2);
    expect(del.err).toBe('latchkey: client delete does not take --bogus; see latchkey --help\n');
    const extra = cli(dir, ['client', 'delete', 'keep-me', 'and-this']);
    expect(extra.err).toBe('latchkey: client delete takes one argument, not also "and-this"; see latchkey --help\n');
    expect(cli(dir, ['client', 'show', 'keep-me', '--json']).code).toBe(0);
    expect(cli(dir, ['client', 'delete', 'keep-me']).code).toBe(0);
  });

  it('user create hashes with argon2id; list never shows the hash', () => {
    const r = cli(dir, ['user', 'create', '--username', 'alice', '--password', 'correct horse', '--claims', '{"email":"alice@example.com","email_verified":true}', '--json']);
    expect(r.code).toBe(0);
    const list = cli(dir, ['user', 'list', '--json']);
    expect(list.out).toContain('alice@example.com');
    expect(list.out).not.toMatch(/argon2id/);
    expect(cli(dir, ['user', 'create', '--username', 'bob', '--password', 'x']).code).not.toBe(0);
    expect(cli(dir, ['user', 'create', '--username', 'carol', '--password', 'long enough', '--claims', '{"email":"nope"}']).err).toMatch(/claims.email/);
  });

  it('keys rotate publishes a pending key (signs after keyActivationDelay); rotate --now signs at once and keeps the old ones published', () => {
    const before = JSON.parse(cli(dir, ['keys', 'list', '--json']).out);
    const staged = cli(dir, ['keys', 'rotate', '--alg', 'ES256']);
    expect(staged.code).toBe(0);
    expect(staged.out).toMatch(/published; it signs from \d{4}-/);
    const after = JSON.parse(cli(dir, ['keys', 'list', '--json']).out);
    expect(after.length).toBe(before.length + 1);
    const es = after.filter((k: any) => k.alg === 'ES256');
    expect(es.map((k: any) => k.status)).toEqual(['active', 'pending']);
    expect(es[1].activates_at - es[1].created_at).toBe(360); // the default delay
    expect(cli(dir, ['keys', 'list']).out).toMatch(/pending \(signs from /);
    const now = cli(dir, ['keys', 'rotate', '--alg', 'ES256', '--now', '--json']);
    expect(now.code).toBe(0);
    expect(JSON.parse(now.out)[0].status).toBe('active');
    const last = JSON.parse(cli(dir, ['keys', 'list', '--json']).out).filter((k: any) => k.alg === 'ES256');
    expect(last.map((k: any) => k.status)).toEqual(['published', 'published', 'active']);
    expect(cli(dir, ['keys', 'rotate', '--alg', 'HS256']).code).not.toBe(0);
  });

  it('a client whose id begins with a dash can be shown and deleted', () => {
    const meta = { client_id: '-dash-client', grant_types: ['client_credentials'], scope: 'api' };
    expect(cli(dir, ['client', 'create', '--file', '-', '--json'], JSON.stringify(meta)).code).toBe(0);
    const shown = cli(dir, ['client', 'show', '-dash-client', '--json']);
    expect(shown.err).toBe('');
    expect(JSON.parse(shown.out).client_id).toBe('-dash-client');
    expect(cli(dir, ['client', 'delete', '-dash-client']).code).toBe(0);
  });

  it('keys retire: the active key is refused, a rotated-out key whose tokens may still be valid only with --force', () => {
    const keys = JSON.parse(cli(dir, ['keys', 'list', '--json']).out);
    const active = keys.find((k: any) => k.alg === 'ES256' && k.status === 'active');
    const published = keys.find((k: any) => k.alg === 'ES256' && k.status === 'published');
    const refused = cli(dir, ['keys', 'retire', active.kid]);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/rotate first/);
    // It signed until the rotation a moment ago: its tokens are still valid, so only --force retires it now.
    const early = cli(dir, ['keys', 'retire', published.kid]);
    expect(early.code).not.toBe(0);
    expect(early.err).toMatch(/still valid.*force/);
    const r = cli(dir, ['keys', 'retire', published.kid, '--force', '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).status).toBe('retired');
  });

  it('client rotate-secret --grace and client update go through the shared services', () => {
    const created = JSON.parse(cli(dir, ['client', 'create', '--client-id', 'svc-rot', '--json']).out);
    const rotated = cli(dir, ['client', 'rotate-secret', 'svc-rot', '--grace', '600', '--json']);
    expect(rotated.code).toBe(0);
    const body = JSON.parse(rotated.out);
    expect(body.client_secret).not.toBe(created.client_secret);
    expect(body.previous_secret_expires_at).toBeGreaterThan(Date.now() / 1000);
    const upd = cli(dir, ['client', 'update', 'svc-rot', '--file', '-', '--json'], JSON.stringify({ client_name: 'Rotated', grant_types: ['client_credentials'] }));
    expect(upd.code).toBe(0);
    expect(JSON.parse(upd.out)).toMatchObject({ client_id: 'svc-rot', client_name: 'Rotated' });
    expect(cli(dir, ['client', 'rotate-secret', 'nobody']).err).toMatch(/not found/);
  });

  it('user show, disable, enable, set-password', () => {
    const u = JSON.parse(cli(dir, ['user', 'create', '--username', 'dave', '--password', 'dave-password', '--json']).out);
    expect(JSON.parse(cli(dir, ['user', 'disable', u.sub, '--json']).out).disabled).toBe(true);
    expect(JSON.parse(cli(dir, ['user', 'show', u.sub, '--json']).out)).toMatchObject({ disabled: true, mfa: { otp: false } });
    expect(JSON.parse(cli(dir, ['user', 'enable', u.sub, '--json']).out).disabled).toBe(false);
    expect(cli(dir, ['user', 'set-password', u.sub, '--password', 'a-new-password']).code).toBe(0);
    expect(cli(dir, ['user', 'set-password', u.sub, '--password', 'short']).code).not.toBe(0);
    expect(cli(dir, ['user', 'create', '--username', 'dave', '--password', 'dave-password']).err).toMatch(/already exists/);
    // reset-mfa: a lost authenticator app (services/mfa.ts); it answers for a user with none too, and not for nobody.
    const reset = cli(dir, ['user', 'reset-mfa', u.sub]);
    expect(reset.code, reset.err).toBe(0);
    expect(reset.out).toContain('two-step sign-in turned off for dave');
    expect(cli(dir, ['user', 'reset-mfa', 'nobody']).err).toMatch(/not found/);
    // remove-key: one security key (the admin API test removes a real one); it names what is missing.
    expect(cli(dir, ['user', 'remove-key', u.sub]).err).toMatch(/usage: latchkey user remove-key SUB --key ID/);
    expect(cli(dir, ['user', 'remove-key', u.sub, '--key', 'a2V5']).err).toMatch(/security key a2V5 not found/);
    expect(cli(dir, ['user', 'remove-key', 'nobody', '--key', 'a2V5']).err).toMatch(/user nobody not found/);
  });

  it('tenant create and list; clients are created per tenant', () => {
    const t = JSON.parse(cli(dir, ['tenant', 'create', 'acme', '--json']).out);
    expect(t.issuer).toMatch(/\/t\/acme$/);
    expect(JSON.parse(cli(dir, ['tenant', 'list', '--json']).out).map((x: any) => x.id)).toEqual(expect.arrayContaining(['default', 'acme']));
    cli(dir, ['client', 'create', '--client-id', 'acme-svc', '--tenant', 'acme', '--json']);
    expect(JSON.parse(cli(dir, ['client', 'list', '--tenant', 'acme', '--json']).out).map((c: any) => c.client_id)).toEqual(['acme-svc']);
    expect(JSON.parse(cli(dir, ['client', 'list', '--json']).out).map((c: any) => c.client_id)).not.toContain('acme-svc');
    expect(cli(dir, ['client', 'list', '--tenant', 'nope']).err).toMatch(/tenant nope not found/);
  });

  it('audit list: security events as JSON, filtered by type and limit; a bad filter exits non-zero (docs/audit.md)', () => {
    const all = cli(dir, ['audit', 'list', '--json']);
    expect(all.code).toBe(0);
    expect(Array.isArray(JSON.parse(all.out))).toBe(true);
    expect(JSON.parse(cli(dir, ['audit', 'list', '--type', 'login.failure', '--limit', '5', '--json']).out)).toEqual([]);
    expect(cli(dir, ['audit', 'list', '--type', 'nonsense']).err).toMatch(/type must be one of/);
    expect(cli(dir, ['audit', 'list', '--limit', '0']).code).not.toBe(0);
  });

  it('admin-token and registration-token: shown once, listed without the value, revocable', () => {
    const made = JSON.parse(cli(dir, ['admin-token', 'create', '--name', 'ops', '--json']).out);
    expect(made.token).toMatch(/^lka_/);
    const list = cli(dir, ['admin-token', 'list', '--json']);
    expect(list.out).not.toContain(made.token);
    expect(JSON.parse(list.out).map((x: any) => x.id)).toContain(made.id);
    expect(cli(dir, ['admin-token', 'revoke', made.id]).code).toBe(0);
    expect(JSON.parse(cli(dir, ['admin-token', 'list', '--json']).out).find((x: any) => x.id === made.id).revoked_at).not.toBeNull();
    expect(cli(dir, ['admin-token', 'revoke', made.id]).code).not.toBe(0);
    const iat = JSON.parse(cli(dir, ['registration-token', 'create', '--uses', '2', '--expires-in', '3600', '--json']).out);
    expect(iat).toMatchObject({ kind: 'initial_access', remaining_uses: 2, tenant_id: 'default' });
    expect(iat.token).toMatch(/^lki_/);
  });

  it('serve on a fresh machine creates a demo client and user and prints how to use them', async () => {
    const d = mkdtempSync(join(tmpdir(), 'latchkey-serve-'));
    writeFileSync(join(d, 'latchkey.config.json'), JSON.stringify({ port: 0, logLevel: 'silent' }));
    // A fresh machine: a database of its own, not the one the other tests filled.
    const serveDb = adminDatabaseUrl() ? await testDatabaseUrl(d) : undefined;
    onTestFinished(async () => {
      if (serveDb) await dropTestDatabase(serveDb);
    });
    const { spawn } = await import('node:child_process');
    const p = spawn(process.execPath, [BIN, 'serve'], { cwd: d, env: { PATH: process.env.PATH, ...databaseEnv(serveDb) } });
    let out = '';
    p.stdout.on('data', (b) => (out += b));
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error('serve did not start: ' + out)), 60_000);
      p.stdout.on('data', () => {
        if (out.includes('serving')) {
          clearTimeout(timer);
          res();
        }
      });
    });
    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));
    expect(out).toMatch(/client_id\s+demo-client/);
    expect(out).toMatch(/client_secret\s+\S{43}/);
    expect(out).toMatch(/user\s+demo \/ \S+/);
    expect(existsSync(join(d, 'data', 'latchkey.db'))).toBe(!serveDb);
  });
});

describe('CLI arguments: ids that begin with a dash', () => {
  it('separateIds keeps a dash-leading id positional and joins a dash-leading option value', async () => {
    const { separateIds } = await import('../../src/cli/main.js');
    const options = { json: { type: 'boolean' as const }, password: { type: 'string' as const }, help: { type: 'boolean' as const, short: 'h' } };
    expect(separateIds(['keys', 'retire', '-Uabc', '--json'], options)).toEqual(['keys', 'retire', '--json', '--', '-Uabc']);
    expect(separateIds(['user', 'set-password', 'sub', '--password', '-secret-'], options)).toEqual(['user', 'set-password', 'sub', '--password=-secret-']);
    expect(separateIds(['-h'], options)).toEqual(['-h']);
    expect(separateIds(['a', '--', '-x'], options)).toEqual(['a', '--', '-x']);
  });

});
