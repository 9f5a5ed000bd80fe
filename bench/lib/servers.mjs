// The servers under test: how to start each one in its own pinned process, and which path serves each endpoint.
// A later issue adds a server (Latchkey on PostgreSQL, Latchkey --workers 2, …) by adding an entry here.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { HOST, pinned, startProcess } from './proc.mjs';

/** Environment for a server child: the caller's, minus anything that configures Latchkey, plus `extra`. */
function childEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LATCHKEY_')) env[k] = v;
  return { ...env, NODE_ENV: 'production', ...extra };
}

function nodeArgs(run, script, args = []) {
  const flags = run.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${run.profileDir}`, `--cpu-prof-interval=${run.profileIntervalUs ?? 1000}`] : [];
  return [...flags, script, ...args];
}

/**
 * Each server: `start(run)` returns { issuer, proc } once the server answers; `paths` names the path of every
 * endpoint it serves (a scenario runs on a server only when the server has the scenario's endpoint).
 * `run` carries { root, port, cpu, pin, dir (an empty temp folder), client, profileDir }.
 */
export const servers = [
  {
    name: 'latchkey',
    label: 'Latchkey',
    description: 'bin/latchkey.js serve (built dist/), SQLite in a temp folder, opaque access tokens',
    commands: [
      'export LATCHKEY_DEMO=false LATCHKEY_LOG_LEVEL=warn LATCHKEY_DATA_DIR=$TMP/data LATCHKEY_HOST=127.0.0.1 LATCHKEY_PORT=$PORT LATCHKEY_ISSUER=http://127.0.0.1:$PORT LATCHKEY_RATE_LIMIT_PER_CLIENT=10000000 LATCHKEY_RATE_LIMIT_PER_IP=10000000',
      `echo '{"client_id":"bench","client_secret":"<48 random characters>","grant_types":["client_credentials"],"scope":"api:read"}' | node bin/latchkey.js client create --file - --json`,
      'taskset -c 0 node bin/latchkey.js serve',
    ],
    paths: {
      token: '/oauth/token',
      discovery: '/.well-known/openid-configuration',
      jwks: '/.well-known/jwks.json',
    },
    async start(run) {
      const issuer = `http://${HOST}:${run.port}`;
      const env = childEnv({
        LATCHKEY_DEMO: 'false',
        LATCHKEY_LOG_LEVEL: 'warn',
        LATCHKEY_DATA_DIR: join(run.dir, 'data'),
        LATCHKEY_HOST: HOST,
        LATCHKEY_PORT: String(run.port),
        LATCHKEY_ISSUER: issuer,
        // One client from one address is the whole load: lift the abuse limits (their counters are still kept).
        LATCHKEY_RATE_LIMIT_PER_CLIENT: '10000000',
        LATCHKEY_RATE_LIMIT_PER_IP: '10000000',
      });
      const bin = join(run.root, 'bin', 'latchkey.js');
      // The bench client is created through the CLI, exactly as an operator would.
      const meta = { client_id: run.client.id, client_secret: run.client.secret, grant_types: ['client_credentials'], scope: run.client.scope };
      const created = spawnSync(process.execPath, [bin, 'client', 'create', '--file', '-', '--json'], {
        cwd: run.dir, env, input: JSON.stringify(meta), encoding: 'utf8', timeout: 60_000,
      });
      if (created.status !== 0) throw new Error(`latchkey client create failed (exit ${created.status}): ${created.stderr || created.error}`);
      const json = JSON.parse(created.stdout);
      if (json.client_id !== run.client.id) throw new Error(`latchkey client create returned client_id ${json.client_id}`);
      const [cmd, args] = pinned(run.cpu, process.execPath, nodeArgs(run, bin, ['serve']), run.pin);
      const proc = await startProcess({ name: 'latchkey', cmd, args, env, cwd: run.dir, ready: /latchkey: serving/ });
      return { issuer, proc };
    },
  },
  {
    name: 'oidc-provider',
    label: 'oidc-provider',
    description: 'oidc-provider with its default (development) in-memory adapter, opaque access tokens',
    commands: ['PORT=$PORT BENCH_CLIENT_ID=bench BENCH_CLIENT_SECRET=<same secret> BENCH_SCOPE=api:read OIDC_ADAPTER=memory taskset -c 0 node bench/servers/oidc-provider.mjs'],
    paths: { token: '/token', discovery: '/.well-known/openid-configuration', jwks: '/jwks' },
    start: (run) => startOidcProvider(run, 'memory'),
  },
  {
    name: 'oidc-provider-sqlite',
    label: 'oidc-provider (SQLite)',
    description: 'oidc-provider with the small better-sqlite3 adapter in bench/servers/ (persists tokens like Latchkey does)',
    commands: ['PORT=$PORT BENCH_CLIENT_ID=bench BENCH_CLIENT_SECRET=<same secret> BENCH_SCOPE=api:read OIDC_ADAPTER=sqlite BENCH_DATA_DIR=$TMP/data taskset -c 0 node bench/servers/oidc-provider.mjs'],
    // Discovery and JWKS never touch the adapter, so only the token endpoint is worth measuring here.
    paths: { token: '/token' },
    start: (run) => startOidcProvider(run, 'sqlite'),
  },
  {
    name: 'bare',
    label: 'bare node:http',
    description: 'node:http replying "hello" with no framework: the ceiling for one core',
    commands: ['PORT=$PORT taskset -c 0 node bench/servers/bare.mjs'],
    paths: { hello: '/' },
    async start(run) {
      const [cmd, args] = pinned(run.cpu, process.execPath, nodeArgs(run, join(run.root, 'bench', 'servers', 'bare.mjs')), run.pin);
      const proc = await startProcess({ name: 'bare', cmd, args, env: childEnv({ PORT: String(run.port) }), cwd: run.dir, ready: /^ready /m });
      return { issuer: `http://${HOST}:${run.port}`, proc };
    },
  },
];

async function startOidcProvider(run, adapter) {
  const dataDir = join(run.dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const env = childEnv({
    PORT: String(run.port),
    BENCH_CLIENT_ID: run.client.id,
    BENCH_CLIENT_SECRET: run.client.secret,
    BENCH_SCOPE: run.client.scope,
    BENCH_DATA_DIR: dataDir,
    OIDC_ADAPTER: adapter,
  });
  const script = join(run.root, 'bench', 'servers', 'oidc-provider.mjs');
  const [cmd, args] = pinned(run.cpu, process.execPath, nodeArgs(run, script), run.pin);
  const proc = await startProcess({ name: `oidc-provider (${adapter})`, cmd, args, env, cwd: run.dir, ready: /^ready /m });
  return { issuer: `http://${HOST}:${run.port}`, proc };
}
