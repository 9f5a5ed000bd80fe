import { readFileSync } from 'node:fs';
import type { ServerOptions } from 'node:https';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { clientErrorHandler, earlyAnswer, errorShapeOf, frameworkErrorHandler } from './early-errors.js';
import { DEFAULT_TENANT } from '../store/types.js';
import { clientCertificateSource } from './client-certificate.js';
import { createFastPath, type FastPath } from './fast-path.js';
import { hostProblem, rememberRepeatedHeaders, repeatedHeaders } from './raw-headers.js';
import { turnQueue } from './turn.js';
import { ConfigError } from '../config/load.js';
import type { Latchkey } from '../server/latchkey.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerCoreApiRoutes } from './routes/core-api.js';
import { registerProtocolRoutes } from './mount.js';
import { registerOpsRoutes } from './routes/ops.js';
import { isStoreRejectedInput, isStoreUnavailable } from '../store/unavailable.js';
import { internalErrorResult } from '../engine/result.js';
import { sendResult } from './adapt.js';
import { preEngineErrorCors } from './cors-errors.js';
import { REDACT_PATHS, requestIdOf, safeUrl, serializeRequest } from '../ops/log.js';
import type { MetricsSnapshot } from '../ops/metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The engine result code of the reply (set by sendResult), for metrics and the access log. */
    resultCode: string;
  }
}

export interface AppOptions {
  logger?: boolean | Record<string, unknown>;
  /**
   * Where GET /metrics gets its figures: by default this process's registry; a cluster worker passes a function
   * that asks the primary for the sum over all workers.
   */
  collectMetrics?: () => Promise<MetricsSnapshot>;
  /** Where the default logger writes (default stdout); tests read the log lines from here. */
  logStream?: { write(line: string): void };
  /** Fields on every log line besides pid and hostname (a cluster worker adds its number). */
  logFields?: Record<string, unknown>;
  /** Answer the hot endpoints before Fastify routes them (fast-path.ts; default true). Tests compare both ways. */
  fastPath?: boolean;
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

/** Where the default tenant's pages (and their stylesheet) live: its issuer's path. */
const pagesBase = (lk: Latchkey): string => {
  const path = new URL(lk.config.issuer).pathname;
  return path === '/' ? '' : path.replace(/\/$/, '');
};

/**
 * RFC 9112 §3.2: an HTTP/1.1 request without a Host header is answered 400. Node would send an empty 400 itself
 * (requireHostHeader); this one has the shape of the endpoint it was meant for. (No URL is ever built from Host.)
 * So is one with several Host headers or an invalid one (raw-headers.ts hostProblem names which).
 */
function answerWithoutHost(req: IncomingMessage, res: ServerResponse, base: string, problem = 'the Host header is missing'): void {
  req.resume(); // its body, if any, is not read
  const a = earlyAnswer(req.url ?? '', 400, problem, base, req.headers.origin);
  res.writeHead(a.status, { ...a.headers, 'Content-Length': String(Buffer.byteLength(a.body)), Connection: 'close' });
  res.end(a.body);
}

/** The Fastify server options of a Latchkey server (the standalone one, and the one behind createLatchkey's handler). */
export function serverOptions(lk: Latchkey, opts: AppOptions = {}): FastifyServerOptions {
  return {
    logger: opts.logger ?? {
      level: lk.config.logLevel,
      redact: REDACT_PATHS,
      serializers: { req: serializeRequest },
      ...(opts.logStream ? { stream: opts.logStream } : {}),
      ...(opts.logFields ? { base: { pid: process.pid, hostname: hostname(), ...opts.logFields } } : {}),
    },
    // Request ids: an incoming X-Request-Id (from a proxy) when it is a short safe token, else a fresh UUID.
    requestIdHeader: false,
    genReqId: requestIdOf,
    bodyLimit: lk.config.bodyLimit,
    // Per-request lines only at debug/trace: synchronous logging on every request costs more than the request.
    logController: new LogController({ disableRequestLogging: !['debug', 'trace'].includes(lk.config.logLevel) }),
    // Only the configured proxies may say who the client is (X-Forwarded-For); the login rate limit keys on it.
    trustProxy: lk.config.trustedProxies.length ? [...lk.config.trustedProxies] : false,
    // Query strings are handed to the engine raw; Fastify's own parse is only used for routing.
    routerOptions: { maxParamLength: 200 },
    // Requests refused before any route runs get our error shape, not Fastify's own body (FST_ERR_…, "Client Error").
    frameworkErrors: frameworkErrorHandler(pagesBase(lk)),
    clientErrorHandler: clientErrorHandler(pagesBase(lk)),
  };
}

/** The HTTP server: thin adapters from requests to engine inputs and from Results to replies. */
export async function buildApp(lk: Latchkey, opts: AppOptions = {}): Promise<FastifyInstance> {
  const https = httpsOptions(lk);
  const options = serverOptions(lk, opts);
  // The server is ours (Fastify's serverFactory) so that the fast path sees each request first; it is set up as
  // Fastify sets up its own (keep-alive timeout 72 s, no socket timeout) except for the request timeout: a request
  // must arrive whole within requestTimeout, else 408 and the connection closes (a body shorter than its
  // Content-Length would otherwise hold the connection forever). Node checks at most every 30 s.
  let fast: FastPath | undefined;
  const base = pagesBase(lk);
  // Every request is answered in the check phase of the turn that read it, after the parser has read the others
  // (turn.ts): the fast path's engine calls and Fastify's routing alike.
  let log: FastifyBaseLogger | undefined;
  const later = turnQueue((err) => log?.error({ err }, 'unhandled error'));
  const serverFactory = (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      // RFC 9112 §3.2: a missing (HTTP/1.1), repeated or invalid Host is 400, before the fast path or any route.
      // One scan of rawHeaders per request (raw-headers.ts): its mask serves the Host check, the fast path and the routes.
      const repeated = repeatedHeaders(req.rawHeaders);
      const hostIssue = hostProblem(req, repeated);
      if (hostIssue !== undefined) return answerWithoutHost(req, res, base, hostIssue);
      if (fast?.handle(req, res, repeated)) return;
      rememberRepeatedHeaders(req, repeated);
      later(() => {
        try {
          handler(req, res);
        } catch (e) {
          res.destroy();
          throw e;
        }
      });
    };
    // Node answers a request without Host itself, with an empty 400; answerWithoutHost gives it our error shape.
    const timeoutMs = lk.config.requestTimeout * 1000;
    const common = { requireHostHeader: false, requestTimeout: timeoutMs, connectionsCheckingInterval: Math.min(30_000, Math.max(250, timeoutMs / 4)) };
    const server = https ? createHttpsServer({ ...https, ...common }, onRequest) : createHttpServer(common, onRequest);
    server.keepAliveTimeout = 72_000;
    server.setTimeout(0);
    // RFC 9112 §9.6, RFC 9293 §3.6: a client that half-closes after its request still reads the answer. By default
    // Node drops a request whose answer is not yet written when the client's FIN arrives, and ours are written in
    // the check phase (turn.ts); with this flag (node's own, read by its HTTP server) the answer goes out, then the
    // connection closes. A request still incomplete at the FIN ends with the request timeout, as any other.
    (server as { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen = true;
    return server;
  };
  // One instance type for both: routes only see requests, and read the TLS socket through req.raw.socket.
  const app = Fastify({ ...options, serverFactory } as FastifyServerOptions) as unknown as FastifyInstance;
  log = app.log;
  installCommon(app, lk);
  const requestLogging = ['debug', 'trace'].includes(lk.config.logLevel);
  if (opts.fastPath !== false && !lk.config.accessLog && !requestLogging) {
    fast = createFastPath(lk, await lk.context(DEFAULT_TENANT), clientCertificateSource(lk.config), app.log, later);
  }

  app.setNotFoundHandler((req, reply) => {
    const cors = preEngineErrorCors(req.url, req.headers.origin, undefined); // CORS: no client identified (cors-errors.ts)
    if (cors) void reply.headers(cors);
    void reply.code(404).type('application/json').send(JSON.stringify({ error: 'not_found', error_description: 'no such endpoint' }));
  });

  await app.register(async (scope) => {
    await registerOpsRoutes(scope, lk, { collectMetrics: opts.collectMetrics });
    await registerProtocolRoutes(scope, lk); // the default tenant at the root, every other at /t/:service
    await registerAdminRoutes(scope, lk);
    await registerCoreApiRoutes(scope, lk);
  });
  return app;
}

/**
 * What every Latchkey route relies on, in the scope it is registered in (the standalone app's root, or the scope an
 * embedding app mounts Latchkey in): security and request-id headers, metrics and the access log, and an error
 * handler that answers Fastify-level failures in OAuth's shape and never with a stack trace.
 */
export function installCommon(app: FastifyInstance, lk: Latchkey): void {
  // Callback style, not async: an async hook costs a promise per response on every endpoint.
  app.addHook('onSend', (req, reply, payload, done) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('X-Request-Id', req.id);
    // Draining for shutdown: a keep-alive connection closes after this response instead of idling until its timeout.
    if (lk.draining) reply.header('Connection', 'close');
    done(null, payload);
  });

  // Metrics on every response, and (opt-in, accessLog) one info line per request. Callback style, like onSend.
  app.decorateRequest('resultCode', '');
  const m = lk.metrics;
  const accessLog = lk.config.accessLog;
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    const ms = reply.elapsedTime;
    m.http.observe(req.method, route, status, ms / 1000);
    if (req.resultCode) m.results.inc([req.resultCode]);
    if (accessLog) {
      req.log.info(
        { event: 'access', method: req.method, url: safeUrl(req.url, req.routeOptions.url), route, status, ms: Math.round(ms * 100) / 100, ip: req.ip, resultCode: req.resultCode || undefined },
        'request',
      );
    }
    done();
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    // Fastify-level failures (body too large, unparseable body) are client errors with an OAuth-shaped body;
    // anything else is logged and answered generically: never a stack trace to the client.
    // Outside the engine too (the sign-in pages, the admin API): a database that is away is 503 with Retry-After
    // (as the engine answers, LK9501), a value the database refuses (a NUL byte) is the client's 400.
    // Fastify's own client errors (an aborted or malformed body: ECONNRESET with a 4xx statusCode) are not the database.
    const clientError = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500;
    if (reply.raw.headersSent) {
      req.log.error({ err }, 'error after the answer started');
      reply.raw.destroy(); // half an answer is out: nothing can be added to it
      return;
    }
    // Nothing the failed handler set goes out with the error: not a redirect or a cookie meant for success, nor a
    // header value Node refused to write (a Location with a raw non-ASCII character: writing it again would fail
    // again, and Fastify's last resort answers with Node's own message).
    for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
    if (!clientError && isStoreUnavailable(err)) {
      // The engine's own answer for an outage (503, Retry-After, LK9501), so both are the same and counted alike.
      const outage = internalErrorResult('INTERNAL_SERVER_ERROR', err, req.log);
      if (errorShapeOf(req.url) === 'page') {
        // A browser's page (sign-in, consent, device, logout, the authorization endpoint) gets an error page, as for
        // any other failure there, not the back channel's JSON.
        req.resultCode = outage.resultCode;
        const a = earlyAnswer(req.url, 503, 'temporarily unavailable', pagesBase(lk));
        void reply.code(a.status).headers({ ...a.headers, 'Retry-After': outage.headers?.['Retry-After'] ?? '1' }).send(a.body);
        return;
      }
      outage.headers = preEngineErrorCors(req.url, req.headers.origin, outage.headers); // CORS: no client identified (cors-errors.ts)
      void sendResult(reply, outage);
      return;
    }
    const status = clientError ? err.statusCode! : isStoreRejectedInput(err) ? 400 : 500;
    if (status === 500) req.log.error({ err }, 'unhandled error');
    const description =
      err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'request body too large'
      : status === 500 ? 'internal server error'
      : 'malformed request';
    // The browser pages answer with an HTML error page (early-errors.ts), the other endpoints with OAuth's shape.
    if (errorShapeOf(req.url) === 'page') {
      const a = earlyAnswer(req.url, status, description, pagesBase(lk));
      void reply.code(a.status).headers(a.headers).send(a.body);
      return;
    }
    // CORS: a failure before the endpoint ran identifies no client; a CORS endpoint's page may read it (cors-errors.ts).
    const cors = preEngineErrorCors(req.url, req.headers.origin, undefined);
    if (cors) void reply.headers(cors);
    void reply
      .code(status)
      .header('Cache-Control', 'no-store')
      .type('application/json')
      .send(JSON.stringify({ error: status === 500 ? 'server_error' : 'invalid_request', error_description: description }));
  });
}
