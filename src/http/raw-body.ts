import type { FastifyInstance } from 'fastify';

/*
 * Scopes whose handlers take the body as received, whatever its content type, and leave the content type to the
 * engine (RFC 6749 §5.2: an OAuth error, not Fastify's). Fastify itself refuses a Content-Type it cannot parse as a
 * media type (an empty value, `a/b/c`, a list) with its own 415 (FST_ERR_CTP_INVALID_MEDIA_TYPE) before any parser
 * runs, so such a value is set aside for the parse and put back before the handler sees the request.
 */

const ORIGINAL = Symbol('latchkey.contentType');
const TOKEN = /^[\w!#$%&'*+.^`|~-]+$/;
const TOKEN_THEN_SPACE = /^[\w!#$%&'*+.^`|~-]+\s*$/;
/** The methods Fastify reads no body for (a Content-Type on them is never parsed). */
const BODYLESS = new Set(['GET', 'HEAD', 'TRACE']);

/**
 * Whether Fastify refuses this Content-Type value as a media type (its lib/content-type.js rule: type "/" subtype of
 * tokens before any ";", parameters never matter). test/http/raw-body.test.ts checks this against Fastify's own.
 */
export function unparseableMediaType(value: string): boolean {
  // The common cases, without slicing or trimming.
  if (value === 'application/x-www-form-urlencoded' || value === 'application/json') return false;
  if (value === '' || value === 'undefined') return true;
  const semi = value.indexOf(';');
  const media = semi < 0 ? value : value.slice(0, semi);
  const slash = media.indexOf('/');
  if (slash < 0) return true;
  return !TOKEN.test(media.slice(0, slash).trimStart()) || !TOKEN_THEN_SPACE.test(media.slice(slash + 1).trimEnd());
}

/** In this scope every body reaches the handler as a string, with the Content-Type header exactly as received. */
export function rawBodies(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    const raw = req.raw as unknown as Record<symbol, string | undefined>;
    const original = raw[ORIGINAL];
    if (original !== undefined) req.raw.headers['content-type'] = original;
    done(null, body);
  });
  // Callback style: an async hook costs a promise per request.
  scope.addHook('onRequest', (req, _reply, done) => {
    const type = req.raw.headers['content-type'];
    if (type !== undefined && !BODYLESS.has(req.raw.method ?? '') && unparseableMediaType(type)) {
      (req.raw as unknown as Record<symbol, string>)[ORIGINAL] = type;
      req.raw.headers['content-type'] = 'application/octet-stream'; // any valid type: the only parser is '*'
    }
    done();
  });
}
