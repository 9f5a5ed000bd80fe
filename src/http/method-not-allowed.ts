import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../engine/errors.js';
import { errorResult } from '../engine/result.js';
import { header, sendResult } from './adapt.js';
import { CORS_ENDPOINTS, corsPreflight } from '../engine/cors.js';
import { CORS_ENDPOINT_PATHS, preEngineErrorCors } from './cors-errors.js';

/**
 * The endpoints that take POST only: token (RFC 6749 §3.2), introspection (RFC 7662 §2.1), revocation (RFC 7009 §2.1),
 * pushed authorization requests (RFC 9126 §2.1), device authorization (RFC 8628 §3.1) and registration (RFC 7591 §3.1).
 */
export const POST_ONLY_ENDPOINTS = ['/oauth/token', '/oauth/introspect', '/oauth/revoke', '/oauth/par', '/oauth/device_authorization', '/oauth/bc-authorize', '/oauth/register'];

/** The other methods Fastify routes; HEAD comes with GET (exposeHeadRoutes). */
export const METHODS_NOT_ALLOWED = ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/**
 * RFC 9126 §2.3: a request to the PAR endpoint that did not use POST is answered 405, and a 405 must name the allowed
 * methods in Allow (RFC 9110 §15.5.6); the other POST-only endpoints answer the same way (not 404: the resource exists).
 */
export function answerMethodNotAllowed(scope: FastifyInstance, paths: readonly string[]): void {
  for (const url of paths) {
    // A CORS preflight at an endpoint a browser client may call is answered by the engine (cors.ts), not refused.
    const cors = Object.hasOwn(CORS_ENDPOINT_PATHS, url) ? CORS_ENDPOINT_PATHS[url] : undefined;
    scope.route({ method: [...METHODS_NOT_ALLOWED], url, handler: cors ? (req, reply) => sendPreflight(req, reply, CORS_ENDPOINTS[cors]) ?? methodNotAllowed(req, reply) : methodNotAllowed });
  }
}


/** The engine's answer to an OPTIONS request that is a CORS preflight (cors.ts corsPreflight), or undefined. */
export function sendPreflight(req: FastifyRequest, reply: FastifyReply, methods: string): FastifyReply | undefined {
  if (req.method !== 'OPTIONS') return undefined;
  const result = corsPreflight(methods, { origin: req.headers.origin, requestMethod: header(req.headers['access-control-request-method']) });
  return result && sendResult(reply, result);
}

/** The engine's error answer (its body, no-store headers and result code), with the status and Allow of a 405. */
function methodNotAllowed(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = new OAuthError('invalid_request', `${req.method} is not allowed here: use POST`, { resultCode: 'LK0090', status: 405, headers: { Allow: 'POST' } });
  const result = errorResult(e, () => 'BAD_REQUEST');
  result.headers = preEngineErrorCors(req.url, req.headers.origin, result.headers); // CORS: no client named (cors-errors.ts)
  return sendResult(reply, result);
}
