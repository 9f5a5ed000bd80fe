import type { FastifyReply } from 'fastify';
import type { Result } from '../engine/result.js';

/** An HTTP answer, transport-neutral: what Fastify, the fast path and the library's respond() each write. */
export interface HttpAnswer {
  status: number;
  /** The engine's headers, plus `content-type` whenever there is a body. */
  headers: Record<string, string>;
  /** undefined: no body and no Content-Type (a redirect, or the empty 200 of RFC 7009 §2.2). */
  body: string | undefined;
}

/**
 * Result -> HTTP answer: the one mapping. Mechanical on purpose: every protocol decision (status, headers, body)
 * was made by the engine. Text is typed as Fastify types a string (a charset for HTML and JSON types, text/plain
 * when the engine named no type), so every transport sends the same bytes.
 */
export function toHttp(result: Result): HttpAnswer {
  const headers: Record<string, string> = { ...result.headers };
  if (result.headers?.Location !== undefined) return { status: result.status, headers, body: undefined };
  if (result.responseContent === '' && !result.contentType) return { status: result.status, headers, body: undefined }; // an empty 200 (RFC 7009 §2.2) has no type
  headers['content-type'] = !result.contentType ? 'text/plain; charset=utf-8' : result.contentType === 'text/html' ? 'text/html; charset=utf-8' : typed(result.contentType);
  return { status: result.status, headers, body: result.responseContent };
}

/** As Fastify's reply.send types a string: JSON media types without a charset get `; charset=utf-8`. */
export function typed(type: string): string {
  const semi = type.indexOf(';');
  const media = semi < 0 ? type : type.slice(0, semi);
  return media.includes('json') && !/;\s*charset=/i.test(type) ? `${type}; charset=utf-8` : type;
}

/** Result -> Fastify reply, through toHttp. */
export function sendResult(reply: FastifyReply, result: Result): FastifyReply {
  reply.request.resultCode = result.resultCode; // for metrics and the access log
  const answer = toHttp(result);
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}

/** Header value as one string (Node joins repeated headers for most names; arrays only for set-cookie). */
export function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}
