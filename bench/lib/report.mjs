// Console table and bench/RESULTS.md from the measured cells.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';

export function machineInfo(root) {
  let cpuModel = 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim() ?? cpuModel;
  } catch {}
  const git = (args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' }).stdout?.trim() ?? '';
  return {
    nproc: cpus().length,
    cpuModel,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    commit: git(['rev-parse', '--short', 'HEAD']) + (git(['status', '--porcelain', '--untracked-files=no', '--', 'src']) ? ' (src modified)' : ''),
    loadBefore: loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

export function packageVersions(root) {
  const version = (dir) => {
    try {
      return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
    } catch {
      return 'not installed';
    }
  };
  const out = { latchkey: version(root) };
  for (const p of ['oidc-provider', 'autocannon', 'fastify', 'kysely', 'better-sqlite3', 'jose', 'koa']) {
    out[p] = version(join(root, 'node_modules', p));
  }
  return out;
}

const fmt = {
  int: (n) => (n === undefined ? '—' : Math.round(n).toLocaleString('en-US')),
  // autocannon's histogram holds whole milliseconds.
  ms: (n) => (n === undefined ? '—' : n < 1 ? '<1' : String(Math.round(n))),
  ratio: (n) => (n === undefined ? '—' : `${n.toFixed(2)}×`),
};

export function findCell(cells, server, scenario) {
  return cells.find((c) => c.server === server && c.scenario === scenario);
}

/**
 * For each comparison and scenario both sides measured successfully: the ratio of requests/s (a ÷ b), and the
 * ratio of server CPU per request (b ÷ a), i.e. how many of a's requests one core serves per one of b's. The
 * second is the fairer figure when the load generator, not the server, set the pace.
 */
export function ratios(cells, comparisons, scenarioNames) {
  const out = [];
  for (const cmp of comparisons) {
    for (const s of cmp.scenarios ?? scenarioNames) {
      const a = findCell(cells, cmp.a, s);
      const b = findCell(cells, cmp.b, cmp.bScenario ?? s);
      if (!a || !b) continue;
      const both = a.ok && b.ok;
      out.push({
        scenario: s,
        label: cmp.label,
        rps: both ? a.rps / b.rps : undefined,
        cpu: both && a.cpuPerRequestUs && b.cpuPerRequestUs ? b.cpuPerRequestUs / a.cpuPerRequestUs : undefined,
        target: cmp.targets?.[s],
      });
    }
  }
  return out;
}

const pct = (x) => (x === undefined ? '—' : `${Math.round(x * 100)}%`);

/** Why a cell's req/s may not be the server's capacity. */
export function caveat(c) {
  const notes = [];
  if (c.loadgenBusy !== undefined && c.loadgenBusy >= 0.9 && (c.cpuBusy ?? 1) < 0.9) notes.push('load-generator bound');
  if (c.iterations) notes.push(`iterations of ${c.requestsPerIteration !== undefined ? c.requestsPerIteration.toFixed(1) : '?'} requests`);
  if (c.unpinned) notes.push('unpinned: server and autocannon share both cores');
  if (Math.max(c.otherOnServerCore ?? 0, c.otherOnLoadCore ?? 0) >= 0.1) notes.push('shared core');
  if (c.roundsRps) notes.push(`best of rounds: ${c.roundsRps.map((r) => r.toLocaleString('en-US')).join(' / ')} req/s`);
  return notes.join(', ');
}

function rows(cells, labelOf) {
  return cells.map((c) => [
    c.scenario,
    labelOf(c.server),
    c.ok ? fmt.int(c.rps) : '—',
    c.ok ? fmt.ms(c.p50) : '—',
    c.ok ? fmt.ms(c.p99) : '—',
    c.ok && c.cpuPerRequestUs !== undefined ? fmt.int(c.cpuPerRequestUs) : '—',
    c.ok ? pct(c.cpuBusy) : '—',
    c.ok ? pct(c.loadgenBusy) : '—',
    c.ok && c.otherOnServerCore !== undefined ? `${pct(c.otherOnServerCore)} / ${pct(c.otherOnLoadCore)}` : '—',
    c.bytesPerResponse !== undefined ? fmt.int(c.bytesPerResponse) : '—',
    c.ok ? ['ok', caveat(c)].filter(Boolean).join(': ') : `FAILED: ${c.error}`,
  ]);
}

const HEAD = ['scenario', 'server', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'server core', 'autocannon core', 'others (server / load core)', 'bytes/resp', 'result'];
const NUMERIC = new Set([2, 3, 4, 5, 6, 7, 8, 9]);

export function consoleTable(cells, ratioRows, labelOf) {
  const body = rows(cells, labelOf);
  const widths = HEAD.map((h, i) => Math.max(h.length, ...body.map((r) => String(r[i]).length)));
  const line = (r) => r.map((v, i) => (NUMERIC.has(i) ? String(v).padStart(widths[i]) : String(v).padEnd(widths[i]))).join('  ').trimEnd();
  let s = line(HEAD) + '\n' + widths.map((w) => '-'.repeat(w)).join('  ') + '\n' + body.map(line).join('\n') + '\n';
  if (ratioRows.length) {
    const w = Math.max(10, ...ratioRows.map((r) => r.label.length));
    s += `\n${'scenario'.padEnd(24)} ${'comparison'.padEnd(w)} ${'req/s'.padStart(7)} ${'CPU/req'.padStart(8)}  target (issue 14)\n`;
    for (const r of ratioRows) s += `${r.scenario.padEnd(24)} ${r.label.padEnd(w)} ${fmt.ratio(r.rps).padStart(7)} ${fmt.ratio(r.cpu).padStart(8)}  ${targetText(r)}\n`;
  }
  return s;
}

/** The issue 14 target of a ratio and whether this run's req/s ratio meets it. */
function targetText(r) {
  if (r.target === undefined) return '';
  const want = `≥ ${r.target}×`;
  if (r.rps === undefined) return want;
  return `${want}: ${r.rps >= r.target ? 'met' : 'not met'}`;
}

const md = (cells) => '| ' + cells.join(' | ') + ' |';

export function markdown({ cells, ratioRows, labelOf, machine, versions, settings, servers, scenarios, commands, startedAt, loadAfter, chart }) {
  const out = [];
  out.push('# Latchkey benchmark results', '');
  out.push(`Generated by \`bench/run.mjs\` on ${startedAt}. Regenerate with \`npm run bench\`; see bench/README.md for method and caveats.`, '');
  out.push('## Results', '');
  if (chart) out.push(`![requests per second by scenario and server](${chart})`, '', `Chart: [${chart}](${chart}) (requests/s per scenario; for code_flow, iterations/s). Memory over a million tokens: [MEMORY.md](MEMORY.md) (\`npm run bench:memory\`).`, '');
  out.push(md(HEAD), md(HEAD.map((_, i) => (NUMERIC.has(i) ? '---:' : '---'))));
  for (const r of rows(cells, labelOf)) out.push(md(r));
  out.push('');
  if (ratioRows.length) {
    out.push('Ratios (above 1× means Latchkey is ahead): req/s is Latchkey\'s requests per second over the other\'s; CPU/req is the other\'s server CPU per request over Latchkey\'s, i.e. how many Latchkey requests one core serves for each of the other\'s.', '');
    out.push(md(['scenario', 'comparison', 'req/s', 'CPU/req', 'target (issue 14, req/s)']), md(['---', '---', '---:', '---:', '---']));
    for (const r of ratioRows) out.push(md([r.scenario, r.label, fmt.ratio(r.rps), fmt.ratio(r.cpu), targetText(r)]));
    out.push('');
  }
  out.push('Columns:', '');
  out.push('- req/s: 2xx responses divided by the measured duration (warm-up excluded). For code_flow: complete, checked iterations (authorize, the server\'s redirects, token) per second; the result column says how many HTTP requests one iteration took on that server.');
  out.push('- p50/p99: autocannon latency percentiles over the same requests, in milliseconds (autocannon resolves whole milliseconds), at the connection count below. For code_flow: the time of a whole iteration, measured by the bench\'s own loop.');
  out.push('- CPU µs/req: user+system CPU time of the server process during the measured run, divided by its responses (for code_flow: by its iterations).');
  out.push('- server core: that CPU time over the wall time (100% = the server saturated its core). autocannon core: the load generator\'s own CPU over the wall time. others: CPU time that other processes (this machine is shared) or the hypervisor took on the server\'s core and on the load generator\'s core meanwhile. A full run waits for quiet cores before each cell and measures a disturbed cell again (up to BENCH_RETRIES times), keeping the least disturbed run.');
  out.push('- unpinned rows (a cluster of workers): the server may use both cores and so may autocannon; CPU µs/req sums every process of the server (primary, workers, PostgreSQL when used); "others" is then what neither took, averaged over both cores. Their req/s against a pinned one-process row is the scaling you get on this 2-core machine with the load generator on the same cores, not a clean 2× ceiling.');
  out.push('- load-generator bound: autocannon used ≥ 90% of its core while the server used < 90% of its own, so req/s is autocannon\'s limit, not the server\'s; compare CPU µs/req instead. shared core: other processes took ≥ 10% of a core, so req/s is low and noisy.');
  out.push('- bytes/resp: response size including headers.');
  out.push('- A cell with any non-2xx answer, socket error, timeout, or body that failed the scenario\'s check (see bench/lib/scenarios.mjs) is reported as FAILED and has no figures.', '');

  out.push('## Setup', '');
  out.push(md(['setting', 'value']), md(['---', '---']));
  out.push(md(['duration per cell', `${settings.duration} s measured after a ${settings.warmup} s warm-up`]));
  out.push(md(['quiet wait / re-measures', `up to ${settings.quietWaitS} s for quiet cores before each cell; up to ${settings.retries} re-measures of a disturbed cell`]));
  out.push(md(['connections', String(settings.connections) + ' (pipelining 1, keep-alive)']));
  out.push(md(['CPU pinning', settings.pin ? `each server on CPU ${settings.serverCpu} (\`taskset -c ${settings.serverCpu}\`), autocannon in the runner on CPU ${settings.loadCpu}` : 'none (taskset missing or fewer than 2 CPUs): figures are not comparable to pinned runs']));
  out.push(md(['network', 'loopback only (127.0.0.1)']));
  out.push('');
  out.push('Servers:', '');
  for (const s of servers) out.push(`- **${s.label}** (\`${s.name}\`): ${s.description}.`);
  out.push('', 'Scenarios:', '');
  for (const s of scenarios) out.push(`- **${s.name}**: ${s.summary}.`);
  out.push('');

  out.push('## Machine', '');
  out.push(md(['what', 'value']), md(['---', '---']));
  out.push(md(['CPUs (nproc)', String(machine.nproc)]));
  out.push(md(['CPU model', machine.cpuModel]));
  out.push(md(['memory', `${machine.memoryGiB} GiB`]));
  out.push(md(['kernel', machine.kernel]));
  out.push(md(['node', machine.node]));
  out.push(md(['load average before / after (1, 5, 15 min)', `${machine.loadBefore} / ${loadAfter}`]));
  out.push(md(['latchkey commit', machine.commit]));
  out.push('');
  out.push('Package versions:', '');
  out.push(md(['package', 'version']), md(['---', '---']));
  for (const [k, v] of Object.entries(versions)) out.push(md([k, v]));
  out.push('');
  out.push('## Commands', '');
  out.push('```sh');
  for (const c of commands) out.push(c);
  out.push('```', '');
  return out.join('\n');
}

const esc = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * bench/results.svg: requests/s per scenario, one group of horizontal bars per scenario (each server that ran it),
 * hand-built SVG text. Scenarios differ by two orders of magnitude, so each group has its own scale (its largest
 * bar spans the width) and every bar is labelled with its figure; failed cells are shown as such.
 */
export function chartSvg({ cells, labelOf, servers, scenarios, startedAt, machine }) {
  const palette = { latchkey: '#1f6feb', 'oidc-provider': '#d1242f', 'oidc-provider-sqlite': '#f08c00', bare: '#6e7781' };
  const extra = ['#8250df', '#1a7f37', '#bf3989', '#0a3069'];
  const colour = new Map();
  let k = 0;
  for (const s of servers) colour.set(s.name, palette[s.name] ?? extra[k++ % extra.length]);
  const groups = scenarios
    .map((sc) => ({ sc, cells: servers.map((s) => cells.find((c) => c.server === s.name && c.scenario === sc.name)).filter(Boolean) }))
    .filter((g) => g.cells.length);
  const W = 900;
  const left = 300;
  const barW = W - left - 190;
  const barH = 18;
  const gap = 4;
  let y = 78;
  const parts = [];
  for (const g of groups) {
    const max = Math.max(1, ...g.cells.filter((c) => c.ok).map((c) => c.rps));
    parts.push(`<text x="12" y="${y + 12}" font-weight="bold">${esc(g.sc.name)}${g.sc.iterations ? ' (iterations/s)' : ''}</text>`);
    y += 20;
    for (const c of g.cells) {
      const label = esc(labelOf(c.server));
      parts.push(`<text x="${left - 8}" y="${y + 13}" text-anchor="end">${label}</text>`);
      if (c.ok) {
        const w = Math.max(1, Math.round((c.rps / max) * barW));
        parts.push(`<rect x="${left}" y="${y}" width="${w}" height="${barH}" fill="${colour.get(c.server)}"><title>${label}: ${Math.round(c.rps)}</title></rect>`);
        parts.push(`<text x="${left + w + 6}" y="${y + 13}">${Math.round(c.rps).toLocaleString('en-US')}${c.p99 !== undefined ? ` · p99 ${c.p99 < 1 ? '<1' : Math.round(c.p99)} ms` : ''}</text>`);
      } else {
        parts.push(`<text x="${left}" y="${y + 13}" fill="#d1242f">FAILED</text>`);
      }
      y += barH + gap;
    }
    y += 12;
  }
  const H = y + 24;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12" role="img" aria-label="Requests per second by scenario and server">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="16" font-weight="bold">Latchkey benchmark: requests/s per scenario (higher is better)</text>`,
    `<text x="12" y="42" fill="#57606a">${esc(`${startedAt} · ${machine.nproc} CPUs (${machine.cpuModel}) · node ${machine.node} · server on one core, load generator on the other`)}</text>`,
    `<text x="12" y="58" fill="#57606a">Each scenario has its own scale (its largest figure spans the width); the label gives requests/s and p99 latency.</text>`,
    ...parts,
    `<text x="12" y="${H - 10}" fill="#57606a">Figures, method and caveats: bench/RESULTS.md and bench/README.md</text>`,
    '</svg>',
    '',
  ].join('\n');
}
