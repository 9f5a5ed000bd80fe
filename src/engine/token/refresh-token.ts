import type { ClaimsRequest } from '../claims.js';
import { nowSeconds } from '../context.js';
import { OAuthError } from '../errors.js';
import { parseScope } from '../params.js';
import { jsonResult } from '../result.js';
import { issueUserTokens } from './issue.js';
import type { GrantHandler } from './types.js';

const invalid = (description: string) => new OAuthError('invalid_grant', description, { resultCode: 'LK2008' });

/**
 * RFC 6749 §6 with rotation (RFC 9700 §4.14.2): each use returns a new refresh token; presenting one that was
 * already rotated revokes the whole family (the grant), since either the client or an attacker holds a copy.
 */
export const refreshToken: GrantHandler = async (params, { client }, ctx) => {
  const presented = params.require('refresh_token');
  const now = nowSeconds(ctx);
  if (presented.length > 200) throw invalid('invalid refresh token');
  const hash = ctx.hasher.hash(presented);
  const rec = await ctx.store.findToken(ctx.tenant.id, hash);
  // A token of another client is not touched: that client did not present it (RFC 6749 §6: bound to the client).
  if (!rec || rec.kind !== 'refresh_token' || rec.clientId !== client.clientId) throw invalid('invalid refresh token');
  if (rec.revokedAt !== null) throw invalid('refresh token revoked');
  if (rec.consumedAt !== null) return reuse(rec.grantId!);
  if (rec.expiresAt <= now) throw invalid('refresh token expired');

  const requested = params.has('scope') ? parseScope(params.get('scope')) : rec.scope;
  for (const s of requested) {
    if (!rec.scope.includes(s)) {
      throw new OAuthError('invalid_scope', `scope ${s} was not granted originally`, { resultCode: 'LK2010' }); // RFC 6749 §6
    }
  }

  const outcome = await ctx.store.transaction(async (tx) => {
    const won = await tx.consumeToken(ctx.tenant.id, hash, now);
    if (!won) return { reuse: true as const };
    const grant = await tx.findGrant(ctx.tenant.id, rec.grantId!);
    if (!grant || grant.revokedAt !== null) return { error: invalid('the grant was revoked') };
    const d = rec.data as { authTime?: number; acr?: string; amr?: string[]; sid?: string; claimsRequest?: ClaimsRequest };
    const body = await issueUserTokens(ctx, tx, {
      client,
      grantId: rec.grantId!,
      subject: rec.subject!,
      // RFC 6749 §6: a narrowed request narrows the access token; the new refresh token keeps the original scope.
      scope: requested,
      refreshScope: rec.scope,
      authTime: d.authTime,
      acr: d.acr,
      amr: d.amr,
      sid: d.sid,
      refreshExpiresAt: rec.expiresAt,
      claims: d.claimsRequest,
    });
    return { body };
  });
  if ('reuse' in outcome) return reuse(rec.grantId!);
  if ('error' in outcome) throw outcome.error;
  return jsonResult('OK', 200, 'LK2001', outcome.body);

  async function reuse(grantId: string): Promise<never> {
    await ctx.store.revokeGrant(ctx.tenant.id, grantId, now);
    ctx.log?.warn({ tenant: ctx.tenant.id, client: client.clientId, event: 'refresh_reuse' }, 'rotated refresh token reused; family revoked');
    throw new OAuthError('invalid_grant', 'refresh token already used', { resultCode: 'LK2009' });
  }
};
