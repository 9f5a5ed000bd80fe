// Child processes for the bench: free ports, CPU pinning, readiness, CPU-time accounting, bounded shutdown.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export const HOST = '127.0.0.1';

/** A free loopback port (bound and released; the child binds it right after). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

let tasksetPath;
/** Whether CPU pinning is possible here: taskset exists and there are at least two CPUs. */
export function canPin(cpus) {
  if (tasksetPath === undefined) {
    const r = spawnSync('sh', ['-c', 'command -v taskset'], { encoding: 'utf8' });
    tasksetPath = r.status === 0 ? r.stdout.trim() : null;
  }
  return tasksetPath !== null && cpus >= 2;
}

/** argv that runs `cmd args` pinned to `cpu` when pinning is possible. */
export function pinned(cpu, cmd, args, pin) {
  return pin ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
}

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** { user, sys } CPU seconds a process has used so far (Linux /proc), or undefined if unreadable. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / CLK_TCK, sys: Number(f[12]) / CLK_TCK }; // utime, stime (fields 14 and 15)
  } catch {
    return undefined;
  }
}

/** { busy, steal } seconds one CPU has spent so far, from /proc/stat (busy counts everything but idle and iowait). */
export function coreSeconds(cpu) {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return { busy: (user + nice + system + irq + softirq + steal) / CLK_TCK, steal: steal / CLK_TCK };
  } catch {
    return undefined;
  }
}

/** The CPUs a process may run on, as Linux prints them ("0", "0-1"), or undefined. */
export function allowedCpus(pid) {
  try {
    const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1].trim();
  } catch {
    return undefined;
  }
}

const live = new Set();
let cleanupInstalled = false;
function installCleanup() {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/**
 * Start a server process and wait (bounded) until a stdout line matches `ready`.
 * Returns { pid, stop(), output() }; stop() sends SIGTERM, then SIGKILL after a grace period.
 */
export async function startProcess({ name, cmd, args, env, cwd, ready, timeoutMs = 30_000 }) {
  installCleanup();
  const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  const keep = (chunk) => {
    out += chunk;
    if (out.length > 64 * 1024) out = out.slice(-32 * 1024);
  };
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    live.delete(child);
    resolve({ code, signal });
  }));

  await new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      if (!err) return resolve();
      child.kill('SIGKILL');
      reject(new Error(`${err.message}\n--- ${name} output ---\n${out.slice(-4000)}`));
    };
    const timer = setTimeout(() => finish(new Error(`${name} did not become ready within ${timeoutMs} ms`)), timeoutMs);
    // Registered after `keep`, so `out` already holds the chunk.
    const onData = () => {
      if (ready.test(out)) finish();
    };
    child.stdout.on('data', onData);
    void exited.then(({ code, signal }) => finish(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`)));
  });

  return {
    pid: child.pid,
    output: () => out,
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
}

/** Parent pid of a process (Linux /proc), or undefined. */
function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Every live descendant of pid (children, grandchildren, …): a cluster's workers, for CPU accounting. */
export function descendants(pid) {
  let entries = [];
  try {
    entries = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  } catch {
    return [];
  }
  const children = new Map();
  for (const p of entries) {
    const pp = parentOf(p);
    if (pp === undefined) continue;
    if (!children.has(pp)) children.set(pp, []);
    children.get(pp).push(p);
  }
  const out = [];
  const stack = [...(children.get(pid) ?? [])];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Summed { user, sys } CPU seconds of several processes; processes that are gone count as 0. */
export function cpuSecondsOf(pids) {
  let user = 0;
  let sys = 0;
  let any = false;
  for (const pid of pids) {
    const c = cpuSeconds(pid);
    if (!c) continue;
    any = true;
    user += c.user;
    sys += c.sys;
  }
  return any ? { user, sys } : undefined;
}

/** Move a running process (all its threads) to the given CPUs, e.g. "0" or "0,1". Returns whether taskset succeeded. */
export function setAffinity(pid, cpuList) {
  const r = spawnSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { encoding: 'utf8' });
  return r.status === 0;
}
