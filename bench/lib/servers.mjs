// The servers under test: how to start each one in its own pinned process, and which path serves each endpoint.
// `unpinned: true` servers run on every CPU and the runner lets autocannon do the same for them (see run.mjs);
// `needsPostgres: true` servers need the run under scripts/with-postgres.sh; `scenarios`, when present, limits
// a server to those scenarios (the scale-out variants measure the token paths only, to keep the run bounded).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { descendants, HOST, pinned, setAffinity, startProcess } from './proc.mjs';

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
 * `run` carries { root, port, cpu, pin, dir (an empty temp folder), client (scenarios.mjs benchClient()), profileDir,
 * scenarios (the names of the scenarios about to run on it, so that only what they need is set up) }.
 */
export const servers = [
  {
    name: 'latchkey',
    label: 'Latchkey',
    description: 'bin/latchkey.js serve (built dist/), one process (`--workers 1`), SQLite in a temp folder, opaque access tokens',
    commands: [
      'export LATCHKEY_DEMO=false LATCHKEY_LOG_LEVEL=warn LATCHKEY_WORKERS=1 LATCHKEY_DATA_DIR=$TMP/data LATCHKEY_HOST=127.0.0.1 LATCHKEY_PORT=$PORT LATCHKEY_ISSUER=http://127.0.0.1:$PORT',
      `echo '{"client_id":"bench","client_secret":"<48 random characters>","grant_types":["client_credentials"],"scope":"api:read rs:read"}' | node bin/latchkey.js client create --file - --json`,
      'node bin/latchkey.js resource create --identifier https://rs.bench.example/ --scope rs:read --format jwt   # JWT access tokens (ES256) for this resource',
      `echo '{"client_id":"bench-web","client_secret":"<48 random characters>","redirect_uris":["https://client.bench.example/cb"],"grant_types":["authorization_code"],"response_types":["code"],"scope":"openid"}' | node bin/latchkey.js client create --file - --json`,
      'node bin/latchkey.js user create --username bench-user --password <48 random characters>   # signs in once through /interaction/… (login, consent) before the code_flow cell',
      'taskset -c 0 node bin/latchkey.js serve',
    ],
    paths: {
      token: '/oauth/token',
      introspection: '/oauth/introspect',
      authorize: '/oauth/authorize',
      discovery: '/.well-known/openid-configuration',
      jwks: '/.well-known/jwks.json',
    },
    start: (run) => startLatchkey(run, { name: 'latchkey', workers: 1 }),
  },
  {
    name: 'latchkey-w2',
    label: 'Latchkey --workers 2 (unpinned)',
    unpinned: true,
    description:
      'the same on SQLite with `--workers 2` (a primary and two workers sharing the port); NOT pinned: the workers and autocannon share both cores, so compare its req/s with the pinned one-process row knowing that the load generator took part of the second core; CPU µs/req sums the primary and both workers',
    commands: ['LATCHKEY_WORKERS=2 node bin/latchkey.js serve   # as above, no taskset; the runner lets autocannon use both CPUs for this server'],
    paths: { token: '/oauth/token', introspection: '/oauth/introspect' },
    scenarios: ['client_credentials', 'introspection'],
    start: (run) => startLatchkey(run, { name: 'latchkey-w2', workers: 2, pin: false }),
  },
  {
    name: 'latchkey-pg',
    label: 'Latchkey (PostgreSQL)',
    needsPostgres: true,
    description:
      'Latchkey `--workers 1` on PostgreSQL (the cluster of `scripts/with-postgres.sh`, a fresh database with synchronous_commit=on; that cluster runs with fsync=off, test data only), pool of 10; the PostgreSQL processes are moved to CPU 0 with the server, and CPU µs/req counts them too',
    commands: [
      'bash scripts/with-postgres.sh node bench/run.mjs --servers latchkey-pg …   # the runner creates a database through LATCHKEY_TEST_DATABASE_URL',
      'LATCHKEY_DATABASE_URL=postgres://…/lk_bench_… taskset -c 0 node bin/latchkey.js serve   # and taskset -a -p -c 0 on every PostgreSQL process',
    ],
    paths: { token: '/oauth/token', introspection: '/oauth/introspect', authorize: '/oauth/authorize', jwks: '/.well-known/jwks.json' },
    scenarios: ['client_credentials', 'introspection', 'code_flow'],
    start: (run) => startLatchkey(run, { name: 'latchkey-pg', workers: 1, postgres: true }),
  },
  {
    name: 'latchkey-pg-w2',
    label: 'Latchkey (PostgreSQL) --workers 2 (unpinned)',
    needsPostgres: true,
    unpinned: true,
    description: 'Latchkey `--workers 2` on PostgreSQL; NOT pinned: two workers, PostgreSQL and autocannon share both cores; CPU µs/req counts the primary, the workers and the PostgreSQL processes',
    commands: ['LATCHKEY_WORKERS=2 LATCHKEY_DATABASE_URL=postgres://…/lk_bench_… node bin/latchkey.js serve'],
    paths: { token: '/oauth/token' },
    scenarios: ['client_credentials'],
    start: (run) => startLatchkey(run, { name: 'latchkey-pg-w2', workers: 2, postgres: true, pin: false }),
  },
  {
    name: 'oidc-provider',
    label: 'oidc-provider',
    description: 'oidc-provider with its default (development) in-memory adapter, opaque access tokens (JWT for the bench resource server)',
    commands: ['PORT=$PORT BENCH_CLIENTS=<the bench clients, user and resource server as JSON> OIDC_ADAPTER=memory taskset -c 0 node bench/servers/oidc-provider.mjs'],
    paths: { token: '/token', introspection: '/token/introspection', authorize: '/auth', discovery: '/.well-known/openid-configuration', jwks: '/jwks' },
    start: (run) => startOidcProvider(run, 'memory'),
  },
  {
    name: 'oidc-provider-sqlite',
    label: 'oidc-provider (SQLite)',
    description: 'oidc-provider with the small better-sqlite3 adapter in bench/servers/ (persists tokens like Latchkey does)',
    commands: ['PORT=$PORT BENCH_CLIENTS=<as above> OIDC_ADAPTER=sqlite BENCH_DATA_DIR=$TMP/data taskset -c 0 node bench/servers/oidc-provider.mjs'],
    // Discovery and JWKS never touch the adapter; its JWT access tokens are not stored (oidc-provider keeps no
    // record of them), so only the scenarios that store something are worth measuring here.
    paths: { token: '/token', introspection: '/token/introspection', authorize: '/auth', jwks: '/jwks' },
    scenarios: ['client_credentials', 'client_credentials_dpop', 'introspection', 'code_flow'],
    start: (run) => startOidcProvider(run, 'sqlite'),
  },
  {
    name: 'bare',
    label: 'bare node:http',
    description: 'node:http replying "hello" with no framework: the ceiling for one core',
    commands: ['PORT=$PORT taskset -c 0 node bench/servers/bare.mjs'],
    paths: { hello: '/', hello_doc: '/doc' },
    async start(run) {
      const [cmd, args] = pinned(run.cpu, process.execPath, nodeArgs(run, join(run.root, 'bench', 'servers', 'bare.mjs')), run.pin);
      const proc = await startProcess({ name: 'bare', cmd, args, env: childEnv({ PORT: String(run.port) }), cwd: run.dir, ready: /^ready /m });
      return { issuer: `http://${HOST}:${run.port}`, proc };
    },
  },
];

/**
 * Latchkey from the built CLI: the bench client is created through the CLI, exactly as an operator would, then
 * `serve`. With `postgres`, a fresh database in the cluster named by LATCHKEY_TEST_DATABASE_URL (run the bench
 * under scripts/with-postgres.sh), whose processes are pinned with the server when the run is pinned; `cpuPids`
 * then names them, so CPU per request covers the database too. `env`: more LATCHKEY_* settings (bench/memory.mjs).
 */
export async function startLatchkey(run, { name, workers, postgres = false, pin = run.pin, env: extraEnv = {} }) {
  const issuer = `http://${HOST}:${run.port}`;
  let databaseUrl;
  let pgPids = () => [];
  if (postgres) {
    const admin = process.env.LATCHKEY_TEST_DATABASE_URL;
    if (!admin) throw new Error('needs PostgreSQL: run the bench under `bash scripts/with-postgres.sh node bench/run.mjs …`');
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      const db = `lk_bench_${randomBytes(6).toString('hex')}`;
      await client.query(`CREATE DATABASE "${db}"`);
      // with-postgres.sh turns synchronous commits off for tests; a bench database commits as production would.
      await client.query(`ALTER DATABASE "${db}" SET synchronous_commit = on`);
      const u = new URL(admin);
      u.pathname = `/${db}`;
      databaseUrl = u.toString();
      // The postmaster (parent of every backend) and its children: pinned now, new backends inherit it.
      const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
      const postmaster = parentPid(rows[0].pid);
      pgPids = () => (postmaster ? [postmaster, ...descendants(postmaster)] : []);
      // Pinned run: the database shares the server's core. Unpinned server: the database may use every core too.
      if (postmaster) for (const p of pgPids()) setAffinity(p, pin ? String(run.cpu) : `0-${cpus().length - 1}`);
    } finally {
      await client.end();
    }
  }
  const env = childEnv({
    LATCHKEY_DEMO: 'false',
    LATCHKEY_LOG_LEVEL: 'warn',
    LATCHKEY_WORKERS: String(workers),
    LATCHKEY_DATA_DIR: join(run.dir, 'data'),
    LATCHKEY_HOST: HOST,
    LATCHKEY_PORT: String(run.port),
    LATCHKEY_ISSUER: issuer,
    ...(databaseUrl ? { LATCHKEY_DATABASE_URL: databaseUrl } : {}),
    ...extraEnv,
  });
  const bin = join(run.root, 'bin', 'latchkey.js');
  // Set up as an operator would, with the CLI; only what the scenarios about to run need (each call is a process).
  const want = (...names) => !run.scenarios || names.some((n) => run.scenarios.includes(n));
  const cli = (args, input) => {
    const r = spawnSync(process.execPath, [bin, ...args, '--json'], { cwd: run.dir, env, input, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`latchkey ${args.slice(0, 2).join(' ')} failed (exit ${r.status}): ${r.stderr || r.error}`);
    return JSON.parse(r.stdout);
  };
  const { client } = run;
  const scope = want('client_credentials_jwt') ? `${client.scope} ${client.jwt.scope}` : client.scope;
  const meta = { client_id: client.id, client_secret: client.secret, grant_types: ['client_credentials'], scope };
  const json = cli(['client', 'create', '--file', '-'], JSON.stringify(meta));
  if (json.client_id !== client.id) throw new Error(`latchkey client create returned client_id ${json.client_id}`);
  if (want('client_credentials_jwt')) cli(['resource', 'create', '--identifier', client.jwt.resource, '--scope', client.jwt.scope, '--format', 'jwt']);
  if (want('code_flow')) {
    const { web, user } = client;
    cli(['client', 'create', '--file', '-'], JSON.stringify({
      client_id: web.id, client_secret: web.secret, redirect_uris: [web.redirectUri], grant_types: ['authorization_code'], response_types: ['code'],
      scope: web.scope, token_endpoint_auth_method: 'client_secret_basic',
    }));
    cli(['user', 'create', '--username', user.username, '--password', user.password]);
  }
  const [cmd, args] = pinned(run.cpu, process.execPath, nodeArgs(run, bin, ['serve']), pin);
  const proc = await startProcess({ name, cmd, args, env, cwd: run.dir, ready: /latchkey: serving/ });
  // A cluster's CPU is its primary's and its workers'; on PostgreSQL the database's processes count too.
  return { issuer, proc, cpuPids: () => [proc.pid, ...descendants(proc.pid), ...pgPids()] };
}

function parentPid(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

async function startOidcProvider(run, adapter) {
  const dataDir = join(run.dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const env = childEnv({
    PORT: String(run.port),
    BENCH_CLIENTS: JSON.stringify(run.client),
    BENCH_DATA_DIR: dataDir,
    OIDC_ADAPTER: adapter,
  });
  const script = join(run.root, 'bench', 'servers', 'oidc-provider.mjs');
  const [cmd, args] = pinned(run.cpu, process.execPath, nodeArgs(run, script), run.pin);
  const proc = await startProcess({ name: `oidc-provider (${adapter})`, cmd, args, env, cwd: run.dir, ready: /^ready /m });
  return { issuer: `http://${HOST}:${run.port}`, proc };
}
