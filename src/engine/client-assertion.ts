import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { FAPI_ALGS, isFapi, isFapiAlg } from './fapi.js';
import type { ClientRecord } from '../store/types.js';
import { clientKeySet, ClientKeysError } from './client-keys.js';
import type { ClientAuthDeps } from './client-auth.js';
import { endpointsOf, mtlsAliasBase } from './context.js';
import { invalidClient, OAuthError } from './errors.js';
import { typIsAbsentOrOneOf } from './objects.js';
import type { ResultCode } from './result-codes.js';

/** RFC 7523 §2.2: the client assertion type of a JWT client assertion. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Algorithms a private_key_jwt assertion may use (never `none`, never HMAC). */
export const ASYMMETRIC_ASSERTION_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
/** Algorithms a client_secret_jwt assertion may use: HMAC with the client secret (OIDC Core §9). */
export const HMAC_ASSERTION_ALGS = ['HS256', 'HS384', 'HS512'] as const;

/** Largest `exp - now` accepted: an assertion is meant for one request, minted just before it. */
export const ASSERTION_MAX_LIFETIME = 300;
/** Clock skew tolerated on exp, nbf and iat. */
export const ASSERTION_CLOCK_SKEW = 30;
const MAX_ASSERTION_LENGTH = 16 * 1024;

function failure(resultCode: ResultCode, detail: string): OAuthError {
  // RFC 7521 §4.2.1: whatever is wrong with a client assertion, the answer is invalid_client.
  return invalidClient(resultCode, detail);
}

/** The method an assertion stands for, from its header alg: HMAC is client_secret_jwt, anything else private_key_jwt. */
export function assertionMethod(assertion: string): 'client_secret_jwt' | 'private_key_jwt' {
  try {
    const { alg } = decodeProtectedHeader(assertion);
    return typeof alg === 'string' && alg.startsWith('HS') ? 'client_secret_jwt' : 'private_key_jwt';
  } catch {
    throw failure('LK8001', 'client_assertion is not a JWS');
  }
}

/**
 * Who the assertion claims to be, before any verification. RFC 7523 §3 items 1-2 and OIDC Core §9: iss and sub
 * are both the client_id.
 */
export function assertionClientId(assertion: string): string {
  if (assertion.length > MAX_ASSERTION_LENGTH) throw failure('LK8001', 'client_assertion too long');
  let claims: JWTPayload;
  try {
    claims = decodeJwt(assertion);
  } catch {
    throw failure('LK8001', 'client_assertion is not a JWT');
  }
  // RFC 6749 Appendix A.1: a client_id is printable ASCII (ours: client-metadata.ts); a sub with a NUL or any other
  // character no client_id holds is refused here, never handed to the store (PostgreSQL refuses NUL: a 400, not invalid_client).
  if (typeof claims.sub !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(claims.sub)) throw failure('LK8001', 'client_assertion has no usable sub');
  if (claims.iss !== claims.sub) throw failure('LK8001', 'client_assertion iss and sub differ (both must be the client_id)');
  return claims.sub;
}

/** The HMAC keys a client_secret_jwt client may sign with: its secret, and its previous one during a rotation grace. */
async function hmacKeys(deps: ClientAuthDeps, client: ClientRecord, now: number): Promise<Uint8Array[]> {
  if (!deps.secrets) throw new Error('client_secret_jwt needs ctx.secrets (use clientAuthDeps(ctx))');
  const jwes = [client.secretJwe];
  if (client.previousSecretJwe && (client.previousSecretExpiresAt ?? 0) > now) jwes.push(client.previousSecretJwe);
  const keys: Uint8Array[] = [];
  for (const jwe of jwes) if (jwe) keys.push(new TextEncoder().encode(await deps.secrets.decrypt(jwe)));
  return keys;
}

function mapJoseError(e: unknown): OAuthError {
  if (e instanceof OAuthError) return e;
  if (e instanceof errors.JWTExpired) return failure('LK8004', `client_assertion expired (${e.claim})`);
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'jti') return failure('LK8005', 'client_assertion has no jti');
    if (e.claim === 'exp' || e.claim === 'nbf' || e.claim === 'iat') return failure('LK8004', `client_assertion ${e.claim}: ${e.reason}`);
    return failure('LK8001', `client_assertion ${e.claim}: ${e.reason}`);
  }
  if (e instanceof errors.JOSEAlgNotAllowed) return failure('LK8007', 'client_assertion alg not allowed for this client');
  if (e instanceof errors.JWKSTimeout || e instanceof ClientKeysError || e instanceof errors.JWKSInvalid) {
    return failure('LK8008', `client keys unavailable: ${(e as Error).message}`);
  }
  if (e instanceof errors.JWSSignatureVerificationFailed || e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys) {
    return failure('LK8002', `client_assertion signature: ${(e as Error).message}`);
  }
  if (e instanceof errors.JOSEError) return failure('LK8001', `client_assertion: ${e.message}`);
  if (e instanceof TypeError || (e instanceof Error && /fetch/i.test(e.message))) return failure('LK8008', `client keys unavailable: ${e.message}`);
  return failure('LK8001', `client_assertion: ${(e as Error)?.message ?? String(e)}`);
}

/**
 * The audiences RFC 7523 §3 item 3, OIDC Core §9 and RFC 9126 §2 used to admit besides the issuer: the token endpoint
 * URL and the URL of the endpoint called; RFC 8705 §5: for a client using mutual TLS, their advertised aliases too.
 */
function legacyAudiences(issuer: string, endpoint: string | undefined, clients: ClientAuthDeps['clients']): string[] {
  const urls = [endpointsOf(issuer).token, ...(endpoint ? [endpoint] : [])];
  const aliasBase = mtlsAliasBase(clients, issuer);
  if (aliasBase !== undefined) for (const u of [...urls]) if (u.startsWith(`${issuer}/`)) urls.push(aliasBase + u.slice(issuer.length));
  return [...new Set(urls)];
}

/**
 * draft-ietf-oauth-rfc7523bis: the authorization server rejects an assertion that does not have its issuer
 * identifier as its sole audience value. A one-element array holding the issuer names us alone, so it is accepted
 * (the draft asks clients for a string only to simplify implementations). With the legacy opt-in, an endpoint URL is
 * accepted as a string, and so is an array whose every member is the issuer or such a URL (openid-client 5 sends
 * [issuer, token endpoint]): every member names this server, so an assertion made for another server, the
 * audience-injection attack, still needs a foreign member and is refused.
 */
function checkAudience(aud: unknown, issuer: string, legacy: readonly string[], legacyAllowed: boolean): void {
  const sole = typeof aud === 'string' ? aud : Array.isArray(aud) && aud.length === 1 ? aud[0] : undefined;
  if (sole === issuer) return;
  if (legacyAllowed && typeof aud === 'string' && legacy.includes(aud)) return;
  if (legacyAllowed && Array.isArray(aud) && aud.length > 0 && aud.every((a) => a === issuer || (typeof a === 'string' && legacy.includes(a)))) return;
  if (Array.isArray(aud) && aud.length > 1) {
    throw failure('LK7280', 'client_assertion aud must be the issuer identifier as its sole value, not an array of several audiences');
  }
  if (typeof sole === 'string' && legacy.includes(sole)) {
    throw failure('LK7281', 'client_assertion aud must be the issuer identifier; endpoint URLs are not accepted (draft-ietf-oauth-rfc7523bis)');
  }
  throw failure('LK8003', 'client_assertion aud is not the issuer identifier');
}

/** The typ values of a client assertion: none, the generic JWT, or draft-ietf-oauth-rfc7523bis's explicit type. */
const ASSERTION_TYPS = ['jwt', 'client-authentication+jwt'];

/**
 * RFC 8725 §3.11, RFC 9101 §10.8: a JWT the client signed for another purpose and typed so (a request object, which
 * travels through the browser, a DPoP proof, ...) must not authenticate it, even when its claims would pass.
 */
function checkAssertionTyp(assertion: string): void {
  let typ: unknown;
  try {
    typ = decodeProtectedHeader(assertion).typ;
  } catch {
    throw failure('LK8001', 'client_assertion header is malformed');
  }
  if (!typIsAbsentOrOneOf(typ, ASSERTION_TYPS)) throw failure('LK7370', `client_assertion typ ${JSON.stringify(String(typ).slice(0, 40))} is another kind of JWT`);
}

/** FAPI 2.0 §5.4.1: a FAPI client signs its assertions with PS256, ES256 or EdDSA. */
function checkFapiAssertionAlg(assertion: string): void {
  const { alg } = decodeProtectedHeader(assertion); // the header decoded already in checkAssertionTyp
  if (typeof alg !== 'string' || !isFapiAlg(alg)) {
    throw failure('LK7465', `client_assertion alg must be one of ${FAPI_ALGS.join(', ')} (FAPI 2.0)`);
  }
}

/**
 * Verify a JWT client assertion for `client` (RFC 7523 §3, OIDC Core §9), signed with the client's secret
 * (client_secret_jwt) or one of its registered keys (private_key_jwt); then remember its jti until it expires,
 * so it is accepted once (the replay cache is in the store, shared by every instance).
 */
export async function verifyClientAssertion(
  deps: ClientAuthDeps,
  client: ClientRecord,
  assertion: string,
  method: 'client_secret_jwt' | 'private_key_jwt',
): Promise<void> {
  if (!deps.issuer || !deps.store.rememberJti) throw new Error('JWT client authentication needs the issuer and the replay cache (use clientAuthDeps(ctx))');
  const nowMs = (deps.clock ?? Date.now)();
  const now = Math.floor(nowMs / 1000);
  const allowed: readonly string[] = method === 'client_secret_jwt' ? HMAC_ASSERTION_ALGS : ASYMMETRIC_ASSERTION_ALGS;
  // OIDC Registration §2: a registered token_endpoint_auth_signing_alg is the only one accepted.
  const algorithms = client.tokenEndpointAuthSigningAlg ? allowed.filter((a) => a === client.tokenEndpointAuthSigningAlg) : [...allowed];
  // draft-ietf-oauth-rfc7523bis (the OpenID Foundation's 2025 advisory on audience injection, CVE-2025-27370/27371): the audience
  // is the issuer identifier as its sole value, so an assertion a client made for another party that named one of our
  // URLs beside its own audience, or our token endpoint as that party's, is refused. Checked below, not by jose
  // (whose audience option accepts an array with any one expected member).
  const legacy = legacyAudiences(deps.issuer, deps.endpoint, deps.clients);
  const options = {
    algorithms,
    issuer: client.clientId,
    subject: client.clientId,
    currentDate: new Date(nowMs),
    clockTolerance: ASSERTION_CLOCK_SKEW,
    // RFC 7523 §3 item 4 (exp); OIDC Core §9 (jti).
    requiredClaims: ['exp', 'jti'],
  };

  checkAssertionTyp(assertion);
  const fapi = isFapi(client) || deps.fapi === true;
  if (fapi) checkFapiAssertionAlg(assertion);

  let payload: JWTPayload;
  try {
    if (method === 'client_secret_jwt') {
      const keys = await hmacKeys(deps, client, now);
      if (!keys.length) throw failure('LK8002', 'client has no secret for client_secret_jwt');
      let last: unknown;
      payload = undefined as unknown as JWTPayload;
      for (const key of keys) {
        try {
          payload = (await jwtVerify(assertion, key, options)).payload;
          last = undefined;
          break;
        } catch (e) {
          last = e;
          if (!(e instanceof errors.JWSSignatureVerificationFailed)) break;
        }
      }
      if (last !== undefined) throw last;
    } else {
      const set = clientKeySet(client, deps.clients?.keySet);
      if (!set) throw failure('LK8002', 'client registered no jwks or jwks_uri');
      payload = (await jwtVerify(assertion, set as JWTVerifyGetKey, options)).payload;
    }
  } catch (e) {
    throw mapJoseError(e);
  }

  // FAPI 2.0 §5.3.2.1: only the issuer identifier, as a string, is accepted as aud (not in an array, and the
  // tenant's legacy audiences do not apply).
  if (fapi && payload.aud !== deps.issuer) throw failure('LK7469', 'client_assertion aud must be the issuer identifier as a single string (FAPI 2.0)');
  checkAudience(payload.aud, deps.issuer, legacy, deps.legacyAssertionAudience === true);
  const exp = payload.exp!;
  if (exp > now + ASSERTION_MAX_LIFETIME + ASSERTION_CLOCK_SKEW) {
    throw failure('LK8004', `client_assertion exp is more than ${ASSERTION_MAX_LIFETIME}s ahead`);
  }
  if (payload.iat !== undefined && payload.iat > now + ASSERTION_CLOCK_SKEW) throw failure('LK8004', 'client_assertion iat is in the future');
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 255) throw failure('LK8005', 'client_assertion jti must be a string of 1-255 characters');
  // Stored as it is (the replay cache): PostgreSQL text refuses NUL, which would answer 400 instead of invalid_client.
  if (jti.includes('\u0000')) throw failure('LK8005', 'client_assertion jti holds a NUL character');
  // RFC 7523 §3 item 7: remembered until the assertion could no longer be accepted (exp plus the skew).
  const fresh = await deps.store.rememberJti(deps.tenantId, `client_assertion:${client.clientId}`, jti, exp + ASSERTION_CLOCK_SKEW, now);
  if (!fresh) throw failure('LK8005', 'client_assertion jti was already used');
}
