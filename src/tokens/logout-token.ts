import { decodeJwt } from 'jose';
import type { EngineContext } from '../engine/context.js';
import { nowSeconds } from '../engine/context.js';
import type { ClientRecord } from '../store/types.js';
import { newHandle } from './handles.js';
import { signJwt, type SigningAlg } from './jwt.js';
import { subjectFor } from '../engine/subject.js';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/**
 * OIDC Back-Channel Logout 1.0 §2.4: iss, aud, iat, exp, jti, events, sid and/or sub, and never a nonce;
 * typed logout+jwt (§2.4, to keep it from being mistaken for an ID token); signed like the client's ID tokens.
 */
export async function mintLogoutToken(ctx: EngineContext, client: ClientRecord, who: { sub: string; sid?: string }): Promise<string> {
  // the sub this client knows the user by (OIDC Core §8)
  return signLogoutToken(ctx, client, { sub: subjectFor(ctx, client, who.sub), sid: who.sid });
}

/** `sub` as the client knows the user (already pairwise where it must be). */
async function signLogoutToken(ctx: EngineContext, client: ClientRecord, who: { sub?: string; sid?: string }): Promise<string> {
  const key = (await ctx.keys()).signingKey(client.idTokenSignedResponseAlg as SigningAlg);
  const now = nowSeconds(ctx);
  const payload: Record<string, unknown> = {
    iss: ctx.tenant.issuer,
    aud: client.clientId,
    iat: now,
    // Back-Channel Logout §4: short-lived, so a captured token is soon useless (a retry gets a new one).
    exp: now + LOGOUT_TOKEN_LIFETIME,
    jti: newHandle(ctx.random, 16),
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
  };
  if (who.sub !== undefined) payload.sub = who.sub;
  if (who.sid !== undefined) payload.sid = who.sid;
  return signJwt(key, payload, { typ: 'logout+jwt' });
}

/** Seconds a logout token is valid (Back-Channel Logout §4: "preferably at most two minutes"). */
export const LOGOUT_TOKEN_LIFETIME = 120;

/**
 * A fresh logout token (new iat, exp, jti) for the same logout as `previous`, one this server minted and stored:
 * a retry after the previous token expired would only be rejected (Back-Channel Logout §2.6 validates exp like an
 * ID token's). The RP treats it as the same event: same sub and sid.
 */
export async function reissueLogoutToken(ctx: EngineContext, client: ClientRecord, previous: string): Promise<string> {
  const p = decodeJwt(previous);
  return signLogoutToken(ctx, client, { sub: typeof p.sub === 'string' ? p.sub : undefined, sid: typeof p.sid === 'string' ? p.sid : undefined });
}
