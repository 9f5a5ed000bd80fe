import { readFileSync } from 'node:fs';
import type { Server, ServerOptions } from 'node:https';
import { resolve } from 'node:path';
import Fastify, { LogController, type FastifyError, type FastifyHttpsOptions, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { ConfigError } from '../config/load.js';
import type { Latchkey } from '../server/latchkey.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerCoreApiRoutes } from './routes/core-api.js';
import { registerOAuthRoutes } from './routes/oauth.js';
import { registerUiRoutes } from './routes/ui.js';
import { registerWellKnownRoutes } from './routes/well-known.js';

export interface AppOptions {
  logger?: boolean | Record<string, unknown>;
}

/**
 * HTTPS options when tlsCert/tlsKey are configured. Client certificates are requested but not required
 * (RFC 8705 §2: only clients registered for a certificate method need one) and not verified by the TLS layer:
 * self-signed ones are legitimate (§2.2), and the engine checks each against the client's registration.
 */
function httpsOptions(lk: Latchkey): ServerOptions | undefined {
  const { tlsCert, tlsKey, tlsClientCa } = lk.config;
  if (!tlsCert || !tlsKey) return undefined;
  const read = (path: string, option: string) => {
    try {
      return readFileSync(resolve(path));
    } catch (e) {
      throw new ConfigError(`cannot read ${option} ${path}: ${(e as Error).message}`);
    }
  };
  return {
    cert: read(tlsCert, 'tlsCert'),
    key: read(tlsKey, 'tlsKey'),
    // Sent to clients as the acceptable issuers of their certificate.
    ...(tlsClientCa ? { ca: read(tlsClientCa, 'tlsClientCa') } : {}),
    requestCert: true,
    rejectUnauthorized: false,
  };
}

/** The HTTP server: thin adapters from requests to engine inputs and from Results to replies. */
export async function buildApp(lk: Latchkey, opts: AppOptions = {}): Promise<FastifyInstance> {
  const https = httpsOptions(lk);
  const options: FastifyServerOptions = {
    logger: opts.logger ?? { level: lk.config.logLevel, redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers.dpop'] },
    bodyLimit: lk.config.bodyLimit,
    // Per-request lines only at debug/trace: synchronous logging on every request costs more than the request.
    logController: new LogController({ disableRequestLogging: !['debug', 'trace'].includes(lk.config.logLevel) }),
    trustProxy: false,
    // Query strings are handed to the engine raw; Fastify's own parse is only used for routing.
    routerOptions: { maxParamLength: 200 },
  };
  // One instance type for both: routes only see requests, and read the TLS socket through req.raw.socket.
  const app = (https ? Fastify({ ...options, https } as FastifyHttpsOptions<Server>) : Fastify(options)) as unknown as FastifyInstance;

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
    await registerAdminRoutes(scope, lk);
    await registerCoreApiRoutes(scope, lk);
  });
  return app;
}
