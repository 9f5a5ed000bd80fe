import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './server.js';

/**
 * A private, throw-away PostgreSQL cluster that a test may stop and start at will (crash safety with the database
 * restarted). Not the shared cluster of scripts/with-postgres.sh: restarting that one would break every test file
 * running beside. Uses the binaries with-postgres.sh found (LATCHKEY_TEST_PG_BIN), run as LATCHKEY_TEST_PG_OS_USER
 * when we are root (initdb refuses root). Commits are durable against a server crash (synchronous_commit on, the
 * default): a `stop -m immediate` must not lose what the server acknowledged. fsync stays off: the OS does not crash.
 */
export interface PgCluster {
  /** postgres://… of the `latchkey` database (trust authentication, loopback only). */
  url: string;
  /** Crash the server: SIGQUIT to every backend, no checkpoint; the next start runs crash recovery. */
  stopImmediate(): Promise<void>;
  start(): Promise<void>;
  destroy(): void;
}

export function pgBinDir(): string | undefined {
  if (process.env.LATCHKEY_TEST_PG_BIN) return process.env.LATCHKEY_TEST_PG_BIN;
  if (!existsSync('/usr/lib/postgresql')) return undefined;
  const v = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))[0];
  return v ? `/usr/lib/postgresql/${v}/bin` : undefined;
}

export async function startPgCluster(): Promise<PgCluster> {
  const bin = pgBinDir();
  if (!bin) throw new Error('no PostgreSQL binaries (LATCHKEY_TEST_PG_BIN)');
  const osUser = process.env.LATCHKEY_TEST_PG_OS_USER ?? (process.getuid?.() === 0 ? 'postgres' : undefined);
  const run = (cmd: string, args: string[]) => {
    const [c, a] = osUser ? ['runuser', ['-u', osUser, '--', join(bin, cmd), ...args]] : [join(bin, cmd), args];
    const r = spawnSync(c, a, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stdout}${r.stderr}`);
  };
  // Asynchronous, so that the load keeps running while the server stops and starts.
  const runAsync = async (cmd: string, args: string[]) => {
    const [c, a] = osUser ? ['runuser', ['-u', osUser, '--', join(bin, cmd), ...args]] : [join(bin, cmd), args];
    await promisify(execFile)(c, a);
  };
  const dir = mkdtempSync('/tmp/latchkey-pgcrash-');
  if (osUser) execFileSync('chown', [osUser, dir]);
  else chownSync(dir, process.getuid!(), process.getgid!());
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  const port = await freePort();
  const opts = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} -c fsync=off -c max_connections=100`;
  const startArgs = ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', 'start', '-o', opts];
  run('pg_ctl', startArgs);
  const base = `postgres://postgres@127.0.0.1:${port}`;
  run('psql', ['-X', '-q', '-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', 'CREATE DATABASE latchkey']);
  return {
    url: `${base}/latchkey`,
    stopImmediate: () => runAsync('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']),
    start: () => runAsync('pg_ctl', startArgs),
    destroy() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        /* already stopped */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
