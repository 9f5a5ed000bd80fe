import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.js';
import { isHttpIssuerOffLoopback, isLoopbackIssuer, SAFE_KEY_ACTIVATION_DELAY } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import type { MetricsSnapshot } from '../ops/metrics.js';
import type { Latchkey } from '../server/latchkey.js';
import { createLatchkey } from '../library.js';
import { ensureDemo } from '../services/demo.js';
import { DEFAULT_TENANT } from '../store/types.js';
import { runPrimary, workerChannel } from './cluster.js';
import { catchStopSignals, onStopSignal, stopRequested } from './stop-signals.js';
import { filePermissionWarnings } from '../server/file-permissions.js';

/** Worker processes `serve` runs: the `workers` option, else one per available core. */
export function workerCount(config: Config): number {
  return config.workers ?? availableParallelism();
}

/**
 * `latchkey serve`. With one worker: one process opens the database (migrating and bootstrapping it), listens and
 * serves. With more: the primary does the start-up work once, then forks workers that share the port (see
 * cluster.ts). Either way SIGTERM/SIGINT drain in-flight requests before the process exits.
 */
export async function serve(config: Config): Promise<void> {
  checkServeConfig(config);
  if (cluster.isWorker) return serveProcess(config, { worker: true });
  const n = workerCount(config);
  if (n > 1) return runPrimary(config, n);
  return serveProcess(config, { worker: false });
}

/** Open, bootstrap the demo on a fresh database (not in a worker: the primary did), listen, drain on a signal. */
async function serveProcess(config: Config, opts: { worker: boolean }): Promise<void> {
  // SIGTERM/SIGINT at any point of start-up stop the process cleanly, never by the default action (stop-signals.ts;
  // a worker caught them from its first moment).
  catchStopSignals();
  const channel = opts.worker ? workerChannel() : undefined;
  // The same entry point as an embedding application (createLatchkey); background jobs start once listening.
  // A worker's schema was migrated (or checked) by the primary; it only checks, never migrates.
  const instance = await createLatchkey({ config, migrate: opts.worker ? false : undefined, backgroundJobs: false });
  const lk = instance.latchkey;
  channel?.registerSnapshotSource(() => lk.metrics.registry.snapshot());
  let app: FastifyInstance;
  try {
    app = await instance.server({ collectMetrics: channel?.collectMetrics, logFields: opts.worker ? { worker: cluster.worker?.id } : undefined });
  } catch (e) {
    await lk.close();
    throw e;
  }
  const log = app.log;
  lk.setLogger(log);
  // Start-up warnings once per server: in a cluster the primary gives them.
  if (!opts.worker) startupWarnings(config, log);
  if (config.demo && !opts.worker) {
    const demo = await ensureDemo(await lk.context(DEFAULT_TENANT));
    if (demo) process.stdout.write(demo + '\n');
  }
  // Told to stop while starting: never listen. Nothing was accepted, so there is nothing to drain.
  const early = stopRequested();
  if (early) {
    log.info({ event: 'shutdown', reason: early }, 'shutting down before listening');
    await lk.close();
    process.exit(0);
  }
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (e) {
    // Port in use, address not on this machine, no permission: the error is the one line the CLI prints. Close the
    // database and the key checks too, or their handles keep the process alive after it (and a cluster waiting).
    await app.close().catch(() => {});
    await lk.close();
    throw e;
  }
  lk.backchannel.start(); // retries of back-channel logout deliveries
  lk.cleanup.start(); // expired rows; one process of the cluster (or of all instances) per sweep
  const port = (app.server.address() as { port: number }).port;

  let closing = false;
  const shutdown = async (reason: string) => {
    if (closing) return;
    closing = true;
    const clean = await drain(app, lk, config.shutdownTimeout, reason);
    await channel?.finalMetrics(lk.metrics.registry.snapshot());
    process.exit(clean ? 0 : 1);
  };
  // Drains at once if a signal came while listening started. Installed before the worker reports ready: the primary
  // signals a worker only once it is ready, so no signal from it can meet a worker without this.
  onStopSignal((reason) => void shutdown(reason));
  // A worker whose primary is gone (killed) drains and exits rather than serving on as an orphan.
  if (opts.worker) {
    process.on('disconnect', () => void shutdown('primary gone'));
    if (!process.connected) void shutdown('primary gone');
  }
  if (closing) return;
  if (channel) channel.ready(port);
  else process.stdout.write(`latchkey: serving ${config.issuer} (listening on ${config.host}:${port})\n`);
}

/**
 * Graceful shutdown: /readyz turns 503, background jobs stop, the listener closes (no new connections; idle
 * keep-alive connections are closed), in-flight requests finish within timeoutS seconds, after which the remaining
 * connections are cut; then the key refresh settles and the database pool closes. Returns whether it was clean.
 */
export async function drain(app: FastifyInstance, lk: Latchkey, timeoutS: number, reason: string): Promise<boolean> {
  const log = app.log;
  log.info({ event: 'shutdown', reason }, 'shutting down: no new connections, finishing in-flight requests');
  lk.draining = true;
  lk.backchannel.stop();
  const cleanupStopped = lk.cleanup.stop();
  let timer: NodeJS.Timeout | undefined;
  const clean = await Promise.race([
    app.close().then(() => true),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), timeoutS * 1000);
    }),
  ]);
  clearTimeout(timer);
  if (!clean) {
    log.warn({ event: 'shutdown_timeout', timeoutS }, 'shutdown: requests still running after shutdownTimeout; closing their connections');
    app.server.closeAllConnections();
  }
  await cleanupStopped;
  await lk.close();
  return clean;
}

export type { MetricsSnapshot };

/** An issuer reachable from other machines over plain http (RFC 8414 §2, OIDC Discovery §3: the issuer is https). */
const httpIssuerOffLoopback = (config: Config) => isHttpIssuerOffLoopback(config.issuer);

/**
 * What `serve` refuses that the library and tests accept: serving real traffic with an http issuer off the loopback
 * interface. Checked here, not in the schema: an embedding application (createLatchkey) may sit behind its own TLS,
 * and tests use http://login.example.com as a mere identifier without listening on it.
 */
export function checkServeConfig(config: Config): void {
  if (httpIssuerOffLoopback(config) && !config.insecureHttpIssuer) {
    throw new ConfigError(
      `issuer ${config.issuer} is http on a host other than loopback: use https (behind a TLS-terminating proxy, its https URL), or set insecureHttpIssuer to start anyway (development only)`,
    );
  }
}

/** Options that weaken something say so at start (DESIGN: configuration). */
export function startupWarnings(config: Config, log: { warn(msg: string): void }): void {
  if (config.allowRemoteRequestUri) {
    log.warn('allowRemoteRequestUri is on: the server fetches request objects from clients\' registered https request_uris (RFC 9101 §10.4)');
  }
  if (config.insecureRemoteFetchAddresses !== 'public') log.warn(`insecureRemoteFetchAddresses is ${config.insecureRemoteFetchAddresses}: clients may make the server fetch from non-public addresses`);
  if (config.insecureLegacyClientAssertionAudience) {
    log.warn('insecureLegacyClientAssertionAudience is on: client assertions naming the token endpoint (or the endpoint called) as aud are accepted, which exposes clients to audience injection (CVE-2025-27370)');
  }
  if (config.insecureAllowHttpJwksUri) log.warn('insecureAllowHttpJwksUri is on: client keys may be fetched over plain http and forged in transit');
  if (config.insecureAllowHttpSectorIdentifierUri) {
    log.warn('insecureAllowHttpSectorIdentifierUri is on: sector_identifier_uri documents may be fetched over plain http and forged in transit');
  }
  if (config.insecureHttpIssuer && httpIssuerOffLoopback(config)) {
    log.warn(`insecureHttpIssuer is on: issuer ${config.issuer} is plain http off loopback; codes, tokens, passwords and session cookies (not Secure) cross the network in clear`);
  }
  if (config.demo && !isLoopbackIssuer(config.issuer)) {
    log.warn(
      `demo is on with issuer ${config.issuer}, not loopback: a fresh database gets a demo client and user whose secrets are printed at start; anyone who reads the start-up output can sign in or get tokens (set demo: false in production)`,
    );
  }
  // Several processes (workers, or instances on one PostgreSQL database) each re-validate their keys every 30 s.
  const severalProcesses = config.workers !== 1 || /^postgres(ql)?:/.test(config.databaseUrl ?? '');
  if (severalProcesses && config.keyActivationDelay < SAFE_KEY_ACTIVATION_DELAY) {
    log.warn(
      `keyActivationDelay is ${config.keyActivationDelay} s, under ${SAFE_KEY_ACTIVATION_DELAY} s: after a key rotation one process may sign with the new key ` +
        'before the others (and relying parties caching the JWKS) have it (docs/operations.md)',
    );
  }
  const portMismatch = loopbackIssuerPortMismatch(config);
  if (portMismatch) log.warn(portMismatch);
  for (const w of filePermissionWarnings(config)) log.warn(w);
}

/**
 * `serve --port 8080` with the default (or init's) issuer http://127.0.0.1:9000: the server answers on 8080, but
 * discovery, redirects, form actions and the demo's URLs all name 9000 (every URL comes from the issuer). Said only
 * for a plain-http loopback issuer served directly (no tlsCert): an https issuer on loopback is a local TLS proxy's.
 */
export function loopbackIssuerPortMismatch(config: Config): string | undefined {
  if (config.port === 0 || config.tlsCert !== undefined) return undefined;
  const u = new URL(config.issuer);
  if (u.protocol !== 'http:' || !isLoopbackIssuer(config.issuer)) return undefined;
  const issuerPort = Number(u.port || 80);
  if (issuerPort === config.port) return undefined;
  return (
    `issuer ${config.issuer} names port ${issuerPort}, but the server listens on port ${config.port}: discovery, redirects and pages ` +
    `send clients to port ${issuerPort}; set issuer to match (http://${u.host.replace(/:\d+$/, '')}:${config.port}${u.pathname === '/' ? '' : u.pathname})`
  );
}
