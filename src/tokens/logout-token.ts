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
  const key = (await ctx.keys()).signingKey(client.idTokenSignedResponseAlg as SigningAlg);
  const now = nowSeconds(ctx);
  const payload: Record<string, unknown> = {
    iss: ctx.tenant.issuer,
    aud: client.clientId,
    iat: now,
    exp: now + 120,
    jti: newHandle(ctx.random, 16),
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    sub: subjectFor(ctx, client, who.sub), // the sub this client knows the user by (OIDC Core §8)
  };
  if (who.sid !== undefined) payload.sid = who.sid;
  return signJwt(key, payload, { typ: 'logout+jwt' });
}
