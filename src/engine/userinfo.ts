import type { TokenRecord } from '../store/types.js';
import { findAccount } from './accounts.js';
import { activeAccessToken, bearerError, extractBearer, type BearerInput, type ResourceAction, runResource } from './bearer.js';
import { claimsForScopes, SCOPE_CLAIMS, USER_CLAIMS } from './claims.js';
import { endpointsOf, type EngineContext } from './context.js';
import type { OAuthError } from './errors.js';
import { jsonResult, runEngine, type Result } from './result.js';
import { resultCodes } from './result-codes.js';
import { checkTokenBinding, confirmationOf, type PresentedProof } from './token-binding.js';

export { extractBearer } from './bearer.js';

export type UserInfoAction = ResourceAction;

/** The built-in endpoint's input: the request as received. */
export interface UserInfoInput extends BearerInput {
  /** The DPoP header (RFC 9449 §7.1), the HTTP method, and the client's TLS certificate (RFC 8705 §3). */
  dpop?: string;
  method?: string;
  clientCertificate?: string;
}

/** RFC 9449 §7.1: `Authorization: DPoP <token>`; undefined when the header uses another scheme. */
function dpopAuthorization(h: string | undefined): string | undefined {
  if (h === undefined || !/^DPoP\b/i.test(h)) return undefined;
  const token = /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(h)?.[1];
  if (token === undefined) throw bearerError('invalid_request', 'malformed Authorization header', 400, { scheme: 'DPoP' });
  return token;
}

/*
 * UserInfo (OIDC Core §5.3) in two steps, so that an application holding its own users can serve it through the
 * Core API: step one checks the access token and says whose claims are wanted (userinfoRequest); the caller
 * gathers them; step two builds the response from them (userinfoIssue). The built-in /oauth/userinfo runs the
 * same two steps with the claims from the user store.
 */

/** Step one's rule: an active access token, for a user, with the openid scope (OIDC Core §5.3, §5.3.3). */
async function userInfoToken(ctx: EngineContext, token: string | undefined): Promise<TokenRecord> {
  if (token === undefined || token === '') throw bearerError(undefined, 'no access token', 401); // RFC 6750 §3.1: no error code
  const record = await activeAccessToken(ctx, token);
  if (!record.subject) throw bearerError('invalid_token', 'the access token is invalid, expired or revoked', 401);
  if (!record.scope.includes('openid')) {
    throw bearerError('insufficient_scope', 'the access token lacks the openid scope', 403, { scope: ['openid'] });
  }
  return record;
}

/** Names of the claims the token's scopes release (OIDC Core §5.4), for the caller to gather. */
export function userInfoClaimNames(scopes: readonly string[], requested: readonly string[] = []): string[] {
  return [...new Set([...scopes.flatMap((s) => SCOPE_CLAIMS[s] ?? []), ...requested.filter((n) => USER_CLAIMS.has(n))])];
}

/** Claims requested for UserInfo by name (the claims parameter), recorded on the token at issue. */
function requestedByName(record: TokenRecord): string[] {
  return Array.isArray(record.data.claims) ? (record.data.claims as string[]) : [];
}

/**
 * Step two's rule: the claims the token's scopes release, plus those requested by name (OIDC Core §5.5: released
 * even without their scope), and sub, always the token's (OIDC Core §5.3.2).
 */
function userInfoBody(record: TokenRecord, claims: Record<string, unknown>): Record<string, unknown> {
  const byName = Object.fromEntries(requestedByName(record).filter((n) => USER_CLAIMS.has(n) && claims[n] !== undefined).map((n) => [n, claims[n]]));
  return { ...claimsForScopes(record.scope, claims), ...byName, sub: record.subject };
}

export interface UserInfoRequestInput extends PresentedProof {
  /** The access token the client presented. */
  token: string;
}

export interface UserInfoRequestResult extends Result<UserInfoAction> {
  subject?: string;
  scopes?: string[];
  clientId?: string;
  /** The claim names to gather for auth/userinfo/issue. */
  claims?: string[];
}

/**
 * Step one (Core API auth/userinfo): OK with the subject and the claim names, or a refusal whose
 * `responseContent` is the WWW-Authenticate value to send (RFC 6750 §3, RFC 9449 §7.1).
 */
export function userinfoRequest(input: UserInfoRequestInput, ctx: EngineContext): Promise<UserInfoRequestResult> {
  return runResource(ctx, async (): Promise<UserInfoRequestResult> => {
    const record = await userInfoToken(ctx, input.token);
    await checkTokenBinding(ctx, record, input.token, input);
    return {
      action: 'OK',
      resultCode: 'LK11012',
      resultMessage: resultCodes.LK11012,
      responseContent: '',
      status: 200,
      subject: record.subject!,
      scopes: record.scope,
      clientId: record.clientId,
      claims: userInfoClaimNames(record.scope, requestedByName(record)),
    };
  });
}

export interface UserInfoIssueInput {
  token: string;
  /** The user's claims as the caller holds them; only those the token's scopes release are sent. */
  claims: Record<string, unknown>;
}

/**
 * Step two (Core API auth/userinfo/issue): the UserInfo response from the caller's claims. The token is checked
 * again (it may have expired or been revoked since step one); its key binding was checked in step one.
 */
export function userinfoIssue(input: UserInfoIssueInput, ctx: EngineContext): Promise<Result<UserInfoAction>> {
  return runResource(ctx, async () => {
    const record = await userInfoToken(ctx, input.token);
    return jsonResult('OK', 200, 'LK4001', userInfoBody(record, input.claims));
  });
}

const actionFor = (e: OAuthError): UserInfoAction => (e.status === 401 ? 'UNAUTHORIZED' : e.status === 403 ? 'FORBIDDEN' : 'BAD_REQUEST');

/** The built-in UserInfo endpoint (OIDC Core §5.3): step one, the claims from the user store, step two. */
export function userinfo(input: UserInfoInput, ctx: EngineContext): Promise<Result<UserInfoAction>> {
  return runEngine(
    async () => {
      const dpopToken = dpopAuthorization(input.authorization);
      const token = dpopToken ?? extractBearer(input);
      const record = await userInfoToken(ctx, token);
      const bound = confirmationOf(record);
      if (dpopToken !== undefined && bound.jkt === undefined) {
        // The DPoP scheme is for DPoP-bound tokens only; a bearer token must say Bearer (RFC 9449 §7.1, RFC 6750 §2.1).
        throw bearerError('invalid_token', 'the access token is not DPoP-bound: present it as Bearer', 401, { resultCode: 'LK4003' });
      }
      await checkTokenBinding(ctx, record, token!, {
        // RFC 9449 §7.2: a DPoP-bound token presented as Bearer is refused, proof or not.
        dpop: dpopToken !== undefined ? input.dpop : undefined,
        htm: input.method ?? 'GET',
        htu: endpointsOf(ctx.tenant.issuer).userinfo,
        clientCertificate: input.clientCertificate,
      });
      const user = await findAccount(ctx, ctx.store, record.subject!);
      if (!user || user.disabled) throw bearerError('invalid_token', 'the access token is invalid, expired or revoked', 401);
      return jsonResult('OK', 200, 'LK4001', userInfoBody(record, user.claims));
    },
    actionFor,
    'INTERNAL_SERVER_ERROR',
    ctx.log,
  );
}
