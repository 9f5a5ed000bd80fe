import Fastify, { LogController, type FastifyInstance, type FastifyError } from 'fastify';
import type { Latchkey } from '../server/latchkey.js';
import { registerOAuthRoutes } from './routes/oauth.js';
import { registerUiRoutes } from './routes/ui.js';
import { registerWellKnownRoutes } from './routes/well-known.js';

export interface AppOptions {
  logger?: boolean | Record<string, unknown>;
}

/** The HTTP server: thin adapters from requests to engine inputs and from Results to replies. */
export async function buildApp(lk: Latchkey, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? { level: lk.config.logLevel, redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers.dpop'] },
    bodyLimit: lk.config.bodyLimit,
    // Per-request lines only at debug/trace: synchronous logging on every request costs more than the request.
    logController: new LogController({ disableRequestLogging: !['debug', 'trace'].includes(lk.config.logLevel) }),
    trustProxy: false,
    // Query strings are handed to the engine raw; Fastify's own parse is only used for routing.
    routerOptions: { maxParamLength: 200 },
  });

  // Callback style, not async: an async hook costs a promise per response on every endpoint.
  app.addHook('onSend', (_req, reply, payload, done) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    done(null, payload);
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    // Fastify-level failures (body too large, unparseable body) are client errors with an OAuth-shaped body;
    // anything else is logged and answered generically: never a stack trace to the client.
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'unhandled error');
    const description =
      err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'request body too large'
      : status === 500 ? 'internal server error'
      : 'malformed request';
    void reply
      .code(status)
      .header('Cache-Control', 'no-store')
      .type('application/json')
      .send(JSON.stringify({ error: status === 500 ? 'server_error' : 'invalid_request', error_description: description }));
  });

  app.setNotFoundHandler((_req, reply) => {
    void reply.code(404).type('application/json').send(JSON.stringify({ error: 'not_found', error_description: 'no such endpoint' }));
  });

  await app.register(async (scope) => {
    await registerWellKnownRoutes(scope, lk);
    await registerOAuthRoutes(scope, lk);
    await registerUiRoutes(scope, lk);
  });
  return app;
}
