/**
 * Prometheus metrics without a dependency: counters and histograms, rendered in the text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). Recording is a Map lookup and an addition, so
 * it can sit on every request. A registry can be turned into a plain-JSON snapshot and snapshots can be summed:
 * that is how the cluster primary aggregates its workers (src/server/cluster.ts).
 */

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Request latency buckets, seconds: from a cached discovery answer (~50 µs) to a slow login (argon2id). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const SEP = '\u0001';

interface Series {
  labels: string[];
  value: number;
}
interface HistogramSeries {
  labels: string[];
  /** Per-bucket counts (not cumulative); the last slot is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

export class Counter {
  readonly series = new Map<string, Series>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
  ) {}

  inc(labels: readonly string[] = [], by = 1): void {
    this.seriesFor(labels).value += by;
  }

  /** The series of these labels, created at 0 (hot paths keep it and add to `value` directly). */
  seriesFor(labels: readonly string[]): Series {
    const key = labels.length === 1 ? labels[0]! : labels.join(SEP);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: [...labels], value: 0 }));
    return s;
  }

  /** Current value for these labels (tests, readiness). */
  get(labels: readonly string[] = []): number {
    return this.series.get(labels.length === 1 ? labels[0]! : labels.join(SEP))?.value ?? 0;
  }
}

export class Histogram {
  readonly series = new Map<string, HistogramSeries>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
    readonly buckets: readonly number[] = LATENCY_BUCKETS,
  ) {}

  observe(labels: readonly string[], value: number): void {
    this.record(this.seriesFor(labels), value);
  }

  /** The series of these labels, created empty (hot paths keep it and call record). */
  seriesFor(labels: readonly string[]): HistogramSeries {
    const key = labels.length === 1 ? labels[0]! : labels.join(SEP);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: [...labels], counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 }));
    return s;
  }

  record(s: HistogramSeries, value: number): void {
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
}

/** Plain data, safe to send between processes (structured clone / JSON). */
export interface MetricsSnapshot {
  counters: { name: string; help: string; labelNames: string[]; series: Series[] }[];
  histograms: { name: string; help: string; labelNames: string[]; buckets: number[]; series: HistogramSeries[] }[];
}

export class Registry {
  private readonly counters: Counter[] = [];
  private readonly histograms: Histogram[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    const c = new Counter(name, help, labelNames);
    this.counters.push(c);
    return c;
  }

  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets: readonly number[] = LATENCY_BUCKETS): Histogram {
    const h = new Histogram(name, help, labelNames, buckets);
    this.histograms.push(h);
    return h;
  }

  snapshot(): MetricsSnapshot {
    return {
      counters: this.counters.map((c) => ({
        name: c.name, help: c.help, labelNames: [...c.labelNames],
        series: [...c.series.values()].map((s) => ({ labels: [...s.labels], value: s.value })),
      })),
      histograms: this.histograms.map((h) => ({
        name: h.name, help: h.help, labelNames: [...h.labelNames], buckets: [...h.buckets],
        series: [...h.series.values()].map((s) => ({ labels: [...s.labels], counts: [...s.counts], sum: s.sum, count: s.count })),
      })),
    };
  }

  render(): string {
    return renderSnapshot(this.snapshot());
  }
}

/** Sum snapshots series by series (same metric name and label values); metrics keep the first one's help text. */
export function mergeSnapshots(snapshots: readonly MetricsSnapshot[]): MetricsSnapshot {
  const counters = new Map<string, { name: string; help: string; labelNames: string[]; series: Map<string, Series> }>();
  const histograms = new Map<string, { name: string; help: string; labelNames: string[]; buckets: number[]; series: Map<string, HistogramSeries> }>();
  for (const snap of snapshots) {
    for (const c of snap.counters) {
      let m = counters.get(c.name);
      if (!m) counters.set(c.name, (m = { name: c.name, help: c.help, labelNames: c.labelNames, series: new Map() }));
      for (const s of c.series) {
        const key = s.labels.join(SEP);
        const have = m.series.get(key);
        if (have) have.value += s.value;
        else m.series.set(key, { labels: [...s.labels], value: s.value });
      }
    }
    for (const h of snap.histograms) {
      let m = histograms.get(h.name);
      if (!m) histograms.set(h.name, (m = { name: h.name, help: h.help, labelNames: h.labelNames, buckets: h.buckets, series: new Map() }));
      // Processes of one build share bucket layouts; a mismatched one (mixed versions) is skipped, not mis-added.
      if (h.buckets.join() !== m.buckets.join()) continue;
      for (const s of h.series) {
        const key = s.labels.join(SEP);
        const have = m.series.get(key);
        if (have) {
          for (let i = 0; i < have.counts.length; i++) have.counts[i]! += s.counts[i] ?? 0;
          have.sum += s.sum;
          have.count += s.count;
        } else m.series.set(key, { labels: [...s.labels], counts: [...s.counts], sum: s.sum, count: s.count });
      }
    }
  }
  return {
    counters: [...counters.values()].map((c) => ({ ...c, series: [...c.series.values()] })),
    histograms: [...histograms.values()].map((h) => ({ ...h, series: [...h.series.values()] })),
  };
}

const escapeHelp = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabel = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function labelText(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** Go's strconv-style numbers: integers plain, +Inf spelled as Prometheus spells it. */
function num(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

export function renderSnapshot(snap: MetricsSnapshot): string {
  const out: string[] = [];
  for (const c of snap.counters) {
    out.push(`# HELP ${c.name} ${escapeHelp(c.help)}`, `# TYPE ${c.name} counter`);
    // A counter without labels is exposed from the start (at 0), so rate() works from the first scrape.
    if (!c.series.length && !c.labelNames.length) out.push(`${c.name} 0`);
    for (const s of c.series) out.push(`${c.name}${labelText(c.labelNames, s.labels)} ${num(s.value)}`);
  }
  for (const h of snap.histograms) {
    out.push(`# HELP ${h.name} ${escapeHelp(h.help)}`, `# TYPE ${h.name} histogram`);
    for (const s of h.series) {
      let cumulative = 0;
      for (let i = 0; i <= h.buckets.length; i++) {
        cumulative += s.counts[i] ?? 0;
        const le = i < h.buckets.length ? num(h.buckets[i]!) : '+Inf';
        out.push(`${h.name}_bucket${labelText(h.labelNames, s.labels, ['le', le])} ${cumulative}`);
      }
      out.push(`${h.name}_sum${labelText(h.labelNames, s.labels)} ${num(s.sum)}`);
      out.push(`${h.name}_count${labelText(h.labelNames, s.labels)} ${s.count}`);
    }
  }
  return out.join('\n') + '\n';
}

/**
 * The per-request pair (count and latency by method, route, status class) with the series looked up once per
 * distinct label set and then reached through two small maps: this runs on every response.
 */
export class RequestMetrics {
  private readonly cache = new Map<string, Map<number, { count: Series; hist: HistogramSeries }>>();
  constructor(
    private readonly requests: Counter,
    private readonly latency: Histogram,
  ) {}

  observe(method: string, route: string, status: number, seconds: number): void {
    const routeKey = method + ' ' + route;
    let byStatus = this.cache.get(routeKey);
    if (!byStatus) this.cache.set(routeKey, (byStatus = new Map()));
    const cls = (status / 100) | 0;
    let e = byStatus.get(cls);
    if (!e) {
      const labels = [method, route, cls >= 1 && cls <= 5 ? `${cls}xx` : 'other'];
      e = { count: this.requests.seriesFor(labels), hist: this.latency.seriesFor(labels) };
      byStatus.set(cls, e);
    }
    e.count.value++;
    this.latency.record(e.hist, seconds);
  }
}

/** Latchkey's metrics: one set per process (each cluster worker has its own; the primary sums them). */
export class LatchkeyMetrics {
  readonly registry = new Registry();
  readonly requests = this.registry.counter('latchkey_http_requests_total', 'HTTP requests answered, by method, route and status class.', ['method', 'route', 'status_class']);
  readonly latency = this.registry.histogram('latchkey_http_request_duration_seconds', 'Time from request to response, by method, route and status class.', ['method', 'route', 'status_class']);
  readonly http = new RequestMetrics(this.requests, this.latency);
  readonly tokensIssued = this.registry.counter('latchkey_tokens_issued_total', 'Successful token responses at POST /oauth/token, by grant type (Core API calls count in latchkey_engine_results_total).', ['grant_type']);
  readonly loginFailures = this.registry.counter('latchkey_login_failures_total', 'Failed sign-ins (wrong username or password) at the login page.');
  readonly loginRateLimited = this.registry.counter('latchkey_login_rate_limited_total', 'Sign-ins refused because of the failed-login rate limit.');
  readonly results = this.registry.counter('latchkey_engine_results_total', 'Engine results sent, by result code (docs/result-codes.md).', ['code']);
  readonly cleanupDeleted = this.registry.counter('latchkey_cleanup_deleted_rows_total', 'Rows removed by the cleanup job, by table.', ['table']);
  readonly cleanupRuns = this.registry.counter('latchkey_cleanup_runs_total', 'Cleanup sweeps this process ran (one process of the cluster wins each sweep).', ['outcome']);
  readonly workerRestarts = this.registry.counter('latchkey_worker_restarts_total', 'Cluster workers that died and were restarted (counted by the primary).');
}
