import type { FastifyInstance } from 'fastify';
import { EXPOSITION_CONTENT_TYPE, renderSnapshot, type MetricsSnapshot } from '../../ops/metrics.js';
import type { Latchkey } from '../../server/latchkey.js';
import { DEFAULT_TENANT } from '../../store/types.js';

/** How long /readyz waits for the database before it calls it unreachable. */
const READY_TIMEOUT_MS = 2000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_r, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Operations endpoints, for load balancers, orchestrators and Prometheus (docs/operations.md):
 *   GET /healthz  liveness: the process answers (no database access, so a database outage does not get every
 *                 instance restarted);
 *   GET /readyz   readiness: the database answers and the signing keys are loaded; 503 otherwise, and 503 while
 *                 the process drains for shutdown, so a balancer stops sending it requests;
 *   GET /metrics  Prometheus text format (when `metrics` is on).
 */
export async function registerOpsRoutes(app: FastifyInstance, lk: Latchkey, opts: { collectMetrics?: () => Promise<MetricsSnapshot> } = {}): Promise<void> {
  const noStore = 'no-store';

  app.get('/healthz', (_req, reply) => {
    void reply.header('Cache-Control', noStore).type('application/json').send('{"status":"ok"}');
  });

  app.get('/readyz', async (req, reply) => {
    const checks: Record<string, 'ok' | 'failed' | 'draining'> = {};
    if (lk.draining) checks.lifecycle = 'draining';
    try {
      await withTimeout(lk.store.ping(), READY_TIMEOUT_MS);
      checks.database = 'ok';
    } catch (e) {
      checks.database = 'failed';
      req.log.warn({ event: 'readiness_failed', check: 'database', error: (e as Error).message }, 'readiness: database unreachable');
    }
    try {
      const keys = await withTimeout(lk.keys.forTenant(DEFAULT_TENANT), READY_TIMEOUT_MS);
      checks.keys = keys.algs.length > 0 ? 'ok' : 'failed';
    } catch {
      checks.keys = 'failed';
    }
    const ready = Object.values(checks).every((v) => v === 'ok');
    return reply
      .code(ready ? 200 : 503)
      .header('Cache-Control', noStore)
      .type('application/json')
      .send(JSON.stringify({ status: ready ? 'ready' : 'unavailable', checks }));
  });

  if (lk.config.metrics) {
    app.get('/metrics', async (req, reply) => {
      let body: string;
      try {
        body = opts.collectMetrics ? renderSnapshot(await opts.collectMetrics()) : lk.metrics.registry.render();
      } catch (e) {
        // The primary did not answer (shutting down). One worker's figures would look like a counter reset of the
        // cluster's sums, so this scrape fails instead.
        req.log.warn({ event: 'metrics_aggregation_failed', error: (e as Error).message }, 'metrics: the cluster primary did not answer');
        return reply.code(503).header('Cache-Control', noStore).type('text/plain; charset=utf-8').send('metrics unavailable\n');
      }
      return reply.header('Cache-Control', noStore).type(EXPOSITION_CONTENT_TYPE).send(body);
    });
  }
}
