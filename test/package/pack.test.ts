import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { adminDatabaseUrl, dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';
import { startProcess } from '../helpers/process.js';
import { freePort } from '../helpers/server.js';

const NPM = 'npm';
function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const x = e as { message: string; stdout?: string; stderr?: string };
    throw new Error(`${x.message}\n${x.stdout ?? ''}\n${x.stderr ?? ''}`);
  }
}

/**
 * The npm package as a user gets it: `npm pack` (scripts/test.sh builds dist/ first), installed into a fresh project,
 * its public entry points imported and type-checked there, and `latchkey serve` started from node_modules/.bin.
 */
describe('npm package', () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-pack-'));
  const project = join(dir, 'app');
  let files: string[];
  let tarball: string;

  beforeAll(() => {
    expect(existsSync('dist/index.js'), 'dist/ is missing: run `npm run build` first').toBe(true);
    const [packed] = JSON.parse(run(NPM, ['pack', '--json', '--pack-destination', dir], process.cwd())) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = packed!.files.map((f) => f.path);
    tarball = join(dir, packed!.filename);
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'latchkey-consumer', private: true, type: 'module' }));
    // One install, dependencies from the npm cache. Install scripts are skipped: better-sqlite3's would compile SQLite
    // from source (minutes on this machine), which tests better-sqlite3, not our package. Its compiled addon is taken
    // from this checkout instead, with better-sqlite3 pinned to the same version so that the two match.
    const require = createRequire(import.meta.url);
    const sqlitePkg = require.resolve('better-sqlite3/package.json');
    const sqliteVersion = (JSON.parse(readFileSync(sqlitePkg, 'utf8')) as { version: string }).version;
    run(NPM, ['install', tarball, `better-sqlite3@${sqliteVersion}`, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], project);
    const addon = join('build', 'Release', 'better_sqlite3.node');
    mkdirSync(join(project, 'node_modules/better-sqlite3/build/Release'), { recursive: true });
    copyFileSync(join(dirname(sqlitePkg), addon), join(project, 'node_modules/better-sqlite3', addon));
  }, 90_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the bin, dist/ with type declarations, the README and docs; no tests, sources or source maps', () => {
    for (const f of ['package.json', 'README.md', 'bin/latchkey.js', 'dist/index.js', 'dist/index.d.ts', 'dist/resource-server/index.js', 'dist/resource-server/index.d.ts', 'dist/cli/main.js', 'docs/endpoints.md']) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => /(^|\/)(test|tests|__tests__)\/|\.test\.|\.spec\.|\.map$|^src\/|^examples\/|^scripts\/|^bench\//.test(f))).toEqual([]);
  });

  it('exports its public API from "latchkey" and the helpers from "latchkey/resource-server", with types', () => {
    writeFileSync(
      join(project, 'probe.mjs'),
      `import * as lk from 'latchkey'; import * as rs from 'latchkey/resource-server';
       console.log(JSON.stringify({ root: Object.keys(lk).sort(), rs: Object.keys(rs).sort() }));`,
    );
    const out = JSON.parse(run(process.execPath, ['probe.mjs'], project)) as { root: string[]; rs: string[] };
    for (const name of ['Latchkey', 'buildApp', 'loadConfig', 'token', 'introspection', 'authorization', 'authorizationIssue', 'createTokenVerifier', 'requireToken', 'latchkeyResourceServer']) {
      expect(out.root, name).toContain(name);
    }
    expect(out.rs).toEqual(expect.arrayContaining(['createTokenVerifier', 'requireToken', 'latchkeyResourceServer', 'TokenRejection']));
    // Deep imports are not part of the API.
    const deep = run(process.execPath, ['--input-type=module', '-e', "import('latchkey/dist/engine/token/index.js').then(() => console.log('imported'), (e) => console.log(e.code))"], project);
    expect(deep.trim()).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    // The declarations type-check from a consumer's project (TypeScript from this checkout).
    writeFileSync(
      join(project, 'probe.ts'),
      `import { Latchkey, loadConfig, type Result } from 'latchkey';
       import { createTokenVerifier, type VerifiedAccessToken } from 'latchkey/resource-server';
       const config = loadConfig({ overrides: { demo: false } });
       const v = createTokenVerifier({ issuer: config.issuer, audience: 'https://api.example' });
       export const f = async (): Promise<[Latchkey, VerifiedAccessToken, Result | undefined]> =>
         [await Latchkey.open({ config }), await v.verify({ method: 'GET', url: '/', headers: {} }), undefined];`,
    );
    run(process.execPath, [resolve('node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', resolve('node_modules/@types'), 'probe.ts'], project);
  }, 90_000);

  it('`latchkey serve` from node_modules/.bin starts (SQLite, or PostgreSQL on that pass) and answers discovery', async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    // On the PostgreSQL pass the installed package runs on PostgreSQL (through its own `pg` dependency).
    const databaseUrl = adminDatabaseUrl() ? await testDatabaseUrl(dir) : undefined;
    onTestFinished(async () => {
      if (databaseUrl) await dropTestDatabase(databaseUrl);
    });
    const server = await startProcess(join(project, 'node_modules/.bin/latchkey'), ['serve'], {
      cwd: project,
      env: { PATH: process.env.PATH, LATCHKEY_ISSUER: issuer, LATCHKEY_PORT: String(port), LATCHKEY_DATA_DIR: join(dir, 'data'), LATCHKEY_LOG_LEVEL: 'silent', ...(databaseUrl ? { LATCHKEY_DATABASE_URL: databaseUrl } : {}) },
      readyPattern: /latchkey: serving (\S+)/,
      timeoutMs: 30_000,
    });
    try {
      expect(server.ready).toBe(issuer);
      const d = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
      expect(d).toMatchObject({ issuer, token_endpoint: `${issuer}/oauth/token`, jwks_uri: `${issuer}/.well-known/jwks.json` });
      const jwks = await (await fetch(d.jwks_uri)).json();
      expect(jwks.keys.length).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }
  }, 90_000);
});
