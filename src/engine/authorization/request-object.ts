import { decodeProtectedHeader, jwtVerify, UnsecuredJWT, type JWTPayload } from 'jose';
import { typIsAbsentOrOneOf } from '../objects.js';
import type { ClientRecord } from '../../store/types.js';
import { clientKeySet } from '../client-keys.js';
import type { EngineContext } from '../context.js';
import { OAuthError } from '../errors.js';
import { Params } from '../params.js';
import { fetchBounded } from '../remote.js';

/** RFC 9126 §2.2: the request_uri the PAR endpoint returns is this URN plus a 256-bit handle. */
export const PAR_URN_PREFIX = 'urn:ietf:params:oauth:request_uri:';

/**
 * Algorithms a request object may be signed with. Asymmetric only: client secrets are stored hashed, so an
 * HMAC-signed request object could not be verified. `none` from clients that registered request_object_signing_alg
 * "none" or no alg at all (OIDC Registration §2: then any supported alg may be used), never from one that
 * registered a signing alg.
 */
export const REQUEST_OBJECT_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

/** RFC 9101 §4: explicit typing is recommended; an untyped or generic JWT is accepted from OIDC clients. */
const ACCEPTED_TYP = ['oauth-authz-req+jwt', 'jwt'];

const invalidObject = (description: string, detail?: string) =>
  new OAuthError('invalid_request_object', description, { resultCode: 'LK7008', detail });

/**
 * RFC 9101 §6.1, §6.2: verify a request object with the client's registered keys and the client's registered
 * alg (any supported asymmetric alg when it registered none). iss, when present, must be the client; aud, when
 * present, must name this issuer; exp and nbf, when present, must hold (30 s tolerance).
 */
export async function verifyRequestObject(ctx: EngineContext, client: ClientRecord, jwt: string): Promise<JWTPayload> {
  if (jwt.length > 32 * 1024) throw invalidObject('request object too large');
  const parts = jwt.split('.');
  if (parts.length === 5) throw invalidObject('encrypted request objects are not supported');
  if (parts.length !== 3) throw invalidObject('request object is not a compact JWS');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jwt);
  } catch {
    throw invalidObject('request object header is malformed');
  }
  if (!typIsAbsentOrOneOf(header.typ, ACCEPTED_TYP)) {
    throw invalidObject('request object typ must be oauth-authz-req+jwt'); // RFC 9101 §10.8: no cross-JWT confusion
  }
  const registered = client.requestObjectSigningAlg;
  const options = { currentDate: new Date(ctx.clock()), clockTolerance: 30 };
  let payload: JWTPayload;
  if (header.alg === 'none') {
    // OIDC Registration §2: with no request_object_signing_alg registered, "any algorithm supported by the OP and
    // the RP MAY be used", and none is among ours. An unsigned object is worth exactly what plain parameters are
    // worth, and is treated so; a client that registered a signing alg never has unsigned objects accepted.
    if (registered !== 'none' && registered !== undefined) throw invalidObject('unsigned request objects are not accepted from this client');
    if (parts[2] !== '') throw invalidObject('an unsigned request object has an empty signature');
    try {
      payload = UnsecuredJWT.decode(jwt, options).payload;
    } catch (e) {
      throw invalidObject('request object claims are invalid', (e as Error).message);
    }
  } else {
    if (registered === 'none') throw invalidObject('this client registered unsigned request objects'); // OIDC Registration §2
    const algorithms = registered ? [registered] : [...REQUEST_OBJECT_ALGS];
    if (!header.alg || !algorithms.includes(header.alg)) throw invalidObject(`request object alg ${String(header.alg).slice(0, 20)} is not accepted`);
    let keys: ReturnType<typeof clientKeySet>;
    try {
      keys = clientKeySet(client, ctx.clients?.keySet);
    } catch (e) {
      throw invalidObject('the client\'s jwks_uri cannot be used', (e as Error).message);
    }
    if (!keys) {
      throw new OAuthError('invalid_request_object', 'the client has no registered keys to verify request objects with', { resultCode: 'LK7010' });
    }
    try {
      payload = (await jwtVerify(jwt, keys, { ...options, algorithms })).payload;
    } catch (e) {
      throw invalidObject('request object signature or claims are invalid', (e as Error).message);
    }
  }
  if (payload.iss !== undefined && payload.iss !== client.clientId) throw invalidObject('request object iss must be the client_id');
  if (payload.aud !== undefined) {
    const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!aud.includes(ctx.tenant.issuer)) throw invalidObject('request object aud must be this issuer');
  }
  return payload;
}

/**
 * The authorization request parameters a request object carries (RFC 9101 §6.3): its claims, with JSON values
 * (claims, max_age) turned back into parameter strings. client_id must match the one sent; request and
 * request_uri inside are refused (§4: no nesting).
 */
export function requestObjectParams(claims: JWTPayload, clientId: string): Params {
  if (claims.client_id !== undefined && claims.client_id !== clientId) {
    throw new OAuthError('invalid_request_object', 'client_id in the request object differs from the client_id sent', { resultCode: 'LK7027' });
  }
  if ('request' in claims || 'request_uri' in claims) {
    throw new OAuthError('invalid_request_object', 'a request object cannot contain request or request_uri', { resultCode: 'LK7009' });
  }
  const rec: Record<string, string | string[] | undefined> = {};
  for (const [k, v] of Object.entries(claims)) {
    if (v === null || v === undefined) continue;
    // RFC 8707 §2.1: several resource values are a JSON array of strings.
    if (k === 'resource' && Array.isArray(v) && v.every((x) => typeof x === 'string')) rec[k] = v as string[];
    else rec[k] = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  }
  rec.client_id = clientId;
  return Params.fromRecord(rec);
}

/**
 * RFC 9101 §5.2: a request_uri by reference. Off unless the operator enabled it; then only https URIs the client
 * registered in request_uris (compared without the fragment, OIDC Registration §2) are fetched, with a timeout
 * and a size limit (§10.4: the server must not become a fetching proxy).
 */
export async function fetchRequestUri(ctx: EngineContext, client: ClientRecord, uri: string): Promise<string> {
  if (!ctx.tenant.settings.allowRemoteRequestUri) {
    throw new OAuthError('request_uri_not_supported', 'request_uri by reference is not supported; use the pushed authorization request endpoint', { resultCode: 'LK7011' });
  }
  const strip = (u: string) => u.split('#')[0];
  if (!uri.startsWith('https://') || !(client.requestUris ?? []).some((r) => strip(r) === strip(uri))) {
    throw new OAuthError('invalid_request_uri', 'request_uri is not registered for this client', { resultCode: 'LK7011' });
  }
  let body: string;
  try {
    const r = await fetchBounded(strip(uri)!, { timeoutMs: 3000, maxBytes: 64 * 1024, accept: 'application/oauth-authz-req+jwt, application/jwt', fetch: ctx.clients?.keySet.fetch });
    if (r.status !== 200) throw new Error(`status ${r.status}`);
    body = r.body.trim();
  } catch (e) {
    throw new OAuthError('invalid_request_uri', 'request_uri could not be fetched', { resultCode: 'LK7012', detail: (e as Error).message });
  }
  return body;
}
