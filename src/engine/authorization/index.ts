import type { ClientRecord } from '../../store/types.js';
import { newHandle } from '../../tokens/handles.js';
import { type EngineContext, nowSeconds } from '../context.js';
import { OAuthError, type OAuthErrorCode } from '../errors.js';
import { Params } from '../params.js';
import { internalErrorResult, jsonResult, NO_STORE, type Result } from '../result.js';
import { resultCodes, type ResultCode } from '../result-codes.js';
import {
  type AuthorizationRequest,
  type Check,
  type CheckState,
  checkClient,
  checkHints,
  checkIdTokenHint,
  checkMaxAge,
  checkPkce,
  checkPrompt,
  checkRedirectUri,
  checkRequestObject,
  checkResource,
  checkResponseMode,
  checkResponseType,
  checkScope,
} from './request.js';

export type { AuthorizationRequest } from './request.js';

export type AuthorizationAction = 'INTERACTION' | 'NO_INTERACTION' | 'LOCATION' | 'FORM' | 'BAD_REQUEST' | 'INTERNAL_SERVER_ERROR';

export interface AuthorizationResult extends Result<AuthorizationAction> {
  /** Present with INTERACTION / NO_INTERACTION: hand it back to authorizationIssue or authorizationFail. */
  ticket?: string;
  client?: { clientId: string; clientName?: string; logoUri?: string; clientUri?: string };
  scopes?: string[];
  prompt?: string[];
  maxAge?: number;
  loginHint?: string;
  idTokenHintSub?: string;
  acrs?: string[];
  uiLocales?: string[];
  /** RFC 8707: the resource servers the client asked access to. */
  resources?: string[];
}

/**
 * Which checks each authorization-family endpoint runs, in order. One table shows the whole policy; a new
 * endpoint (PAR, device authorization) is a new row, not a copy.
 */
export const AUTHORIZATION_CHECKS: Record<'authorization', Check[]> = {
  authorization: [
    checkClient,
    checkRedirectUri,
    checkRequestObject,
    checkResponseType,
    checkResponseMode,
    checkScope,
    checkResource,
    checkPkce,
    checkPrompt,
    checkMaxAge,
    checkHints,
    checkIdTokenHint,
  ],
};

/** RFC 6749 §4.1.2 / §4.1.2.1 response parameters, appended to the redirect URI keeping its query (§3.1.2). */
export function redirectWith(redirectUri: string, params: Record<string, string | undefined>): string {
  const u = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.append(k, v);
  return u.toString();
}

function locationResult(url: string, resultCode: ResultCode, message?: string): AuthorizationResult {
  return {
    action: 'LOCATION',
    resultCode,
    resultMessage: message ?? resultCodes[resultCode],
    responseContent: url,
    // 303: the browser follows with GET, never re-posting a login or consent form (RFC 9700 §4.12).
    status: 303,
    headers: { ...NO_STORE, Location: url },
  };
}

function errorRedirect(ctx: EngineContext, redirectUri: string, state: string | undefined, err: OAuthError, rc: ResultCode): AuthorizationResult {
  return locationResult(
    redirectWith(redirectUri, { error: err.code, error_description: err.description, state, iss: ctx.tenant.issuer }), // RFC 9207
    rc,
    `${resultCodes[rc]} (${err.code}: ${err.description})`,
  );
}

function badRequest(err: OAuthError): AuthorizationResult {
  const rc = err.resultCode ?? 'LK0004';
  return jsonResult('BAD_REQUEST', 400, rc, err.body(), { message: `${resultCodes[rc]} (${err.description})` }) as AuthorizationResult;
}

function clientView(c: ClientRecord): NonNullable<AuthorizationResult['client']> {
  return { clientId: c.clientId, clientName: c.clientName, logoUri: c.logoUri, clientUri: c.clientUri };
}

/**
 * Step one (OIDC Core §3.1.2.1, RFC 6749 §4.1.1): validate the request and park it under a ticket.
 * Until client_id and redirect_uri are verified, errors are BAD_REQUEST (shown to the user, never redirected);
 * after that they are redirected to the client with state and iss.
 */
export async function authorization(input: { parameters: string }, ctx: EngineContext): Promise<AuthorizationResult> {
  const state: CheckState = { params: Params.parse(''), ctx, request: {} };
  try {
    state.params = Params.parse(input.parameters, { allowRepeated: ['resource'] }); // RFC 8707 §2
    for (const check of AUTHORIZATION_CHECKS.authorization) await check(state);
    const req = state.request as AuthorizationRequest;
    const ticket = newHandle(ctx.random);
    const now = nowSeconds(ctx);
    await ctx.store.insertTicket({
      tenantId: ctx.tenant.id,
      hash: ctx.hasher.hash(ticket),
      clientId: req.clientId,
      expiresAt: now + ctx.tenant.settings.interactionTtl,
      consumedAt: null,
      data: { request: req, createdAt: now },
    });
    const none = req.prompt.includes('none');
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
    };
  } catch (e) {
    if (!(e instanceof OAuthError)) return internalErrorResult('INTERNAL_SERVER_ERROR', e, ctx.log) as AuthorizationResult;
    if (state.redirectUri === undefined) return badRequest(e);
    return errorRedirect(ctx, state.redirectUri, state.request.state, e, e.resultCode ?? 'LK3005');
  }
}

export interface LoadedTicket {
  request: AuthorizationRequest;
  client: ClientRecord;
  createdAt: number;
}

/** Read a pending ticket without consuming it (the built-in UI looks at it across login and consent pages). */
export async function loadTicket(ctx: EngineContext, ticket: string): Promise<LoadedTicket | undefined> {
  if (!ticket || ticket.length > 100) return undefined;
  const t = await ctx.store.findTicket(ctx.tenant.id, ctx.hasher.hash(ticket));
  if (!t || t.consumedAt !== null || t.expiresAt <= nowSeconds(ctx)) return undefined;
  const client = await ctx.store.findClient(ctx.tenant.id, t.clientId);
  if (!client) return undefined;
  return { request: t.data.request as AuthorizationRequest, client, createdAt: Number(t.data.createdAt) };
}

async function consumeTicket(ctx: EngineContext, ticket: string): Promise<LoadedTicket | undefined> {
  if (typeof ticket !== 'string' || !ticket || ticket.length > 100) return undefined;
  const t = await ctx.store.consumeTicket(ctx.tenant.id, ctx.hasher.hash(ticket), nowSeconds(ctx));
  if (!t || t.expiresAt <= nowSeconds(ctx)) return undefined;
  const client = await ctx.store.findClient(ctx.tenant.id, t.clientId);
  if (!client) return undefined;
  return { request: t.data.request as AuthorizationRequest, client, createdAt: Number(t.data.createdAt) };
}

const unknownTicket = () =>
  jsonResult('BAD_REQUEST', 400, 'LK3006', { error: 'invalid_request', error_description: 'unknown, expired or used ticket' }) as AuthorizationResult;

export interface AuthorizationIssueInput {
  ticket: string;
  /** The authenticated user's sub. */
  subject: string;
  /** When the user authenticated (epoch seconds). */
  authTime: number;
  acr?: string;
  amr?: string[];
  /** The browser session's sid, for the ID token (OIDC Front/Back-Channel Logout). */
  sid?: string;
  /** Narrow the granted scopes (e.g. the user unticked some); never widens. */
  scopes?: string[];
}

/** Step two, success: mint the code and send the user agent back to the client (RFC 6749 §4.1.2). */
export async function authorizationIssue(input: AuthorizationIssueInput, ctx: EngineContext): Promise<AuthorizationResult> {
  try {
    const t = await consumeTicket(ctx, input.ticket);
    if (!t) return unknownTicket();
    const req = t.request;
    const scope = input.scopes ? req.scope.filter((s) => input.scopes!.includes(s)) : req.scope;
    const now = nowSeconds(ctx);
    const grantId = newHandle(ctx.random, 16);
    const code = newHandle(ctx.random);
    await ctx.store.transaction(async (tx) => {
      const resources = req.resources ?? [];
      await tx.insertGrant({ tenantId: ctx.tenant.id, id: grantId, clientId: req.clientId, subject: input.subject, scope, createdAt: now, revokedAt: null, data: { resources }, sid: input.sid ?? null });
      await tx.insertCode({
        tenantId: ctx.tenant.id,
        hash: ctx.hasher.hash(code),
        clientId: req.clientId,
        grantId,
        expiresAt: now + ctx.tenant.settings.authorizationCodeTtl,
        consumedAt: null,
        data: {
          subject: input.subject,
          scope,
          redirectUri: req.redirectUri,
          redirectUriSent: req.redirectUriSent,
          codeChallenge: req.codeChallenge,
          nonce: req.nonce,
          authTime: input.authTime,
          acr: input.acr,
          amr: input.amr,
          sid: input.sid,
          resources, // RFC 8707 §2.1: applicable to the full grant
        },
      });
    });
    return locationResult(redirectWith(req.redirectUri, { code, state: req.state, iss: ctx.tenant.issuer }), 'LK3007');
  } catch (e) {
    if (e instanceof OAuthError) return badRequest(e);
    return internalErrorResult('INTERNAL_SERVER_ERROR', e, ctx.log) as AuthorizationResult;
  }
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

/** Step two, failure: send the error back to the client by redirect (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6). */
export async function authorizationFail(input: { ticket: string; reason: FailReason; description?: string }, ctx: EngineContext): Promise<AuthorizationResult> {
  try {
    const pair = Object.hasOwn(FAIL_REASONS, input.reason) ? FAIL_REASONS[input.reason] : undefined;
    if (!pair) {
      return jsonResult('BAD_REQUEST', 400, 'LK0004', { error: 'invalid_request', error_description: 'unknown reason' }) as AuthorizationResult;
    }
    const t = await consumeTicket(ctx, input.ticket);
    if (!t) return unknownTicket();
    const err = new OAuthError(pair[0], input.description?.slice(0, 200) ?? pair[1]);
    return errorRedirect(ctx, t.request.redirectUri, t.request.state, err, pair[0] === 'login_required' || pair[0] === 'consent_required' || pair[0] === 'interaction_required' ? 'LK3011' : 'LK3008');
  } catch (e) {
    return internalErrorResult('INTERNAL_SERVER_ERROR', e, ctx.log) as AuthorizationResult;
  }
}
