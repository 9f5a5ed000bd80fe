import cluster from 'node:cluster';

/**
 * SIGTERM/SIGINT for a serving process, caught from its first moment.
 *
 * Without a listener a signal takes its default action and kills the process. A cluster worker can be signalled
 * at any point of its start-up (the primary shutting down, systemd signalling the whole control group, Ctrl-C
 * reaching the process group), long before it listens, so its listeners are installed before anything else loads
 * (bin/latchkey.js imports this module first) and a signal that arrives early is remembered: `serve` stops without
 * listening, or drains at once once it listens (serve.ts). Other commands keep the default action.
 */
type StopListener = (reason: string) => void;

let installed = false;
let received: string | undefined;
let listener: StopListener | undefined;

export function catchStopSignals(): void {
  if (installed) return;
  installed = true;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      // A second signal while start-up has not reached a point where it can stop (stuck on the database, say): go now.
      if (received && !listener) process.exit(1);
      received ??= signal;
      listener?.(signal);
    });
  }
}

/** The first stop signal received so far, if any. */
export function stopRequested(): string | undefined {
  return received;
}

/** Call fn on every stop signal from now on, and at once if one came already. */
export function onStopSignal(fn: StopListener): void {
  listener = fn;
  if (received) fn(received);
}

if (cluster.isWorker) catchStopSignals();
