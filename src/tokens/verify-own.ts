import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type { EngineContext } from '../engine/context.js';
import { SIGNING_ALGS } from './jwt.js';

/**
 * Verify a JWT this tenant issued (an ID token presented back as a hint), with jose against our own keys,
 * including keys rotated out but still published. `allowExpired`: an expired ID token still names the user
 * (OIDC Core §3.1.2.1 id_token_hint; RP-Initiated Logout §2). Returns undefined for anything not ours or invalid.
 */
export async function verifyOwnJwt(ctx: EngineContext, jwt: string, opts: { allowExpired: boolean; typ?: string }): Promise<JWTPayload | undefined> {
  try {
    if (jwt.length > 16_384) return undefined;
    const keys = await ctx.keys();
    const { kid } = decodeProtectedHeader(jwt);
    const key = kid ? keys.publicKey(kid) : undefined;
    if (!key) return undefined;
    const { payload } = await jwtVerify(jwt, key, {
      issuer: ctx.tenant.issuer,
      currentDate: opts.allowExpired ? new Date(0) : new Date(ctx.clock()),
      algorithms: [...SIGNING_ALGS],
      typ: opts.typ,
    });
    return typeof payload.sub === 'string' ? payload : undefined;
  } catch {
    return undefined;
  }
}

export function audienceOf(payload: JWTPayload): string[] {
  return Array.isArray(payload.aud) ? payload.aud : payload.aud === undefined ? [] : [payload.aud];
}

/**
 * An ID token this tenant issued: verifyOwnJwt, and only untyped (or `typ: JWT`) tokens without access-token or
 * introspection claims, so our JWT access tokens (at+jwt) and introspection answers (token-introspection+jwt)
 * are never taken for ID tokens (RFC 8725 §3.11), whatever their `aud`; and only with a numeric exp and iat (OIDC
 * Core §2), which a signed UserInfo response lacks. With `audience`, it must be among the
 * token's. The one check for id_token_hint (OIDC Core §3.1.2.1, RP-Initiated Logout §2) and for ID tokens
 * presented to token exchange (RFC 8693 §3). Undefined for anything else.
 */
export async function verifyOwnIdToken(
  ctx: EngineContext,
  jwt: string,
  opts: { allowExpired: boolean; audience?: string },
): Promise<(JWTPayload & { sub: string }) | undefined> {
  const payload = await verifyOwnJwt(ctx, jwt, { allowExpired: opts.allowExpired });
  if (!payload) return undefined;
  const { typ } = decodeProtectedHeader(jwt);
  if (typ !== undefined && typ.toUpperCase() !== 'JWT') return undefined;
  if ('client_id' in payload || 'token_introspection' in payload) return undefined;
  // OIDC Core §2: exp and iat are REQUIRED in an ID token. Our other untyped JWTs (a signed UserInfo response, OIDC
  // Core §5.3.2) carry neither exp nor a purpose claim: without this they would pass for ID tokens that never expire
  // (RFC 8725 §3.11: JWTs of one kind must not be taken for another).
  if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number') return undefined;
  if (opts.audience !== undefined && !audienceOf(payload).includes(opts.audience)) return undefined;
  return payload as JWTPayload & { sub: string };
}
