import type { AuthorizationCodeRecord, ClientRecord, GrantRecord } from '../../store/types.js';
import { findAccount } from '../accounts.js';
import { type IssuedAccessToken, mintAccessToken } from '../../tokens/access-token.js';
import { newHandle, newOrderedHandle } from '../../tokens/handles.js';
import { mintIdToken } from '../../tokens/id-token.js';
import { accessTokenClaimsRecord, claimsForScopes, type ClaimsRequest, essentialAcrMet, requestedUserClaims, withoutDeclinedClaims } from '../claims.js';
import { type EngineContext, futureAuthTime, nowSeconds } from '../context.js';
import { OAuthError, type OAuthErrorCode } from '../errors.js';
import { Params } from '../params.js';
import { loadResources, tokenTarget, type TokenTarget } from '../resources.js';
import { clientErrorOf, internalErrorResult, jsonResult, type Result } from '../result.js';
import { resultCodes, type ResultCode } from '../result-codes.js';
import {
  type AuthorizationEndpoint,
  type AuthorizationRequest,
  type Check,
  type CheckState,
  checkAuthorizationDetails,
  checkClaims,
  checkClient,
  clientMayUseResponseType,
  checkDeviceGrant,
  checkCibaGrant,
  checkHints,
  checkIdTokenHint,
  checkMaxAge,
  checkNonce,
  checkNoRequestUri,
  checkPkce,
  checkPrompt,
  checkPushedRequestUri,
  checkPushedRequired,
  checkRedirectUri,
  checkRequestObject,
  checkResource,
  checkResponseMode,
  checkResponseType,
  checkResponseTypeScope,
  checkOfflineAccess,
  checkScope,
  errorResponseMode,
} from './request.js';
import { authorizationResponse, type ResponseTarget } from './response.js';
import { redirectUriMatches } from '../client-metadata.js';
import { redirectTrusted } from '../registration-policy.js';
import { checkDpopJkt } from './dpop-jkt.js';
import { checkResponseEncryption } from './response-encryption.js';
import { checkFapiPushedRequest, FAPI_CODE_LIFETIME, isFapi } from '../fapi.js';
import { encryptionKeyFor, resolveEncryptionKey, type EncryptionKey } from '../response-encryption.js';
import { checkRegistrationParameter } from './registration-param.js';
import { repeatedParameterTarget } from './repeated-parameter.js';
import { checkSignedRequestObject } from './signed-request-object.js';
import { subjectFor } from '../subject.js';
import { LATCHKEY_SESSION, SESSION_BINDING, sessionBindingOf } from '../sessions.js';
import { consentRequiredFor, consentScopes, recordConsent } from '../consent.js';
import { isDeepStrictEqual } from 'node:util';
import { type AuthorizationDetail } from '../authorization-details.js';

export type { AuthorizationRequest, AuthorizationEndpoint } from './request.js';

export type AuthorizationAction = 'INTERACTION' | 'NO_INTERACTION' | 'LOCATION' | 'FORM' | 'BAD_REQUEST' | 'INTERNAL_SERVER_ERROR';

export interface AuthorizationResult extends Result<AuthorizationAction> {
  /** Present with INTERACTION / NO_INTERACTION: hand it back to authorizationIssue or authorizationFail. */
  ticket?: string;
  client?: { clientId: string; clientName?: string; logoUri?: string; clientUri?: string };
  scopes?: string[];
  prompt?: string[];
  maxAge?: number;
  loginHint?: string;
  /** The sub of a valid id_token_hint as the client knows the user (a pairwise one for a pairwise client). */
  idTokenHintSub?: string;
  acrs?: string[];
  uiLocales?: string[];
  /** RFC 8707: the resource servers the client asked access to. */
  resources?: string[];
  /** RFC 9396 §2: the authorization details the client asked for (for the consent page; the issue step may narrow them). */
  authorizationDetails?: AuthorizationDetail[];
  /** OIDC Core §5.5: the claims the client asked for by name (for the consent page). */
  claims?: ClaimsRequest;
  /** With LOCATION / FORM: the client's redirect URI the response goes to (its origin is the form-action target). */
  redirectUri?: string;
  /** With `{ defer: true }` and INTERACTION / NO_INTERACTION: the request, validated but not parked yet. */
  pending?: PendingAuthorization;
  /**
   * The local subject (what authorizationIssue takes as `subject`) that id_token_hint or a claims sub names, when
   * the engine can tell: always for a public client; for a pairwise one through the hint's sid (OIDC Core §8.1).
   */
  expectedSubject?: string;
  /**
   * With INTERACTION / NO_INTERACTION: whether the user must be asked for consent (engine/consent.ts, the rule the
   * built-in UI applies): false for a skip_consent client; true with prompt=consent; otherwise unless the consent of
   * the user `subject` (given to authorization) covers the request. Without a subject, as for a user who gave none.
   */
  consentRequired?: boolean;
  /**
   * With LOCATION / FORM from an issue step given consentGiven: the consent it recorded (consentScopes of what was
   * granted), for the audit trail's consent.granted event (audit/audit.ts auditConsent): every host's one source.
   */
  consentGranted?: ConsentGranted;
}

/** A consent the issue step recorded: the user, the client, and what they consented to (scopes and claim:<name>). */
export interface ConsentGranted {
  clientId: string;
  subject: string;
  scope: string[];
}

/**
 * A request `authorization` validated with `{ defer: true }`, not yet stored under its ticket. The built-in UI
 * answers a signed-in user who needs no page at once (authorizationIssuePending), so it never writes a ticket only
 * to consume it in the same request; for anything else (a page, a failure, another UI) it parks it first.
 */
export interface PendingAuthorization {
  readonly ticket: string;
  readonly loaded: LoadedTicket;
  /** Store the ticket, exactly as `authorization` does without `defer`. At most once; a parked request is no longer pending. */
  park(): Promise<void>;
  readonly parked: boolean;
}

const X = true;
const _ = false;

/**
 * Which checks each authorization-family endpoint runs, in order: one row per check, one column per endpoint.
 * The order is this table's alone; an endpoint's column says which rows it runs.
 *   authorization:        GET/POST /oauth/authorize (the client is identified by client_id)
 *   par:                  POST /oauth/par, RFC 9126 (the client authenticated first; errors are JSON)
 *   device_authorization: POST /oauth/device_authorization, RFC 8628 (the client authenticated first)
 *   backchannel_authentication: POST /oauth/bc-authorize, OpenID CIBA Core §7 (the client authenticated first; ciba.ts)
 */
//                                                     authorization  par  device_authorization  backchannel_authentication
export const AUTHORIZATION_CHECKS: readonly (readonly [Check, boolean, boolean, boolean, boolean])[] = [
  [checkClient,            X, _, _, _],
  [checkPushedRequestUri,  X, _, _, _], // RFC 9126 §4: the pushed parameters replace the ones sent
  [checkNoRequestUri,      _, X, _, _], // RFC 9126 §2.1
  [checkRequestObject,     X, X, _, _], // RFC 9101: the request object's parameters replace the ones sent
  [checkDeviceGrant,       _, _, X, _],
  [checkCibaGrant,         _, _, _, X], // OpenID CIBA Core §7.2
  [checkRedirectUri,       X, X, _, _], // from here on, authorization errors are redirected to the client
  [checkPushedRequired,    X, _, _, _], // RFC 9126 §4 (after the redirect URI, so the refusal reaches the client)
  [checkFapiPushedRequest, _, X, _, _], // FAPI 2.0 §5.3.2.2: redirect_uri, PKCE, request object alg (fapi.ts)
  [checkSignedRequestObject, X, X, _, _], // RFC 9101 §10.5, RFC 9126 §2.3: require_signed_request_object
  [checkRegistrationParameter, X, X, _, _], // OIDC Core §3.1.2.6: registration_not_supported
  [checkResponseType,      X, X, _, _],
  [checkResponseMode,      X, X, _, _],
  [checkScope,             X, X, X, X],
  [checkResponseTypeScope, X, X, _, _],
  [checkOfflineAccess,     X, X, _, _], // OIDC Core §11
  [checkResource,          X, X, _, _], // RFC 8707 §2.1
  [checkAuthorizationDetails, X, X, X, X], // RFC 9396 §3
  [checkPkce,              X, X, _, _],
  [checkPrompt,            X, X, _, _],
  [checkMaxAge,            X, X, _, _],
  [checkHints,             X, X, _, _],
  [checkNonce,             X, X, _, _],
  [checkIdTokenHint,       X, X, _, _],
  [checkClaims,            X, X, _, _],
  [checkDpopJkt,           X, X, _, _], // RFC 9449 §10
  [checkResponseEncryption, X, X, _, _], // JARM §2.2, OIDC Core §10.2: the client's encryption keys
];

const COLUMN: Record<AuthorizationEndpoint, 1 | 2 | 3 | 4> = { authorization: 1, par: 2, device_authorization: 3, backchannel_authentication: 4 };

/** The checks an endpoint runs, in table order. */
export function checksFor(endpoint: AuthorizationEndpoint): Check[] {
  return AUTHORIZATION_CHECKS.filter((row) => row[COLUMN[endpoint]]).map((row) => row[0]);
}

/** Run an endpoint's column of the table over a check state. */
export async function runChecks(endpoint: AuthorizationEndpoint, state: CheckState): Promise<void> {
  state.endpoint = endpoint;
  for (const check of checksFor(endpoint)) await check(state);
}

/** A failure caught by a step (issue, fail): the client's error (clientErrorOf) is BAD_REQUEST, anything else a logged 500. */
function stepFailure(e: unknown, ctx: EngineContext): AuthorizationResult {
  const err = clientErrorOf(e);
  return err ? badRequest(err) : (internalErrorResult('INTERNAL_SERVER_ERROR', e, ctx.log) as AuthorizationResult);
}

function badRequest(err: OAuthError): AuthorizationResult {
  const rc = err.resultCode ?? 'LK0004';
  return jsonResult('BAD_REQUEST', 400, rc, err.body(), { message: `${resultCodes[rc]} (${err.description})` }) as AuthorizationResult;
}

/** An error response through the client's response mode (RFC 6749 §4.1.2.1, §4.2.2.1; JARM §2). */
async function errorResponse(ctx: EngineContext, target: ResponseTarget, err: OAuthError, rc: ResultCode): Promise<AuthorizationResult> {
  return authorizationResponse(ctx, target, { error: err.code, error_description: err.description }, rc, `${resultCodes[rc]} (${err.code}: ${err.description})`);
}

function clientView(c: ClientRecord): NonNullable<AuthorizationResult['client']> {
  return { clientId: c.clientId, clientName: c.clientName, logoUri: c.logoUri, clientUri: c.clientUri };
}

const targetOf = (req: AuthorizationRequest, client: ClientRecord): ResponseTarget => ({
  client,
  redirectUri: req.redirectUri,
  responseMode: req.responseMode,
  state: req.state,
});

/**
 * Step one (OIDC Core §3.1.2.1, RFC 6749 §4.1.1): validate the request and park it under a ticket.
 * Until client_id and redirect_uri are verified, errors are BAD_REQUEST (shown to the user, never redirected);
 * after that they go back to the client, with state and iss, in the response mode the request asked for.
 */
export async function authorization(
  input: { parameters: string; /** The host's signed-in user, if any: consentRequired reads their consent. */ subject?: string },
  ctx: EngineContext,
  opts: { defer?: boolean } = {},
): Promise<AuthorizationResult> {
  const state: CheckState = { params: Params.parse(''), ctx, request: {} };
  try {
    state.params = Params.parse(input.parameters, { allowRepeated: ['resource'] }); // RFC 8707 §2
    await runChecks('authorization', state);
    const req = state.request as AuthorizationRequest;
    const ticket = newHandle(ctx.random);
    const now = nowSeconds(ctx);
    const record = {
      tenantId: ctx.tenant.id,
      hash: ctx.hasher.hash(ticket),
      clientId: req.clientId,
      expiresAt: now + ctx.tenant.settings.interactionTtl,
      consumedAt: null,
      // clientCreatedAt: the client record the ticket is for (madeForClient); one deleted and registered again
      // under the same client_id is another record.
      data: { request: req, createdAt: now, clientCreatedAt: state.client!.createdAt },
    };
    let pending: PendingAuthorization | undefined;
    if (opts.defer) {
      let parked = false;
      pending = {
        ticket,
        loaded: { request: req, client: state.client!, createdAt: now },
        get parked() {
          return parked;
        },
        async park() {
          if (parked) return;
          parked = true;
          await ctx.store.insertTicket(record);
        },
      };
    } else {
      await ctx.store.insertTicket(record);
    }
    const none = req.prompt.includes('none');
    const consentRequired = await consentRequiredFor(ctx, req, state.client!, input.subject);
    return {
      action: none ? 'NO_INTERACTION' : 'INTERACTION',
      resultCode: none ? 'LK3002' : 'LK3001',
      resultMessage: resultCodes[none ? 'LK3002' : 'LK3001'],
      responseContent: '',
      status: 200,
      ticket,
      client: clientView(state.client!),
      scopes: req.scope,
      prompt: req.prompt,
      maxAge: req.maxAge,
      loginHint: req.loginHint,
      idTokenHintSub: req.idTokenHintSub,
      acrs: req.acrValues,
      uiLocales: req.uiLocales,
      resources: req.resources,
      authorizationDetails: req.authorizationDetails,
      claims: req.claims,
      ...(pending ? { pending } : {}),
      expectedSubject: req.expectedSubject,
      consentRequired,
    };
  } catch (caught) {
    // A value the store refused (storing the ticket) is the client's invalid_request like any other (clientErrorOf).
    const e = clientErrorOf(caught);
    if (!e) return internalErrorResult('INTERNAL_SERVER_ERROR', caught, ctx.log) as AuthorizationResult;
    if (state.redirectUri === undefined && e.resultCode === 'LK0002') {
      // RFC 6749 §4.1.2.1: a repeated parameter goes back to the client when client_id and redirect_uri verify.
      const target = await repeatedParameterTarget(input.parameters, ctx).catch(() => undefined);
      if (target) Object.assign(state, { params: target.params, client: target.client, redirectUri: target.redirectUri, request: target.request });
    }
    if (state.redirectUri === undefined) return badRequest(e);
    // RFC 9700 §4.11.2: a request made to fail must not turn the server into a redirector to an untrusted client's page.
    if (!redirectTrusted(state.client!, state.redirectUri, ctx.clients?.registrationTrustedHosts ?? [])) {
      const rc = e.resultCode ?? 'LK3005';
      return jsonResult('BAD_REQUEST', 400, 'LK7470', e.body(), { message: `${resultCodes.LK7470} (${rc}: ${e.code}: ${e.description})` }) as AuthorizationResult;
    }
    try {
      const target: ResponseTarget = { client: state.client!, redirectUri: state.redirectUri, responseMode: errorResponseMode(state), state: state.request.state };
      return await errorResponse(ctx, target, e, e.resultCode ?? 'LK3005');
    } catch (inner) {
      return stepFailure(inner, ctx);
    }
  }
}

export interface LoadedTicket {
  request: AuthorizationRequest;
  client: ClientRecord;
  createdAt: number;
}

/** Read a pending ticket without consuming it (the built-in UI looks at it across login and consent pages). */
export async function loadTicket(ctx: EngineContext, ticket: string): Promise<LoadedTicket | undefined> {
  if (!isTicketHandle(ticket)) return undefined;
  const t = await ctx.store.findTicket(ctx.tenant.id, ctx.hasher.hash(ticket));
  if (!t || t.consumedAt !== null || t.expiresAt <= nowSeconds(ctx) || !isAuthorizationTicket(t.data)) return undefined;
  const client = await ctx.store.findClient(ctx.tenant.id, t.clientId);
  if (!client || !madeForClient(t.data, client) || !stillRegistered(t.data.request as AuthorizationRequest, client)) return undefined;
  return { request: t.data.request as AuthorizationRequest, client, createdAt: Number(t.data.createdAt) };
}

async function consumeTicket(ctx: EngineContext, ticket: string, progress?: { consumedAt?: number }): Promise<LoadedTicket | undefined> {
  if (!isTicketHandle(ticket)) return undefined;
  // isTicketHandle: another flow's ticket (its value has a colon) is never looked up here, so never burned.
  const now = nowSeconds(ctx);
  const t = await ctx.store.consumeTicket(ctx.tenant.id, ctx.hasher.hash(ticket), now);
  if (t && progress) progress.consumedAt = now; // this call spent it (authorizationIssue may give it back)
  if (!t || t.expiresAt <= nowSeconds(ctx) || !isAuthorizationTicket(t.data)) return undefined;
  const client = await ctx.store.findClient(ctx.tenant.id, t.clientId);
  if (!client || !madeForClient(t.data, client) || !stillRegistered(t.data.request as AuthorizationRequest, client)) return undefined;
  return { request: t.data.request as AuthorizationRequest, client, createdAt: Number(t.data.createdAt) };
}

/**
 * Other flows' tickets (logout, password grant) are stored under their own hash prefix (`logout:`, `password-grant:`),
 * so the value presented for them contains a colon; ours are newHandle output (base64url) and never do. A value
 * outside that alphabet cannot name an authorization ticket, and is not looked up at all.
 */
const isTicketHandle = (ticket: unknown): ticket is string => typeof ticket === 'string' && /^[A-Za-z0-9_-]{1,100}$/.test(ticket);
const isAuthorizationTicket = (data: Record<string, unknown>) => typeof data.request === 'object' && data.request !== null;

/**
 * Whether a ticket was made for this client record rather than for an earlier one with the same client_id, deleted
 * since (RFC 6749 §3.1.2.2: the redirect URI in the ticket was verified against that record's registration only).
 * Deleting a client deletes its tickets in the same transaction; this also refuses one written by a request that
 * was under way meanwhile. Tickets written before clientCreatedAt was recorded: a record created after the ticket is another.
 */
const madeForClient = (data: Record<string, unknown>, client: ClientRecord) =>
  typeof data.clientCreatedAt === 'number' ? data.clientCreatedAt === client.createdAt : client.createdAt <= Number(data.createdAt);

/**
 * Whether the client, as registered now, still has the ticket's redirect URI and response type. RFC 7592 §2.2 lets a
 * client change both at any time (an operator too); RFC 6749 §3.1.2.2 wants the response sent only to a registered
 * redirect URI, so an interaction begun before the change (up to interactionTtl) is not answered at a URI the client
 * has since removed (a lapsed domain, say), nor with tokens by a response type it has given up.
 */
const stillRegistered = (req: AuthorizationRequest, client: ClientRecord): boolean =>
  redirectUriMatches(client, req.redirectUri) && clientMayUseResponseType(client, req.responseType);

/** A ticket that is not (or no longer) a pending authorization: the issue, fail and consent steps' answer. */
const futureAuthTimeResult = (description: string) =>
  jsonResult('BAD_REQUEST', 400, 'LK7390', { error: 'invalid_request', error_description: description }) as AuthorizationResult;

export const unknownTicket = () =>
  jsonResult('BAD_REQUEST', 400, 'LK3006', { error: 'invalid_request', error_description: 'unknown, expired or used ticket' }) as AuthorizationResult;

export interface AuthorizationIssueInput {
  ticket: string;
  /** The authenticated user's sub. */
  subject: string;
  /** When the user authenticated (epoch seconds). */
  authTime: number;
  /** How the user authenticated; the tenant's defaultAcr (a password sign-in) when absent. */
  acr?: string;
  amr?: string[];
  /** The browser session's sid, for the ID token (OIDC Front/Back-Channel Logout). */
  sid?: string;
  /** Narrow the granted scopes (e.g. the user unticked some); never widens. */
  scopes?: string[];
  /**
   * `sid` is a Latchkey browser session (the built-in UI sets this): a session-bound grant made in it dies with the
   * session even once the session's row has been purged (token/refresh-token.ts). A host's own sid is not one.
   */
  latchkeySession?: boolean;
  /**
   * The host asked the user and they consented: record the consent for the granted scopes (and claims asked for by
   * name), so a later request for no more than these reports consentRequired false. The built-in UI records its own.
   */
  consentGiven?: boolean;
  /**
   * RFC 9396: the authorization details the user approved, each one of those the request asked for (deep equality);
   * [] approves none. Absent: all of them.
   */
  authorizationDetails?: unknown[];
}

/**
 * The authorization details an issue step grants: those named (each one asked for, compared by deep equality), or
 * all asked for. A host naming one the request did not ask for is refused (LK7353), never granted more.
 */
export function approvedAuthorizationDetails(req: Pick<AuthorizationRequest, 'authorizationDetails'>, approved: unknown[] | undefined): AuthorizationDetail[] | undefined {
  const requested = req.authorizationDetails;
  if (approved === undefined) return requested;
  if (approved.length === 0) return undefined;
  if (!requested) throw new OAuthError('invalid_request', 'authorizationDetails given, but the request asked for none', { resultCode: 'LK7353' });
  for (const a of approved) {
    if (!requested.some((r) => isDeepStrictEqual(r, a))) {
      throw new OAuthError('invalid_request', 'authorizationDetails holds an object the request did not ask for', { resultCode: 'LK7353' });
    }
  }
  return requested.filter((r) => approved.some((a) => isDeepStrictEqual(r, a)));
}

/**
 * Step two, success: mint what the response type asks for and send the user agent back to the client
 * (RFC 6749 §4.1.2, §4.2.2; OIDC Core §3.2.2.5, §3.3.2.5). The code, the access token and the ID token all come
 * from the existing mint functions; every one records the same grant, so revoking the grant revokes them all.
 */
export async function authorizationIssue(input: AuthorizationIssueInput, ctx: EngineContext): Promise<AuthorizationResult> {
  try {
    const future = futureAuthTime(ctx, input.authTime);
    if (future) return futureAuthTimeResult(future); // before the ticket is spent: the host may try again
    // Before the ticket is spent, what may fail and be tried again: a host's mistake in the authorization details
    // (LK7353), and the client's response encryption key, fetched from its jwks_uri (LK7242: the request cannot be
    // answered without it; the ticket stays, so the same step succeeds once the client's keys can be read again).
    const pending = await loadTicket(ctx, input.ticket);
    if (pending && input.authorizationDetails !== undefined) approvedAuthorizationDetails(pending.request, input.authorizationDetails);
    const keys = pending && (await issueKeys(pending, ctx));
    const progress = { consumedAt: undefined as number | undefined, written: false };
    try {
      const t = await consumeTicket(ctx, input.ticket, progress);
      if (!t) return unknownTicket();
      return await issue(t, input, ctx, t.client === pending?.client ? keys : undefined, progress); // the same client record (the cache's), else resolved again
    } catch (e) {
      // This call spent the ticket and nothing was issued (the store failed after the consumption, before or at the
      // grant's write, which is all or nothing): the ticket is pending again, so the same step can be tried once more
      // rather than the user starting over. Once the grant is written, a failure keeps it spent (a retry would issue a
      // second grant).
      if (progress.consumedAt !== undefined && !progress.written) {
        await ctx.store.releaseTicket(ctx.tenant.id, ctx.hasher.hash(input.ticket), progress.consumedAt).catch(() => false);
      }
      throw e;
    }
  } catch (e) {
    return stepFailure(e, ctx);
  }
}

/**
 * authorizationIssue for a request validated in this same call and never parked: nothing to consume, so nothing
 * else can have used it; everything after is the same step. A parked request goes through its ticket instead.
 */
export async function authorizationIssuePending(pending: PendingAuthorization, input: Omit<AuthorizationIssueInput, 'ticket'>, ctx: EngineContext): Promise<AuthorizationResult> {
  if (pending.parked) return authorizationIssue({ ...input, ticket: pending.ticket }, ctx);
  try {
    const future = futureAuthTime(ctx, input.authTime);
    if (future) return futureAuthTimeResult(future);
    return await issue(pending.loaded, { ...input, ticket: pending.ticket }, ctx);
  } catch (e) {
    return stepFailure(e, ctx);
  }
}

/**
 * OIDC Core §3.1.2.1 (id_token_hint), §5.5.1 (a sub value in the claims parameter): whether the request names a
 * user other than the one given, by the sub this client knows them by (pairwise, §8). Both names must match when
 * both are present. The engine's issue step refuses then; the built-in UI asks for a sign-in first.
 */
export function namesAnotherUser(req: Pick<AuthorizationRequest, 'claimsSub' | 'idTokenHintSub'>, clientSub: string): boolean {
  return (req.claimsSub !== undefined && req.claimsSub !== clientSub) || (req.idTokenHintSub !== undefined && req.idTokenHintSub !== clientSub);
}

/** namesAnotherUser for a loaded request and a local user id: compared as the request's client knows that user. */
export function namesAnotherLocalUser(ctx: Pick<EngineContext, 'hasher' | 'tenant'>, t: Pick<LoadedTicket, 'request' | 'client'>, subject: string): boolean {
  return namesAnotherUser(t.request, subjectFor(ctx, t.client, subject));
}

/** OIDC Core §3.1.2.1: whether an authentication at authTime satisfies the request's prompt=login and max_age. */
export function authenticatedRecentlyEnough(req: Pick<AuthorizationRequest, 'prompt' | 'maxAge'>, authTime: number, requestedAt: number, now: number): boolean {
  if (req.prompt.includes('login') || req.maxAge === 0) return authTime >= requestedAt;
  return req.maxAge === undefined || now - authTime <= req.maxAge;
}

/**
 * JARM §2.2, OIDC Core §10.2: the client's keys were checked when the request arrived, but may have become unusable
 * since (a rotated jwks_uri, a failed refetch). They are resolved again for the issue step, before anything is
 * written (consent, grant, code, tokens), and carried to where the response is made, which then fetches nothing.
 * Without a JARM key no response can reach the client (the user agent gets LK7242, thrown to stepFailure); without an
 * ID token key the refusal is redirected (LK7241, returned here as the OAuthError), as in step one
 * (authorization/response-encryption.ts).
 */
async function issueKeys(t: LoadedTicket, ctx: EngineContext): Promise<{ response?: EncryptionKey; idToken?: EncryptionKey | OAuthError }> {
  const req = t.request;
  return {
    response: t.client.authorizationEncryptedResponseAlg !== undefined && req.responseMode.endsWith('.jwt')
      ? await encryptionKeyFor(ctx, t.client, 'authorization', 'LK7242')
      : undefined,
    idToken: t.client.idTokenEncryptedResponseAlg !== undefined && req.responseType.split(' ').includes('id_token')
      ? await resolveEncryptionKey(ctx, t.client, 'id_token', 'LK7241')
      : undefined,
  };
}

/** `keys`: issueKeys for this ticket's client, resolved before the ticket was spent; resolved here when absent. */
async function issue(
  t: LoadedTicket,
  input: AuthorizationIssueInput,
  ctx: EngineContext,
  keys?: Awaited<ReturnType<typeof issueKeys>>,
  /** Set once the grant (and what comes with it) is written: from then on, a failure must not give the ticket back. */
  progress?: { written: boolean },
): Promise<AuthorizationResult> {
  const req = t.request;
  const target = targetOf(req, t.client);
  const parts = req.responseType.split(' ');
  const { response, idToken: idTokenKey } = keys ?? (await issueKeys(t, ctx));
  if (response) target.encryptionKey = response;
  if (idTokenKey instanceof OAuthError) return await errorResponse(ctx, target, idTokenKey, 'LK7241');
  if (namesAnotherLocalUser(ctx, t, input.subject)) {
    return await errorResponse(ctx, target, new OAuthError('login_required', 'the signed-in user is not the one the request named'), 'LK7015');
  }
  // OIDC Core §3.1.2.1: prompt=login and max_age=0 MUST re-authenticate, so the authentication must be this request's
  // (made after it arrived); max_age=N allows one at most N seconds old. The built-in UI asks for a sign-in then; a
  // host (Core API, library) that issues with an older one gets the same answer as for a user the request did not name.
  if (!authenticatedRecentlyEnough(req, input.authTime, t.createdAt, nowSeconds(ctx))) {
    return await errorResponse(ctx, target, new OAuthError('login_required', 'the user must sign in again for this request (prompt=login or max_age)'), 'LK7029');
  }
  const acr = input.acr ?? ctx.tenant.settings.defaultAcr;
  // OIDC Core §5.5.1.1: an essential acr that was not obtained is a failed authentication.
  if (!essentialAcrMet(req.claims, acr)) {
    return await errorResponse(ctx, target, new OAuthError('access_denied', 'the requested authentication context could not be met'), 'LK7014');
  }
  const scope = input.scopes ? req.scope.filter((s) => input.scopes!.includes(s)) : req.scope;
  const authorizationDetails = approvedAuthorizationDetails(req, input.authorizationDetails); // RFC 9396 §7.1: what was approved
  const claimsRequest = withoutDeclinedClaims(req.claims, req.scope.filter((s) => !scope.includes(s)));
  const now = nowSeconds(ctx);
  // Consent is recorded only once the user may be issued for (the checks above passed), for what is granted.
  const consented = input.consentGiven === true ? consentScopes({ scope, claims: claimsRequest }) : undefined;
  if (consented) await recordConsent(ctx, input.subject, t.client, consented);
  const grantId = newOrderedHandle(ctx.random, ctx.clock(), 16); // not a secret; ordered: appended to its indexes
  const code = parts.includes('code') ? newHandle(ctx.random) : undefined;
  let at: IssuedAccessToken | undefined;
  let atTarget: TokenTarget | undefined;
  const resources = req.resources ?? [];
  const grant: GrantRecord = { tenantId: ctx.tenant.id, id: grantId, clientId: req.clientId, subject: input.subject, scope, createdAt: now, revokedAt: null, data: { resources, ...(authorizationDetails ? { authorizationDetails } : {}), ...(input.sid && input.latchkeySession ? { session: LATCHKEY_SESSION } : {}) }, sid: input.sid ?? null };
  const codeRecord: AuthorizationCodeRecord | undefined = code === undefined ? undefined : {
    tenantId: ctx.tenant.id,
    hash: ctx.hasher.hash(code),
    clientId: req.clientId,
    grantId,
    // FAPI 2.0 §5.3.2.2: a FAPI client's codes live at most 60 seconds, whatever the tenant allows.
    expiresAt: now + (isFapi(t.client, ctx.tenant.settings) ? Math.min(FAPI_CODE_LIFETIME, ctx.tenant.settings.authorizationCodeTtl) : ctx.tenant.settings.authorizationCodeTtl),
    consumedAt: null,
    data: {
      subject: input.subject,
      scope,
      redirectUri: req.redirectUri,
      redirectUriSent: req.redirectUriSent,
      codeChallenge: req.codeChallenge,
      nonce: req.nonce,
      authTime: input.authTime,
      acr,
      amr: input.amr,
      sid: input.sid,
      claims: claimsRequest,
      ...(req.dpopJkt ? { dpopJkt: req.dpopJkt } : {}), // RFC 9449 §10
      resources, // RFC 8707 §2.1: applicable to the full grant
      ...(authorizationDetails ? { authorizationDetails } : {}), // RFC 9396 §7: returned with the tokens
    },
  };
  if (codeRecord && !parts.includes('token')) {
    // The code flow's usual case: the grant and its code, both or neither, group-committed on SQLite.
    await ctx.store.insertGrantWithCode(grant, codeRecord);
  } else {
    await ctx.store.transaction(async (tx) => {
      await tx.insertGrant(grant);
      if (codeRecord) await tx.insertCode(codeRecord);
      if (parts.includes('token')) {
        // RFC 6749 §4.2.2: an access token straight from the authorization endpoint; never a refresh token.
        // RFC 8707 §2.1: in the implicit flow the requested resources are that access token's audience.
        const txCtx = { ...ctx, store: tx };
        atTarget = await tokenTarget(txCtx, t.client, { resources: await loadResources(txCtx, t.client, resources), scope, scopeRequested: false });
        at = await mintAccessToken(txCtx, {
          client: t.client, subject: input.subject, scope: atTarget.scope, audience: atTarget.audience, format: atTarget.format,
          lifetime: atTarget.lifetime, grantId, authTime: input.authTime, acr, amr: input.amr, sid: input.sid, authorizationDetails, // RFC 9396 §9
          extra: { ...accessTokenClaimsRecord(claimsRequest), ...sessionMarker(grant) },
        });
      }
    });
  }
  if (progress) progress.written = true;
  const params: Record<string, string | undefined> = { code };
  if (at) {
    // RFC 6749 §3.3, §4.2.2: scope is one or more tokens; none granted leaves the (optional) parameter out.
    Object.assign(params, { access_token: at.token, token_type: 'Bearer', expires_in: String(at.expiresIn), scope: (atTarget?.scope ?? scope).join(' ') || undefined });
  }
  if (parts.includes('id_token')) {
    const user = await findAccount(ctx, ctx.store, input.subject);
    const userClaims = user?.claims ?? {};
    // OIDC Core §5.4: when no access token is ever issued (response_type id_token) the scope's claims go in the ID token.
    const claims = {
      ...(req.responseType === 'id_token' ? claimsForScopes(scope, userClaims) : {}),
      ...requestedUserClaims(claimsRequest?.id_token, userClaims), // OIDC Core §5.5
    };
    // OIDC Core §3.3.2.11: c_hash with a code, at_hash with an access token.
    params.id_token = await mintIdToken(ctx, {
      client: t.client, subject: input.subject, authTime: input.authTime, nonce: req.nonce, acr, amr: input.amr, sid: input.sid,
      accessToken: at?.token, code, claims, state: req.state, encryptionKey: idTokenKey,
    });
  }
  const issued = await authorizationResponse<AuthorizationAction>(ctx, target, params, 'LK3007');
  return consented ? { ...issued, consentGranted: { clientId: t.client.clientId, subject: input.subject, scope: consented } } : issued;
}

/** Why the caller could not complete the request; each maps to the OIDC/OAuth error the client receives. */
export const FAIL_REASONS = {
  NOT_LOGGED_IN: ['login_required', 'the user is not logged in'],
  LOGIN_REQUIRED: ['login_required', 'the user must log in'],
  CONSENT_REQUIRED: ['consent_required', 'the user must consent'],
  INTERACTION_REQUIRED: ['interaction_required', 'user interaction is required'],
  ACCOUNT_SELECTION_REQUIRED: ['account_selection_required', 'the user must select an account'],
  ACCESS_DENIED: ['access_denied', 'the user denied the request'],
  SERVER_ERROR: ['server_error', 'the authorization server could not complete the request'],
} as const satisfies Record<string, readonly [OAuthErrorCode, string]>;
export type FailReason = keyof typeof FAIL_REASONS;

/** Step two, failure: send the error back to the client in its response mode (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6). */
export async function authorizationFail(input: { ticket: string; reason: FailReason; description?: string }, ctx: EngineContext): Promise<AuthorizationResult> {
  return fail(input, ctx, () => consumeTicket(ctx, input.ticket));
}

/** authorizationFail for a request that was never parked (authorizationIssuePending's counterpart). */
export async function authorizationFailPending(
  pending: PendingAuthorization,
  input: { reason: FailReason; description?: string },
  ctx: EngineContext,
): Promise<AuthorizationResult> {
  if (pending.parked) return authorizationFail({ ...input, ticket: pending.ticket }, ctx);
  return fail(input, ctx, async () => pending.loaded);
}

/** The reasons a request ends with no page shown to the user (OIDC Core §3.1.2.6); access_denied follows one. */
const silentFailure = (reason: FailReason) => reason !== 'ACCESS_DENIED' && reason !== 'SERVER_ERROR';

async function fail(input: { reason: FailReason; description?: string }, ctx: EngineContext, take: () => Promise<LoadedTicket | undefined>): Promise<AuthorizationResult> {
  try {
    const pair = Object.hasOwn(FAIL_REASONS, input.reason) ? FAIL_REASONS[input.reason] : undefined;
    if (!pair) {
      return jsonResult('BAD_REQUEST', 400, 'LK0004', { error: 'invalid_request', error_description: 'unknown reason' }) as AuthorizationResult;
    }
    const t = await take();
    if (!t) return unknownTicket();
    const err = new OAuthError(pair[0], input.description?.slice(0, 200) ?? pair[1]);
    const rc = pair[0] === 'login_required' || pair[0] === 'consent_required' || pair[0] === 'interaction_required' ? 'LK3011' : 'LK3008';
    // RFC 9700 §4.11.2: prompt=none answers with no page at all, so its errors, like a failing request's, would bounce
    // the user to an untrusted client's page unseen (an open redirect once reported against Doorkeeper's OpenID Connect extension).
    if (silentFailure(input.reason) && t.request.prompt.includes('none') && !redirectTrusted(t.client, t.request.redirectUri, ctx.clients?.registrationTrustedHosts ?? [])) {
      return jsonResult('BAD_REQUEST', 400, 'LK7471', err.body(), { message: `${resultCodes.LK7471} (${err.code}: ${err.description})` }) as AuthorizationResult;
    }
    return await errorResponse(ctx, targetOf(t.request, t.client), err, rc);
  } catch (e) {
    return stepFailure(e, ctx);
  }
}

/** OIDC Core §11: an implicit access token of a session-bound grant carries the marker that ends it with the session. */
function sessionMarker(grant: GrantRecord): Record<string, unknown> {
  const binding = sessionBindingOf(grant, grant.scope);
  return binding ? { [SESSION_BINDING]: binding } : {};
}
