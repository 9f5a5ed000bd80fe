import type { ClientRecord } from '../store/types.js';
import { clientNamedBy } from './client-auth.js';
import type { EngineContext } from './context.js';
import type { Result } from './result.js';
import { resultCodes } from './result-codes.js';

/*
 * CORS (Fetch standard, "CORS protocol") for browser-based clients (draft-ietf-oauth-browser-based-apps): which
 * cross-origin pages may READ our answers. CORS is no access control: a request is processed exactly as without
 * it (a non-browser caller sends no Origin at all); it only decides whether the browser hands the answer to the
 * page that asked. Nothing here uses cookies, so Access-Control-Allow-Credentials is never sent.
 *
 * - Public documents (discovery, RFC 8414 metadata, JWKS): `Access-Control-Allow-Origin: *`, always (they are the
 *   same for everyone, so nothing depends on Origin and no Vary is needed).
 * - The endpoints a browser client calls with its own credentials or tokens (CORS_ENDPOINTS): the request's Origin
 *   is echoed only when the client the request names may be called from it (allowedOrigins), except on an error
 *   answer for which no client could be identified, which any web origin may read (unidentifiedErrorCors). The introspection
 *   endpoint is not among them: it is a resource server's back channel (RFC 7662 §2.1), public clients cannot use
 *   it here, and a page that could call it would hold a client secret. Nor are registration, the Core API and the
 *   admin API (server to server), or the authorization and logout endpoints (navigations, not fetches).
 * - A preflight carries no client identity, so it is answered the same for every origin (corsPreflight): it opens
 *   nothing, since the actual response without Access-Control-Allow-Origin stays unreadable by the page.
 */

/** The endpoints a browser-based client may call cross-origin, with the methods each takes. */
export const CORS_ENDPOINTS = {
  token: 'POST', // RFC 6749 §3.2
  revocation: 'POST', // RFC 7009 §2.1
  par: 'POST', // RFC 9126 §2: a public client may push its authorization request too
  device_authorization: 'POST', // RFC 8628 §3.1: browser apps on input-constrained devices (TVs)
  userinfo: 'GET, POST', // OIDC Core §5.3.1
} as const;

export type CorsEndpoint = keyof typeof CORS_ENDPOINTS;

/** The headers of a public document's answer: readable from any origin. */
export const PUBLIC_DOCUMENT_CORS: Readonly<Record<string, string>> = { 'Access-Control-Allow-Origin': '*' };

/**
 * Request headers a page may send (besides the CORS-safelisted ones): Authorization (HTTP Basic client
 * authentication, RFC 6749 §2.3.1; a bearer or DPoP access token, RFC 6750 §2.1, RFC 9449 §7.1), Content-Type (a
 * JSON Accept or a form body with a charset can make it non-safelisted) and DPoP (RFC 9449 §4.1).
 */
const ALLOWED_REQUEST_HEADERS = 'Authorization, Content-Type, DPoP';

/**
 * Response headers a page must be able to read beyond the CORS-safelisted ones: the challenge of a refusal
 * (RFC 6750 §3, RFC 9449 §7.1), the DPoP nonce to use next (RFC 9449 §8.2, §9) and when to retry (rate limits, 503).
 */
const EXPOSED_RESPONSE_HEADERS = 'WWW-Authenticate, DPoP-Nonce, Retry-After';

/** How long a browser may reuse a preflight answer, seconds (Chromium caps it at 7200). The answer never changes. */
export const PREFLIGHT_MAX_AGE = 7200;

/**
 * The ASCII serialization of a URI's origin (RFC 6454 §6.2, as browsers send it in Origin) for an http(s) URI, else
 * undefined: other schemes (a native app's private-use scheme) have an opaque origin, which no page can send.
 */
export function originOf(uri: string): string | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return undefined;
  }
  return u.protocol === 'https:' || u.protocol === 'http:' ? u.origin : undefined;
}

/**
 * Whether a registered allowed_cors_origins value is an origin exactly as a browser serializes it: http(s), a host,
 * a port only when not the default one, nothing else (no path, not even "/", no query, fragment or user info), in
 * lower case. Returns the canonical form to suggest when the value is a URL that has one, and why not otherwise.
 */
export function checkOriginValue(value: string): { ok: true } | { ok: false; why: string } {
  if (value === '*' || value.includes('*')) return { ok: false, why: 'wildcards are not accepted: list each origin (the endpoints answer per client, never to any origin)' };
  if (value === 'null') return { ok: false, why: '"null" is the origin of sandboxed and file: pages, which any page can be' };
  const canonical = originOf(value);
  if (canonical === undefined || canonical === 'null') return { ok: false, why: 'is not an http(s) origin (scheme://host[:port])' };
  if (canonical !== value) return { ok: false, why: `is not an origin as browsers send it: use ${canonical} (no path or trailing slash, lower case, no default port)` };
  return { ok: true };
}

const derivedOrigins = new WeakMap<ClientRecord, ReadonlySet<string>>();
const explicitOrigins = new WeakMap<ClientRecord, ReadonlySet<string>>();

/**
 * The origins whose pages may read this client's answers at `endpoint`:
 * - its allowed_cors_origins, at every CORS endpoint (the operator or the client named them: Hydra's
 *   allowed_cors_origins, Keycloak's Web Origins);
 * - the origins of its redirect URIs (Keycloak's "+", node-oidc-provider's default clientBasedCORS) where a page at
 *   those origins is plausibly the caller: at UserInfo for every web client (it authenticates with the access
 *   token, which a web application may hand to its own pages), and at the other endpoints for public clients only
 *   (token_endpoint_auth_method none): a confidential client's requests come from its back end, which sends no
 *   Origin, and a page holding its secret would be a leak. Native clients' redirect URIs are not pages that call
 *   us (RFC 8252), so they give no origin.
 */
export function allowedOrigins(client: ClientRecord, endpoint: CorsEndpoint): ReadonlySet<string> {
  const derive = client.applicationType !== 'native' && (endpoint === 'userinfo' || client.tokenEndpointAuthMethod === 'none');
  const cache = derive ? derivedOrigins : explicitOrigins;
  let set = cache.get(client);
  if (!set) {
    const s = new Set(client.allowedCorsOrigins ?? []);
    if (derive) for (const uri of client.redirectUris) {
      const o = originOf(uri);
      if (o !== undefined && o !== 'null') s.add(o);
    }
    set = s;
    cache.set(client, set);
  }
  return set;
}

/**
 * Whether an Origin header value may be echoed at all: a web origin exactly as a browser serializes it (RFC 6454
 * §6.2, http or https). Never "null" (sandboxed, file: and data: pages: any page can make itself one), nor a
 * malformed value or several origins joined (Node joins a repeated Origin header with ", ").
 */
export function isWebOrigin(origin: string): boolean {
  return origin !== 'null' && originOf(origin) === origin;
}

/** The headers that let the page at `origin` read an answer (and its challenge, DPoP nonce, Retry-After). */
const readableBy = (origin: string): Record<string, string> => ({ 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': EXPOSED_RESPONSE_HEADERS, Vary: 'Origin' });

/**
 * The CORS headers of an ERROR answer at a CORS endpoint for which no client could be identified: the request named
 * no client or an unknown one, presented a token we hold no record of, or failed before the engine ran (body too
 * large, a request the HTTP parser or router refused, the database away). Any web origin may read it (as Keycloak
 * answers errors raised before the client is known), never with credentials.
 *
 * Why this discloses nothing: such an answer holds only the error code, its description and the challenge
 * (WWW-Authenticate, DPoP-Nonce, Retry-After); no cookie is involved, and the request was processed exactly as
 * without Origin, so a page learns nothing it could not learn by sending the same request from its own server. What
 * it gains is a browser-based client that can show why it failed and react to the challenge
 * (draft-ietf-oauth-browser-based-apps) instead of a bare network error.
 *
 * Once a client is identified its own origins decide, on errors too (corsHeaders): a page at another origin cannot
 * read that client's refusals either, so allowed_cors_origins keeps its meaning, and success answers are never widened.
 */
export function unidentifiedErrorCors(origin: string): Record<string, string> {
  return isWebOrigin(origin) ? readableBy(origin) : { Vary: 'Origin' };
}

/**
 * An error answer's headers, made before the engine ran (http layer: cors-errors.ts), with the CORS headers of
 * unidentifiedErrorCors added when the request came with an Origin; as they were otherwise.
 */
export function withUnidentifiedErrorCors(origin: string | undefined, headers: Record<string, string> | undefined): Record<string, string> | undefined {
  return origin === undefined ? headers : mergeCors(headers, unidentifiedErrorCors(origin));
}

/** `headers` with the CORS ones added; an answer that already varies on other request headers (Vary: Accept) keeps them. */
function mergeCors(headers: Record<string, string> | undefined, cors: Record<string, string>): Record<string, string> {
  const vary = headers?.Vary;
  if (vary !== undefined && cors.Vary !== undefined) cors.Vary = `${vary}, ${cors.Vary}`;
  return { ...headers, ...cors };
}

/**
 * The CORS headers of an answer at `endpoint` to a request from `origin` naming `clientId`, `error` when the answer
 * is a refusal (status 400 and up). Vary: Origin always, as the answer depends on it.
 * - A client is identified (it exists: whether the request authenticated it does not matter, the answer is for the
 *   pages of the client the request claims to come from): the origin is echoed, on success and error alike, when
 *   that client may be called from it (allowedOrigins). Its error answers stay unreadable to other origins: a page
 *   at an origin the client did not list gets nothing from its endpoints, so listing origins keeps its meaning.
 * - No client is identified: an error answer is readable by any web origin (unidentifiedErrorCors); a success
 *   answer (none of these endpoints gives one without a client, but the rule must not depend on it) by none.
 * The request itself was processed as without Origin. An answer to a request without Origin gets no Vary: every
 * answer of these endpoints is Cache-Control: no-store, so no cache can serve it to a page, and the hot path
 * (http/fast-path.ts) does no CORS work for the non-browser callers that make most requests.
 */
export async function corsHeaders(ctx: EngineContext, endpoint: CorsEndpoint, origin: string, clientId: string | undefined, error = false): Promise<Record<string, string>> {
  const client = clientId !== undefined && clientId.length <= 255 ? await ctx.store.findClient(ctx.tenant.id, clientId) : undefined;
  if (!client) return error ? unidentifiedErrorCors(origin) : { Vary: 'Origin' };
  return allowedOrigins(client, endpoint).has(origin) ? readableBy(origin) : { Vary: 'Origin' };
}

/**
 * A Result with the CORS headers of its answer added (corsHeaders). When the decision fails (the database is away)
 * no client could be identified: an error answer (most likely the engine's own 503) gets unidentifiedErrorCors, a
 * success none.
 */
export async function withCorsHeaders<R extends Result>(ctx: EngineContext, endpoint: CorsEndpoint, origin: string, clientId: string | undefined, result: R): Promise<R> {
  const error = result.status >= 400;
  let headers: Record<string, string>;
  try {
    headers = await corsHeaders(ctx, endpoint, origin, clientId, error);
  } catch (e) {
    ctx.log?.warn({ err: e }, 'cors: could not look the client up; answering as for no client identified');
    headers = error ? unidentifiedErrorCors(origin) : { Vary: 'Origin' };
  }
  return { ...result, headers: mergeCors(result.headers, headers) };
}

/**
 * A back-channel engine endpoint that also answers CORS: a request without Origin reaches `engine` with no other
 * work; one with Origin gets the headers for the client it names (clientNamedBy), on success and on failure alike
 * (corsHeaders: a failure naming no known client is readable by any web origin).
 */
export function withCors<I extends { parameters: string; authorization?: string; origin?: string }, R extends Result>(
  endpoint: Exclude<CorsEndpoint, 'userinfo'>,
  engine: (input: I, ctx: EngineContext) => Promise<R>,
): (input: I, ctx: EngineContext) => Promise<R> {
  return (input, ctx) => {
    if (input.origin === undefined) return engine(input, ctx);
    const origin = input.origin;
    return engine(input, ctx).then((result) => withCorsHeaders(ctx, endpoint, origin, clientNamedBy(input), result));
  };
}

/** What a preflight request says (Fetch §3.2.2): its Origin and Access-Control-Request-Method headers. */
export interface PreflightInput {
  origin?: string;
  requestMethod?: string;
}

/**
 * The answer to an OPTIONS request at a CORS endpoint or public document when it is a CORS preflight (Origin and
 * Access-Control-Request-Method present), else undefined (the endpoint answers OPTIONS as before).
 *
 * Every origin gets the same answer (`*`): a preflight carries no credentials and no body, so nothing names a client
 * yet. It opens nothing: a page could already send a simple form POST; what it gains is sending Authorization and
 * DPoP headers, which it must know the values of, and the actual answer stays unreadable unless that answer allows
 * the origin. Credentialed requests (cookies) fail the preflight, as they should: no answer allows credentials.
 */
export function corsPreflight(methods: string, input: PreflightInput): Result | undefined {
  if (input.origin === undefined || input.requestMethod === undefined) return undefined;
  return {
    action: 'PREFLIGHT',
    resultCode: 'LK7201',
    resultMessage: resultCodes.LK7201,
    responseContent: '',
    status: 204,
    headers: {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Methods': methods,
      'Access-Control-Allow-Headers': ALLOWED_REQUEST_HEADERS,
      'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE),
    },
  };
}
