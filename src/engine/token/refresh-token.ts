import type { TokenRecord } from '../../store/types.js';
import type { ClaimsRequest } from '../claims.js';
import { nowSeconds } from '../context.js';
import { OAuthError } from '../errors.js';
import { parseScope } from '../params.js';
import { checkSubset, loadResources, resourceParams, tokenTarget } from '../resources.js';
import { jsonResult } from '../result.js';
import { issueUserTokens, refreshExpiry, refreshPolicy, withinReuseGrace } from './issue.js';
import { liveHostAccount } from '../accounts.js';
import type { GrantHandler } from './types.js';
import { narrowAuthorizationDetails, storedAuthorizationDetails, tokenRequestAuthorizationDetails } from '../authorization-details.js';
import { checkRefreshBinding } from '../token-binding.js';
import { tokenKey } from '../../tokens/handles.js';
import { readBoundSession, sessionBindingOf, sessionTouchDue } from '../sessions.js';

const invalid = (description: string) => new OAuthError('invalid_grant', description, { resultCode: 'LK2008' });

interface RefreshData {
  authTime?: number;
  acr?: string;
  amr?: string[];
  sid?: string;
  resources?: string[];
  /** The family's absolute expiry; the row's own expiry may be sooner (idle lifetime). */
  absoluteExpiresAt?: number;
  /** OIDC Core §5.5: the claims request of the original authorization, kept for UserInfo and the ID token. */
  claimsRequest?: ClaimsRequest;
  /** RFC 9396 §7: the grant's authorization details. */
  authorizationDetails?: unknown;
}

/**
 * RFC 6749 §6 with the client's refresh policy (refreshPolicy: its settings over the tenant's):
 *
 * - Rotation on (the default, and always for public clients): each use returns a new refresh token; presenting
 *   one that was already rotated revokes the whole family (the grant), since either the client or an attacker
 *   holds a copy (RFC 9700 §4.14.2). With a reuse interval, a rotated token presented again within that many
 *   seconds of its rotation is accepted exactly once more and the family is kept: a client that lost the
 *   response (or two tabs racing) retries without logging the user out, while a second replay, or a replay
 *   after the interval, still revokes the family. The earlier successor stays valid: the server cannot tell
 *   which copy the legitimate client kept.
 * - Rotation off: the same refresh token is returned and stays valid; an idle lifetime slides with each use.
 * - Expiry: absolute for the family (refresh_token_lifetime), and idle (refresh_token_idle_lifetime) per token.
 * - Resources (RFC 8707 §2.2): the request may name some of the originally granted resources and gets an
 *   access token for just those, down-scoped; the refresh token stays bound to the whole grant.
 */
export const refreshToken: GrantHandler = async (params, { client }, ctx, input) => {
  const presented = params.require('refresh_token');
  const now = nowSeconds(ctx);
  if (presented.length > 200) throw invalid('invalid refresh token');
  const requestedResources = resourceParams(params);
  const requestedDetails = tokenRequestAuthorizationDetails(ctx, params); // RFC 9396 §6
  const hash = tokenKey(ctx.hasher, presented);
  const rec = await ctx.store.findToken(ctx.tenant.id, hash);
  // A token of another client is not touched: that client did not present it (RFC 6749 §6: bound to the client).
  if (!rec || rec.kind !== 'refresh_token' || rec.clientId !== client.clientId) throw invalid('invalid refresh token');
  if (rec.revokedAt !== null) throw invalid('refresh token revoked');
  const policy = refreshPolicy(ctx, client);
  const retryAllowed = policy.rotation && policy.reuseInterval > 0;
  if (rec.consumedAt !== null && !withinReuseGrace(policy, rec.consumedAt, now)) return reuse(rec.grantId!);
  if (rec.expiresAt <= now) throw invalid('refresh token expired');
  checkRefreshBinding(ctx, rec, input.clientCertificate); // RFC 9449 §5, RFC 8705 §4

  // RFC 6749 §6: never beyond the original grant, nor beyond what the client is registered for now (an operator who
  // narrows a client's scope narrows its refreshes too). A scope the client names is checked as a new request's
  // would be: one it may no longer have is invalid_scope. Asking for none means "as originally granted" (§6), which
  // the server may narrow (§3.3) and then says so in the response's scope: the client is told, not refused, unless
  // nothing at all is left. The new refresh token keeps its scope (§6: identical), so a scope the operator restores
  // comes back.
  let requested: string[];
  if (params.has('scope')) {
    requested = parseScope(params.get('scope'));
    for (const s of requested) {
      if (!rec.scope.includes(s)) {
        throw new OAuthError('invalid_scope', `scope ${s} was not granted originally`, { resultCode: 'LK2010' }); // RFC 6749 §6
      }
      if (!client.scope.includes(s)) throw new OAuthError('invalid_scope', `scope ${s} is not allowed for this client`, { resultCode: 'LK7081' });
    }
  } else {
    requested = rec.scope.filter((s) => client.scope.includes(s));
    if (rec.scope.length && !requested.length) {
      throw new OAuthError('invalid_scope', 'the client is no longer registered for any of the scopes granted', { resultCode: 'LK7082' });
    }
  }
  const d = rec.data as RefreshData;
  const granted = d.resources ?? [];
  checkSubset(requestedResources, granted);
  // RFC 9396 §6, §7: the new access token gets the grant's authorization details, or the subset the request names;
  // the new refresh token keeps them all (as it keeps the scope, RFC 6749 §6).
  const grantedDetails = storedAuthorizationDetails(d.authorizationDetails);
  const details = requestedDetails ? narrowAuthorizationDetails(requestedDetails, grantedDetails ?? []) : grantedDetails;
  const resources = await loadResources(ctx, client, requestedResources.length ? requestedResources : granted);
  const target = await tokenTarget(ctx, client, { resources, scope: requested, scopeRequested: params.has('scope') });
  const absolute = d.absoluteExpiresAt ?? rec.expiresAt;
  // An embedding application's account, looked up before the transaction, never inside it (accounts.ts), and before
  // the retry below is claimed, so a failing lookup spends nothing. Whether tokens are issued is still decided
  // inside the transaction (the token's consumption, the grant's revocation), as before.
  // It must still exist (liveHostAccount): a refresh for an account the host no longer finds is refused.
  const account = await liveHostAccount(ctx, rec.subject);
  // OIDC Core §10.2: an ID token this refresh would carry but could not encrypt (the client's key unavailable,
  // resolved by token/index.ts) is refused before the retry below is claimed, so the client's retry stays unspent.
  if (target.scope.includes('openid') && ctx.idTokenEncryption instanceof OAuthError) throw ctx.idTokenEncryption;
  // A retry within the interval is claimed only once the request is known to be good, so a bad one does not
  // use it up.
  let grace = false;
  if (rec.consumedAt !== null) {
    grace = await retryWithinInterval();
    if (!grace) return reuse(rec.grantId!);
  }

  const outcome = await ctx.store.transaction(async (tx) => {
    // The grant first, held until commit (findGrantLocked): a revocation racing this refresh then waits and revokes
    // what it issues, or went first and is seen here (RFC 7009 §2.1). Before the token's row, as revokeGrant orders
    // its updates (grant, then tokens), so the two cannot deadlock.
    const grant = await tx.findGrantLocked(ctx.tenant.id, rec.grantId!);
    if (policy.rotation && !grace) {
      // RFC 9700 §4.14.2: the rotated row stays as long as the family can (its absolute end), not only until its own
      // expiry, which an idle lifetime makes sooner: swept at that expiry, a stolen copy presented later would be
      // just unknown, and the family it was rotated into would live on instead of being revoked (reuse()).
      const won = await tx.consumeToken(ctx.tenant.id, hash, now, absolute);
      // Lost a race against another use of the same token: within the interval that is the retry it allows.
      if (!won) {
        if (!(await retryWithinInterval(tx))) return { reuse: true as const };
        grace = true;
      }
    }
    if (!grant || grant.revokedAt !== null) return { error: invalid('the grant was revoked') };
    // OIDC Core §11: without offline_access a grant made in a browser session lives only as long as the session
    // (ended, expired or idle: the cookie's own rule, isSessionLive), not only until an explicit logout. The family's
    // scope decides (it is the grant's, unless offline_access was narrowed away when the code was redeemed).
    const binding = sessionBindingOf(grant, rec.scope);
    if (binding) {
      const { ended, session } = await readBoundSession(ctx, tx, binding, now);
      if (ended) {
        await tx.revokeGrant(ctx.tenant.id, grant.id, now);
        return { error: new OAuthError('invalid_grant', 'the session this refresh token was bound to has ended', { resultCode: 'LK7080' }) };
      }
      // A refresh is activity in the session (as Keycloak's SSO Session Idle): the client the user is using keeps it
      // from going idle. The absolute lifetime (sessionTtl) is untouched, so it still ends the session and its tokens.
      if (session && sessionTouchDue(ctx.tenant.settings, session, now)) await tx.touchSession(ctx.tenant.id, session.hash, now);
    }
    if (!policy.rotation && policy.idle > 0) await tx.extendToken(ctx.tenant.id, hash, refreshExpiry(policy, absolute, now));
    const body = await issueUserTokens(ctx, tx, {
      client,
      grantId: rec.grantId!,
      subject: rec.subject!,
      // RFC 6749 §6: a narrowed request narrows the access token; the new refresh token keeps the original scope.
      target,
      resources: granted,
      refreshScope: rec.scope,
      authTime: d.authTime,
      acr: d.acr,
      amr: d.amr,
      sid: d.sid,
      session: binding,
      refreshExpiresAt: absolute,
      keepRefreshToken: policy.rotation ? undefined : presented,
      claims: d.claimsRequest,
      account,
      authorizationDetails: details,
      grantedAuthorizationDetails: grantedDetails,
    });
    return { body };
  });
  if ('reuse' in outcome) return reuse(rec.grantId!);
  if ('error' in outcome) throw outcome.error;
  const rc = grace ? 'LK6030' : policy.rotation ? 'LK2001' : 'LK6031';
  return jsonResult('OK', 200, rc, outcome.body);

  /** RFC 9700 §4.14.2 grace: one more use of a just-rotated token, claimed atomically. */
  async function retryWithinInterval(store = ctx.store): Promise<boolean> {
    if (!retryAllowed) return false;
    const r: TokenRecord | undefined = await store.reuseRotatedToken(ctx.tenant.id, hash, now, now - policy.reuseInterval);
    if (r) ctx.log?.info({ tenant: ctx.tenant.id, client: client.clientId, event: 'refresh_retry' }, 'rotated refresh token accepted once more within the reuse interval');
    return r !== undefined;
  }

  async function reuse(grantId: string): Promise<never> {
    await ctx.store.revokeGrant(ctx.tenant.id, grantId, now);
    ctx.log?.warn({ tenant: ctx.tenant.id, client: client.clientId, event: 'refresh_reuse' }, 'rotated refresh token reused; family revoked');
    throw new OAuthError('invalid_grant', 'refresh token already used', { resultCode: 'LK2009' });
  }
};
