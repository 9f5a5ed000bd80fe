import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type { EngineContext } from '../engine/context.js';
import { nowSeconds } from '../engine/context.js';
import type { TokenRecord } from '../store/types.js';
import { tokenKey } from './handles.js';
import { readBoundSession, recordedActorSessions, recordedSessionBinding } from '../engine/sessions.js';

/** A JWS compact serialization: three base64url parts. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export type TokenState = { active: true; record: TokenRecord; jwt?: JWTPayload } | { active: false; record?: TokenRecord; sessionEnded?: true };

/**
 * Find the stored record of a token we issued, opaque or JWT, and say whether it is active (known, of this
 * tenant, not expired, not revoked; refresh tokens also not yet rotated; a session-bound grant's only while its
 * session is live, and a token exchanged with a session-bound user's token as actor only while that actor's session
 * is too). JWT access tokens are verified with
 * `jose` against the tenant's keys first, then looked up by jti, so a revoked JWT is inactive too.
 * Never throws for malformed input: anything unrecognised is simply inactive.
 */
export async function lookupToken(ctx: EngineContext, token: string): Promise<TokenState> {
  if (token.length === 0 || token.length > 8192) return { active: false };
  let handle = token;
  let jwt: JWTPayload | undefined;
  if (JWT_SHAPE.test(token) && token.length > 100) {
    try {
      const keys = await ctx.keys();
      const { kid } = decodeProtectedHeader(token);
      const key = kid ? keys.publicKey(kid) : undefined;
      if (!key) return { active: false };
      const verified = await jwtVerify(token, key, {
        issuer: ctx.tenant.issuer,
        typ: 'at+jwt',
        currentDate: new Date(ctx.clock()),
        algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      });
      if (typeof verified.payload.jti !== 'string') return { active: false };
      jwt = verified.payload;
      handle = verified.payload.jti;
    } catch {
      return { active: false };
    }
  }
  const record = await ctx.store.findToken(ctx.tenant.id, tokenKey(ctx.hasher, handle));
  if (!record) return { active: false };
  // RFC 9068 §2.2, RFC 7519 §4.1.7: a JWT's row is keyed by its jti, which is an identifier printed in the token and
  // in introspection answers, not a secret. Only a verified JWT may find such a row (mintAccessToken sets data.jti on
  // JWT rows only); the bare jti finds nothing, not even for revocation (RFC 7009: the token is the JWT).
  if (!jwt && typeof record.data.jti === 'string') return { active: false };
  if (record.revokedAt !== null || record.consumedAt !== null || record.expiresAt <= nowSeconds(ctx)) return { active: false, record };
  if (jwt && record.kind !== 'access_token') return { active: false, record };
  // RFC 7592 §2.3: a deleted client's tokens are invalid. Deletion revokes them, but another process still holding
  // the client in its cache (5 s, docs/operations.md) may have issued more meanwhile; they die with the client too.
  if (!(await ctx.store.findClient(ctx.tenant.id, record.clientId))) return { active: false, record };
  // RFC 8693 §4.1: a token exchanged with a user's token as actor_token dies with that user's grant too (its own
  // grant_id is the subject's); only such tokens carry actor_grants (engine/token/token-exchange.ts).
  const actorGrants = record.data.actor_grants;
  if (Array.isArray(actorGrants)) {
    for (const id of actorGrants) {
      const grant = typeof id === 'string' ? await ctx.store.findGrant(ctx.tenant.id, id) : undefined;
      if (!grant || grant.revokedAt !== null) return { active: false, record };
    }
  }
  // OIDC Core §11: a token of a session-bound grant dies with the session (ended, expired, idle), by the refresh grant's
  // rule. Only tokens minted with the marker read the session; older ones, and every other token, pay nothing.
  const binding = recordedSessionBinding(record.data);
  if (binding) {
    if ((await readBoundSession(ctx, ctx.store, binding, nowSeconds(ctx))).ended) return { active: false, record, sessionEnded: true };
  }
  // OIDC Core §11, RFC 8693 §4.1: a token exchanged with a session-bound user's token as actor_token ends with that
  // session too, by the same rule (actor_sessions, engine/token/token-exchange.ts); tokens without it pay nothing.
  const actorSessions = recordedActorSessions(record.data);
  if (actorSessions) {
    for (const b of actorSessions) {
      if (!b || (await readBoundSession(ctx, ctx.store, b, nowSeconds(ctx))).ended) return { active: false, record, sessionEnded: true };
    }
  }
  return jwt ? { active: true, record, jwt } : { active: true, record };
}
