import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../engine/errors.js';
import { errorResult } from '../engine/result.js';
import { sendResult } from './adapt.js';

/**
 * The endpoints that take POST only: token (RFC 6749 §3.2), introspection (RFC 7662 §2.1), revocation (RFC 7009 §2.1),
 * pushed authorization requests (RFC 9126 §2.1), device authorization (RFC 8628 §3.1) and registration (RFC 7591 §3.1).
 */
export const POST_ONLY_ENDPOINTS = ['/oauth/token', '/oauth/introspect', '/oauth/revoke', '/oauth/par', '/oauth/device_authorization', '/oauth/register'];

/** The other methods Fastify routes; HEAD comes with GET (exposeHeadRoutes). */
export const METHODS_NOT_ALLOWED = ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/**
 * RFC 9126 §2.3: a request to the PAR endpoint that did not use POST is answered 405, and a 405 must name the allowed
 * methods in Allow (RFC 9110 §15.5.6); the other POST-only endpoints answer the same way (not 404: the resource exists).
 */
export function answerMethodNotAllowed(scope: FastifyInstance, paths: readonly string[]): void {
  for (const url of paths) scope.route({ method: [...METHODS_NOT_ALLOWED], url, handler: methodNotAllowed });
}

/** The engine's error answer (its body, no-store headers and result code), with the status and Allow of a 405. */
function methodNotAllowed(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = new OAuthError('invalid_request', `${req.method} is not allowed here: use POST`, { resultCode: 'LK0090', status: 405, headers: { Allow: 'POST' } });
  return sendResult(reply, errorResult(e, () => 'BAD_REQUEST'));
}
