import { describe, expect, it } from 'vitest';
import { mergeSnapshots, Registry, renderSnapshot } from '../../src/ops/metrics.js';

/** Parse the text exposition format back into { 'name{labels}': value } (enough to check what we write). */
function parse(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

describe('Prometheus text exposition format (0.0.4)', () => {
  it('counters: HELP and TYPE lines, one sample per label set, label-less counters start at 0', () => {
    const r = new Registry();
    const c = r.counter('x_total', 'Things.\nSecond line with a \\ backslash.', ['route', 'status_class']);
    const plain = r.counter('y_total', 'Plain.');
    c.inc(['/a', '2xx']);
    c.inc(['/a', '2xx'], 2);
    c.inc(['/b', '4xx']);
    const text = r.render();
    expect(text).toContain('# HELP x_total Things.\\nSecond line with a \\\\ backslash.\n# TYPE x_total counter\n');
    expect(parse(text)).toEqual({ 'x_total{route="/a",status_class="2xx"}': 3, 'x_total{route="/b",status_class="4xx"}': 1, y_total: 0 });
    plain.inc();
    expect(parse(r.render()).y_total).toBe(1);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('label values are escaped (backslash, double quote, newline)', () => {
    const r = new Registry();
    r.counter('z_total', 'z', ['v']).inc(['a"b\\c\nd']);
    expect(r.render()).toContain('z_total{v="a\\"b\\\\c\\nd"} 1');
  });

  it('histograms: cumulative buckets ending in +Inf, _sum and _count', () => {
    const r = new Registry();
    const h = r.histogram('d_seconds', 'durations', ['route'], [0.1, 1]);
    h.observe(['/x'], 0.05);
    h.observe(['/x'], 0.1); // le is inclusive
    h.observe(['/x'], 0.5);
    h.observe(['/x'], 7);
    const m = parse(r.render());
    expect(m['d_seconds_bucket{route="/x",le="0.1"}']).toBe(2);
    expect(m['d_seconds_bucket{route="/x",le="1"}']).toBe(3);
    expect(m['d_seconds_bucket{route="/x",le="+Inf"}']).toBe(4);
    expect(m['d_seconds_count{route="/x"}']).toBe(4);
    expect(m['d_seconds_sum{route="/x"}']).toBeCloseTo(7.65);
    expect(r.render()).toContain('# TYPE d_seconds histogram');
  });

  it('snapshots from several processes sum series by series (cluster aggregation)', () => {
    const make = (n: number) => {
      const r = new Registry();
      const c = r.counter('req_total', 'requests', ['route']);
      const h = r.histogram('lat_seconds', 'latency', ['route'], [1]);
      c.inc(['/a'], n);
      if (n > 1) c.inc(['/only-in-' + n]);
      h.observe(['/a'], 0.5 * n);
      return r.snapshot();
    };
    const merged = mergeSnapshots([make(1), make(2), make(3)]);
    const m = parse(renderSnapshot(merged));
    expect(m['req_total{route="/a"}']).toBe(6);
    expect(m['req_total{route="/only-in-2"}']).toBe(1);
    expect(m['req_total{route="/only-in-3"}']).toBe(1);
    expect(m['lat_seconds_bucket{route="/a",le="1"}']).toBe(2);
    expect(m['lat_seconds_bucket{route="/a",le="+Inf"}']).toBe(3);
    expect(m['lat_seconds_sum{route="/a"}']).toBe(3);
    // Snapshots are plain data: they survive the IPC channel's serialisation unchanged.
    expect(JSON.parse(JSON.stringify(merged))).toEqual(merged);
  });
});
