import { isDeepStrictEqual } from 'node:util';
import type { ClientRecord } from '../store/types.js';
import type { EngineContext } from './context.js';
import { OAuthError } from './errors.js';
import { isObject } from './objects.js';
import type { ResultCode } from './result-codes.js';

/**
 * OAuth 2.0 Rich Authorization Requests (RFC 9396).
 *
 * The tenant lists the authorization details types it supports (setting authorizationDetailsTypes; empty = the
 * feature is off, nothing is advertised and the parameter is ignored as any unknown parameter is, RFC 6749 §3.1).
 * A client may use the types it registered in authorization_details_types (RFC 9396 §10), every supported type
 * when it registered none (as the `resources` allow-list: absent = everything the tenant has).
 *
 * Latchkey does not interpret a type's fields: it checks the common fields' shapes (§2.2), keeps every other field
 * as sent, and compares authorization details by deep equality (§6.1 leaves comparison to the type's definition;
 * equality is the one comparison that never grants more than was approved).
 */

/** One authorization details object (RFC 9396 §2): `type` and whatever fields the type defines. */
export type AuthorizationDetail = { type: string } & Record<string, unknown>;

/** At most this many objects in one request (RFC 9396 §12: large requests belong in PAR, which has its own bound). */
export const MAX_AUTHORIZATION_DETAILS = 20;
/** At most this many characters of serialized JSON: the value travels in URLs, tickets, codes and tokens. */
export const MAX_AUTHORIZATION_DETAILS_LENGTH = 16 * 1024;
/** JSON nesting deeper than this is refused (a type's fields are records, not trees). */
const MAX_DEPTH = 16;
/** A type identifier as configured or registered: printable ASCII, no spaces (types are often URIs). */
export const AUTHORIZATION_DETAILS_TYPE = /^[\x21-\x7e]{1,200}$/;

/** RFC 9396 §2.2: the common data fields and their JSON types. */
const STRING_ARRAY_FIELDS = ['locations', 'actions', 'datatypes', 'privileges'] as const;

/** The types the tenant supports (empty: RFC 9396 is off). */
export const supportedAuthorizationDetailsTypes = (ctx: Pick<EngineContext, 'tenant'>): readonly string[] => ctx.tenant.settings.authorizationDetailsTypes ?? [];

/** The types a client may request: those it registered (RFC 9396 §10) that the tenant still supports; all supported when it registered none. */
export function clientAuthorizationDetailsTypes(ctx: Pick<EngineContext, 'tenant'>, client: Pick<ClientRecord, 'authorizationDetailsTypes'>): readonly string[] {
  const supported = supportedAuthorizationDetailsTypes(ctx);
  return client.authorizationDetailsTypes === undefined ? supported : client.authorizationDetailsTypes.filter((t) => supported.includes(t));
}

/** RFC 9396 §5: the error for anything wrong with authorization_details. */
export const invalidAuthorizationDetails = (description: string, resultCode: ResultCode = 'LK7350') =>
  new OAuthError('invalid_authorization_details', description, { resultCode });

function depthWithin(v: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH) return false;
  if (Array.isArray(v)) return v.every((x) => depthWithin(x, depth + 1));
  if (typeof v === 'object' && v !== null) return Object.values(v).every((x) => depthWithin(x, depth + 1));
  return true;
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Parse and check an authorization_details value (RFC 9396 §2): the JSON text of a form parameter (§3), or the JSON
 * array itself (a Core API caller's). Each object needs a string `type` the client may use; the common fields (§2.2)
 * must have their JSON types; other fields are kept as sent. Throws invalid_authorization_details (§5).
 */
export function parseAuthorizationDetails(value: unknown, allowedTypes: readonly string[]): AuthorizationDetail[] {
  let parsed = value;
  if (typeof value === 'string') {
    if (value.length > MAX_AUTHORIZATION_DETAILS_LENGTH) throw invalidAuthorizationDetails(`authorization_details is longer than ${MAX_AUTHORIZATION_DETAILS_LENGTH} characters`);
    try {
      parsed = JSON.parse(value);
    } catch {
      throw invalidAuthorizationDetails('authorization_details is not valid JSON');
    }
  } else if (JSON.stringify(value ?? null).length > MAX_AUTHORIZATION_DETAILS_LENGTH) {
    throw invalidAuthorizationDetails(`authorization_details is longer than ${MAX_AUTHORIZATION_DETAILS_LENGTH} characters`);
  }
  // RFC 9396 §2: a JSON array of JSON objects. An empty array asks for nothing, which is not a request.
  if (!Array.isArray(parsed) || parsed.length === 0) throw invalidAuthorizationDetails('authorization_details must be a non-empty JSON array of objects');
  if (parsed.length > MAX_AUTHORIZATION_DETAILS) throw invalidAuthorizationDetails(`at most ${MAX_AUTHORIZATION_DETAILS} authorization details objects are accepted`);
  if (!depthWithin(parsed, 0)) throw invalidAuthorizationDetails('authorization_details is nested too deeply');
  return parsed.map((d, i) => checkDetail(d, i, allowedTypes));
}

function checkDetail(d: unknown, i: number, allowedTypes: readonly string[]): AuthorizationDetail {
  const at = `authorization_details[${i}]`;
  if (!isObject(d)) throw invalidAuthorizationDetails(`${at} is not a JSON object`);
  // RFC 9396 §2: type is REQUIRED, a string.
  if (typeof d.type !== 'string' || d.type === '') throw invalidAuthorizationDetails(`${at} has no string type`);
  if (!allowedTypes.includes(d.type)) {
    throw invalidAuthorizationDetails(`${at}: type ${JSON.stringify(d.type.slice(0, 100))} is not supported, or not allowed for this client`, 'LK7351');
  }
  // RFC 9396 §2.2: the common fields, when present, have these JSON types.
  for (const f of STRING_ARRAY_FIELDS) {
    if (f in d && !isStringArray(d[f])) throw invalidAuthorizationDetails(`${at}.${f} must be an array of strings (RFC 9396 §2.2)`);
  }
  if ('identifier' in d && typeof d.identifier !== 'string') throw invalidAuthorizationDetails(`${at}.identifier must be a string (RFC 9396 §2.2)`);
  return d as AuthorizationDetail;
}

/**
 * RFC 9396 §6, §6.1, §7.2: authorization details asked for by a later request (the issue step, a token request) must
 * each be one of those granted, compared by deep equality: never more than was approved. Returns them de-duplicated.
 */
export function narrowAuthorizationDetails(requested: readonly AuthorizationDetail[], granted: readonly AuthorizationDetail[], resultCode: ResultCode = 'LK7352'): AuthorizationDetail[] {
  const out: AuthorizationDetail[] = [];
  for (const [i, r] of requested.entries()) {
    if (!granted.some((g) => isDeepStrictEqual(g, r))) {
      throw invalidAuthorizationDetails(`authorization_details[${i}] was not part of the authorization granted`, resultCode);
    }
    if (!out.some((o) => isDeepStrictEqual(o, r))) out.push(r);
  }
  return out;
}

/** Authorization details kept in a stored record's data (undefined: none). */
export function storedAuthorizationDetails(v: unknown): AuthorizationDetail[] | undefined {
  return Array.isArray(v) && v.length > 0 ? (v as AuthorizationDetail[]) : undefined;
}

/**
 * RFC 9396 §6: the authorization_details of a token request, checked for shape and type (§2): the types `client` may
 * use (§10) when given, else every supported one; undefined when absent or when the feature is off (ignored then,
 * RFC 6749 §3.1). A request without the parameter costs one lookup (the client's types are worked out only after).
 */
export function tokenRequestAuthorizationDetails(ctx: Pick<EngineContext, 'tenant'>, params: { get(name: string): string | undefined }, client?: Pick<ClientRecord, 'authorizationDetailsTypes'>): AuthorizationDetail[] | undefined {
  const raw = params.get('authorization_details');
  if (raw === undefined) return undefined;
  const supported = supportedAuthorizationDetailsTypes(ctx);
  if (supported.length === 0) return undefined;
  return parseAuthorizationDetails(raw, client ? clientAuthorizationDetailsTypes(ctx, client) : supported);
}
