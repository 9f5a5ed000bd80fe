import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/*
 * WAL checkpoints off the request thread. In WAL mode SQLite copies the log back into the database file every
 * wal_autocheckpoint pages, inside whichever commit crosses the threshold, and with synchronous=NORMAL that
 * checkpoint is where the fsyncs happen: the event loop stalls for them, which showed as 8–10% idle CPU and the
 * token endpoint's p99 under load (bench/README.md). Here a worker thread with its own connection to the same file
 * runs PASSIVE checkpoints (they never block the writer; SQLite restarts the log from its start once a checkpoint
 * has caught up), and the request thread's auto-checkpoint is raised to a backstop that bounds the log should the
 * worker fall behind or die.
 */

/** Pages (4 KiB) the request thread lets the WAL grow to before it checkpoints itself: ~64 MiB. */
export const BACKSTOP_PAGES = 16384;

// The worker is plain JavaScript evaluated from a string, so that it runs the same from dist/ and under vitest.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
let stopped = false;
function tick() {
  if (stopped) return;
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message || e) });
  }
  setTimeout(tick, workerData.intervalMs);
}
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  stopped = true;
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  db.close();
  parentPort.postMessage('stopped');
});
setTimeout(tick, workerData.intervalMs);
`;

export interface Checkpointer {
  /** Run a last checkpoint and stop the worker. */
  stop(): Promise<void>;
}

export function startCheckpointer(path: string, opts: { intervalMs?: number; onError?: (message: string) => void } = {}): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, driver, intervalMs: opts.intervalMs ?? 1000 } });
  // Never keeps the process alive; a failed checkpoint is reported, and the backstop bounds the log meanwhile.
  worker.unref();
  let failed = false;
  worker.on('message', (m: unknown) => {
    if (m && typeof m === 'object' && 'error' in m) opts.onError?.(String((m as { error: unknown }).error));
  });
  worker.on('error', (e) => {
    failed = true;
    opts.onError?.(e.message);
  });
  return {
    async stop() {
      if (failed) return;
      await new Promise<void>((resolve) => {
        const done = () => resolve();
        const timer = setTimeout(() => void worker.terminate().then(done, done), 2000);
        worker.on('message', (m) => {
          if (m !== 'stopped') return;
          clearTimeout(timer);
          void worker.terminate().then(done, done);
        });
        worker.once('exit', () => {
          clearTimeout(timer);
          done();
        });
        worker.postMessage('stop');
      });
    },
  };
}
