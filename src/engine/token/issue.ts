import type { ClientRecord, Store } from '../../store/types.js';
import { isFapi } from '../fapi.js';
import { accountInTransaction, type PrefetchedAccount } from '../accounts.js';
import { mintAccessToken } from '../../tokens/access-token.js';
import { newOrderedHandle, tokenKey } from '../../tokens/handles.js';
import { mintIdToken } from '../../tokens/id-token.js';
import { accessTokenClaimsRecord, type ClaimsRequest, requestedUserClaims } from '../claims.js';
import { type EngineContext, nowSeconds } from '../context.js';
import { OAuthError } from '../errors.js';
import type { TokenTarget } from '../resources.js';
import { SESSION_BINDING, type SessionBinding } from '../sessions.js';
import type { AuthorizationDetail } from '../authorization-details.js';

/** What a user-bound grant (code, refresh, password) carries into a token response. */
export interface UserGrant {
  client: ClientRecord;
  grantId: string;
  subject: string;
  /** The access token's audience, down-scoped scope, format and lifetime (resources.ts tokenTarget). */
  target: TokenTarget;
  /** Every resource of the grant: the refresh token stays bound to all of them (RFC 8707 §2.2). */
  resources: string[];
  authTime?: number;
  acr?: string;
  amr?: string[];
  sid?: string;
  nonce?: string;
  /** Scope of the refresh token (the grant's); decides whether one is issued. */
  refreshScope: string[];
  /**
   * The scope the user granted, when refreshScope is that narrowed to the client's current scope (code and device
   * code redemption): a refresh token only if the grant as made would have had one too, so narrowing (say, openid
   * taken away from an OpenID grant without offline_access) never yields a refresh token the user did not grant.
   */
  grantedScope?: string[];
  /** OIDC Core §11: the session the grant is bound to (sessions.ts sessionBindingOf), marked on every token minted. */
  session?: SessionBinding;
  /** Absolute expiry of the refresh-token family (kept across rotations); a new family when absent. */
  refreshExpiresAt?: number;
  /** Rotation off: this refresh token stays valid and is returned as it is. */
  keepRefreshToken?: string;
  /** OIDC Core §5.5: claims asked for by name; UserInfo releases the userinfo ones, the ID token carries the id_token ones. */
  claims?: ClaimsRequest;
  /** An embedding application's account, looked up before the transaction (accounts.ts prefetchAccount). */
  account?: PrefetchedAccount;
  /** RFC 9396 §7: the authorization details of this access token (those granted, or the subset the request named). */
  authorizationDetails?: AuthorizationDetail[];
  /** RFC 9396 §7.2: every authorization detail of the grant: the refresh token keeps them all. */
  grantedAuthorizationDetails?: AuthorizationDetail[];
}

/**
 * Whether a grant gets a refresh token: the client must be registered for the refresh_token grant, and for
 * OpenID requests the user must have granted offline_access (OIDC Core §11) or the client asked for session-bound
 * refresh tokens (they die with the session) and there is a session to bind them to (`sessionBound`: the grant was
 * made in one, sessionBindingOf); plain OAuth grants get one. A device code or password grant, or an issue step with
 * no sid, has no session: a session_refresh_tokens client gets none there, rather than one that outlives nothing and
 * lasts the full refresh lifetime without the user's offline_access.
 */
export function wantsRefreshToken(client: ClientRecord, scope: string[], sessionBound: boolean): boolean {
  if (!client.grantTypes.includes('refresh_token')) return false;
  return scope.includes('offline_access') || !scope.includes('openid') || (client.sessionRefreshTokens === true && sessionBound);
}

/** The refresh-token policy of a client: its own settings over the tenant's. */
export interface RefreshPolicy {
  /** Absolute lifetime of a family, seconds. */
  lifetime: number;
  /** Idle lifetime, seconds; 0 = none. */
  idle: number;
  rotation: boolean;
  /** Seconds after a rotation in which the rotated token is accepted once more; 0 = never. */
  reuseInterval: number;
}

export function refreshPolicy(ctx: EngineContext, client: ClientRecord): RefreshPolicy {
  const s = ctx.tenant.settings;
  return {
    lifetime: client.refreshTokenLifetime ?? s.refreshTokenTtl,
    idle: client.refreshTokenIdleLifetime ?? s.refreshTokenIdleTtl,
    // RFC 9700 §4.14.2: refresh tokens of public clients must be sender-constrained or rotated; we rotate.
    // FAPI 2.0 §5.3.2.1: no rotation for a FAPI client unless its operator set refresh_token_rotation (the
    // profile's "extraordinary circumstances"): its refresh tokens are bound to its authentication instead.
    rotation: client.tokenEndpointAuthMethod === 'none' ? true : (client.refreshTokenRotation ?? (isFapi(client, s) ? false : s.refreshTokenRotation)),
    reuseInterval: client.refreshTokenReuseInterval ?? s.refreshTokenReuseInterval,
  };
}

/**
 * RFC 9700 §4.14.2: whether a rotated refresh token (consumed at consumedAt) presented again is within the grace the
 * policy gives a retry or a racing tab (rotation on, a reuse interval, not yet elapsed); outside it, it is a reuse that
 * revokes its family. The refresh grant and token exchange both apply it.
 */
export function withinReuseGrace(policy: RefreshPolicy, consumedAt: number, now: number): boolean {
  return policy.rotation && policy.reuseInterval > 0 && consumedAt >= now - policy.reuseInterval;
}

/** A refresh token's expiry: the family's absolute end, or sooner when it goes unused for the idle lifetime. */
export function refreshExpiry(policy: RefreshPolicy, absolute: number, now: number): number {
  return policy.idle > 0 ? Math.min(absolute, now + policy.idle) : absolute;
}

/**
 * RFC 6749 §3.3: what the user granted, narrowed to what the client is registered for now. An operator may take a
 * scope away from a client between the authorization and the redemption of its code (or device code); the tokens
 * then carry only what the client may still have (the refresh grant does the same at each refresh, LK7082), and the
 * response's scope says so (§5.1: it MUST be there when it differs from the request; issueUserTokens always sends a
 * non-empty one). openid is narrowed like any scope: the token endpoint issues an ID token exactly when the tokens'
 * scope has openid (issueUserTokens), as at the authorization endpoint, where a client without openid gets a plain
 * OAuth grant (authorization/request.ts checkScope). Undefined when scopes were granted and none of them is left:
 * the redemption is refused with invalid_scope, as such a refresh is (LK7082), rather than issuing tokens for
 * nothing the user agreed to; a grant made with no scope at all stays a grant of no scope.
 */
export function currentScope(client: ClientRecord, granted: readonly string[]): string[] | undefined {
  const scope = granted.filter((s) => client.scope.includes(s));
  return granted.length && !scope.length ? undefined : scope;
}

/** The refusal when currentScope leaves nothing (RFC 6749 §5.2 invalid_scope). */
export const nothingLeft = (rc: 'LK7140' | 'LK7141') =>
  new OAuthError('invalid_scope', 'the client is no longer registered for any of the scopes granted', { resultCode: rc });

/** Mint access, refresh and ID tokens for a user grant inside the given store (a transaction). */
export async function issueUserTokens(ctx: EngineContext, tx: Store, g: UserGrant): Promise<Record<string, unknown>> {
  const txCtx: EngineContext = { ...ctx, store: tx };
  const now = nowSeconds(ctx);
  const at = await mintAccessToken(txCtx, {
    client: g.client,
    subject: g.subject,
    scope: g.target.scope,
    audience: g.target.audience,
    format: g.target.format,
    lifetime: g.target.lifetime,
    grantId: g.grantId,
    authTime: g.authTime,
    acr: g.acr,
    amr: g.amr,
    sid: g.sid,
    authorizationDetails: g.authorizationDetails,
    extra: g.session ? { ...accessTokenClaimsRecord(g.claims), [SESSION_BINDING]: g.session } : accessTokenClaimsRecord(g.claims),
  });
  // RFC 6749 §5.1: scope is the access token's, which resource down-scoping may have narrowed (RFC 8707 §2.2).
  const body: Record<string, unknown> = { access_token: at.token, token_type: 'Bearer', expires_in: at.expiresIn };
  // RFC 6749 §3.3: a scope is one or more tokens, so an empty one is left out (optional when it is as requested, §5.1).
  if (g.target.scope.length) body.scope = g.target.scope.join(' ');
  if (g.authorizationDetails?.length) body.authorization_details = g.authorizationDetails; // RFC 9396 §7
  if (g.keepRefreshToken !== undefined) {
    body.refresh_token = g.keepRefreshToken;
  } else if (wantsRefreshToken(g.client, g.refreshScope, !!g.session) && (g.grantedScope === undefined || wantsRefreshToken(g.client, g.grantedScope, !!g.session))) {
    const policy = refreshPolicy(ctx, g.client);
    const rt = newOrderedHandle(ctx.random, ctx.clock());
    const absolute = g.refreshExpiresAt ?? now + policy.lifetime;
    await tx.insertToken({
      tenantId: ctx.tenant.id,
      hash: tokenKey(ctx.hasher, rt),
      kind: 'refresh_token',
      clientId: g.client.clientId,
      subject: g.subject,
      scope: g.refreshScope,
      grantId: g.grantId,
      issuedAt: now,
      expiresAt: refreshExpiry(policy, absolute, now),
      revokedAt: null,
      consumedAt: null,
      data: {
        authTime: g.authTime, acr: g.acr, amr: g.amr, sid: g.sid, resources: g.resources, absoluteExpiresAt: absolute,
        ...(g.claims ? { claimsRequest: g.claims } : {}),
        ...(g.grantedAuthorizationDetails?.length ? { authorizationDetails: g.grantedAuthorizationDetails } : {}), // RFC 9396 §7.2
        ...(g.session ? { [SESSION_BINDING]: g.session } : {}),
        // RFC 9449 §5, RFC 8705 §4: a public client's refresh token is bound to its DPoP key and to its certificate
        // (a confidential client authenticates instead); checkRefreshBinding checks both at refresh.
        ...(ctx.confirmation && g.client.tokenEndpointAuthMethod === 'none' ? { cnf: publicRefreshConfirmation(ctx.confirmation) } : {}),
      },
    });
    body.refresh_token = rt;
  }
  if (g.target.scope.includes('openid')) {
    const wanted = g.claims?.id_token;
    const user = wanted ? await accountInTransaction(ctx, tx, g.subject, g.account) : undefined;
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
      encryptionKey: ctx.idTokenEncryption, // resolved by the token endpoint before the transaction (token/index.ts)
    });
  }
  return body;
}

/** The confirmation a public client's refresh token keeps: the DPoP key (RFC 9449 §5) and the certificate (RFC 8705 §4). */
function publicRefreshConfirmation(c: NonNullable<EngineContext['confirmation']>): Record<string, string> {
  const cnf: Record<string, string> = {};
  if (c.jkt) cnf.jkt = c.jkt;
  if (c['x5t#S256']) cnf['x5t#S256'] = c['x5t#S256'];
  return cnf;
}
