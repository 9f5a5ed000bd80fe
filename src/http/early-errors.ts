import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { resultCodes } from '../engine/result-codes.js';
import { errorPage } from '../ui/html.js';
import { pageHeaders } from './page-headers.js';
import { preEngineErrorCors } from './cors-errors.js';

/*
 * Requests refused before any route runs: by Node's HTTP parser (a NUL or control byte in the request line or a
 * header, broken framing, an unknown method, headers past the size limit) or by Fastify's router (a path with
 * broken percent-encoding, a path parameter past maxParamLength). Fastify's own answers name its error codes
 * (FST_ERR_BAD_URL), echo the path and use its own shape ({"error":"Bad Request","message":"Client Error",
 * "statusCode":400}); these answer in the shape of the endpoint the request was for: the Core API's under /api,
 * an HTML error page for the browser pages, the OAuth error shape everywhere else.
 */

/** What a path answers errors with. Only the path's shape counts: the request is not routed. */
export function errorShapeOf(url: string): 'core' | 'page' | 'json' {
  const path = url.split('?')[0]!;
  if (/^\/api\//.test(path)) return 'core';
  // The sign-in, consent, device, CIBA, two-step set-up, account and logout pages, the demo's callback and the authorization
  // endpoint (a browser's, under any mount or tenant).
  if (/\/(interaction|logout)\/|\/oauth\/(authorize|logout)$|\/(device|ciba|mfa|account)(\/login|\/confirm)?$|\/demo\/callback$|\/assets\//.test(path)) return 'page';
  return 'json';
}

export interface EarlyAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * The answer to a request refused before routing. `base` is the path the pages' assets live under (the default
 * tenant's issuer path), for the error page's stylesheet. `origin`: the request's Origin header, when it can be read
 * (a CORS endpoint's answer is readable by the page that asked: cors-errors.ts).
 */
export function earlyAnswer(url: string, status: number, description: string, base: string, origin?: string): EarlyAnswer {
  const shape = errorShapeOf(url);
  const common = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };
  if (shape === 'core') {
    const body = { action: status >= 500 ? 'INTERNAL_SERVER_ERROR' : 'CALLER_ERROR', resultCode: status >= 500 ? 'LK0001' : 'LK11008', resultMessage: `${status >= 500 ? resultCodes.LK0001 : resultCodes.LK11008} (${description})`, responseContent: '' };
    return { status, headers: { ...common, 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(body) };
  }
  if (shape === 'page') {
    return {
      status,
      headers: { ...common, ...pageHeaders(), 'content-type': 'text/html; charset=utf-8' },
      body:
        status >= 500
          ? errorPage(base, 'Something went wrong', 'The server could not complete this request. Go back to the application and try again.')
          : errorPage(base, 'Invalid request', `This request could not be read (${description}). Go back to the application and start again.`),
    };
  }
  const body = { error: status >= 500 ? 'server_error' : 'invalid_request', error_description: description };
  return { status, headers: preEngineErrorCors(url, origin, { ...common, 'content-type': 'application/json; charset=utf-8' }), body: JSON.stringify(body) };
}

/** Fastify's frameworkErrors option: the router refused the path. */
export function frameworkErrorHandler(base: string) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply): void => {
    const status = err.code === 'FST_ERR_BAD_URL' ? 400 : err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 500;
    if (status === 500) req.log.error({ err }, 'unhandled framework error');
    const description = status === 400 ? 'malformed request path' : status === 414 ? 'request path too long' : 'internal server error';
    const a = earlyAnswer(req.raw.url ?? '', status, description, base, req.headers.origin);
    void reply.code(a.status).headers(a.headers).send(a.body);
  };
}

/**
 * Fastify's clientErrorHandler option: Node's parser refused the request, so there is no request object; the answer
 * is written to the socket (as Node and Fastify do), its shape chosen from the request line when Node kept it.
 */
export function clientErrorHandler(base: string) {
  return (err: Error & { code?: string; rawPacket?: unknown }, socket: Duplex): void => {
    // A reset connection (or one already closed) has nobody to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, description] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'request timed out']
      : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'request headers too large']
      : [400, 'malformed request'];
    const packet = Buffer.isBuffer(err.rawPacket) ? err.rawPacket.subarray(0, 2048).toString('latin1') : '';
    const line = /^[!-~]+ ([!-~]+)/.exec(packet);
    const a = earlyAnswer(line?.[1] ?? '', status, description, base, originInPacket(packet));
    if (socket.writable) {
      const head = Object.entries({ ...a.headers, 'Content-Length': String(Buffer.byteLength(a.body)), Connection: 'close' })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n${a.body}`);
    }
    socket.destroy(err);
  };
}

/**
 * The Origin header of a request Node's parser refused, read from what it kept of the request (best effort: only a
 * whole header line, and only when there is exactly one), for the CORS headers of the answer (cors-errors.ts).
 */
function originInPacket(packet: string): string | undefined {
  const found = [...packet.matchAll(/\r\norigin:[ \t]*([!-~]+)[ \t]*\r\n/gi)];
  return found.length === 1 ? found[0]![1] : undefined;
}
