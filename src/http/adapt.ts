import type { FastifyReply } from 'fastify';
import type { Result } from '../engine/result.js';

/** Result -> reply. Mechanical on purpose: every protocol decision (status, headers, body) was made by the engine. */
export function sendResult(reply: FastifyReply, result: Result): FastifyReply {
  reply.request.resultCode = result.resultCode; // for metrics and the access log
  reply.code(result.status);
  if (result.headers) reply.headers(result.headers);
  if (result.headers?.Location !== undefined) return reply.send();
  if (result.responseContent === '' && !result.contentType) return reply.send(); // an empty 200 (RFC 7009 §2.2) has no type
  if (result.contentType) reply.type(result.contentType === 'text/html' ? 'text/html; charset=utf-8' : result.contentType);
  return reply.send(result.responseContent);
}

/** Header value as one string (Node joins repeated headers for most names; arrays only for set-cookie). */
export function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}
