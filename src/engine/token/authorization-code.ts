import { createHash, timingSafeEqual } from 'node:crypto';
import type { ClaimsRequest } from '../claims.js';
import { nowSeconds } from '../context.js';
import { OAuthError } from '../errors.js';
import { checkSubset, loadResources, resourceParams, tokenTarget } from '../resources.js';
import { jsonResult } from '../result.js';
import { accountGone, prefetchAccount } from '../accounts.js';
import { currentScope, issueUserTokens, nothingLeft } from './issue.js';
import { sessionBindingOf } from '../sessions.js';
import type { GrantHandler } from './types.js';
import { narrowAuthorizationDetails, storedAuthorizationDetails, tokenRequestAuthorizationDetails } from '../authorization-details.js';

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/; // RFC 7636 §4.1

const invalidGrant = (rc: 'LK2004' | 'LK2005' | 'LK2006' | 'LK2007', description: string) =>
  new OAuthError('invalid_grant', description, { resultCode: rc });

/** RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge, compared in constant time. */
function pkceMatches(verifier: string, challenge: string): boolean {
  const computed = Buffer.from(createHash('sha256').update(verifier, 'ascii').digest('base64url'));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

/** Thrown inside the redemption transaction to roll the code's consumption back (see authorizationCode). */
class Unspent {
  constructor(readonly error: OAuthError) {}
}

/** RFC 6749 §4.1.3: exchange an authorization code. Single use; a reused code revokes what it issued (§4.1.2). */
export const authorizationCode: GrantHandler = async (params, { client }, ctx) => {
  const code = params.require('code');
  const redirectUri = params.get('redirect_uri');
  const verifier = params.get('code_verifier');
  const now = nowSeconds(ctx);
  if (code.length > 200) throw invalidGrant('LK2004', 'invalid authorization code');
  const requestedResources = resourceParams(params); // RFC 8707 §2.2; malformed values fail before the code is spent
  const requestedDetails = tokenRequestAuthorizationDetails(ctx, params); // RFC 9396 §6; likewise
  const hash = ctx.hasher.hash(code);

  // An embedding application's account is looked up before the transaction, never inside it (accounts.ts), from a
  // read of the code that spends nothing. Before rather than after: a lookup that fails then fails the request with
  // the code unspent, as a failure inside the transaction does. What decides whether tokens are issued is unchanged
  // and stays inside the transaction: the code's checks and the grant's revocation (disabling or deleting a user of
  // the users table revokes their grants in its own transaction, so it is seen there whichever commits first).
  const peek = ctx.accounts ? await ctx.store.findCode(ctx.tenant.id, hash) : undefined;
  const peeked = peek && peek.clientId === client.clientId && peek.consumedAt === null && peek.expiresAt > now
    ? (peek.data as { subject: string; scope: string[]; claims?: ClaimsRequest })
    : undefined;
  // The host's account is looked up whatever the scope: tokens are issued only while it exists (liveHostAccount).
  const account = peeked ? await prefetchAccount(ctx, peeked.subject, true) : undefined;

  /** What this request must prove about the code it presents, checked against the code's own record. */
  const presenterError = (codeClientId: string, d: { redirectUri: string; redirectUriSent: boolean; codeChallenge?: string; dpopJkt?: string }) => {
    if (codeClientId !== client.clientId) return invalidGrant('LK2004', 'invalid authorization code');
    // RFC 9449 §10: a code bound with dpop_jkt is exchanged only with a proof by that key.
    if (d.dpopJkt !== undefined && ctx.confirmation?.jkt !== d.dpopJkt) {
      return new OAuthError('invalid_grant', 'the authorization code is bound to another DPoP key', { resultCode: 'LK13005' });
    }
    // RFC 6749 §4.1.3: when redirect_uri was in the authorization request, it must be here and identical.
    if ((d.redirectUriSent || redirectUri !== undefined) && redirectUri !== d.redirectUri) {
      return invalidGrant('LK2006', 'redirect_uri does not match the authorization request');
    }
    if (d.codeChallenge !== undefined) {
      if (verifier === undefined) return invalidGrant('LK2007', 'missing code_verifier');
      if (!VERIFIER.test(verifier) || !pkceMatches(verifier, d.codeChallenge)) return invalidGrant('LK2007', 'code_verifier does not match');
    } else if (verifier !== undefined) {
      // RFC 9700 §4.8.2: a verifier for a code issued without a challenge signals a PKCE downgrade attempt.
      return invalidGrant('LK2007', 'code_verifier sent but no code_challenge was used');
    }
    return undefined;
  };

  // Consume and issue in one transaction: a failure part-way leaves the code unused and nothing issued.
  // The request's own proof of possession is checked before the code counts as spent (RFC 9700 §4.5, §2.1.1):
  // another client, a wrong PKCE verifier, another redirect_uri or DPoP key roll the consumption back, so whoever holds
  // a leaked code without its verifier can neither burn it nor, by presenting it again, make it a reuse that revokes
  // the grant. The consumption stays one conditional statement; the rollback costs nothing on the path that succeeds.
  let outcome;
  try {
    outcome = await ctx.store.transaction(async (tx) => {
      const consumed = await tx.consumeCode(ctx.tenant.id, hash, now);
      if (!consumed) return { error: invalidGrant('LK2004', 'invalid authorization code') };
      const { code: rec, firstUse } = consumed;
      const d = rec.data as {
        subject: string; scope: string[]; redirectUri: string; redirectUriSent: boolean; codeChallenge?: string;
        nonce?: string; authTime?: number; acr?: string; amr?: string[]; sid?: string; resources?: string[]; claims?: ClaimsRequest; dpopJkt?: string; authorizationDetails?: unknown;
      };
      const unproven = presenterError(rec.clientId, d);
      if (unproven) throw new Unspent(unproven);
      if (!firstUse) return { reuse: rec.grantId };
      if (rec.expiresAt <= now) return { error: invalidGrant('LK2004', 'authorization code expired') };
      // RFC 9396 §6, §7: the access token carries the granted authorization details, or the subset the request names
      // (each equal to a granted one); asking for others spends nothing, as a wrong verifier does not.
      const grantedDetails = storedAuthorizationDetails(d.authorizationDetails);
      let details = grantedDetails;
      if (requestedDetails) {
        try {
          details = narrowAuthorizationDetails(requestedDetails, grantedDetails ?? []);
        } catch (e) {
          if (e instanceof OAuthError) throw new Unspent(e);
          throw e;
        }
      }
      // Held until commit (findGrantLocked): a revocation racing this redemption revokes what it issues (RFC 7009 §2.1).
      const grant = await tx.findGrantLocked(ctx.tenant.id, rec.grantId);
      if (!grant || grant.revokedAt !== null) return { error: invalidGrant('LK2004', 'the grant was revoked') };
      if (ctx.accounts && !account?.account) return { error: accountGone() }; // the code stays spent, as below
      const txCtx = { ...ctx, store: tx };
      const granted = d.resources ?? [];
      const scope = currentScope(client, d.scope);
      if (!scope) return { error: nothingLeft('LK7140') }; // the code stays spent, as below
      let target;
      try {
        // RFC 8707 §2.2: the named resources must be among those granted; the access token is for that subset
        // (all granted when none is named), the refresh token stays bound to the whole grant.
        checkSubset(requestedResources, granted);
        const resources = await loadResources(txCtx, client, requestedResources.length ? requestedResources : granted);
        target = await tokenTarget(txCtx, client, { resources, scope, scopeRequested: false });
      } catch (e) {
        if (e instanceof OAuthError) return { error: e }; // the code stays spent: single use, whatever went wrong
        throw e;
      }
      const body = await issueUserTokens(ctx, tx, {
        client,
        grantId: rec.grantId,
        subject: d.subject,
        target,
        resources: granted,
        refreshScope: scope,
        grantedScope: d.scope,
        authTime: d.authTime,
        acr: d.acr,
        amr: d.amr,
        sid: d.sid,
        session: sessionBindingOf(grant, scope),
        nonce: d.nonce,
        claims: d.claims,
        account,
        authorizationDetails: details,
        grantedAuthorizationDetails: grantedDetails,
      });
      return { body };
    });
  } catch (e) {
    if (e instanceof Unspent) throw e.error; // rolled back: the code is as it was
    throw e;
  }

  if ('reuse' in outcome) {
    // Outside the transaction above so the revocation is not rolled back with the failed request.
    await ctx.store.revokeGrant(ctx.tenant.id, outcome.reuse!, now);
    ctx.log?.warn({ tenant: ctx.tenant.id, client: client.clientId, event: 'code_reuse' }, 'authorization code reused; grant revoked');
    throw invalidGrant('LK2005', 'authorization code already used');
  }
  if ('error' in outcome) throw outcome.error;
  return jsonResult('OK', 200, 'LK2001', outcome.body);
};
