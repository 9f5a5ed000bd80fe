import type { ClientRecord, LogoutDeliveryRecord, SessionRecord } from '../store/types.js';
import { newHandle } from '../tokens/handles.js';
import { mintLogoutToken } from '../tokens/logout-token.js';
import { audienceOf, verifyOwnIdToken } from '../tokens/verify-own.js';
import { type EngineContext, nowSeconds } from './context.js';
import { OAuthError } from './errors.js';
import { Params, withQueryParams } from './params.js';
import { jsonResult, runEngine, type Result } from './result.js';
import { resultCodes } from './result-codes.js';
import { redirectTrusted } from './registration-policy.js';

export type EndSessionAction = 'OK' | 'BAD_REQUEST' | 'INTERNAL_SERVER_ERROR';

export interface EndSessionResult extends Result<EndSessionAction> {
  clientId?: string;
  clientName?: string;
  /** Where to send the user once signed out, with state (RP-Initiated Logout §3); absent: show a signed-out page. */
  postLogoutRedirectUri?: string;
  /**
   * Whether the user may be sent to postLogoutRedirectUri without having seen a page of ours (no session to end, so no
   * confirmation). False for an openly registered client whose URI is not on a trusted host (RFC 9700 §4.11.2,
   * registration-policy.ts redirectTrusted): anyone can register one, and an ID token for their own account.
   * A host that sends the user to responseContent without a page of its own (no session to end) must check this first.
   */
  postLogoutRedirectUnattended?: boolean;
  /** sub and sid of a valid id_token_hint: when they match the browser's session, no confirmation is needed (§2). */
  hintSub?: string;
  hintSid?: string;
  logoutHint?: string;
  uiLocales?: string[];
}

/**
 * OpenID Connect RP-Initiated Logout 1.0 §2-§3: validate a logout request. Ending the session is a separate
 * step (performLogout), taken by the caller once it knows the request is tied to the user's session or the user
 * confirmed it.
 */
export async function endSessionRequest(input: { parameters: string }, ctx: EngineContext): Promise<EndSessionResult> {
  return runEngine<EndSessionAction>(
    async () => {
      const params = Params.parse(input.parameters);
      const hint = params.get('id_token_hint');
      let client: ClientRecord | undefined;
      let hintSub: string | undefined;
      let hintSid: string | undefined;
      if (hint !== undefined) {
        // §2: an expired ID token is still acceptable as a hint.
        const payload = await verifyOwnIdToken(ctx, hint, { allowExpired: true });
        if (!payload) throw new OAuthError('invalid_request', 'id_token_hint is not an ID token issued by this provider', { resultCode: 'LK9001' });
        hintSub = payload.sub;
        hintSid = typeof payload.sid === 'string' ? payload.sid : undefined;
        const aud = audienceOf(payload);
        const clientId = params.get('client_id');
        if (clientId !== undefined && !aud.includes(clientId)) {
          throw new OAuthError('invalid_request', 'client_id does not match the id_token_hint audience', { resultCode: 'LK9001' });
        }
        client = await ctx.store.findClient(ctx.tenant.id, clientId ?? aud[0] ?? '');
        // OIDC Core §8: a pairwise client's sub is not the local one, so it cannot tie the request to a session
        // by sub; its sid still can.
        if (client?.subjectType === 'pairwise') hintSub = undefined;
      } else if (params.has('client_id')) {
        client = await ctx.store.findClient(ctx.tenant.id, params.get('client_id')!.slice(0, 255));
        if (!client) throw new OAuthError('invalid_request', 'unknown client_id', { resultCode: 'LK9001' });
      }
      let postLogoutRedirectUri: string | undefined;
      let postLogoutRedirectUnattended: boolean | undefined;
      const target = params.get('post_logout_redirect_uri');
      if (target !== undefined) {
        // §3: exact match against the identified client's registered URIs; never redirect anywhere else.
        if (!client || !(client.postLogoutRedirectUris ?? []).includes(target)) {
          throw new OAuthError('invalid_request', 'post_logout_redirect_uri is not registered for this client', { resultCode: 'LK9002' });
        }
        // §3: to the URI that matched, with state added (withQueryParams keeps the rest of it as registered).
        const state = params.get('state');
        postLogoutRedirectUri = withQueryParams(target, state !== undefined ? [['state', state]] : []);
        // RFC 9700 §4.11.2, RP-Initiated Logout §3 ("other means of confirming the legitimacy of the post-logout
        // redirection target"): a URI an operator approved, or one on a trusted host; a self-registered one is not.
        postLogoutRedirectUnattended = redirectTrusted(client, target, ctx.clients?.registrationTrustedHosts ?? []);
      }
      const result = jsonResult('OK', 200, 'LK9003', {}) as EndSessionResult;
      return Object.assign(result, {
        responseContent: postLogoutRedirectUri ?? '',
        clientId: client?.clientId,
        clientName: client?.clientName ?? client?.clientId,
        postLogoutRedirectUri,
        postLogoutRedirectUnattended,
        hintSub,
        hintSid,
        logoutHint: params.get('logout_hint'),
        uiLocales: params.get('ui_locales')?.split(' ').filter(Boolean),
        resultMessage: resultCodes.LK9003,
      });
    },
    () => 'BAD_REQUEST',
    'INTERNAL_SERVER_ERROR',
    ctx.log,
  ) as Promise<EndSessionResult>;
}

/**
 * RP-Initiated Logout §2: whether a validated logout request (endSessionRequest) is tied to this browser session,
 * so that it may end without asking the user: the id_token_hint's sid is this session's, or, for a hint without a
 * sid, its sub is the session's user. OIDC Core §8.1: a pairwise client's sub is not the local one, so such a hint
 * ties only by sid (endSessionRequest leaves its hintSub out). logout_hint alone never ties: anyone can send one.
 */
export function logoutTiedToSession(r: Pick<EndSessionResult, 'hintSid' | 'hintSub'>, session: Pick<SessionRecord, 'sid' | 'subject'>): boolean {
  if (r.hintSid !== undefined) return r.hintSid === session.sid;
  return r.hintSub !== undefined && r.hintSub === session.subject;
}

export interface LogoutOutcome {
  /** Whether a live session was ended by this call (false if it had already ended). */
  ended: boolean;
  /** Front-Channel Logout §3: URIs the signed-out page loads in iframes. */
  frontchannel: { clientId: string; uri: string }[];
  /** Back-Channel Logout §2.5: deliveries recorded, to be POSTed by the dispatcher. */
  backchannel: LogoutDeliveryRecord[];
  /** The user whose session ended (for the caller's audit record). */
  subject?: string;
}

/**
 * End a browser session: mark it ended (exactly once), revoke what its grants must lose (everything but
 * offline_access grants, which outlive the session: OIDC Core §11), and prepare the front- and back-channel
 * notifications for every client that received tokens in it.
 */
export async function performLogout(ctx: EngineContext, sid: string): Promise<LogoutOutcome> {
  const now = nowSeconds(ctx);
  // One transaction: the session's end, its grants' revocation and the back-channel deliveries, all or none. Ending
  // the session is what makes a second logout a no-op (endSessionBySid finds it ended), so a failure after it that
  // left the grants live or the clients unnotified could never be made good by signing out again.
  // Grants before the session row (PostgreSQL row locks), in the order a refresh takes them (refresh-token.ts: the
  // grant, then the session it touches), so the two cannot deadlock.
  const notEnded: LogoutOutcome = { ended: false, frontchannel: [], backchannel: [] };
  return ctx.store.transaction(async (tx) => {
    const session = await tx.findSessionBySid(ctx.tenant.id, sid);
    if (!session || session.endedAt !== null) return notEnded;
    const grants = await tx.listGrantsBySid(ctx.tenant.id, sid);
    for (const g of grants) {
      if (g.revokedAt === null && !g.scope.includes('offline_access')) await tx.revokeGrant(ctx.tenant.id, g.id, now);
    }
    // Exactly once: of two logouts racing, one ends the session and notifies; the other's revocations changed nothing.
    if (!(await tx.endSessionBySid(ctx.tenant.id, sid, now))) return notEnded;
    const outcome: LogoutOutcome = { ended: true, frontchannel: [], backchannel: [], subject: session.subject };
    for (const clientId of [...new Set(grants.map((g) => g.clientId))]) {
      // As stored now: a transaction's store reads past the client cache, so a logout URI changed or removed through
      // another instance a moment ago does not get this session's logout.
      const client = await tx.findClient(ctx.tenant.id, clientId);
      if (!client) continue;
      if (client.frontchannelLogoutUri) {
        // Front-Channel Logout §2: iss and sid are added when the client requires the session.
        const session: [string, string][] = client.frontchannelLogoutSessionRequired ? [['iss', ctx.tenant.issuer], ['sid', sid]] : [];
        outcome.frontchannel.push({ clientId, uri: withQueryParams(client.frontchannelLogoutUri, session) });
      }
      if (client.backchannelLogoutUri) {
        const logoutToken = await mintLogoutToken(ctx, client, { sub: session.subject, sid });
        const d: LogoutDeliveryRecord = {
          tenantId: ctx.tenant.id,
          id: newHandle(ctx.random, 16),
          clientId,
          uri: client.backchannelLogoutUri,
          logoutToken,
          attempts: 0,
          nextAttemptAt: now,
          deliveredAt: null,
          lastError: null,
          createdAt: now,
        };
        await tx.insertDelivery(d);
        outcome.backchannel.push(d);
      }
    }
    return outcome;
  });
}

/**
 * End every live session of a user (admin action, user disabled, password reset), or every one but `except` (the
 * user's own password change, from the browser they keep). `sessionsEnded`: how many this call ended.
 */
export async function logoutUserEverywhere(ctx: EngineContext, subject: string, except?: string): Promise<LogoutOutcome & { sessionsEnded: number }> {
  const all: LogoutOutcome & { sessionsEnded: number } = { ended: false, frontchannel: [], backchannel: [], sessionsEnded: 0 };
  for (const s of await ctx.store.listSessionsBySubject(ctx.tenant.id, subject, nowSeconds(ctx))) {
    if (s.sid === except) continue;
    const o = await performLogout(ctx, s.sid);
    all.ended ||= o.ended;
    if (o.ended) all.sessionsEnded++;
    all.backchannel.push(...o.backchannel);
  }
  return all;
}
