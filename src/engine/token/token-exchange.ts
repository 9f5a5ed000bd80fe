import type { ClientRecord, TokenExchangePolicy, TokenRecord } from '../../store/types.js';
import { mintAccessToken } from '../../tokens/access-token.js';
import { lookupToken } from '../../tokens/lookup.js';
import { verifyOwnIdToken } from '../../tokens/verify-own.js';
import type { EngineContext } from '../context.js';
import { OAuthError } from '../errors.js';
import { parseScope } from '../params.js';
import { loadResources, MAX_RESOURCES, OIDC_SCOPES, resourceParams, tokenTarget } from '../resources.js';
import type { ResultCode } from '../result-codes.js';
import { jsonResult } from '../result.js';
import { localSubjectOf, subjectFor } from '../subject.js';
import { defaultExchangePolicy, EXCHANGE_OUTPUT_TYPES, TOKEN_EXCHANGE_GRANT, TOKEN_TYPE } from './exchange-policy.js';
import type { GrantHandler } from './types.js';

/**
 * One actor of a delegation chain (RFC 8693 §4.1), outermost first, as kept on the token's row (`act_chain`): a user
 * by local id, a client by client_id. The `act` claim shows each user as the token's client knows them (OIDC Core §8).
 */
interface ActorLink {
  sub: string;
  user: boolean;
}

/** A subject or actor token that checked out, reduced to what the new token needs. */
interface ExchangeParty {
  /** The user's local sub (never a pairwise one), or the client a client-only token stands for. */
  sub: string;
  isUser: boolean;
  /**
   * The most a token exchanged from it may carry: what the user granted when the token belongs to a grant
   * (the token itself may be down-scoped to one resource), else the token's own scope; undefined for ID
   * tokens, which carry none.
   */
  scope?: string[];
  grantId: string | null;
  expiresAt: number;
  /** The prior actors the token itself carries (RFC 8693 §4.1), outermost first. */
  actors?: ActorLink[];
  authTime?: number;
  acr?: string;
  amr?: string[];
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const invalidRequest = (rc: ResultCode, description: string, detail?: string) => new OAuthError('invalid_request', description, { resultCode: rc, detail });

/**
 * RFC 8693: token exchange. A confidential client trades a token this server issued (the subject token, and
 * for delegation an actor token) for a new access token, usually for another resource server.
 *
 * Policy (client metadata `token_exchange`, see exchange-policy.ts for the default):
 * - which token types it may present as subject and actor (`subject_token_types`, `actor_token_types`);
 * - impersonation (no actor_token: the new token stands for the subject alone, RFC 8693 §1.1) and delegation
 *   (an actor_token: the new token carries `act` naming the actor, RFC 8693 §4.1), each allowed or not;
 * - whose tokens: access tokens issued to the client itself, or whose `aud` includes one of its
 *   `subject_token_audiences` (a resource server exchanging the tokens it receives). Refresh tokens only of
 *   the client itself; ID tokens only those issued to it, unexpired.
 * Targets (`resource`, `audience`) are registered resource servers the client may use (resources.ts). The new
 * token's scope is at most the user's grant (a token for API 1 may become one for API 2 within what the user
 * consented to) and the client's registered scope, down-scoped to the targets. It never outlives the subject
 * or actor token, and stays in the subject's grant, so revoking that grant revokes it too.
 * Chains: an exchanged token can be exchanged again; its `act` becomes the nested prior actor (RFC 8693 §4.1).
 * Subjects (OIDC Core §8): parties are local users; a pairwise client's ID token is traced back through its sid
 * (subject.ts localSubjectOf) or refused; users in `act` are shown as the new token's client knows them.
 * Errors: a bad or unacceptable token is invalid_request (RFC 8693 §2.2.2 MUST); a refused target invalid_target.
 */
export const tokenExchange: GrantHandler = async (params, { client }, ctx) => {
  const policy: TokenExchangePolicy = client.tokenExchange ?? defaultExchangePolicy();
  const subjectToken = params.require('subject_token');
  const subjectType = params.require('subject_token_type');
  const actorToken = params.get('actor_token');
  const actorType = params.get('actor_token_type');
  // RFC 8693 §2.1: actor_token_type is REQUIRED with actor_token and MUST NOT be there without it.
  if ((actorToken === undefined) !== (actorType === undefined)) {
    throw invalidRequest('LK6026', 'actor_token and actor_token_type must be sent together');
  }
  const requestedType = params.get('requested_token_type') ?? TOKEN_TYPE.accessToken;
  if (!EXCHANGE_OUTPUT_TYPES.includes(requestedType)) {
    throw invalidRequest('LK6025', 'requested_token_type is not supported; ask for an access_token or a jwt');
  }
  if (!policy.subjectTokenTypes.includes(subjectType)) throw invalidRequest('LK6020', 'subject_token_type is not supported for this client');
  if (actorType !== undefined && !policy.actorTokenTypes.includes(actorType)) throw invalidRequest('LK6020', 'actor_token_type is not supported for this client');
  if (actorToken === undefined && !policy.impersonation) throw invalidRequest('LK6023', 'this client may exchange tokens only with an actor_token (delegation)');
  if (actorToken !== undefined && !policy.delegation) throw invalidRequest('LK6024', 'this client may not use an actor_token (delegation)');

  // RFC 8693 §2.1: resource (absolute URIs) and audience (logical names) both name targets; ours are the
  // identifiers of registered resource servers either way.
  const audiences = [...new Set(params.getAll('audience'))];
  if (audiences.length > MAX_RESOURCES || audiences.some((a) => a.length > 2000)) {
    throw new OAuthError('invalid_target', 'too many or too long audience values', { resultCode: 'LK6001' });
  }
  const targets = [...new Set([...resourceParams(params), ...audiences])];
  if (targets.length > MAX_RESOURCES) throw new OAuthError('invalid_target', `at most ${MAX_RESOURCES} targets are accepted`, { resultCode: 'LK6001' });

  const subject = await validateParty(ctx, client, policy, subjectToken, subjectType, 'subject');
  const actor = actorToken === undefined ? undefined : await validateParty(ctx, client, policy, actorToken, actorType!, 'actor');

  // The new token carries at most what the user granted (or a client-only subject token carries), and only
  // what this client may hold; the target then down-scopes it. An ID token carries no scope: it proves who the
  // user is, not what they consented to, so only the client's API scopes (never UserInfo's) follow from one.
  const ceiling = subject.scope !== undefined ? subject.scope.filter((s) => client.scope.includes(s)) : client.scope.filter((s) => !OIDC_SCOPES.has(s));
  const requested = parseScope(params.get('scope'));
  for (const s of requested) {
    if (!ceiling.includes(s)) throw new OAuthError('invalid_scope', `scope ${s} exceeds what the subject token and the client allow`, { resultCode: 'LK6027' });
  }
  const scopeRequested = params.has('scope');
  const target = await tokenTarget(ctx, client, {
    resources: await loadResources(ctx, client, targets),
    // Unasked, an exchange is for resource servers: OpenID scopes (UserInfo, offline access) come only on request.
    scope: scopeRequested ? requested : ceiling.filter((s) => !OIDC_SCOPES.has(s)),
    scopeRequested,
  });

  // RFC 8693 §4.1: the current actor outermost, prior actors (the subject token's own act) nested inside.
  const chain = actor ? [{ sub: actor.sub, user: actor.isUser }, ...(subject.actors ?? [])] : subject.actors;
  // OIDC Core §8: every user in `act` is shown as this client knows them, like the token's own sub; the row keeps
  // the local ids (act_chain) so that a later exchange by a client of another sector shows them in its own view.
  let act: Record<string, unknown> | undefined;
  for (const link of [...(chain ?? [])].reverse()) {
    const sub = link.user ? subjectFor(ctx, client, link.sub) : link.sub;
    act = act ? { sub, act } : { sub };
  }

  const jwt = requestedType === TOKEN_TYPE.jwt;
  const at = await mintAccessToken(ctx, {
    client,
    subject: subject.isUser ? subject.sub : null,
    clientSubject: subject.isUser ? undefined : subject.sub,
    scope: target.scope,
    audience: target.audience,
    format: jwt ? 'jwt' : target.format,
    lifetime: target.lifetime,
    notAfter: Math.min(subject.expiresAt, actor?.expiresAt ?? Infinity),
    grantId: subject.grantId,
    act,
    authTime: subject.authTime,
    acr: subject.acr,
    amr: subject.amr,
    extra: chain?.length ? { gty: TOKEN_EXCHANGE_GRANT, act_chain: chain } : { gty: TOKEN_EXCHANGE_GRANT },
    outsideTransaction: true,
  });
  // RFC 8693 §2.2.1: issued_token_type is required; scope when it differs from the request (always sent here).
  const body: Record<string, unknown> = {
    access_token: at.token,
    issued_token_type: jwt ? TOKEN_TYPE.jwt : TOKEN_TYPE.accessToken,
    token_type: 'Bearer',
    expires_in: at.expiresIn,
  };
  if (target.scope.length) body.scope = target.scope.join(' ');
  return jsonResult('OK', 200, 'LK2001', body);
};

/** Validate a subject or actor token of the given type against what this client may present. */
async function validateParty(
  ctx: EngineContext,
  client: ClientRecord,
  policy: TokenExchangePolicy,
  token: string,
  type: string,
  role: 'subject' | 'actor',
): Promise<ExchangeParty> {
  const rc: ResultCode = role === 'subject' ? 'LK6021' : 'LK6022';
  const refuse = (detail: string) => invalidRequest(rc, `the ${role}_token is invalid or not acceptable`, detail);

  const fromRecord = async (r: TokenRecord): Promise<ExchangeParty> => {
    if (r.clientId !== client.clientId) {
      // A refresh token is only ever usable by its own client (RFC 6749 §6).
      if (r.kind === 'refresh_token') throw refuse('refresh token of another client');
      const aud = Array.isArray(r.data.aud) ? (r.data.aud as unknown[]) : [r.data.aud];
      if (!aud.some((a) => typeof a === 'string' && policy.subjectTokenAudiences.includes(a))) {
        throw refuse('issued to another client, for an audience not in subject_token_audiences');
      }
    }
    const d = r.data;
    const grant = r.grantId !== null ? await ctx.store.findGrant(ctx.tenant.id, r.grantId) : undefined;
    if (grant && grant.revokedAt !== null) throw refuse('its grant was revoked');
    return {
      sub: r.subject ?? (typeof d.sub === 'string' ? d.sub : r.clientId),
      isUser: r.subject !== null,
      scope: grant ? grant.scope : r.scope,
      grantId: r.grantId,
      expiresAt: r.expiresAt,
      actors: actorsOf(d),
      authTime: typeof d.auth_time === 'number' ? d.auth_time : typeof d.authTime === 'number' ? d.authTime : undefined,
      acr: typeof d.acr === 'string' ? d.acr : undefined,
      amr: Array.isArray(d.amr) ? (d.amr as string[]) : undefined,
    };
  };

  const fromIdToken = async (): Promise<ExchangeParty> => {
    // Our own ID token, unexpired, issued to this very client.
    const p = await verifyOwnIdToken(ctx, token, { audience: client.clientId, allowExpired: false });
    if (!p) throw refuse('not a valid, unexpired ID token of this issuer for this client');
    // OIDC Core §8.1: a pairwise client's sub is a one-way function of the local id, never the local id itself; the
    // user is found through the session the ID token was issued in (subject.ts). Unresolved: refused, never guessed.
    const sub = await localSubjectOf(ctx, client, p.sub, typeof p.sid === 'string' ? p.sid : undefined);
    if (sub === undefined) throw refuse('a pairwise ID token whose user cannot be found through its sid');
    return {
      sub,
      isUser: true,
      grantId: null,
      expiresAt: typeof p.exp === 'number' ? p.exp : 0,
      authTime: typeof p.auth_time === 'number' ? p.auth_time : undefined,
      acr: typeof p.acr === 'string' ? p.acr : undefined,
      amr: Array.isArray(p.amr) ? (p.amr as string[]) : undefined,
    };
  };

  switch (type) {
    case TOKEN_TYPE.accessToken:
    case TOKEN_TYPE.refreshToken: {
      const state = await lookupToken(ctx, token);
      const kind = type === TOKEN_TYPE.accessToken ? 'access_token' : 'refresh_token';
      if (!state.active) throw refuse('unknown, expired, revoked or rotated');
      if (state.record.kind !== kind) throw refuse(`not a ${kind}`);
      return await fromRecord(state.record);
    }
    case TOKEN_TYPE.idToken:
      return fromIdToken();
    case TOKEN_TYPE.jwt: {
      // RFC 8693 §3: any JWT; ours are JWT access tokens (at+jwt) and ID tokens.
      if (!JWT_SHAPE.test(token)) throw refuse('not a JWT');
      const state = await lookupToken(ctx, token);
      if (state.active && state.jwt) return await fromRecord(state.record);
      if (state.record) throw refuse('expired or revoked');
      return fromIdToken();
    }
    default:
      throw refuse('unsupported token type');
  }
}

/**
 * The prior actors a token carries: its act_chain (local ids), or, for a token minted before act_chain existed, its
 * act claim as it was shown (nothing to map back).
 */
function actorsOf(d: Record<string, unknown>): ActorLink[] | undefined {
  const kept = d.act_chain;
  if (Array.isArray(kept) && kept.every((l) => isObject(l) && typeof l.sub === 'string' && typeof l.user === 'boolean')) {
    return kept.length ? (kept as ActorLink[]) : undefined;
  }
  const links: ActorLink[] = [];
  for (let a: unknown = d.act; isObject(a) && typeof a.sub === 'string' && links.length < 32; a = a.act) links.push({ sub: a.sub, user: false });
  return links.length ? links : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
