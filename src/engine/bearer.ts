import type { TokenRecord } from '../store/types.js';
import { lookupToken } from '../tokens/lookup.js';
import type { EngineContext } from './context.js';
import { descriptionText, OAuthError } from './errors.js';
import { checkFormContentType, Params } from './params.js';
import { internalErrorResult, NO_STORE, type Result } from './result.js';
import { resultCodes, type ResultCode } from './result-codes.js';

/*
 * What every protected resource shares (UserInfo, the Core API's resource-server introspection): finding the
 * access token in a request (RFC 6750 §2) and the WWW-Authenticate challenge of a refusal (RFC 6750 §3,
 * RFC 9449 §7.1).
 */

export type ResourceAction = 'OK' | 'BAD_REQUEST' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'INTERNAL_SERVER_ERROR';

export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof' | 'use_dpop_nonce';

export interface ChallengeOptions {
  /** RFC 9449 §7.1: a DPoP-bound token is challenged with the DPoP scheme. */
  scheme?: 'Bearer' | 'DPoP';
  /** RFC 6750 §3: the scopes needed to access the resource, with insufficient_scope. */
  scope?: readonly string[];
  resultCode?: ResultCode;
  /** Further headers of the refusal (RFC 9449 §9: DPoP-Nonce). */
  headers?: Record<string, string>;
  /** Internal detail for logs and resultMessage; never sent. */
  detail?: string;
  /** RFC 9449 §7.1: the algs a DPoP challenge names, when narrower than DPOP_ALGS (the FAPI 2.0 profile, fapi.ts). */
  algs?: readonly string[];
}

/** RFC 9449 §5, §7.1: the algorithms we accept DPoP proofs in, advertised in a DPoP challenge. */
export const DPOP_ALGS = ['ES256', 'ES384', 'ES512', 'RS256', 'PS256', 'EdDSA'] as const;

/**
 * A refusal by a protected resource (RFC 6750 §3): without an error code when no token was presented
 * (§3.1), otherwise with one, and the status the code calls for.
 */
export function bearerError(code: BearerErrorCode | undefined, description: string, status: number, opts: ChallengeOptions = {}): OAuthError {
  const scheme = opts.scheme ?? 'Bearer';
  const parts = ['realm="latchkey"'];
  if (scheme === 'DPoP') parts.push(`algs="${(opts.algs ?? DPOP_ALGS).join(' ')}"`);
  if (code) parts.push(`error="${code}"`, `error_description="${descriptionText(description)}"`);
  if (code === 'insufficient_scope' && opts.scope?.length) parts.push(`scope="${descriptionText(opts.scope.join(' '))}"`);
  return new OAuthError(code ?? 'invalid_token', description, {
    status,
    wwwAuthenticate: `${scheme} ${parts.join(', ')}`,
    headers: opts.headers,
    detail: opts.detail,
    resultCode:
      opts.resultCode ?? (code === 'insufficient_scope' ? 'LK4004' : code === 'invalid_request' ? 'LK4005' : code ? 'LK4003' : 'LK4002'),
  });
}

export interface BearerInput {
  /** The raw Authorization header. */
  authorization?: string;
  /** Or the access token already extracted by the caller. */
  accessToken?: string;
  /** The raw form body of a POST (RFC 6750 §2.2), with its content type. */
  parameters?: string;
  contentType?: string;
  /** The request carried more than one Authorization header (the transport saw it; the header map keeps one). */
  repeatedAuthorization?: boolean;
}

/** RFC 6750 §2, RFC 6749 §2.3: two Authorization headers are ambiguous credentials, whichever one a parser kept (and whichever scheme it names). */
export function refuseRepeatedAuthorization(input: Pick<BearerInput, 'repeatedAuthorization'>): void {
  if (input.repeatedAuthorization) throw bearerError('invalid_request', 'more than one Authorization header', 400, { resultCode: 'LK7261' });
}

/** RFC 6750 §2.1, §2.2: the token in the header or the form body, never both. */
export function extractBearer(input: BearerInput): string | undefined {
  if (input.accessToken !== undefined) return input.accessToken;
  refuseRepeatedAuthorization(input);
  const h = input.authorization;
  const fromHeader = h !== undefined ? /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(h)?.[1] : undefined;
  // RFC 6750 §3.1: a Bearer header that is not `Bearer <b64token>` is a malformed request (400), not a bad token.
  if (h !== undefined && fromHeader === undefined && /^Bearer\b/i.test(h)) throw bearerError('invalid_request', 'malformed Authorization header', 400, { resultCode: 'LK7260' });
  let fromBody: string | undefined;
  if (input.parameters) {
    try {
      checkFormContentType(input.contentType ?? '');
      fromBody = Params.parse(input.parameters).get('access_token');
    } catch {
      throw bearerError('invalid_request', 'malformed request body', 400);
    }
  }
  if (fromHeader !== undefined && fromBody !== undefined) throw bearerError('invalid_request', 'access token presented more than once', 400);
  return fromHeader ?? fromBody;
}

/** RFC 6750 §2.1: the syntax of a bearer token as it travels in the Authorization header. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The record of an active access token of this tenant (not a refresh token), or invalid_token (RFC 6750 §3.1).
 * A token handed over already extracted must still have the b64token syntax, or the request was malformed.
 */
export async function activeAccessToken(ctx: EngineContext, token: string, opts: ChallengeOptions = {}, seen?: { clientId?: string }): Promise<TokenRecord> {
  if (!B64TOKEN.test(token)) throw bearerError('invalid_request', 'the access token is malformed', 400, { ...opts, resultCode: 'LK11018' });
  const state = await lookupToken(ctx, token);
  // The client the token was issued to, active or not, for the caller's CORS answer (cors.ts).
  if (seen && state.record) seen.clientId = state.record.clientId;
  if (!state.active || state.record.kind !== 'access_token') {
    throw bearerError('invalid_token', 'the access token is invalid, expired or revoked', 401, opts);
  }
  return state.record;
}

export const resourceActionFor = (e: OAuthError): ResourceAction =>
  e.status === 401 ? 'UNAUTHORIZED' : e.status === 403 ? 'FORBIDDEN' : 'BAD_REQUEST';

/**
 * A refusal as a resource server passes it on: `responseContent` is the WWW-Authenticate value to send (the
 * body may stay empty), `status` the status to send it with.
 */
export function challengeResult(err: OAuthError): Result<ResourceAction> {
  const rc = err.resultCode ?? 'LK4003';
  const challenge = err.wwwAuthenticate ?? bearerError('invalid_request', err.description, 400).wwwAuthenticate!;
  return {
    action: resourceActionFor(err),
    resultCode: rc,
    resultMessage: err.detail ? `${resultCodes[rc]} ${err.detail}` : `${resultCodes[rc]} (${err.description})`,
    responseContent: challenge,
    status: err.status ?? 400,
    headers: { ...NO_STORE, ...err.headers, 'WWW-Authenticate': challenge },
  };
}

/** runEngine for resource-server steps: refusals become challenges (challengeResult), anything else a logged 500. */
export async function runResource<R extends Result<ResourceAction>>(ctx: EngineContext, body: () => Promise<R>): Promise<R | Result<ResourceAction>> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof OAuthError) return challengeResult(e);
    return internalErrorResult('INTERNAL_SERVER_ERROR', e, ctx.log);
  }
}
