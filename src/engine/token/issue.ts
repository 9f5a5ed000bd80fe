import type { ClientRecord, Store } from '../../store/types.js';
import { mintAccessToken } from '../../tokens/access-token.js';
import { newHandle } from '../../tokens/handles.js';
import { mintIdToken } from '../../tokens/id-token.js';
import { accessTokenClaimsRecord, type ClaimsRequest, requestedUserClaims } from '../claims.js';
import { type EngineContext, nowSeconds } from '../context.js';

/** What a user-bound grant (code, refresh) carries into a token response. */
export interface UserGrant {
  client: ClientRecord;
  grantId: string;
  subject: string;
  scope: string[];
  authTime?: number;
  acr?: string;
  amr?: string[];
  sid?: string;
  nonce?: string;
  /** Scope of the refresh token, when it differs from the access token's (a narrowed refresh, RFC 6749 §6). */
  refreshScope?: string[];
  /** Absolute expiry of the refresh-token family (kept across rotations). */
  refreshExpiresAt?: number;
  /** OIDC Core §5.5: claims asked for by name; UserInfo releases the userinfo ones, the ID token carries the id_token ones. */
  claims?: ClaimsRequest;
}

/**
 * Whether a grant gets a refresh token: the client must be registered for the refresh_token grant, and for
 * OpenID requests the user must have granted offline_access (OIDC Core §11) or the client asked for session-bound
 * refresh tokens (they die with the session); plain OAuth grants get one.
 */
export function wantsRefreshToken(client: ClientRecord, scope: string[]): boolean {
  if (!client.grantTypes.includes('refresh_token')) return false;
  return scope.includes('offline_access') || !scope.includes('openid') || client.sessionRefreshTokens === true;
}

/** Mint access, refresh and ID tokens for a user grant inside the given store (a transaction). */
export async function issueUserTokens(ctx: EngineContext, tx: Store, g: UserGrant): Promise<Record<string, unknown>> {
  const txCtx: EngineContext = { ...ctx, store: tx };
  const now = nowSeconds(ctx);
  const at = await mintAccessToken(txCtx, {
    client: g.client,
    subject: g.subject,
    scope: g.scope,
    grantId: g.grantId,
    authTime: g.authTime,
    acr: g.acr,
    sid: g.sid,
    extra: accessTokenClaimsRecord(g.claims),
  });
  const body: Record<string, unknown> = { access_token: at.token, token_type: 'Bearer', expires_in: at.expiresIn, scope: g.scope.join(' ') };
  const refreshScope = g.refreshScope ?? g.scope;
  if (wantsRefreshToken(g.client, refreshScope)) {
    const rt = newHandle(ctx.random);
    const expiresAt = g.refreshExpiresAt ?? now + ctx.tenant.settings.refreshTokenTtl;
    await tx.insertToken({
      tenantId: ctx.tenant.id,
      hash: ctx.hasher.hash(rt),
      kind: 'refresh_token',
      clientId: g.client.clientId,
      subject: g.subject,
      scope: refreshScope,
      grantId: g.grantId,
      issuedAt: now,
      expiresAt,
      revokedAt: null,
      consumedAt: null,
      data: { authTime: g.authTime, acr: g.acr, amr: g.amr, sid: g.sid, ...(g.claims ? { claimsRequest: g.claims } : {}) },
    });
    body.refresh_token = rt;
  }
  if (g.scope.includes('openid')) {
    const wanted = g.claims?.id_token;
    const user = wanted ? await tx.findUserById(ctx.tenant.id, g.subject) : undefined;
    body.id_token = await mintIdToken(txCtx, {
      claims: user ? requestedUserClaims(wanted, user.claims) : undefined,
      client: g.client,
      subject: g.subject,
      authTime: g.authTime,
      nonce: g.nonce,
      acr: g.acr,
      amr: g.amr,
      sid: g.sid,
      accessToken: at.token,
    });
  }
  return body;
}
