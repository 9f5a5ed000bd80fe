import cluster, { type Worker } from 'node:cluster';
import { hostname } from 'node:os';
import { pino } from 'pino';
import type { Config } from '../config/schema.js';
import { LatchkeyMetrics, mergeSnapshots, type MetricsSnapshot } from '../ops/metrics.js';
import { Latchkey } from '../server/latchkey.js';
import { ensureDemo } from '../services/demo.js';
import { DEFAULT_TENANT } from '../store/types.js';
import { startupWarnings } from './serve.js';

/**
 * `latchkey serve --workers N` (node:cluster).
 *
 * The primary serves no requests. It opens the database once (migrations or the schema check, the default tenant
 * and its keys, the demo on a fresh database) under the start-up lock, closes it, and forks N workers; each worker
 * opens its own connection (pool) and listens on the shared port. Everything that must hold across workers holds
 * in the database, exactly as it does across instances: exactly-once redemptions are conditional statements, rate
 * limits are counters in the store, keys are re-validated from the store, the cleanup sweep takes a lease row.
 *
 * A worker that dies is forked again after a back-off that grows with repeated crashes (0.1 s doubling to 30 s,
 * counted over the last minute). A worker that fails before the first worker was ever ready stops the whole start
 * (a configuration or database problem, not a crash to retry). SIGTERM/SIGINT to the primary drain every worker
 * (see serve.ts `drain`) and the primary exits 0 once all exited cleanly.
 *
 * Metrics: each worker counts in its own registry. GET /metrics reaches one worker, which asks the primary; the
 * primary asks every worker for a snapshot and answers with the sum, plus the last figures of workers that have
 * exited (so the cluster's counters never go down when a worker is replaced).
 */

type ToPrimary =
  | { lk: 'ready'; port: number }
  | { lk: 'metrics?'; id: number }
  | { lk: 'snapshot'; id: number; snapshot: MetricsSnapshot }
  | { lk: 'final'; snapshot: MetricsSnapshot };
type ToWorker = { lk: 'collect'; id: number } | { lk: 'metrics'; id: number; snapshot: MetricsSnapshot };

const COLLECT_TIMEOUT_MS = 1000;

export async function runPrimary(config: Config, workers: number): Promise<void> {
  const log = pino({ level: config.logLevel, base: { pid: process.pid, hostname: hostname(), role: 'primary' } });

  // Start-up work, once: the workers only check the schema.
  startupWarnings(config, log);
  const lk = await Latchkey.open({ config });
  try {
    if (config.demo) {
      const demo = await ensureDemo(await lk.context(DEFAULT_TENANT));
      if (demo) process.stdout.write(demo + '\n');
    }
  } finally {
    await lk.close();
  }

  const metrics = new LatchkeyMetrics();
  const lastSnapshot = new Map<number, MetricsSnapshot>();
  let retired: MetricsSnapshot = { counters: [], histograms: [] };
  const ready = new Set<number>();
  let everReady = false;
  let shuttingDown = false;
  let port: number | undefined;
  const crashes: number[] = [];
  let failedExit = false;

  const fork = (): Worker => {
    const w = cluster.fork();
    w.on('message', (msg: ToPrimary) => onMessage(w, msg));
    log.info({ event: 'worker_forked', worker: w.id, workerPid: w.process.pid }, 'worker forked');
    return w;
  };

  const live = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);

  let nextCollect = 1;
  const pendingCollects = new Map<number, { want: Set<number>; got: Map<number, MetricsSnapshot>; done: () => void }>();

  function collect(): Promise<MetricsSnapshot> {
    const id = nextCollect++;
    const workersNow = live().filter((w) => ready.has(w.id));
    return new Promise((resolve) => {
      const entry = { want: new Set(workersNow.map((w) => w.id)), got: new Map<number, MetricsSnapshot>(), done: () => {} };
      const finish = () => {
        clearTimeout(timer);
        pendingCollects.delete(id);
        // A worker that did not answer in time counts with its last figures, so sums never go down.
        const parts = [retired, metrics.registry.snapshot()];
        for (const wid of entry.want) {
          const s = entry.got.get(wid) ?? lastSnapshot.get(wid);
          if (s) parts.push(s);
        }
        resolve(mergeSnapshots(parts));
      };
      entry.done = finish;
      const timer = setTimeout(finish, COLLECT_TIMEOUT_MS);
      pendingCollects.set(id, entry);
      if (!entry.want.size) return finish();
      for (const w of workersNow) w.send({ lk: 'collect', id } satisfies ToWorker);
    });
  }

  function onMessage(w: Worker, msg: ToPrimary): void {
    if (!msg || typeof msg !== 'object') return;
    switch (msg.lk) {
      case 'ready': {
        ready.add(w.id);
        port = msg.port;
        // Shutting down while it started: its stop handler is in place now (serve.ts installs it before 'ready').
        if (shuttingDown) {
          w.process.kill('SIGTERM');
          return;
        }
        log.info({ event: 'worker_ready', worker: w.id, workerPid: w.process.pid }, 'worker ready');
        if (!everReady && ready.size === workers) {
          everReady = true;
          process.stdout.write(`latchkey: serving ${config.issuer} (listening on ${config.host}:${port}, ${workers} workers)\n`);
        }
        return;
      }
      case 'snapshot': {
        lastSnapshot.set(w.id, msg.snapshot);
        const entry = pendingCollects.get(msg.id);
        if (entry) {
          entry.got.set(w.id, msg.snapshot);
          if ([...entry.want].every((x) => entry.got.has(x))) entry.done();
        }
        return;
      }
      case 'final':
        lastSnapshot.set(w.id, msg.snapshot);
        return;
      case 'metrics?':
        void collect().then((snapshot) => {
          if (w.isConnected()) w.send({ lk: 'metrics', id: msg.id, snapshot } satisfies ToWorker);
        });
        return;
    }
  }

  cluster.on('exit', (w, code, signal) => {
    const wasReady = ready.delete(w.id);
    const last = lastSnapshot.get(w.id);
    if (last) retired = mergeSnapshots([retired, last]);
    lastSnapshot.delete(w.id);
    if (shuttingDown) {
      // A stop signal can reach a starting worker before Node runs any of its code (systemd signals the whole
      // control group, Ctrl-C the process group), and the default action kills it. Its listener is installed before
      // it listens (stop-signals.ts, serve.ts), so a worker killed that way never accepted a connection: a clean stop.
      const killedBeforeListening = !wasReady && (signal === 'SIGTERM' || signal === 'SIGINT');
      if (code !== 0 && !killedBeforeListening) failedExit = true;
      log.info({ event: 'worker_exit', worker: w.id, workerPid: w.process.pid, code, signal }, 'worker exited');
      if (!live().length) finishShutdown();
      return;
    }
    if (!everReady) {
      // Failing before any worker was ready is a start-up failure (the worker printed why): stop, don't loop.
      process.stderr.write(`latchkey: a worker failed to start (exit code ${code ?? signal}); stopping\n`);
      shuttingDown = true;
      failedExit = true;
      for (const other of live()) other.process.kill('SIGTERM');
      if (!live().length) finishShutdown();
      return;
    }
    const now = Date.now();
    crashes.push(now);
    while (crashes.length && crashes[0]! < now - 60_000) crashes.shift();
    const delay = Math.min(30_000, 100 * 2 ** (crashes.length - 1));
    metrics.workerRestarts.inc();
    log.error({ event: 'worker_died', worker: w.id, workerPid: w.process.pid, code, signal, restartInMs: delay }, 'worker died; restarting it');
    setTimeout(() => {
      if (!shuttingDown) fork();
    }, delay).unref();
  });

  let forceTimer: NodeJS.Timeout | undefined;
  function finishShutdown(): void {
    clearTimeout(forceTimer);
    log.info({ event: 'shutdown_complete', clean: !failedExit }, 'all workers stopped');
    process.exit(failedExit ? 1 : 0);
  }

  const shutdown = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ event: 'shutdown', reason: signal, workers: live().length }, 'shutting down: draining every worker');
    const workersNow = live();
    if (!workersNow.length) return finishShutdown();
    // A worker still starting is signalled when it reports ready (onMessage): until its code has loaded it has no
    // SIGTERM listener, and the default action would kill it. The force timer below also covers one stuck starting.
    for (const w of workersNow) if (ready.has(w.id)) w.process.kill('SIGTERM');
    // Workers cut their own connections after shutdownTimeout; this is the backstop for a stuck one.
    forceTimer = setTimeout(() => {
      for (const w of live()) {
        log.warn({ event: 'worker_killed', worker: w.id, workerPid: w.process.pid }, 'worker did not stop in time; killing it');
        w.process.kill('SIGKILL');
      }
    }, (config.shutdownTimeout + 5) * 1000);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  for (let i = 0; i < workers; i++) fork();
}

/** The worker's side of the IPC: readiness, and metrics summed by the primary. */
export function workerChannel(): {
  ready(port: number): void;
  collectMetrics(): Promise<MetricsSnapshot>;
  finalMetrics(snapshot: MetricsSnapshot): Promise<void>;
  registerSnapshotSource(fn: () => MetricsSnapshot): void;
} {
  let source: (() => MetricsSnapshot) | undefined;
  let nextId = 1;
  const waiting = new Map<number, { resolve: (s: MetricsSnapshot) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  const send = (m: ToPrimary) => {
    if (process.connected) process.send!(m);
  };
  process.on('message', (msg: ToWorker) => {
    if (!msg || typeof msg !== 'object') return;
    if (msg.lk === 'collect' && source) send({ lk: 'snapshot', id: msg.id, snapshot: source() });
    else if (msg.lk === 'metrics') {
      const w = waiting.get(msg.id);
      if (!w) return;
      waiting.delete(msg.id);
      clearTimeout(w.timer);
      w.resolve(msg.snapshot);
    }
  });
  return {
    ready: (port) => send({ lk: 'ready', port }),
    registerSnapshotSource(fn) {
      source = fn;
    },
    // Sent before a clean exit, so the primary keeps this worker's figures up to its last request.
    finalMetrics: (snapshot) =>
      new Promise<void>((resolve) => {
        if (!process.connected) return resolve();
        const timer = setTimeout(resolve, 1000);
        process.send!({ lk: 'final', snapshot } satisfies ToPrimary, undefined, {}, () => {
          clearTimeout(timer);
          resolve();
        });
      }),
    collectMetrics() {
      if (!process.connected) return Promise.reject(new Error('no primary'));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error('the primary did not answer'));
        }, COLLECT_TIMEOUT_MS * 3);
        waiting.set(id, { resolve, reject, timer });
        send({ lk: 'metrics?', id });
      });
    },
  };
}
