import { OAuthError } from './errors.js';
import { isObject } from './objects.js';

/** OIDC Core §5.4: the claims each standard scope stands for. */
export const SCOPE_CLAIMS: Record<string, readonly string[]> = {
  profile: [
    'name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture',
    'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
  ],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
};

/** The user's claims released by the granted scopes. */
export function claimsForScopes(scopes: readonly string[], userClaims: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of scopes) {
    for (const name of SCOPE_CLAIMS[s] ?? []) if (userClaims[name] !== undefined) out[name] = userClaims[name];
  }
  return out;
}

/** Every user claim a scope can release: the claims the `claims` parameter may ask for individually. */
export const USER_CLAIMS: ReadonlySet<string> = new Set(Object.values(SCOPE_CLAIMS).flat());

/** OIDC Core §5.5.1: how one claim is requested. */
export interface ClaimRequest {
  essential?: boolean;
  value?: unknown;
  values?: unknown[];
}

/** OIDC Core §5.5: the `claims` request parameter, validated. */
export interface ClaimsRequest {
  userinfo?: Record<string, ClaimRequest | null>;
  id_token?: Record<string, ClaimRequest | null>;
}

/** Validate the `claims` parameter (a JSON object); undefined members are dropped, unknown members ignored (§5.5). */
export function parseClaimsParameter(raw: string): ClaimsRequest {
  const bad = (why: string) => new OAuthError('invalid_request', `claims parameter: ${why}`, { resultCode: 'LK7013' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw bad('not valid JSON');
  }
  if (!isObject(parsed)) throw bad('must be a JSON object');
  const out: ClaimsRequest = {};
  for (const target of ['userinfo', 'id_token'] as const) {
    const member = parsed[target];
    if (member === undefined || member === null) continue;
    if (!isObject(member)) throw bad(`${target} must be a JSON object`);
    const entries = Object.entries(member);
    if (entries.length > 100) throw bad(`${target} requests too many claims`);
    const claims: Record<string, ClaimRequest | null> = {};
    for (const [name, spec] of entries) {
      if (name.length > 100) throw bad('claim name too long');
      if (spec === null) {
        claims[name] = null;
        continue;
      }
      if (!isObject(spec)) throw bad(`${target}.${name.slice(0, 40)} must be null or an object`);
      const req: ClaimRequest = {};
      if (spec.essential !== undefined) {
        if (typeof spec.essential !== 'boolean') throw bad(`${target}.${name.slice(0, 40)}.essential must be a boolean`);
        req.essential = spec.essential;
      }
      if (spec.value !== undefined) req.value = spec.value;
      if (spec.values !== undefined) {
        if (!Array.isArray(spec.values)) throw bad(`${target}.${name.slice(0, 40)}.values must be an array`);
        req.values = spec.values;
      }
      claims[name] = req;
    }
    out[target] = claims;
  }
  return out;
}

/** The user's claims named in one member of a claims request (only user claims; sub, acr … are set elsewhere). */
export function requestedUserClaims(member: Record<string, ClaimRequest | null> | undefined, userClaims: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(member ?? {})) if (USER_CLAIMS.has(name) && userClaims[name] !== undefined) out[name] = userClaims[name];
  return out;
}

/** Names of the user claims a claims request asks for, in either member (for consent and for recording with tokens). */
export function requestedClaimNames(req: ClaimsRequest | undefined, target?: 'userinfo' | 'id_token'): string[] {
  if (!req) return [];
  const members = target ? [req[target]] : [req.userinfo, req.id_token];
  return [...new Set(members.flatMap((m) => Object.keys(m ?? {})).filter((n) => USER_CLAIMS.has(n)))];
}

/**
 * OIDC Core §3.1.2.4, §5.5: a claims request less the claims of the standard scopes the user declined. A user who
 * unticks `email` has refused the email address, also when the client asked for it by name as well.
 */
export function withoutDeclinedClaims(req: ClaimsRequest | undefined, declinedScopes: readonly string[]): ClaimsRequest | undefined {
  const declined = new Set(declinedScopes.flatMap((s) => SCOPE_CLAIMS[s] ?? []));
  if (!req || declined.size === 0) return req;
  const out: ClaimsRequest = {};
  for (const target of ['userinfo', 'id_token'] as const) {
    const member = req[target];
    if (member) out[target] = Object.fromEntries(Object.entries(member).filter(([name]) => !declined.has(name)));
  }
  return out;
}

/** What an access token records of a claims request: the user claims UserInfo must release (OIDC Core §5.5). */
export function accessTokenClaimsRecord(req: ClaimsRequest | undefined): Record<string, unknown> {
  const names = requestedClaimNames(req, 'userinfo');
  return names.length ? { claims: names } : {};
}

/**
 * OIDC Core §5.5.1.1: whether the acr obtained satisfies an essential acr request. A voluntary request (or none)
 * is always satisfied: the server then returns the acr it has.
 */
export function essentialAcrMet(req: ClaimsRequest | undefined, acr: string | undefined): boolean {
  const spec = req?.id_token?.acr;
  if (!spec?.essential) return true;
  const wanted = claimedAcrs(req);
  if (!wanted.length) return true;
  return acr !== undefined && wanted.includes(acr);
}

/** The acr values an acr claim request names (OIDC Core §5.5.1.1: `values`, or one `value`), in its order. */
function claimedAcrs(req: ClaimsRequest | undefined): readonly unknown[] {
  const spec = req?.id_token?.acr;
  return spec?.values ?? (spec?.value !== undefined ? [spec.value] : []);
}

/**
 * Whether a request prefers this acr: it is the first of acr_values, which come in order of preference (OIDC Core
 * §3.1.2.1), or the first value of an acr claim request (§5.5.1.1). A request that lists another acr first accepts
 * that one (a password, say) and is served by it.
 */
export function prefersAcr(req: { acrValues?: readonly string[]; claims?: ClaimsRequest }, acr: string): boolean {
  return req.acrValues?.[0] === acr || claimedAcrs(req.claims)[0] === acr;
}

