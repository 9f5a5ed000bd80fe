import { limitAddress, limitClient } from './abuse-limit.js';
import type { ClientRecord, DeviceCodeRecord } from '../store/types.js';
import { newHandle } from '../tokens/handles.js';
import { signJwt } from '../tokens/jwt.js';
import { verifyOwnIdToken } from '../tokens/verify-own.js';
import { findAccount, type Account } from './accounts.js';
import type { CheckState } from './authorization/request.js';
import { runChecks } from './authorization/index.js';
import { type AuthorizationDetail, storedAuthorizationDetails } from './authorization-details.js';
import { authenticateClient, clientAuthDeps, presentedCredentials } from './client-auth.js';
import { type EngineContext, endpointsOf, futureAuthTime, nowSeconds } from './context.js';
import { decisionOf, recordDecision, type DecisionInput } from './device.js';
import { OAuthError } from './errors.js';
import { checkFormContentType, Params, parseScope } from './params.js';
import type { BackChannelInput } from './par.js';
import { failureResult, jsonResult, runEngine, type Result } from './result.js';
import { resultCodes } from './result-codes.js';
import { localSubjectOf } from './subject.js';
import { polledGrant } from './token/device-code.js';

/**
 * OpenID Connect Client-Initiated Backchannel Authentication (CIBA Core 1.0), poll and ping modes.
 *
 * A client that knows who the user is (login_hint: a username; or id_token_hint) asks at the backchannel
 * authentication endpoint; the user decides on their authentication device: Latchkey's /ciba page (signed in, they
 * see each request with its binding message and approve or deny), or an application of the operator's that is told
 * of each request (cibaNotifyUrl) and records the decision through the Core API (backchannel/complete). The client
 * then redeems its auth_req_id at the token endpoint (urn:openid:params:grant-type:ciba), polling, or after a ping.
 *
 * A request is a device_codes row (the same polling, slow_down, single redemption and reuse revocation as RFC 8628),
 * keyed by the hash of auth_req_id in its own namespace, its "user code" the hash of a ticket that only the
 * announcement carries, and its subject set when it is made (a device code's is set when decided).
 */

const authReqIdHash = (ctx: Pick<EngineContext, 'hasher'>, id: string) => ctx.hasher.hash(`ciba:auth_req_id:${id}`);
const ticketHash = (ctx: Pick<EngineContext, 'hasher'>, ticket: string) => ctx.hasher.hash(`ciba:ticket:${ticket}`);

/** What a CIBA request keeps beside the device-code columns (data.ciba). */
interface CibaRequestData {
  mode: 'poll' | 'ping';
  bindingMessage?: string;
  acrValues?: string[];
  /** Ping mode (CIBA Core §10.2): the bearer token the client gave for its notification endpoint. */
  notificationToken?: string;
  /**
   * Ping mode: the auth_req_id itself, which the ping must carry (§10.2), kept as sent. Unlike a device code it is no
   * bearer credential: only the client it was issued to, authenticating, can redeem it.
   */
  authReqId?: string;
}

/** The CIBA part of a device_codes row; undefined for a device code. */
function cibaOf(rec: DeviceCodeRecord): CibaRequestData | undefined {
  const c = rec.data.ciba;
  return typeof c === 'object' && c !== null && !Array.isArray(c) ? (c as CibaRequestData) : undefined;
}

/** CIBA Core §10.1: grant_type urn:openid:params:grant-type:ciba with auth_req_id; §11: the polling answers. */
export const cibaGrant = polledGrant({
  param: 'auth_req_id',
  hashOf: authReqIdHash,
  grantType: 'ciba',
  noun: 'auth_req_id',
  codes: { pending: 'LK7486', slowDown: 'LK7487', denied: 'LK7488', expired: 'LK7489', invalid: 'LK7490', reused: 'LK7491', nothingLeft: 'LK7141' },
});

export type BackchannelAuthenticationAction = 'OK' | 'BAD_REQUEST' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'INTERNAL_SERVER_ERROR';

const HINTS = ['login_hint', 'id_token_hint', 'login_hint_token'] as const;
/** RFC 6750 §2.1 b64token: the client_notification_token is sent back as a bearer token (CIBA Core §7.1). */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_BINDING_MESSAGE = 100;
/**
 * Requests of one client that may wait for one user's decision at once. A prompt the user did not ask for, sent again
 * and again until they give in ("push bombing", MFA fatigue), is how such flows are abused: a client past this is
 * refused (CIBA Core §13 access_denied: the OP denied the request) until the user decides or the requests expire.
 */
export const MAX_PENDING_PER_USER = 5;

const refused = (description: string) => new OAuthError('invalid_request', description, { resultCode: 'LK7482' });

/**
 * CIBA Core §7: the backchannel authentication endpoint. The client authenticates (as at the token endpoint), names
 * the user with exactly one hint, and gets auth_req_id, expires_in and interval (§7.3). Errors are §13's, as JSON.
 */
export function backchannelAuthentication(input: BackChannelInput, ctx: EngineContext): Promise<Result<BackchannelAuthenticationAction>> {
  return runEngine(
    async () => {
      checkFormContentType(input.contentType, input.repeatedContentType);
      const params = Params.parse(input.parameters);
      await limitAddress(ctx, 'backchannel_authentication', input.clientAddress);
      const { client, method } = await authenticateClient(clientAuthDeps(ctx, endpointsOf(ctx.tenant.issuer).backchannelAuthentication), presentedCredentials(input), params);
      await limitClient(ctx, 'backchannel_authentication', client.clientId, method, input.clientAddress);
      const state: CheckState = { params, ctx, client, request: { clientId: client.clientId } };
      await runChecks('backchannel_authentication', state); // the grant, the scope, RFC 9396 authorization details
      // §7.1.1: signed requests are not offered (discovery lists no backchannel_authentication_request_signing_alg_values_supported).
      for (const p of ['request', 'request_uri']) {
        if (params.get(p) !== undefined) throw refused(`${p} is not supported here: signed authentication requests are not offered (CIBA Core section 7.1.1)`);
      }
      if (params.get('user_code') !== undefined) throw refused('user_code is not supported (backchannel_user_code_parameter_supported is false)');
      // §7.1: scope is REQUIRED and MUST include openid; checkScope kept only what the client is registered for.
      if (!parseScope(params.get('scope')).includes('openid')) {
        throw new OAuthError('invalid_scope', 'scope must include openid (CIBA Core section 7.1)', { resultCode: 'LK7484' });
      }
      if (!state.request.scope!.includes('openid')) throw new OAuthError('invalid_scope', 'the client is not registered for the openid scope', { resultCode: 'LK7484' });
      const mode = client.backchannelTokenDeliveryMode ?? 'poll';
      const notificationToken = params.get('client_notification_token');
      // §7.1: REQUIRED for ping (the client's proof that a ping is ours); a poll client's is ignored.
      if (mode === 'ping') {
        if (notificationToken === undefined) throw refused('client_notification_token is required for a client in ping mode (CIBA Core section 7.1)');
        if (notificationToken.length > 1024 || !B64TOKEN.test(notificationToken)) throw refused('client_notification_token must be an RFC 6750 bearer token of at most 1024 characters');
      }
      const bindingMessage = params.get('binding_message');
      // §7.1: shown on both devices, "relatively short and [in] a limited set of plain text characters".
      if (bindingMessage !== undefined && (bindingMessage.length > MAX_BINDING_MESSAGE || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(bindingMessage) || bindingMessage.trim() === '')) {
        throw new OAuthError('invalid_binding_message', `binding_message must be 1-${MAX_BINDING_MESSAGE} characters of plain text, without control characters`, { resultCode: 'LK7485' });
      }
      const requestedExpiry = params.get('requested_expiry');
      if (requestedExpiry !== undefined && !/^[1-9]\d{0,9}$/.test(requestedExpiry)) throw refused('requested_expiry must be a positive integer (seconds)');
      const acrValues = params.get('acr_values')?.split(' ').filter(Boolean);
      const user = await hintedUser(ctx, client, params);
      const subject = user.id;

      const now = nowSeconds(ctx);
      const waiting = (await ctx.store.listPendingDeviceCodesOf(ctx.tenant.id, subject, now, 20)).filter((r) => r.clientId === client.clientId && cibaOf(r));
      if (waiting.length >= MAX_PENDING_PER_USER) {
        throw new OAuthError('access_denied', `${waiting.length} requests of this client already wait for this user's decision; wait for them to be decided or to expire`, { resultCode: 'LK7495', status: 403 });
      }
      const longest = ctx.tenant.settings.cibaRequestTtl ?? 300;
      // §7.1 requested_expiry: honoured up to the server's lifetime, never beyond it.
      const ttl = requestedExpiry === undefined ? longest : Math.min(Number(requestedExpiry), longest);
      const interval = ctx.tenant.settings.cibaPollInterval ?? 5;
      const authReqId = newHandle(ctx.random); // §7.3: at least 128 bits (256 here)
      const ticket = newHandle(ctx.random);
      const ciba: CibaRequestData = {
        mode,
        ...(bindingMessage !== undefined ? { bindingMessage } : {}),
        ...(acrValues?.length ? { acrValues } : {}),
        ...(mode === 'ping' ? { notificationToken, authReqId } : {}),
      };
      const rec: DeviceCodeRecord = {
        tenantId: ctx.tenant.id,
        hash: authReqIdHash(ctx, authReqId),
        userCodeHash: ticketHash(ctx, ticket),
        clientId: client.clientId,
        scope: state.request.scope!,
        status: 'pending',
        interval,
        lastPolledAt: null,
        createdAt: now,
        expiresAt: now + ttl,
        subject,
        decidedAt: null,
        consumedAt: null,
        data: { ciba, ...(state.request.authorizationDetails ? { authorizationDetails: state.request.authorizationDetails } : {}) },
      };
      // Signed before anything is stored: a key failure leaves no request behind that nobody was told of.
      const announcement = await announcementOf(ctx, client, rec, ticket, user);
      await ctx.store.insertDeviceCode(rec);
      if (announcement) ctx.notify?.(announcement);
      return jsonResult('OK', 200, 'LK7480', { auth_req_id: authReqId, expires_in: ttl, interval });
    },
    (e: OAuthError): BackchannelAuthenticationAction => (e.status === 401 ? 'UNAUTHORIZED' : e.status === 403 ? 'FORBIDDEN' : 'BAD_REQUEST'),
    'INTERNAL_SERVER_ERROR',
    ctx.log,
  );
}

/**
 * CIBA Core §7.1: exactly one hint. login_hint is a username (or, for an embedding application's accounts, a sub);
 * id_token_hint an ID token this provider issued to the client, expired or not (its sub, pairwise for a pairwise
 * client, taken back to the user: subject.ts). login_hint_token has no format here, so it is refused as unsupported.
 */
async function hintedUser(ctx: EngineContext, client: ClientRecord, params: Params): Promise<Account> {
  const given = HINTS.filter((h) => params.get(h) !== undefined);
  if (given.length !== 1) {
    throw refused(`exactly one of login_hint, id_token_hint and login_hint_token is required (CIBA Core section 7.1); ${given.length ? `got ${given.join(', ')}` : 'none was sent'}`);
  }
  const hint = params.get(given[0]!)!;
  let sub: string | undefined;
  if (given[0] === 'login_hint_token') {
    throw refused('login_hint_token is not supported: name the user with login_hint (a username) or id_token_hint');
  } else if (given[0] === 'id_token_hint') {
    const payload = await verifyOwnIdToken(ctx, hint, { allowExpired: true, audience: client.clientId });
    if (!payload || typeof payload.sub !== 'string') throw refused('id_token_hint is not a valid ID token issued by this provider to this client');
    sub = await localSubjectOf(ctx, client, payload.sub, typeof payload.sid === 'string' ? payload.sid : undefined);
  } else if (hint.length <= 255) {
    sub = ctx.accounts ? hint : (await ctx.store.findUserByUsername(ctx.tenant.id, hint))?.id;
  }
  const account = sub === undefined ? undefined : await findAccount(ctx, ctx.store, sub);
  if (!account || account.disabled) throw new OAuthError('unknown_user_id', 'the hint does not name a user of this provider', { resultCode: 'LK7483' });
  return account;
}

/**
 * The request's announcement to cibaNotifyUrl, signed with the tenant's ES256 key; undefined when none is configured.
 * `user`: the account hintedUser found (looked up once per request; for an embedding application, its own code).
 */
async function announcementOf(ctx: EngineContext, client: ClientRecord, rec: DeviceCodeRecord, ticket: string, user: Account) {
  const url = ctx.tenant.settings.cibaNotifyUrl;
  if (!url || !ctx.notify) return undefined;
  const ciba = cibaOf(rec)!;
  const jwt = signJwt(
    (await ctx.keys()).signingKey('ES256'),
    {
      iss: ctx.tenant.issuer,
      aud: url,
      iat: rec.createdAt,
      exp: rec.expiresAt,
      jti: newHandle(ctx.random, 16),
      sub: rec.subject,
      username: user.username,
      client_id: client.clientId,
      client_name: client.clientName,
      scope: rec.scope.join(' '),
      binding_message: ciba.bindingMessage,
      acr_values: ciba.acrValues?.join(' '),
      authorization_details: storedAuthorizationDetails(rec.data.authorizationDetails),
      // The Core API's backchannel/complete takes it; the user may also decide on this page, signed in.
      ticket,
      approval_uri: endpointsOf(ctx.tenant.issuer).ciba,
    },
    { typ: 'latchkey-ciba-request+jwt' },
  );
  return { url, headers: { 'content-type': 'application/jwt' }, body: jwt, kind: 'ciba_request', tenantId: ctx.tenant.id, clientId: client.clientId, operatorUrl: true };
}

/** A request waiting for the signed-in user's decision, as the /ciba page shows it. */
export interface PendingCibaRequest {
  /** The form's handle for it (the stored hash of its ticket): deciding it also needs the user it names signed in. */
  id: string;
  client: { clientId: string; clientName?: string; logoUri?: string; clientUri?: string };
  scopes: string[];
  bindingMessage?: string;
  authorizationDetails?: AuthorizationDetail[];
  expiresAt: number;
}

/** The CIBA requests waiting for this user's decision, newest first (at most 20). */
export async function pendingCibaRequests(ctx: EngineContext, subject: string): Promise<PendingCibaRequest[]> {
  const out: PendingCibaRequest[] = [];
  for (const rec of await ctx.store.listPendingDeviceCodesOf(ctx.tenant.id, subject, nowSeconds(ctx), 20)) {
    const ciba = cibaOf(rec);
    const client = ciba && (await ctx.store.findClient(ctx.tenant.id, rec.clientId));
    if (!ciba || !client) continue;
    out.push({
      id: rec.userCodeHash,
      client: { clientId: client.clientId, clientName: client.clientName, logoUri: client.logoUri, clientUri: client.clientUri },
      scopes: rec.scope,
      bindingMessage: ciba.bindingMessage,
      authorizationDetails: storedAuthorizationDetails(rec.data.authorizationDetails),
      expiresAt: rec.expiresAt,
    });
  }
  return out;
}

export type CibaCompleteAction = 'SUCCESS' | 'NOT_EXIST' | 'EXPIRED' | 'INVALID_REQUEST' | 'INTERNAL_SERVER_ERROR';

export interface CibaCompleteInput extends DecisionInput {
  /** The ticket from the request's announcement (Core API), or */
  ticket?: string;
  /** the /ciba page's handle (PendingCibaRequest.id), with subject: the signed-in user. */
  requestId?: string;
}

/**
 * Record the user's decision on a pending CIBA request, exactly once (one conditional update), for the user the
 * request named (a subject given must be that user). A ping client is then told (CIBA Core §10.2), approved or not.
 */
export async function cibaComplete(input: CibaCompleteInput, ctx: EngineContext): Promise<Result<CibaCompleteAction> & { clientId?: string; subject?: string }> {
  const fail = (action: CibaCompleteAction, rc: 'LK7493' | 'LK7494' | 'LK0004' | 'LK7353' | 'LK7390', description: string) =>
    jsonResult(action, 400, rc, { action, error: action === 'EXPIRED' ? 'expired_token' : 'invalid_request', error_description: description });
  try {
    if (input.result !== 'AUTHORIZED' && input.result !== 'ACCESS_DENIED') return fail('INVALID_REQUEST', 'LK0004', 'result must be AUTHORIZED or ACCESS_DENIED');
    if ((input.ticket === undefined) === (input.requestId === undefined)) return fail('INVALID_REQUEST', 'LK0004', 'ticket is required');
    if (input.subject !== undefined && (typeof input.subject !== 'string' || !input.subject)) return fail('INVALID_REQUEST', 'LK0004', 'subject must be a non-empty string');
    const future = input.result === 'AUTHORIZED' ? futureAuthTime(ctx, input.authTime) : undefined;
    if (future) return fail('INVALID_REQUEST', 'LK7390', future);
    const handle = String(input.ticket ?? input.requestId ?? '');
    if (!handle || handle.length > 200) return fail('NOT_EXIST', 'LK7493', 'unknown or already decided request');
    const hash = input.ticket !== undefined ? ticketHash(ctx, handle) : handle;
    const now = nowSeconds(ctx);
    const current = await ctx.store.findDeviceCodeByUserCode(ctx.tenant.id, hash);
    const ciba = current && cibaOf(current);
    // The page's handle decides only for the user signed in; a host naming a subject, only for that one.
    if (!current || !ciba || current.status !== 'pending' || (input.subject !== undefined && input.subject !== current.subject) || (input.requestId !== undefined && input.subject === undefined)) {
      return fail('NOT_EXIST', 'LK7493', 'unknown or already decided request');
    }
    if (current.expiresAt <= now) return fail('EXPIRED', 'LK7494', 'the request expired');
    const decision = decisionOf(ctx, input, current);
    if ('refused' in decision) return fail('INVALID_REQUEST', 'LK7353', decision.refused);
    // The request's own data (data.ciba: the ping's token) is kept through the decision, which replaces the data.
    const status = input.result === 'AUTHORIZED' ? 'approved' : 'denied';
    const won = await recordDecision(ctx, hash, status, current.subject, { ...decision, data: { ...decision.data, ciba } }, now);
    if (won === 'EXPIRED') return fail('EXPIRED', 'LK7494', 'the request expired');
    if (won === 'NOT_EXIST') return fail('NOT_EXIST', 'LK7493', 'unknown or already decided request');
    await ping(ctx, won, ciba);
    return {
      ...jsonResult('SUCCESS', 200, 'LK7492', { action: 'SUCCESS' }, { message: `${resultCodes.LK7492} (${won.status})` }),
      clientId: won.clientId,
      subject: won.subject ?? undefined,
    };
  } catch (e) {
    return failureResult(e, () => 'INVALID_REQUEST', 'INTERNAL_SERVER_ERROR', ctx.log);
  }
}

/**
 * CIBA Core §10.2: a ping client is told its request was decided (approved or denied: its token request then gets the
 * tokens or access_denied): a POST of {"auth_req_id"} with its client_notification_token as a bearer token, to the
 * notification endpoint the client has registered now. Not waited on; a ping lost for good leaves the client to poll.
 */
async function ping(ctx: EngineContext, rec: DeviceCodeRecord, ciba: CibaRequestData): Promise<void> {
  if (ciba.mode !== 'ping' || !ciba.notificationToken || !ciba.authReqId || !ctx.notify) return;
  const client = await ctx.store.findClient(ctx.tenant.id, rec.clientId);
  const url = client?.backchannelTokenDeliveryMode === 'ping' ? client.backchannelClientNotificationEndpoint : undefined;
  if (!url) return;
  ctx.notify({
    url,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ciba.notificationToken}` },
    body: JSON.stringify({ auth_req_id: ciba.authReqId }),
    kind: 'ciba_ping',
    tenantId: ctx.tenant.id,
    clientId: rec.clientId,
  });
}
