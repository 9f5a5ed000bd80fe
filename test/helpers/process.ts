import { spawn, type ChildProcess } from 'node:child_process';

export interface RunningProcess {
  child: ChildProcess;
  /** The first capture group of the ready pattern (e.g. the URL the process printed). */
  ready: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Start a long-running process and wait until its stdout matches `readyPattern` (or fail with its output when it
 * exits first or the timeout passes). stop() sends SIGTERM to this process only and waits for it to exit.
 */
export async function startProcess(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; readyPattern: RegExp; timeoutMs?: number },
): Promise<RunningProcess> {
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`${command} ${args.join(' ')}: not ready after ${opts.timeoutMs ?? 20_000} ms; output:\n${out}`));
    }, opts.timeoutMs ?? 20_000);
    const check = () => {
      const m = opts.readyPattern.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(m[1] ?? m[0]);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} ${args.join(' ')} exited (${code}) before it was ready; output:\n${out}`));
    });
  });
  return {
    child,
    ready,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
