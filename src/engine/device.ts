import { limitAddress, limitClient } from './abuse-limit.js';
import type { ClientRecord, DeviceCodeRecord } from '../store/types.js';
import { newHandle, type RandomSource } from '../tokens/handles.js';
import type { CheckState } from './authorization/request.js';
import { authenticateClient, clientAuthDeps, presentedCredentials } from './client-auth.js';
import { type EngineContext, endpointsOf, futureAuthTime, nowSeconds } from './context.js';
import { OAuthError } from './errors.js';
import { type AuthorizationDetail, storedAuthorizationDetails, supportedAuthorizationDetailsTypes } from './authorization-details.js';
import { approvedAuthorizationDetails, runChecks } from './authorization/index.js';
import { checkFormContentType, Params } from './params.js';
import type { BackChannelInput } from './par.js';
import { failureResult, internalErrorResult, jsonResult, runEngine, type Result } from './result.js';
import { resultCodes } from './result-codes.js';

/**
 * RFC 8628 §6.1: user codes from 20 consonants (no vowels, so no words; no look-alike digits), 8 of them shown
 * as XXXX-XXXX: 20^8 ≈ 2^34.6 per guess, entered on a rate-limited page.
 */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const USER_CODE_LENGTH = 8;

/** Uniform characters by rejection sampling (240 = 12 × 20, so no modulo bias). */
export function newUserCode(random: RandomSource): string {
  let out = '';
  while (out.length < USER_CODE_LENGTH) {
    for (const b of random(16)) {
      if (b < 240 && out.length < USER_CODE_LENGTH) out += USER_CODE_ALPHABET[b % 20];
    }
  }
  return out;
}

/** Case-insensitive, hyphens, spaces and other separators ignored (RFC 8628 §6.1); undefined when it cannot be a code. */
export function normalizeUserCode(entered: string): string | undefined {
  if (entered.length > 64) return undefined;
  const letters = entered.toUpperCase().replace(/[^A-Z]/g, '');
  if (letters.length !== USER_CODE_LENGTH || [...letters].some((c) => !USER_CODE_ALPHABET.includes(c))) return undefined;
  return letters;
}

export const formatUserCode = (code: string): string => `${code.slice(0, 4)}-${code.slice(4)}`;

const userCodeHash = (ctx: EngineContext, code: string) => ctx.hasher.hash(`user_code:${code}`);

export type DeviceAuthorizationAction = 'OK' | 'BAD_REQUEST' | 'UNAUTHORIZED' | 'INTERNAL_SERVER_ERROR';

/**
 * The device authorization endpoint (RFC 8628 §3.1, §3.2). Confidential clients authenticate; public clients
 * identify themselves with client_id. The scope goes through the authorization checks' device column.
 */
export function deviceAuthorization(input: BackChannelInput, ctx: EngineContext): Promise<Result<DeviceAuthorizationAction>> {
  return runEngine(
    async () => {
      checkFormContentType(input.contentType, input.repeatedContentType);
      const params = Params.parse(input.parameters);
      await limitAddress(ctx, 'device_authorization', input.clientAddress);
      const { client, method } = await authenticateClient(clientAuthDeps(ctx, endpointsOf(ctx.tenant.issuer).deviceAuthorization), presentedCredentials(input), params);
      await limitClient(ctx, 'device_authorization', client.clientId, method, input.clientAddress);
      const state: CheckState = { params, ctx, client, request: { clientId: client.clientId } };
      await runChecks('device_authorization', state);
      const now = nowSeconds(ctx);
      const ttl = ctx.tenant.settings.deviceCodeTtl ?? 600;
      const interval = ctx.tenant.settings.deviceCodeInterval ?? 5;
      const deviceCode = newHandle(ctx.random);
      let userCode = '';
      for (let attempt = 0; ; attempt++) {
        userCode = newUserCode(ctx.random);
        try {
          await ctx.store.insertDeviceCode({
            tenantId: ctx.tenant.id,
            hash: ctx.hasher.hash(deviceCode),
            userCodeHash: userCodeHash(ctx, userCode),
            clientId: client.clientId,
            scope: state.request.scope ?? [],
            status: 'pending',
            interval,
            lastPolledAt: null,
            createdAt: now,
            expiresAt: now + ttl,
            subject: null,
            decidedAt: null,
            consumedAt: null,
            // RFC 9396 §3: the authorization details asked for, shown on the verification page and granted on approval.
            data: state.request.authorizationDetails ? { authorizationDetails: state.request.authorizationDetails } : {},
          });
          break;
        } catch (e) {
          // A user code already taken (1 in 2^34 per stored code): draw another.
          if (attempt >= 4) throw e;
        }
      }
      const verification = endpointsOf(ctx.tenant.issuer).device;
      const shown = formatUserCode(userCode);
      return jsonResult('OK', 200, 'LK7016', {
        device_code: deviceCode,
        user_code: shown,
        verification_uri: verification,
        verification_uri_complete: `${verification}?user_code=${shown}`, // RFC 8628 §3.3.1
        expires_in: ttl,
        interval,
      });
    },
    (e: OAuthError): DeviceAuthorizationAction => (e.status === 401 ? 'UNAUTHORIZED' : 'BAD_REQUEST'),
    'INTERNAL_SERVER_ERROR',
    ctx.log,
  );
}

export type DeviceVerificationAction = 'VALID' | 'NOT_EXIST' | 'EXPIRED' | 'INTERNAL_SERVER_ERROR';

export interface DeviceVerificationResult extends Result<DeviceVerificationAction> {
  /** With VALID: who asks, and for what, to show the user before they approve (RFC 8628 §5.4). */
  client?: { clientId: string; clientName?: string; logoUri?: string; clientUri?: string };
  scopes?: string[];
  /** With VALID: RFC 9396, the authorization details asked for. */
  authorizationDetails?: AuthorizationDetail[];
  expiresAt?: number;
}

function verificationResult(action: DeviceVerificationAction, rc: 'LK7022' | 'LK7023' | 'LK7024', extra: Partial<DeviceVerificationResult> = {}): DeviceVerificationResult {
  const body = action === 'VALID' ? { action } : { action, error: action === 'EXPIRED' ? 'expired_token' : 'invalid_request' };
  return { ...jsonResult(action, action === 'VALID' ? 200 : 400, rc, body), ...extra };
}

const view = (c: ClientRecord) => ({ clientId: c.clientId, clientName: c.clientName, logoUri: c.logoUri, clientUri: c.clientUri });

/**
 * Look up a user code the user entered (RFC 8628 §3.3): is it pending, and for which client and scopes?
 * Read-only; the caller rate-limits failed entries (§5.1).
 */
export async function deviceVerification(input: { userCode: string }, ctx: EngineContext): Promise<DeviceVerificationResult> {
  try {
    const code = normalizeUserCode(String(input.userCode ?? ''));
    const rec = code ? await ctx.store.findDeviceCodeByUserCode(ctx.tenant.id, userCodeHash(ctx, code)) : undefined;
    if (!rec || rec.status !== 'pending') return verificationResult('NOT_EXIST', 'LK7023');
    if (rec.expiresAt <= nowSeconds(ctx)) return verificationResult('EXPIRED', 'LK7024');
    const client = await ctx.store.findClient(ctx.tenant.id, rec.clientId);
    if (!client) return verificationResult('NOT_EXIST', 'LK7023');
    return verificationResult('VALID', 'LK7022', { client: view(client), scopes: rec.scope, authorizationDetails: storedAuthorizationDetails(rec.data.authorizationDetails), expiresAt: rec.expiresAt });
  } catch (e) {
    return internalErrorResult('INTERNAL_SERVER_ERROR', e, ctx.log) as DeviceVerificationResult;
  }
}

export type DeviceCompleteAction = 'SUCCESS' | 'USER_CODE_NOT_EXIST' | 'USER_CODE_EXPIRED' | 'INVALID_REQUEST' | 'INTERNAL_SERVER_ERROR';

/** A user's decision on a polled request (a device code, or a CIBA request: ciba.ts). */
export interface DecisionInput {
  /** The user's decision. */
  result: 'AUTHORIZED' | 'ACCESS_DENIED';
  /** With AUTHORIZED: the user (sub) and how they authenticated. */
  subject?: string;
  authTime?: number;
  acr?: string;
  amr?: string[];
  sid?: string;
  /** Narrow the scopes (the user unticked some); never widens. */
  scopes?: string[];
  /** RFC 9396: the authorization details the user approved, each one of those asked for (deep equality); [] none; absent: all. */
  authorizationDetails?: unknown[];
}

export interface DeviceCompleteInput extends DecisionInput {
  userCode: string;
}

/** What a decision writes on a polled request: its scope (absent: unchanged) and data. */
export interface Decision {
  scope?: string[];
  data: Record<string, unknown>;
}

/**
 * What a decision records on a polled request as it is now (`current`). A denial records nothing of the user. An
 * approval: the scopes narrowed to those the user kept, and the data the grant is made from (who and how they
 * authenticated, the approved RFC 9396 details). The details asked for are kept through the decision (it replaces
 * the record's data); checked as the issue step checks them: one the request did not ask for is refused (`refused`,
 * LK7353), the feature on or off.
 */
export function decisionOf(ctx: EngineContext, input: DecisionInput, current: DeviceCodeRecord | undefined): Decision | { refused: string } {
  if (input.result !== 'AUTHORIZED') return { data: {} };
  const scope = input.scopes ? current?.scope.filter((s) => input.scopes!.includes(s)) : undefined;
  const rar = supportedAuthorizationDetailsTypes(ctx).length > 0 || input.authorizationDetails !== undefined;
  let authorizationDetails: AuthorizationDetail[] | undefined;
  try {
    authorizationDetails = rar && current
      ? approvedAuthorizationDetails({ authorizationDetails: storedAuthorizationDetails(current.data.authorizationDetails) }, input.authorizationDetails)
      : undefined;
  } catch (e) {
    if (e instanceof OAuthError) return { refused: e.description };
    throw e;
  }
  const data = { authTime: input.authTime ?? nowSeconds(ctx), acr: input.acr ?? ctx.tenant.settings.defaultAcr, amr: input.amr, sid: input.sid, ...(authorizationDetails ? { authorizationDetails } : {}) };
  return { scope, data };
}

/**
 * Write a decision on a pending, unexpired polled request, once (decideDeviceCode's one conditional update); when it
 * did not win, why: the request had expired, or it was unknown or already decided.
 */
export async function recordDecision(
  ctx: EngineContext, userCodeHash: string, status: 'approved' | 'denied', subject: string | null, decision: Decision, now: number,
): Promise<DeviceCodeRecord | 'EXPIRED' | 'NOT_EXIST'> {
  const won = await ctx.store.decideDeviceCode(ctx.tenant.id, userCodeHash, { status, subject, scope: decision.scope, data: decision.data }, now);
  if (won) return won;
  const rec = await ctx.store.findDeviceCodeByUserCode(ctx.tenant.id, userCodeHash);
  return rec && rec.status === 'pending' && rec.expiresAt <= now ? 'EXPIRED' : 'NOT_EXIST';
}

/**
 * Record the user's decision on a pending device authorization, exactly once (one conditional update): the
 * polling client then gets its tokens (approved) or access_denied (denied) at the token endpoint.
 */
export async function deviceComplete(input: DeviceCompleteInput, ctx: EngineContext): Promise<Result<DeviceCompleteAction> & { clientId?: string }> {
  const fail = (action: DeviceCompleteAction, rc: 'LK7023' | 'LK7024' | 'LK0004' | 'LK7353' | 'LK7390', description: string) =>
    jsonResult(action, 400, rc, { action, error: action === 'USER_CODE_EXPIRED' ? 'expired_token' : 'invalid_request', error_description: description });
  try {
    if (input.result !== 'AUTHORIZED' && input.result !== 'ACCESS_DENIED') return fail('INVALID_REQUEST', 'LK0004', 'result must be AUTHORIZED or ACCESS_DENIED');
    if (input.result === 'AUTHORIZED' && (typeof input.subject !== 'string' || !input.subject)) return fail('INVALID_REQUEST', 'LK0004', 'subject is required');
    const future = input.result === 'AUTHORIZED' ? futureAuthTime(ctx, input.authTime) : undefined;
    if (future) return fail('INVALID_REQUEST', 'LK7390', future);
    const code = normalizeUserCode(String(input.userCode ?? ''));
    if (!code) return fail('USER_CODE_NOT_EXIST', 'LK7023', 'unknown user code');
    const hash = userCodeHash(ctx, code);
    const now = nowSeconds(ctx);
    const approved = input.result === 'AUTHORIZED';
    // Read only when the decision needs it: the scopes to narrow, or details to keep or check (approvedDecision).
    const rar = approved && (supportedAuthorizationDetailsTypes(ctx).length > 0 || input.authorizationDetails !== undefined);
    const current = approved && (input.scopes || rar) ? await ctx.store.findDeviceCodeByUserCode(ctx.tenant.id, hash) : undefined;
    // No such code: recordDecision says so (USER_CODE_NOT_EXIST), not the details check (it has none to check).
    const decision = decisionOf(ctx, input, current);
    if ('refused' in decision) return fail('INVALID_REQUEST', 'LK7353', decision.refused);
    const won = await recordDecision(ctx, hash, approved ? 'approved' : 'denied', approved ? input.subject! : null, decision, now);
    if (won === 'EXPIRED') return fail('USER_CODE_EXPIRED', 'LK7024', 'the user code expired');
    if (won === 'NOT_EXIST') return fail('USER_CODE_NOT_EXIST', 'LK7023', 'unknown or already decided user code');
    // clientId: for the caller's audit record (not in responseContent).
    return { ...jsonResult('SUCCESS', 200, 'LK7025', { action: 'SUCCESS' }, { message: `${resultCodes.LK7025} (${won.status})` }), clientId: won.clientId };
  } catch (e) {
    return failureResult(e, () => 'INVALID_REQUEST', 'INTERNAL_SERVER_ERROR', ctx.log); // a subject the store refuses: the caller's
  }
}
