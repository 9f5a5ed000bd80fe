#!/usr/bin/env node
// Side-by-side load test: Latchkey, oidc-provider and bare node:http, each in its own process pinned to one core,
// driven by autocannon pinned to the other. Every request goes to 127.0.0.1; every run is bounded in time.
//
//   npm run bench                      full run (8 s per cell after a 2 s warm-up, about 10 minutes in all with the
//                                      PostgreSQL variants), writes bench/RESULTS.md and bench/results.svg
//   npm run bench -- --quick           ~3 s per cell, prints the table only (add --out FILE to keep it)
//   node bench/run.mjs --servers latchkey,oidc-provider --scenarios client_credentials --quick
//
// Options: --quick, --servers a,b, --scenarios x,y, --out FILE, --json FILE, --profile DIR (node --cpu-prof for
// every server, profiles written to DIR on shutdown; summarise with bench/profile-summary.mjs), --no-pin.
// Env: BENCH_DURATION (s), BENCH_WARMUP (s), BENCH_CONNECTIONS, BENCH_PROFILE_INTERVAL (µs, with --profile),
// BENCH_QUIET_WAIT (s to wait for quiet cores before a cell), BENCH_RETRIES (re-measure a disturbed cell),
// BENCH_ROUNDS (measure everything this many times, minutes apart; each cell keeps its best round),
// BENCH_TIME_BUDGET (s: waiting for quiet cores and re-measuring stop when the run would exceed it; default 570
// per round for a full run). The SVG chart goes next to the markdown file (results.svg beside RESULTS.md).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { allowedCpus, canPin, coreSeconds, cpuSecondsOf, freePort, setAffinity } from './lib/proc.mjs';
import { loadScenario } from './lib/load.mjs';
import { chartSvg, consoleTable, machineInfo, markdown, packageVersions, ratios } from './lib/report.mjs';
import { benchClient, comparisons, probe, scenarios, serves } from './lib/scenarios.mjs';
import { servers } from './lib/servers.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SERVER_CPU = 0;
const LOAD_CPU = 1;

function usage(message) {
  console.error(`bench: ${message} (see node bench/run.mjs --help)`);
  process.exit(2);
}

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      servers: { type: 'string' },
      scenarios: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'string' },
      profile: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (e) {
  usage(e.message);
}
if (opts.help) {
  const src = (await import('node:fs')).readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const lines = src.split('\n').slice(1);
  process.stdout.write(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(0);
}

const positive = (name, fallback, max, { zero = false } = {}) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !zero) || n > max) usage(`${name} must be a number in ${zero ? '[0' : '(0'}, ${max}], got ${raw}`);
  return n;
};
const settings = {
  duration: positive('BENCH_DURATION', opts.quick ? 3 : 8, 300),
  warmup: positive('BENCH_WARMUP', opts.quick ? 1 : 2, 60),
  connections: Math.round(positive('BENCH_CONNECTIONS', 50, 1000)),
  pin: !opts['no-pin'] && canPin(cpus().length),
  serverCpu: SERVER_CPU,
  loadCpu: LOAD_CPU,
  profileIntervalUs: Math.round(positive('BENCH_PROFILE_INTERVAL', 1000, 100_000)),
  // Full runs wait for quiet cores and measure a disturbed cell again; quick runs do neither.
  quietWaitS: opts.quick ? 0 : positive('BENCH_QUIET_WAIT', 20, 300, { zero: true }),
  retries: opts.quick ? 0 : Math.round(positive('BENCH_RETRIES', 2, 5, { zero: true })),
  // Rounds: every server and scenario measured again, in the same order, this many times; each cell keeps its best
  // round. This VM's host can slow down for minutes at a time, unseen from inside (no steal time, quiet cores), and
  // a slow phase then lands on whichever server was measured in it; the best of rounds measured minutes apart does not.
  rounds: Math.round(positive('BENCH_ROUNDS', 1, 10)),
  // Quiet waits and re-measures are spent only while the whole run stays within this many seconds.
  timeBudgetS: 0,
};
settings.timeBudgetS = positive('BENCH_TIME_BUDGET', opts.quick ? 0 : 570 * settings.rounds, 7200, { zero: true });

const pick = (list, csv, what) => {
  if (!csv) return list;
  const names = csv.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!list.some((x) => x.name === n)) usage(`unknown ${what} ${n}; one of ${list.map((x) => x.name).join(', ')}`);
  return list.filter((x) => names.includes(x.name));
};
let chosenServers = pick(servers, opts.servers, 'server');
// Servers on PostgreSQL need a cluster (bash scripts/with-postgres.sh node bench/run.mjs …): skipped otherwise,
// unless asked for by name.
if (!process.env.LATCHKEY_TEST_DATABASE_URL) {
  const named = (opts.servers ?? '').split(',').map((x) => x.trim());
  const missing = chosenServers.filter((s) => s.needsPostgres && named.includes(s.name));
  if (missing.length) usage(`${missing.map((s) => s.name).join(', ')} need PostgreSQL: run under bash scripts/with-postgres.sh node bench/run.mjs …`);
  const skipped = chosenServers.filter((s) => s.needsPostgres);
  if (skipped.length) console.log(`bench: skipping ${skipped.map((s) => s.name).join(', ')} (no PostgreSQL; run under scripts/with-postgres.sh to include them)`);
  chosenServers = chosenServers.filter((s) => !s.needsPostgres);
}
const chosenScenarios = pick(scenarios, opts.scenarios, 'scenario');
const cellsPlanned = chosenServers.flatMap((srv) => chosenScenarios.filter((sc) => serves(srv, sc)).map((sc) => ({ srv, sc })));
if (!cellsPlanned.length) usage('no chosen server serves any chosen scenario');

// The whole run is bounded: every cell's warm-up and measurement plus generous start-up slack.
const perAttemptS = settings.duration + settings.warmup + settings.quietWaitS + 15;
const budgetMs = (settings.rounds * (cellsPlanned.length * (settings.retries + 1) * perAttemptS + chosenServers.length * 60) + 30) * 1000;

// The load generator runs in this process; re-run it pinned to its own core before doing anything else.
if (settings.pin && process.env.BENCH_LOADGEN_PINNED !== '1') {
  const r = spawnSync('taskset', ['-c', String(LOAD_CPU), process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_LOADGEN_PINNED: '1' },
    timeout: budgetMs + 30_000,
    killSignal: 'SIGINT',
  });
  if (r.error) console.error(`bench: ${r.error.message}`);
  process.exit(r.status ?? 1);
}

const watchdog = setTimeout(() => {
  console.error(`bench: gave up after ${Math.round(budgetMs / 1000)} s (the run is bounded); stopping every server`);
  process.exit(3);
}, budgetMs);
watchdog.unref();
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130)); // 'exit' handler kills children

const client = benchClient();
const machine = machineInfo(ROOT);
const versions = packageVersions(ROOT);
const startedAt = new Date().toISOString();

if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
  console.error('bench: dist/ is missing; run `npm run bench` (it builds first) or `npx tsc -p tsconfig.build.json`');
  process.exit(2);
}
if (opts.profile) mkdirSync(resolve(opts.profile), { recursive: true });

console.log(
  `bench: ${cellsPlanned.length} cells${settings.rounds > 1 ? ` × ${settings.rounds} rounds (each cell keeps its best)` : ''}, ${settings.duration} s each after ${settings.warmup} s warm-up, ${settings.connections} connections, ` +
    (settings.pin ? `servers on CPU ${SERVER_CPU}, autocannon on CPU ${LOAD_CPU} (this process: CPUs ${allowedCpus(process.pid)})` : 'NOT pinned') +
    `; load average ${machine.loadBefore}`,
);
if (loadavg()[0] > 0.5) console.log('bench: note: the machine is already busy (1-min load > 0.5); figures will be lower and noisier');

/** Load for `seconds` (autocannon, or the code flow's loop: lib/load.mjs). */
function load(cellCtx, sc, req, seconds, verifyBody) {
  return loadScenario(cellCtx, sc, req, { connections: settings.connections, seconds, verifyBody });
}

const runStarted = Date.now();
/** Seconds left of the time budget for optional waiting, after `cellsLeft` cells of at least their fixed time. */
function spareSeconds(cellsLeft) {
  if (!settings.timeBudgetS) return Infinity;
  const elapsed = (Date.now() - runStarted) / 1000;
  return settings.timeBudgetS - elapsed - cellsLeft * (settings.duration + settings.warmup + 3); // + probes, set-up, start-ups
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Wait, at most `maxMs`, for both cores to be quiet (under 10% busy over one second) so a cell does not start in
 * the middle of someone else's test run. Returns how busy they were at the last look.
 */
async function waitQuiet(maxMs) {
  const deadline = Date.now() + maxMs;
  let last;
  do {
    const a = [coreSeconds(SERVER_CPU), coreSeconds(LOAD_CPU)];
    const self0 = process.cpuUsage();
    await sleep(1000);
    const self = process.cpuUsage(self0);
    const b = [coreSeconds(SERVER_CPU), coreSeconds(LOAD_CPU)];
    if (!a[0] || !b[0] || !a[1] || !b[1]) return undefined;
    last = [b[0].busy - a[0].busy, Math.max(0, b[1].busy - a[1].busy - (self.user + self.system) / 1e6)];
    if (last[0] < 0.1 && last[1] < 0.1) return last;
  } while (Date.now() < deadline);
  return last;
}

/**
 * One measured run (after its warm-up): figures plus how much else ran on either core meanwhile. `pids` are the
 * server's processes (a cluster's primary and workers, a database), fixed after the warm-up. An `unpinned` server
 * shares both cores with autocannon, so "others" is then what neither took of the two cores together.
 */
async function measure(cellCtx, sc, req, verifier, cpuPids, unpinned) {
  const warm = await load(cellCtx, sc, req, settings.warmup, verifier);
  const pids = cpuPids();
  const cpu0 = cpuSecondsOf(pids);
  const cores0 = [coreSeconds(SERVER_CPU), coreSeconds(LOAD_CPU)];
  const self0 = process.cpuUsage();
  const r = await load(cellCtx, sc, req, settings.duration, verifier);
  const self = process.cpuUsage(self0);
  const cores1 = [coreSeconds(SERVER_CPU), coreSeconds(LOAD_CPU)];
  const cpu1 = cpuSecondsOf(pids);
  const m = {
    requests: r.requests.total,
    ok2xx: r['2xx'],
    durationS: r.duration,
    rps: r['2xx'] / r.duration,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    latencyMean: r.latency.mean,
    bytesPerResponse: r.requests.total ? r.throughput.total / r.requests.total : undefined,
    statusCodes: r.statusCodeStats,
    bad: { non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, mismatches: r.mismatches },
    warmBad: warm.non2xx + warm.errors + warm.mismatches,
    ...(r.problem || warm.problem ? { firstProblem: r.problem ?? warm.problem } : {}),
    // A multi-request scenario: the HTTP requests one iteration took (redirects included).
    ...(sc.iterate && r.requests.total ? { requestsPerIteration: r.httpRequests / r.requests.total } : {}),
    // The load generator's own core: near 100% means autocannon, not the server, set the pace.
    loadgenBusy: (self.user + self.system) / 1e6 / r.duration,
  };
  if (cpu0 && cpu1 && r.requests.total) {
    const user = cpu1.user - cpu0.user;
    const sys = cpu1.sys - cpu0.sys;
    m.cpuPerRequestUs = ((user + sys) / r.requests.total) * 1e6;
    m.cpuSysPerRequestUs = (sys / r.requests.total) * 1e6;
    m.cpuBusy = (user + sys) / r.duration;
    // What else ran on each core meanwhile (other processes on a shared machine, or the hypervisor).
    if (settings.pin && unpinned && cores0.every(Boolean) && cores1.every(Boolean)) {
      const busy = cores1[0].busy - cores0[0].busy + cores1[1].busy - cores0[1].busy;
      m.otherOnServerCore = m.otherOnLoadCore = Math.max(0, (busy - user - sys) / r.duration - m.loadgenBusy) / 2;
      m.stealOnServerCore = (cores1[0].steal - cores0[0].steal) / r.duration;
    } else if (settings.pin && cores0.every(Boolean) && cores1.every(Boolean)) {
      m.otherOnServerCore = Math.max(0, (cores1[0].busy - cores0[0].busy - user - sys) / r.duration);
      m.otherOnLoadCore = Math.max(0, (cores1[1].busy - cores0[1].busy) / r.duration - m.loadgenBusy);
      m.stealOnServerCore = (cores1[0].steal - cores0[0].steal) / r.duration;
    }
  }
  return m;
}

const contamination = (m) => Math.max(m.otherOnServerCore ?? 0, m.otherOnLoadCore ?? 0);

async function runCell(srv, sc, issuer, cpuPids, cellsLeft) {
  const ctx = { client, issuer, paths: srv.paths, url: issuer + srv.paths[sc.endpoint], connections: settings.connections };
  const cell = { server: srv.name, scenario: sc.name, ok: false, ...(srv.unpinned && settings.pin ? { unpinned: true } : {}), ...(sc.iterate ? { iterations: true } : {}) };
  try {
    await sc.setup?.(ctx);
    const req = sc.iterate ? undefined : sc.request(client, ctx);
    for (let i = 0; i < 3; i++) {
      const problem = await probe(sc, ctx);
      if (problem) throw new Error(`probe: ${problem}`);
    }
    const verifier = sc.verifier?.(ctx);
    // On a shared machine, a run that other processes disturbed is measured again (a bounded number of times,
    // and only while the run's time budget allows); the least disturbed run is kept. Every run's responses are
    // checked all the same.
    const failures = [];
    let best;
    for (let attempt = 0; attempt <= settings.retries; attempt++) {
      const spare = spareSeconds(cellsLeft);
      if (attempt > 0 && spare < settings.duration + settings.warmup) break;
      if (settings.quietWaitS) await waitQuiet(Math.max(0, Math.min(settings.quietWaitS, spare)) * 1000);
      const m = await measure(ctx, sc, req, verifier, cpuPids, srv.unpinned);
      m.attempt = attempt + 1;
      for (const [k, n] of Object.entries(m.bad)) if (n > 0) failures.push(`${n} ${k}`);
      if (m.warmBad) failures.push(`${m.warmBad} bad responses during warm-up`);
      if (m.firstProblem && failures.length) failures.push(`first: ${m.firstProblem}`);
      if (!m.ok2xx) failures.push('no 2xx response');
      if (!best || contamination(m) < contamination(best)) best = m;
      if (failures.length || contamination(m) < 0.1 || attempt === settings.retries) break;
      console.log(`  ${sc.name.padEnd(24)} disturbed (others took ${Math.round(contamination(m) * 100)}% of a core); measuring again`);
    }
    const { bad, warmBad, ...figures } = best;
    Object.assign(cell, figures, bad);
    for (let i = 0; i < 3 && !failures.length; i++) {
      const problem = await probe(sc, ctx);
      if (problem) failures.push(`after the load: ${problem}`);
    }
    if (failures.length) throw new Error(failures.join(', '));
    cell.ok = true;
  } catch (e) {
    cell.error = e.message.split('\n')[0];
  } finally {
    sc.teardown?.(ctx);
  }
  const pct = (x) => `${Math.round((x ?? NaN) * 100)}%`;
  const fig = cell.ok
    ? `${Math.round(cell.rps)} ${cell.iterations ? `iterations/s (${(cell.requestsPerIteration ?? NaN).toFixed(1)} requests each)` : 'req/s'}, p50 ${Math.round(cell.p50)} ms, p99 ${Math.round(cell.p99)} ms, ${Math.round(cell.cpuPerRequestUs ?? NaN)} µs CPU/req ` +
      `(${Math.round(cell.cpuSysPerRequestUs ?? NaN)} in the kernel); server ${pct(cell.cpuBusy)} of its core, autocannon ${pct(cell.loadgenBusy)} of its; ` +
      `others ${pct(cell.otherOnServerCore)} / ${pct(cell.otherOnLoadCore)}`
    : `FAILED: ${cell.error}`;
  console.log(`  ${sc.name.padEnd(24)} ${fig}`);
  return cell;
}

const cells = [];
/** Every round's cells, by server and scenario: the best one of each is the result. */
const measured = [];
const cellsTotal = cellsPlanned.length * settings.rounds;
for (let round = 1; round <= settings.rounds; round++) {
if (settings.rounds > 1) console.log(`round ${round} of ${settings.rounds}`);
for (const srv of chosenServers) {
  const mine = cellsPlanned.filter((c) => c.srv === srv);
  if (!mine.length) continue;
  const dir = mkdtempSync(join(tmpdir(), `latchkey-bench-${srv.name}-`));
  const port = await freePort();
  let started;
  // An unpinned server (a cluster using both cores): autocannon in this process may use both cores meanwhile.
  const widen = settings.pin && srv.unpinned;
  if (widen && !setAffinity(process.pid, `0-${cpus().length - 1}`)) console.log('  note: could not widen the load generator to every CPU');
  try {
    console.log(`${srv.label}: starting on 127.0.0.1:${port}${widen ? ' (unpinned: server and autocannon share every CPU)' : ''}`);
    started = await srv.start({
      root: ROOT, port, cpu: SERVER_CPU, pin: settings.pin, dir, client, profileDir: opts.profile && resolve(opts.profile), profileIntervalUs: settings.profileIntervalUs,
      scenarios: mine.map((c) => c.sc.name),
    });
    const allowed = allowedCpus(started.proc.pid);
    if (settings.pin && !srv.unpinned && allowed !== String(SERVER_CPU)) throw new Error(`${srv.name} runs on CPUs ${allowed}, expected ${SERVER_CPU}`);
    const cpuPids = started.cpuPids ?? (() => [started.proc.pid]);
    for (const { sc } of mine) measured.push({ round, ...(await runCell(srv, sc, started.issuer, cpuPids, cellsTotal - measured.length - 1)) });
  } catch (e) {
    console.log(`  FAILED to start: ${e.message}`);
    for (const { sc } of mine) if (!measured.some((c) => c.round === round && c.server === srv.name && c.scenario === sc.name)) {
      measured.push({ round, server: srv.name, scenario: sc.name, ok: false, error: `server did not start: ${e.message.split('\n')[0]}` });
    }
  } finally {
    await started?.proc.stop();
    if (widen) setAffinity(process.pid, String(LOAD_CPU));
    rmSync(dir, { recursive: true, force: true });
  }
}
}
// A cell that failed in any round fails (every response of every round is checked); otherwise its fastest round.
for (const { srv, sc } of cellsPlanned) {
  const runs = measured.filter((c) => c.server === srv.name && c.scenario === sc.name);
  const failedRun = runs.find((c) => !c.ok);
  const best = failedRun ?? runs.reduce((a, b) => (b.rps > a.rps ? b : a));
  const { round, ...cell } = best;
  if (settings.rounds > 1) Object.assign(cell, { round, roundsRps: runs.map((c) => Math.round(c.rps ?? 0)) });
  cells.push(cell);
}

// Table order: by scenario, then by server, as declared.
const order = (list, name) => list.findIndex((x) => x.name === name);
cells.sort((a, b) => order(scenarios, a.scenario) - order(scenarios, b.scenario) || order(servers, a.server) - order(servers, b.server));
const labelOf = (name) => servers.find((s) => s.name === name)?.label ?? name;
const ratioRows = ratios(cells, comparisons, chosenScenarios.map((s) => s.name));
console.log('\n' + consoleTable(cells, ratioRows, labelOf));

const args = process.argv.slice(2).join(' ');
const envShown = ['BENCH_DURATION', 'BENCH_WARMUP', 'BENCH_CONNECTIONS', 'BENCH_QUIET_WAIT', 'BENCH_RETRIES', 'BENCH_ROUNDS'].filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]}`).join(' ');
const commands = [
  'npx tsc -p tsconfig.build.json   # npm run bench builds first',
  `${envShown ? envShown + ' ' : ''}node bench/run.mjs${args ? ' ' + args : ''}`,
  ...(settings.pin ? [`# which runs itself again as: taskset -c ${LOAD_CPU} node bench/run.mjs …  (autocannon ${versions.autocannon} in that process)`] : []),
  '# and starts each server in turn ($PORT: a free loopback port, $TMP: a fresh temp folder), e.g.:',
  ...chosenServers.flatMap((s) => [`# ${s.name}:`, ...s.commands.map((c) => `#   ${settings.pin ? c : c.replace('taskset -c 0 ', '')}`)]),
];
const out = opts.out ?? (opts.quick ? undefined : join(ROOT, 'bench', 'RESULTS.md'));
// The chart beside the markdown: bench/results.svg for bench/RESULTS.md, X.svg for any other X.md.
const svgOut = out && (basename(out) === 'RESULTS.md' ? join(dirname(out), 'results.svg') : out.replace(/(\.md)?$/i, '.svg'));
if (out) {
  const text = markdown({
    cells, ratioRows, labelOf, machine, versions, settings, startedAt, commands, chart: svgOut && basename(svgOut),
    servers: chosenServers, scenarios: chosenScenarios,
    loadAfter: loadavg().map((x) => x.toFixed(2)).join(' '),
  });
  writeFileSync(out, text);
  console.log(`wrote ${relative(process.cwd(), out) || out}`);
  writeFileSync(svgOut, chartSvg({ cells, labelOf, servers: chosenServers, scenarios: chosenScenarios, startedAt, machine }));
  console.log(`wrote ${relative(process.cwd(), svgOut) || svgOut}`);
}
if (opts.json) writeFileSync(opts.json, JSON.stringify({ startedAt, machine, versions, settings, cells, ratios: ratioRows }, null, 2) + '\n');

const failed = cells.filter((c) => !c.ok);
process.exitCode = failed.length ? 1 : 0;
