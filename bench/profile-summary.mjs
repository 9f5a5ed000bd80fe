#!/usr/bin/env node
// Summarise a V8 .cpuprofile (from `node bench/run.mjs --profile DIR`): the functions with the most self time,
// and the heaviest inclusive frames, so "where does the time go" is one command.
//
//   node bench/profile-summary.mjs DIR/CPU.*.cpuprofile [--top 25] [--filter substring]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, filter: { type: 'string' } },
});
if (!positionals.length) {
  console.error('usage: node bench/profile-summary.mjs FILE.cpuprofile [--top N] [--filter substring]');
  process.exit(2);
}
const top = Number(values.top);

for (const file of positionals) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Sample counts per node; time per sample from the deltas.
  const hits = new Map();
  for (const s of prof.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
  const totalUs = prof.endTime - prof.startTime;
  const usPerSample = totalUs / prof.samples.length;

  const short = (url) => url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/');
  const label = (n) => {
    const f = n.callFrame;
    return `${f.functionName || '(anonymous)'} ${f.url ? `${short(f.url)}:${f.lineNumber + 1}` : ''}`.trim();
  };

  const self = new Map();
  const inclusive = new Map();
  let idle = 0;
  for (const [id, count] of hits) {
    const n = byId.get(id);
    const name = label(n);
    if (n.callFrame.functionName === '(idle)') idle += count;
    self.set(name, (self.get(name) ?? 0) + count);
    // Inclusive: count each distinct label once per stack.
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur));
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + count);
    }
  }
  const busy = prof.samples.length - idle;
  const pct = (c) => `${((100 * c) / busy).toFixed(1).padStart(5)}%`;
  const show = (map, title) => {
    console.log(`\n${title} (% of non-idle samples)`);
    const rows = [...map].filter(([k]) => !values.filter || k.includes(values.filter)).sort((a, b) => b[1] - a[1]).slice(0, top);
    for (const [k, c] of rows) console.log(`  ${pct(c)}  ${k}`);
  };
  console.log(`${file}: ${(totalUs / 1e6).toFixed(1)} s, ${prof.samples.length} samples (${usPerSample.toFixed(0)} µs each), ${((100 * idle) / prof.samples.length).toFixed(1)}% idle`);
  show(self, 'self time');
  show(inclusive, 'inclusive time');
}
