#!/usr/bin/env node
// Memory under a long run (issue 14): issue up to 1,000,000 client_credentials tokens against one Latchkey
// process (SQLite, `serve`, the cleanup job running, short token lifetimes so the cleanup has work), sampling the
// server's RSS, its token rows and its database files as it goes. Bounded in time: the load stops at the deadline
// whether or not it reached the goal, and the report says how many tokens it issued. Loopback only.
//
//   npm run bench:memory                         up to 1,000,000 tokens or 290 s of load (under 6 minutes in all); writes bench/MEMORY.md
//   node bench/memory.mjs --out /tmp/MEMORY.md   elsewhere
//
// Env: BENCH_MEMORY_TOKENS (goal, default 1000000), BENCH_MEMORY_SECONDS (load time bound, default 290),
// BENCH_MEMORY_TTL (access token lifetime, s, default 30), BENCH_MEMORY_CLEANUP (cleanup interval, s, default 10),
// BENCH_CONNECTIONS (default 50), BENCH_MEMORY_SAMPLE (s between samples, default 5).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { canPin, freePort } from './lib/proc.mjs';
import { machineInfo, packageVersions } from './lib/report.mjs';
import { benchClient, scenarios } from './lib/scenarios.mjs';
import { startLatchkey } from './lib/servers.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({ options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } } });
if (opts.help) {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
  process.stdout.write(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(0);
}
const num = (name, fallback, min, max) => {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    console.error(`bench:memory: ${name} must be a number in [${min}, ${max}], got ${raw}`);
    process.exit(2);
  }
  return n;
};
const goal = Math.round(num('BENCH_MEMORY_TOKENS', 1_000_000, 1, 10_000_000));
const loadSeconds = num('BENCH_MEMORY_SECONDS', 290, 1, 1800);
const ttl = Math.round(num('BENCH_MEMORY_TTL', 30, 1, 86400));
const cleanupInterval = Math.round(num('BENCH_MEMORY_CLEANUP', 10, 1, 86400));
const connections = Math.round(num('BENCH_CONNECTIONS', 50, 1, 1000));
const sampleSeconds = num('BENCH_MEMORY_SAMPLE', 5, 0.5, 60);
const pin = canPin(cpus().length);

// Like run.mjs: the load generator on CPU 1, the server on CPU 0.
if (pin && process.env.BENCH_LOADGEN_PINNED !== '1') {
  const r = spawnSync('taskset', ['-c', '1', process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_LOADGEN_PINNED: '1' },
    timeout: (loadSeconds + 180) * 1000,
    killSignal: 'SIGINT',
  });
  process.exit(r.status ?? 1);
}
// Hard bound on the whole script: the load time plus start-up and shutdown slack.
setTimeout(() => {
  console.error('bench:memory: gave up (the run is bounded); stopping the server');
  process.exit(3);
}, (loadSeconds + 150) * 1000).unref();
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
  console.error('bench:memory: dist/ is missing; run `npm run bench:memory` (it builds first) or `npx tsc -p tsconfig.build.json`');
  process.exit(2);
}

const client = benchClient();
const machine = machineInfo(ROOT);
const versions = packageVersions(ROOT);
const startedAt = new Date().toISOString();
const dir = mkdtempSync(join(tmpdir(), 'latchkey-bench-memory-'));
const env = { LATCHKEY_ACCESS_TOKEN_TTL: String(ttl), LATCHKEY_CLEANUP_INTERVAL: String(cleanupInterval), LATCHKEY_CLEANUP_GRACE: '0' };

function kib(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
const size = (p) => {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
};
const mib = (bytes) => (bytes === undefined ? '—' : (bytes / 2 ** 20).toFixed(1));

let started;
const samples = [];
let issued = 0;
let outcome;
try {
  const port = await freePort();
  started = await startLatchkey({ root: ROOT, port, cpu: 0, pin, dir, client, scenarios: ['client_credentials'] }, { name: 'latchkey', workers: 1, env });
  const pid = started.proc.pid;
  const dbPath = join(dir, 'data', 'latchkey.db');
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  const rows = () => db.prepare("SELECT count(*) AS n FROM tokens").get().n;
  const sc = scenarios.find((s) => s.name === 'client_credentials');
  const ctx = { client, issuer: started.issuer };
  const check = sc.verifier(ctx);
  let bad = 0;
  const verifyBody = (body) => {
    issued++;
    if (check(body)) return true;
    bad++;
    return false;
  };
  const t0 = Date.now();
  const sample = () => {
    const s = {
      t: (Date.now() - t0) / 1000,
      issued,
      rssKiB: kib(pid, 'VmRSS'),
      hwmKiB: kib(pid, 'VmHWM'),
      rows: rows(),
      dbBytes: size(dbPath) + size(`${dbPath}-wal`),
    };
    samples.push(s);
    console.log(`  ${s.t.toFixed(0).padStart(4)} s  ${String(s.issued).padStart(8)} tokens  RSS ${mib(s.rssKiB * 1024)} MiB  ${s.rows} token rows  database ${mib(s.dbBytes)} MiB`);
  };
  console.log(`bench:memory: up to ${goal.toLocaleString('en-US')} tokens or ${loadSeconds} s, ${connections} connections, token lifetime ${ttl} s, cleanup every ${cleanupInterval} s (grace 0)`);
  sample();
  const req = sc.request(client, ctx);
  const inst = autocannon({
    url: started.issuer + '/oauth/token', method: req.method, headers: req.headers, body: req.body,
    connections, pipelining: 1, amount: goal, timeout: 10, verifyBody,
  });
  const timer = setInterval(sample, sampleSeconds * 1000);
  const deadline = setTimeout(() => inst.stop(), loadSeconds * 1000);
  const r = await inst;
  clearInterval(timer);
  clearTimeout(deadline);
  const loadS = (Date.now() - t0) / 1000;
  sample();
  // After the load: one more cleanup interval (and a bit), to show the rows go once their tokens expire.
  const settleS = Math.min(ttl + cleanupInterval * 2 + 2, 90);
  console.log(`bench:memory: load done; waiting ${settleS} s for the tokens to expire and the cleanup to remove them`);
  await new Promise((res) => setTimeout(res, settleS * 1000));
  sample();
  const metrics = await (await fetch(`${started.issuer}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const deletedTokens = Number(/^latchkey_cleanup_deleted_rows_total\{table="tokens"\} (\d+)/m.exec(metrics)?.[1] ?? NaN);
  db.close();
  outcome = { r, loadS, bad, deletedTokens, settleS };
} finally {
  await started?.proc.stop();
  rmSync(dir, { recursive: true, force: true });
}

const { r, loadS, bad, deletedTokens, settleS } = outcome;
const ok2xx = r['2xx'];
const failures = r.non2xx + r.errors + r.timeouts + bad;
const reached = ok2xx >= goal;
const loadSamples = samples.filter((s) => s.t <= loadS + 0.5);
const rss = loadSamples.map((s) => s.rssKiB).filter((x) => x !== undefined);
const first = samples[0];
const last = samples[samples.length - 1];
// Steady state: the second half of the load (after the first tokens expired and the cleanup got going).
const second = loadSamples.filter((s) => s.t >= loadS / 2).map((s) => s.rssKiB);

const lines = [];
lines.push('# Latchkey memory over a million tokens', '');
lines.push(`Generated by \`bench/memory.mjs\` (\`npm run bench:memory\`) on ${startedAt}. See bench/README.md for the method.`, '');
lines.push('## Result', '');
lines.push(
  reached
    ? `Issued **${ok2xx.toLocaleString('en-US')}** client_credentials tokens in ${loadS.toFixed(0)} s (${Math.round(ok2xx / loadS).toLocaleString('en-US')} tokens/s).`
    : `Issued **${ok2xx.toLocaleString('en-US')}** of the ${goal.toLocaleString('en-US')} tokens asked for: the load stopped at its time bound of ${loadSeconds} s (${Math.round(ok2xx / loadS).toLocaleString('en-US')} tokens/s on this machine).`,
  '',
);
lines.push('| what | value |', '| --- | --- |');
lines.push(`| failed responses (non-2xx, errors, timeouts, bad bodies) | ${failures} |`);
lines.push(`| server RSS at start | ${mib(first.rssKiB * 1024)} MiB |`);
lines.push(`| server RSS, highest sample during the load | ${mib(Math.max(...rss) * 1024)} MiB |`);
lines.push(`| server RSS, second half of the load (min – max) | ${mib(Math.min(...second) * 1024)} – ${mib(Math.max(...second) * 1024)} MiB |`);
lines.push(`| server RSS at the end of the load / ${settleS} s later | ${mib(loadSamples[loadSamples.length - 1].rssKiB * 1024)} / ${mib(last.rssKiB * 1024)} MiB |`);
lines.push(`| peak RSS (VmHWM) | ${mib(last.hwmKiB * 1024)} MiB |`);
lines.push(`| token rows at the end of the load / ${settleS} s later | ${loadSamples[loadSamples.length - 1].rows.toLocaleString('en-US')} / ${last.rows.toLocaleString('en-US')} |`);
lines.push(`| token rows deleted by the cleanup job | ${Number.isFinite(deletedTokens) ? deletedTokens.toLocaleString('en-US') : '—'} |`);
lines.push(`| database + WAL at the end | ${mib(last.dbBytes)} MiB |`);
lines.push('');
lines.push('## Samples', '');
lines.push('| time s | tokens issued | RSS MiB | token rows | database + WAL MiB |', '| ---: | ---: | ---: | ---: | ---: |');
const step = Math.max(1, Math.ceil(samples.length / 40));
samples.forEach((s, i) => {
  if (i % step === 0 || i === samples.length - 1) lines.push(`| ${s.t.toFixed(0)} | ${s.issued.toLocaleString('en-US')} | ${mib(s.rssKiB * 1024)} | ${s.rows.toLocaleString('en-US')} | ${mib(s.dbBytes)} |`);
});
lines.push('');
lines.push('## Setup', '');
lines.push('| setting | value |', '| --- | --- |');
lines.push(`| server | Latchkey \`serve\`, one process (\`--workers 1\`), SQLite, ${pin ? 'pinned to CPU 0 (load generator on CPU 1)' : 'not pinned'} |`);
lines.push(`| request | the client_credentials scenario of bench/lib/scenarios.mjs (opaque token, every response checked) |`);
lines.push(`| goal / time bound | ${goal.toLocaleString('en-US')} tokens / ${loadSeconds} s of load |`);
lines.push(`| token lifetime | ${ttl} s (\`LATCHKEY_ACCESS_TOKEN_TTL\`) |`);
lines.push(`| cleanup | every ${cleanupInterval} s, grace 0 (\`LATCHKEY_CLEANUP_INTERVAL\`, \`LATCHKEY_CLEANUP_GRACE\`); batches of 500 rows, at most 200 batches per table per sweep |`);
lines.push(`| connections | ${connections} (autocannon ${versions.autocannon}) |`);
lines.push(`| machine | ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, node ${machine.node}, load average before ${machine.loadBefore}, after ${loadavg().map((x) => x.toFixed(2)).join(' ')} |`);
lines.push(`| latchkey commit | ${machine.commit} |`);
lines.push('');
const out = opts.out ?? join(ROOT, 'bench', 'MEMORY.md');
writeFileSync(out, lines.join('\n'));
console.log(`wrote ${relative(process.cwd(), out) || out}`);
process.exitCode = failures ? 1 : 0;
