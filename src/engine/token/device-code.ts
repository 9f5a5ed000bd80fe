import { newHandle, newOrderedHandle } from '../../tokens/handles.js';
import { type EngineContext, nowSeconds } from '../context.js';
import { OAuthError } from '../errors.js';
import { checkSubset, resourceParams, tokenTarget } from '../resources.js';
import { jsonResult } from '../result.js';
import { currentScope, issueUserTokens, nothingLeft } from './issue.js';
import { liveHostAccount } from '../accounts.js';
import type { GrantHandler } from './types.js';
import type { ResultCode } from '../result-codes.js';
import { narrowAuthorizationDetails, storedAuthorizationDetails, tokenRequestAuthorizationDetails } from '../authorization-details.js';

/**
 * A grant redeemed by polling: the device code (RFC 8628) and CIBA's auth_req_id (OpenID CIBA Core §10, §11) are the
 * same machine (one device_codes row each, decided by the user elsewhere), with their own names and answers.
 */
export interface PolledGrant {
  /** The token request parameter carrying the handle. */
  param: 'device_code' | 'auth_req_id';
  /** The stored hash of a presented handle (each kind hashes in its own namespace, so one is never the other). */
  hashOf(ctx: EngineContext, presented: string): string;
  /** grants.data.grantType, and the log's. */
  grantType: 'device_code' | 'ciba';
  /** What the handle is called in messages. */
  noun: string;
  codes: { pending: ResultCode; slowDown: ResultCode; denied: ResultCode; expired: ResultCode; invalid: ResultCode; reused: ResultCode; nothingLeft: 'LK7141' };
}

/**
 * RFC 8628 §3.4, §3.5: the device polls with its device_code. The poll is stamped first (one conditional
 * statement), so polling a pending request before the interval elapsed is slow_down and raises the interval by
 * 5 s; otherwise the user's decision answers authorization_pending, access_denied or expired_token, or — once,
 * by a conditional update inside the issuing transaction — the tokens. A redeemed code presented again by its
 * client revokes the grant its redemption made, as a reused authorization code does (RFC 6749 §4.1.2).
 */
export const polledGrant = (kind: PolledGrant): GrantHandler => async (params, { client }, ctx) => {
  const presented = params.require(kind.param);
  const now = nowSeconds(ctx);
  const invalid = () => new OAuthError('invalid_grant', `invalid ${kind.noun}`, { resultCode: kind.codes.invalid });
  if (presented.length > 200) throw invalid();
  // RFC 8707 §2.2: the device authorization named no resources, so a resource here asks for more than was granted.
  checkSubset(resourceParams(params), []);
  const requestedDetails = tokenRequestAuthorizationDetails(ctx, params); // RFC 9396 §6
  const hash = kind.hashOf(ctx, presented);
  // RFC 8628 §3.5: the stamp (and any slow_down) only for the client the code was issued to, in the same statement.
  const polled = await ctx.store.pollDeviceCode(ctx.tenant.id, hash, now, client.clientId);
  // Another client's poll finds nothing (pollDeviceCode): it learns nothing and, presenting a code it got hold of,
  // cannot make a reuse of it that revokes the tokens of the client it was issued to.
  if (!polled || polled.record.clientId !== client.clientId) throw invalid();
  const rec = polled.record;
  // Checked before expiry, as for authorization codes: a redeemed code stays a reuse once it has expired.
  if (rec.consumedAt !== null) {
    if (rec.grantId) return reused(ctx, kind, client.clientId, rec.grantId, now);
    throw invalid(); // redeemed before redemptions recorded their grant
  }
  if (rec.expiresAt <= now) throw new OAuthError('expired_token', `the ${kind.noun} expired`, { resultCode: kind.codes.expired });
  if (rec.status === 'denied') throw new OAuthError('access_denied', 'the user denied the request', { resultCode: kind.codes.denied });
  // RFC 8628 §3.5: slow_down is "a variant of authorization_pending": only an undecided request is answered so;
  // a decided one answers its outcome (access_denied above, or the tokens below) even to an early poll.
  if (rec.status === 'pending') {
    if (polled.slowDown) throw new OAuthError('slow_down', `polling too fast; wait ${rec.interval} seconds between requests`, { resultCode: kind.codes.slowDown });
    throw new OAuthError('authorization_pending', 'the user has not decided yet', { resultCode: kind.codes.pending });
  }

  // RFC 6749 §3.3: only what the client may still have (currentScope). Nothing left is refused before anything is
  // spent: no grant is made, and each later poll gets the same answer until the code expires.
  const scope = currentScope(client, rec.scope);
  if (!scope) throw nothingLeft(kind.codes.nothingLeft);
  // RFC 9396 §6, §7: the approved authorization details, or the subset the request names; checked before anything is spent.
  const grantedDetails = storedAuthorizationDetails(rec.data.authorizationDetails);
  const details = requestedDetails ? narrowAuthorizationDetails(requestedDetails, grantedDetails ?? []) : grantedDetails;
  // Library mode: the approving user's account must still exist (accounts.ts liveHostAccount).
  await liveHostAccount(ctx, rec.subject);
  const grantId = newOrderedHandle(ctx.random, ctx.clock(), 16); // not a secret; ordered: appended to its indexes
  const outcome = await ctx.store.transaction(async (tx): Promise<{ body: Record<string, unknown> } | { reuse: string } | undefined> => {
    // One conditional statement spends the code and records the grant it makes; the grant and its tokens are
    // written in the same transaction, so a failure part-way leaves the code unspent and nothing issued.
    const won = await tx.consumeDeviceCode(ctx.tenant.id, hash, now, grantId);
    if (!won) {
      // Another redemption of the code won the race (its transaction committed first): this one is a reuse too.
      const seen = await tx.findDeviceCode(ctx.tenant.id, hash);
      const issued = seen && seen.clientId === client.clientId && seen.consumedAt !== null ? seen.grantId : null;
      return issued ? { reuse: issued } : undefined;
    }
    if (!won.subject) return undefined;
    const d = won.data as { authTime?: number; acr?: string; amr?: string[]; sid?: string };
    await tx.insertGrant({ tenantId: ctx.tenant.id, id: grantId, clientId: client.clientId, subject: won.subject, scope: won.scope, createdAt: now, revokedAt: null, data: { grantType: kind.grantType, ...(grantedDetails ? { authorizationDetails: grantedDetails } : {}) } });
    // RFC 9068 §3: no resource named, so the audience is inferred from the scope (or is the issuer).
    // The scope narrowed above from the code as polled; the user's decision was already made then, so it is the same one.
    const target = await tokenTarget({ ...ctx, store: tx }, client, { resources: [], scope, scopeRequested: false });
    const body = await issueUserTokens(ctx, tx, {
      client, grantId, subject: won.subject, target, resources: [], refreshScope: scope, grantedScope: won.scope, authTime: d.authTime, acr: d.acr, amr: d.amr, sid: d.sid,
      authorizationDetails: details, grantedAuthorizationDetails: grantedDetails,
    });
    return { body };
  });
  if (!outcome) throw invalid();
  if ('reuse' in outcome) return reused(ctx, kind, client.clientId, outcome.reuse, now);
  return jsonResult('OK', 200, 'LK2001', outcome.body);
};

/** RFC 8628 §3.4: the device code grant. */
export const deviceCode: GrantHandler = polledGrant({
  param: 'device_code',
  hashOf: (ctx, presented) => ctx.hasher.hash(presented),
  grantType: 'device_code',
  noun: 'device code',
  codes: { pending: 'LK7017', slowDown: 'LK7018', denied: 'LK7019', expired: 'LK7020', invalid: 'LK7021', reused: 'LK7040', nothingLeft: 'LK7141' },
});

/**
 * A device code redeemed a second time by its own client: revoke the grant its redemption made (every access and
 * refresh token it issued) and refuse. RFC 8628 says nothing of reuse; this does what RFC 6749 §4.1.2 asks for a
 * reused authorization code, since whoever redeemed first may not be the device. Outside any transaction, so the
 * revocation is not rolled back with the failed request. The audit event comes from LK7040 (src/audit/audit.ts).
 */
async function reused(ctx: EngineContext, kind: PolledGrant, clientId: string, grantId: string, now: number): Promise<never> {
  await ctx.store.revokeGrant(ctx.tenant.id, grantId, now);
  ctx.log?.warn({ tenant: ctx.tenant.id, client: clientId, grantType: kind.grantType, event: 'code_reuse' }, `${kind.noun} reused; grant revoked`);
  throw new OAuthError('invalid_grant', `${kind.noun} already used`, { resultCode: kind.codes.reused });
}
