import type { ClientRecord, GrantRecord, MayActClaim, TokenExchangePolicy, TokenRecord } from '../../store/types.js';
import { mintAccessToken } from '../../tokens/access-token.js';
import { lookupToken } from '../../tokens/lookup.js';
import { verifyOwnIdToken } from '../../tokens/verify-own.js';
import { findAccount } from '../accounts.js';
import { type EngineContext, nowSeconds } from '../context.js';
import { OAuthError } from '../errors.js';
import { parseScope } from '../params.js';
import { loadResources, MAX_RESOURCES, OIDC_SCOPES, resourceParams, tokenTarget } from '../resources.js';
import type { ResultCode } from '../result-codes.js';
import { jsonResult } from '../result.js';
import { localSubjectOf, subjectFor } from '../subject.js';
import { defaultExchangePolicy, EXCHANGE_OUTPUT_TYPES, TOKEN_EXCHANGE_GRANT, TOKEN_TYPE } from './exchange-policy.js';
import { refreshPolicy, withinReuseGrace } from './issue.js';
import type { GrantHandler } from './types.js';
import { readBoundSession, recordedSessionBinding, SESSION_BINDING, type SessionBinding, sessionBindingOf } from '../sessions.js';
import { ACTOR_SESSIONS, recordedActorSessions } from '../sessions.js';
import { isObject } from '../objects.js';

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
   * The most a token exchanged from it may carry (RFC 9700 §2.3): what the user granted when the token comes from a
   * grant made to the exchanging client itself (its own token may be down-scoped to one resource); else, a token
   * another client received or was issued, only the token's own scope.
   */
  scope: string[];
  grantId: string | null;
  expiresAt: number;
  /** The prior actors the token itself carries (RFC 8693 §4.1), outermost first. */
  actors?: ActorLink[];
  /** The grants of the user actors in its chain (a token exchanged with a user's token as actor dies with them). */
  actorGrants?: string[];
  authTime?: number;
  acr?: string;
  amr?: string[];
  /** OIDC Core §11: the session the subject's grant is bound to; the new token, in that grant, ends with it too. */
  session?: SessionBinding;
  /** The sessions of the session-bound user actors the token already depends on (its actor_sessions). */
  actorSessions?: SessionBinding[];
  /** RFC 8693 §4.4: the party the token says may act for its subject, if it says so. */
  mayAct?: Record<string, unknown>;
  /** Issued to the requesting client itself (its own token, not one it received). */
  own: boolean;
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
 *   the client itself; ID tokens only those issued to it, unexpired, with a sid that leads to the grant they came from.
 * Every party must still be live (RFC 8693 §2.1 "appropriate validation"): its grant not revoked, its user existing
 * and enabled (accounts.ts). A rotated refresh token presented here revokes its family (RFC 9700 §4.14.2).
 * Actors (RFC 8693 §2.1): only tokens issued to the requesting client itself: its own client_credentials token,
 * or the token of a user signed in to it; never a token it received from someone else.
 * Targets (`resource`, `audience`) are registered resource servers the client may use (resources.ts). Scope (RFC
 * 9700 §2.3): a client exchanging a token of its own grant may have anything within that grant (a token for API 1 may
 * become one for API 2 within what the user consented to); any other client at most what the token itself carries.
 * Both within the client's registered scope, down-scoped to the targets. The new token never outlives the subject or
 * actor token, and stays in the subject's grant (and a user actor's), so revoking that grant revokes it too.
 * Chains: an exchanged token can be exchanged again; its `act` becomes the nested prior actor (RFC 8693 §4.1); without
 * an actor_token, the requesting client becomes the current actor of an already delegated token.
 * Subjects (OIDC Core §8): parties are local users; a pairwise client's ID token is traced back through its sid
 * (subject.ts localSubjectOf) or refused; users in `act` are shown as the new token's client knows them.
 * Errors: a bad or unacceptable token is invalid_request (RFC 8693 §2.2.2 MUST); a refused target invalid_target.
 * may_act (RFC 8693 §4.4): a subject token that names who may act for its subject (its client's access_token_may_act)
 * is accepted only with that party as actor, or impersonated by that client (checkMayAct).
 * Sessions (OIDC Core §11): the new token ends with the subject's session and with each session-bound user actor's.
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
  checkMayAct(ctx, client, subject, actor);

  // The new token carries at most what the subject allows (its grant's scope for the client's own grants, else the
  // token's own scope: ExchangeParty.scope), and only what this client may hold; the target then down-scopes it.
  const ceiling = subject.scope.filter((s) => client.scope.includes(s));
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
  let chain = actor ? [{ sub: actor.sub, user: actor.isUser }, ...(subject.actors ?? [])] : subject.actors;
  // Impersonation (no actor_token) of a token that already records a delegation. RFC 8693 §4.1: "the outermost act
  // claim represents the current actor"; kept as it is, it would name the prior actor as acting now, for a token this
  // client holds and uses; dropped, it would turn a delegated token into the user's own (§1.1: impersonation makes
  // the client indistinguishable from the *subject*, and the subject here is a delegation, not the user). So the
  // requesting client, the party that now acts, becomes the current actor and the chain stays nested, as if it had
  // presented its own client token as actor_token; unchanged when it already is the current actor (re-targeting
  // its own delegated token). The spec is silent on this case; this is the reading that never misattributes.
  if (!actor && chain?.length && !(chain[0]!.user === false && chain[0]!.sub === client.clientId)) {
    chain = [{ sub: client.clientId, user: false }, ...chain];
  }
  // OIDC Core §8: every user in `act` is shown as this client knows them, like the token's own sub; the row keeps
  // the local ids (act_chain) so that a later exchange by a client of another sector shows them in its own view.
  let act: Record<string, unknown> | undefined;
  for (const link of [...(chain ?? [])].reverse()) {
    const sub = link.user ? subjectFor(ctx, client, link.sub) : link.sub;
    act = act ? { sub, act } : { sub };
  }

  const notAfter = Math.min(subject.expiresAt, actor?.expiresAt ?? Infinity);
  // Never a token that is born expired (a negative expires_in): the parties are checked unexpired above, and this
  // guards that for every path (OIDC Core §2: exp is REQUIRED in an ID token; verifyOwnIdToken insists on it).
  if (!(notAfter > nowSeconds(ctx))) throw invalidRequest('LK6021', 'the subject_token is invalid or not acceptable', 'expired');
  const extra: Record<string, unknown> = { gty: TOKEN_EXCHANGE_GRANT };
  if (chain?.length) extra.act_chain = chain;
  if (subject.session) extra[SESSION_BINDING] = subject.session;
  // OIDC Core §11 for the actors: a user acting through a session-bound grant acts only while that session lives, so
  // the new token ends with the sessions of its user actors, this one's and those the subject token already depends
  // on, as it ends with the subject's (lookup.ts reads actor_sessions; tokens without it pay nothing). The actor
  // token's own dependencies come along: the new token never outlives what its actor token dies with.
  const actorSessions = uniqueSessions([
    ...(subject.actorSessions ?? []),
    ...(actor?.session ? [actor.session] : []),
    ...(actor?.actorSessions ?? []),
  ]).filter((b) => b.sid !== subject.session?.sid);
  if (actorSessions.length) extra[ACTOR_SESSIONS] = actorSessions;
  // The new token stays in the subject's grant (grantId); the grants of user actors, this one's and the prior ones
  // the subject token already depends on, are more it must die with (lookup.ts reads actor_grants): revoking an
  // actor's consent, or disabling the actor, ends their acting downstream too.
  const actorGrants = [...new Set([...(subject.actorGrants ?? []), ...(actor?.grantId ? [actor.grantId] : []), ...(actor?.actorGrants ?? [])])].filter((g) => g !== subject.grantId);
  if (actorGrants.length) extra.actor_grants = actorGrants;

  const jwt = requestedType === TOKEN_TYPE.jwt;
  const mint = (c: EngineContext, outsideTransaction: boolean) => mintAccessToken(c, {
    client,
    subject: subject.isUser ? subject.sub : null,
    clientSubject: subject.isUser ? undefined : subject.sub,
    scope: target.scope,
    audience: target.audience,
    format: jwt ? 'jwt' : target.format,
    lifetime: target.lifetime,
    notAfter,
    grantId: subject.grantId,
    act,
    authTime: subject.authTime,
    acr: subject.acr,
    amr: subject.amr,
    extra,
    outsideTransaction,
  });
  const subjectGrant = subject.grantId;
  // RFC 7009 §2.1, RFC 8693 §2.1: a token that joins a grant is issued in a transaction holding the grant
  // (findGrantLocked), as the refresh and code grants do: a revocation that went after validateParty's check is seen
  // here, and one racing the insert waits for the commit and then revokes the new token with the grant. The user
  // actors' grants need no such hold: lookupToken reads actor_grants again at every use, so a revoked one ends the
  // token whenever it lands. A subject with no grant (a client's own token) has nothing to race: no transaction.
  const at =
    subjectGrant === null
      ? await mint(ctx, true)
      : await ctx.store.transaction(async (tx) => {
          const grant = await tx.findGrantLocked(ctx.tenant.id, subjectGrant);
          if (!grant || grant.revokedAt !== null) throw invalidRequest('LK6021', 'the subject_token is invalid or not acceptable', 'its grant was revoked');
          return mint({ ...ctx, store: tx }, false);
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

/**
 * Validate a subject or actor token of the given type against what this client may present. RFC 8693 §2.1: the
 * server "MUST perform the appropriate validation procedures for the indicated token type": for ours, besides the
 * token itself, that the grant it stands for is still live and that its user still exists and is enabled.
 */
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

  /**
   * accounts.ts: a deleted or disabled account gets no more tokens (liveHostAccount's rule for the grants), whether the
   * embedding application's (ctx.accounts, which answers nothing for either) or the tenant's users table. Here as
   * RFC 8693 §2.2.2's invalid_request. Outside any store transaction, so the host's findAccount may be called.
   */
  const liveUser = async (sub: string) => {
    const account = await findAccount(ctx, ctx.store, sub);
    if (!account || account.disabled) throw refuse('its user no longer exists or is disabled');
  };

  const fromRecord = async (r: TokenRecord): Promise<ExchangeParty> => {
    if (r.clientId !== client.clientId) {
      // RFC 8693 §2.1: the actor_token "represents the identity of the acting party", typically "the party that is
      // authorized to use the requested security token": the requesting client, to which it is issued. A token the
      // client merely received (a resource server holds many users' tokens) shows only that it holds it, not who
      // acts; accepted, any two tokens it received could be spliced into "A acting for B". So an actor token must
      // be the client's own: its client_credentials token, or a token of a user signed in to this very client.
      if (role === 'actor') throw refuse('an actor token must be issued to the exchanging client itself');
      // A refresh token is only ever usable by its own client (RFC 6749 §6).
      if (r.kind === 'refresh_token') throw refuse('refresh token of another client');
      const aud = Array.isArray(r.data.aud) ? (r.data.aud as unknown[]) : [r.data.aud];
      if (!aud.some((a) => typeof a === 'string' && policy.subjectTokenAudiences.includes(a))) {
        throw refuse('issued to another client, for an audience not in subject_token_audiences');
      }
    }
    const d = r.data;
    const grant = r.grantId !== null ? await ctx.store.findGrant(ctx.tenant.id, r.grantId) : undefined;
    if (r.grantId !== null && (!grant || grant.revokedAt !== null)) throw refuse('its grant was revoked');
    const isUser = r.subject !== null;
    const sub = r.subject ?? (typeof d.sub === 'string' ? d.sub : r.clientId);
    // A client-only token issued to this client but standing for another (an exchanged one) does not name this
    // client as the actor.
    if (role === 'actor' && !isUser && sub !== client.clientId) throw refuse('a client token standing for another client');
    if (isUser) await liveUser(sub);
    return {
      sub,
      isUser,
      // RFC 9700 §2.3 (privilege restriction): the user's consent is to the client the grant was made to. That client
      // may trade its own token for anything within the grant (a token down-scoped to API 1 for one at API 2); any
      // other client (a resource server that received the token, or the holder of a token exchanged from another's
      // grant) only ever had the token: what it carries is the most it may pass on.
      scope: grant && grant.clientId === client.clientId ? grant.scope : r.scope,
      grantId: r.grantId,
      expiresAt: r.expiresAt,
      actors: actorsOf(d),
      actorGrants: Array.isArray(d.actor_grants) ? d.actor_grants.filter((g): g is string => typeof g === 'string') : undefined,
      authTime: typeof d.auth_time === 'number' ? d.auth_time : typeof d.authTime === 'number' ? d.authTime : undefined,
      acr: typeof d.acr === 'string' ? d.acr : undefined,
      amr: Array.isArray(d.amr) ? (d.amr as string[]) : undefined,
      session: recordedSessionBinding(d), // lookupToken found its session live (and its actor_sessions)
      actorSessions: recordedActorSessions(d)?.filter((b): b is SessionBinding => b !== null),
      // RFC 8693 §4.4: an access token carries the may_act it was minted with (access_token_may_act of its client).
      // One minted without any (a refresh token, or an access token from before its client had a policy) goes by its
      // client's policy as it is now: an operator who adds a policy (say, during an incident) restricts the tokens
      // already out too.
      mayAct: isObject(d.may_act) ? d.may_act : mayActOf(r.clientId === client.clientId ? client : await ctx.store.findClient(ctx.tenant.id, r.clientId)),
      own: r.clientId === client.clientId,
    };
  };

  const fromIdToken = async (): Promise<ExchangeParty> => {
    // Our own ID token, unexpired (exp and iat required), issued to this very client.
    const p = await verifyOwnIdToken(ctx, token, { audience: client.clientId, allowExpired: false });
    if (!p) throw refuse('not a valid, unexpired ID token of this issuer for this client');
    const sid = typeof p.sid === 'string' && p.sid !== '' && p.sid.length <= 255 ? p.sid : undefined;
    // OIDC Core §8.1: a pairwise client's sub is a one-way function of the local id, never the local id itself; the
    // user is found through the session the ID token was issued in (subject.ts). Unresolved: refused, never guessed.
    const sub = await localSubjectOf(ctx, client, p.sub, sid);
    if (sub === undefined) throw refuse('a pairwise ID token whose user cannot be found through its sid');
    // An ID token says who signed in, not what they consented to, and is not revoked with its grant. What it may be
    // exchanged for is the grant it was issued from: found through its sid (the grants made in that session), this
    // client's and this user's, made before the token; the newest of them not revoked. The new token joins that
    // grant, so revoking it (logout, the user disabled, refresh-token reuse) revokes the new token too. An ID token
    // without sid (the password grant, a host that passes none) cannot be traced to a grant: refused, never guessed.
    if (sid === undefined) throw refuse('an ID token without sid cannot be traced to the grant it was issued from');
    const iat = p.iat!;
    const grants = (await ctx.store.listGrantsBySid(ctx.tenant.id, sid)).filter((g) => g.clientId === client.clientId && g.subject === sub && g.createdAt <= iat);
    const grant = grants.filter((g) => g.revokedAt === null).sort((a, b) => b.createdAt - a.createdAt)[0] as GrantRecord | undefined;
    if (!grant) throw refuse('no live grant of this user to this client in the session the ID token names');
    // OIDC Core §11: a session-bound grant whose session has ended (lookupToken's rule for the grant's own tokens).
    const session = sessionBindingOf(grant, grant.scope);
    if (session && (await readBoundSession(ctx, ctx.store, session, nowSeconds(ctx))).ended) {
      throw refuse('the session the grant is bound to has ended');
    }
    await liveUser(sub);
    return {
      sub,
      isUser: true,
      scope: grant.scope,
      grantId: grant.id,
      expiresAt: p.exp!,
      authTime: typeof p.auth_time === 'number' ? p.auth_time : undefined,
      acr: typeof p.acr === 'string' ? p.acr : undefined,
      amr: Array.isArray(p.amr) ? (p.amr as string[]) : undefined,
      session,
      // An ID token carries no may_act (OIDC defines none); issued to this very client, its client's policy applies.
      mayAct: mayActOf(client),
      own: true,
    };
  };

  switch (type) {
    case TOKEN_TYPE.accessToken:
    case TOKEN_TYPE.refreshToken: {
      const state = await lookupToken(ctx, token);
      const kind = type === TOKEN_TYPE.accessToken ? 'access_token' : 'refresh_token';
      if (!state.active) {
        if (state.record) await refreshTokenReuse(ctx, client, state.record, role);
        throw refuse('unknown, expired, revoked or rotated');
      }
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
 * RFC 9700 §4.14.2: a rotated refresh token presented again means the client or an attacker holds a copy; the refresh
 * grant then revokes the whole family (refresh-token.ts), and so does presenting it here, whatever token type it is
 * declared as: exchanging it would otherwise be a way to probe, or use, a stolen rotated token without consequence.
 * The refresh grant's rules (withinReuseGrace, shared with it): only a token of the presenting client is
 * acted on (another client did not present it), and one presented again within the client's reuse interval is
 * refused without revoking (the grace the refresh grant gives a retry or a racing tab).
 */
async function refreshTokenReuse(ctx: EngineContext, client: ClientRecord, r: TokenRecord, role: 'subject' | 'actor'): Promise<void> {
  if (r.kind !== 'refresh_token' || r.consumedAt === null || r.revokedAt !== null || r.grantId === null || r.clientId !== client.clientId) return;
  const now = nowSeconds(ctx);
  if (withinReuseGrace(refreshPolicy(ctx, client), r.consumedAt, now)) return;
  await ctx.store.revokeGrant(ctx.tenant.id, r.grantId, now);
  ctx.log?.warn({ tenant: ctx.tenant.id, client: client.clientId, event: 'refresh_reuse' }, 'rotated refresh token presented to token exchange; family revoked');
  throw invalidRequest('LK7070', `the ${role}_token is invalid or not acceptable`, 'a rotated refresh token, presented again: its family was revoked');
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

/** The may_act of a client's policy (access_token_may_act), as its tokens carry it. */
function mayActOf(client: ClientRecord | undefined): Record<string, unknown> | undefined {
  const m: MayActClaim | undefined = client?.accessTokenMayAct;
  return m ? { sub: m.sub } : undefined;
}

/**
 * RFC 8693 §4.4: a subject token's `may_act` names the one party "authorized to become the actor and act on behalf
 * of" its subject, and the authorization server uses it to decide "whether the client (or party identified in the
 * actor_token) is authorized to engage in the requested delegation or impersonation". So:
 * - delegation (an actor_token): the actor must be that party: its `sub` as the new token's `act.sub` would name it
 *   (a client by client_id, a user as this client knows them), and when may_act has an `iss`, this issuer (every
 *   actor we accept is ours). Other members (RFC 8693 §4.4: e.g. `email`) only describe the party: not compared.
 * - impersonation (none): the requesting client is the party that acts, and must be the one named; except the
 *   token's own client, which already holds the token and the grant behind it: re-targeting its own token adds no
 *   party (§1.1: a principal acting on its own behalf is neither delegation nor impersonation).
 * Refused as invalid_request, not invalid_grant: §2.2.2 says a subject_token or actor_token "unacceptable based on
 * policy" MUST get invalid_request, and may_act is the subject token's own statement of that policy.
 */
function checkMayAct(ctx: EngineContext, client: ClientRecord, subject: ExchangeParty, actor: ExchangeParty | undefined): void {
  const mayAct = subject.mayAct;
  if (!mayAct) return;
  const iss = mayAct.iss;
  const ours = iss === undefined || iss === ctx.tenant.issuer;
  if (actor) {
    const actorSub = actor.isUser ? subjectFor(ctx, client, actor.sub) : actor.sub;
    if (!ours || mayAct.sub !== actorSub) {
      throw invalidRequest('LK7220', 'the actor_token is not acceptable: the subject_token\'s may_act does not name its party as one that may act for the subject (RFC 8693 §4.4)');
    }
  } else if (!subject.own && (!ours || mayAct.sub !== client.clientId)) {
    throw invalidRequest('LK7221', 'the subject_token is not acceptable: its may_act does not name this client as one that may act for its subject (RFC 8693 §4.4)');
  }
}

function uniqueSessions(list: SessionBinding[]): SessionBinding[] {
  const seen = new Set<string>();
  return list.filter((b) => !seen.has(b.sid) && (seen.add(b.sid), true));
}

