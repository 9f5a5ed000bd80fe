import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * What our logs may say about a request. URLs carry secrets in places: interaction and logout tickets are path
 * segments, the demo callback receives `code`, RP-initiated logout receives `id_token_hint`, and any query may
 * carry a `login_hint` (personal data). So a logged URL shows the route pattern instead of path parameters, and
 * of the query only the names, plus the values of a few parameters that are never secret.
 */
const SHOWN_QUERY_VALUES = new Set([
  'client_id', 'response_type', 'response_mode', 'scope', 'prompt', 'max_age', 'code_challenge_method', 'display', 'ui_locales', 'error',
]);

export function safeUrl(rawUrl: string | undefined, route?: string): string {
  const url = rawUrl ?? '';
  const q = url.indexOf('?');
  const path = q >= 0 ? url.slice(0, q) : url;
  // A matched route with parameters is logged as its pattern (/interaction/:ticket), never with the values.
  const shownPath = route && route.includes(':') ? route : path.slice(0, 200);
  if (q < 0) return shownPath;
  const parts: string[] = [];
  for (const pair of url.slice(q + 1).split('&').slice(0, 30)) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const name = (eq >= 0 ? pair.slice(0, eq) : pair).slice(0, 40);
    parts.push(SHOWN_QUERY_VALUES.has(name) && eq >= 0 ? `${name}=${pair.slice(eq + 1, eq + 1 + 100)}` : `${name}=*`);
  }
  return `${shownPath}?${parts.join('&')}`;
}

/** An incoming X-Request-Id is adopted only when it is a short token of safe characters (no log injection). */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function requestIdOf(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** pino serializer for `req`: method, sanitised URL and peer; never headers (Authorization, Cookie, DPoP). */
export function serializeRequest(req: { method?: string; url?: string; ip?: string; routeOptions?: { url?: string }; socket?: { remoteAddress?: string } }) {
  return {
    method: req.method,
    url: safeUrl(req.url, req.routeOptions?.url),
    remoteAddress: req.ip ?? req.socket?.remoteAddress,
  };
}

/**
 * Header paths redacted should anything log a raw request or response: credentials (Authorization, DPoP proofs),
 * session cookies both ways.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers.dpop',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
];
