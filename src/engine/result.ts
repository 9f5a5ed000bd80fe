import { OAuthError } from './errors.js';
import { resultCodes, type ResultCode } from './result-codes.js';
import { isStoreRejectedInput, isStoreUnavailable } from '../store/unavailable.js';

/**
 * What every engine endpoint returns. `action` is the only thing a caller branches on.
 * `status`, `contentType` and `headers` say how the built-in HTTP server replies for that action, so that
 * the adapter is mechanical and Core API callers can do the same.
 */
export interface Result<A extends string = string> {
  action: A;
  resultCode: ResultCode;
  resultMessage: string;
  /** Exactly what goes to the client: a JSON body, a redirect URL (LOCATION) or an HTML page (FORM). */
  responseContent: string;
  status: number;
  contentType?: 'application/json' | 'text/html' | 'application/jwt' | 'application/token-introspection+jwt' | 'application/jwk-set+json';
  headers?: Record<string, string>;
}

/** Logger the engine may use for unexpected failures (pino-compatible subset). */
export interface EngineLogger {
  error(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
}

export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

export function jsonResult<A extends string>(
  action: A,
  status: number,
  resultCode: ResultCode,
  body: unknown,
  opts: { headers?: Record<string, string>; message?: string } = {},
): Result<A> {
  return {
    action,
    resultCode,
    resultMessage: opts.message ?? resultCodes[resultCode],
    responseContent: JSON.stringify(body),
    status,
    contentType: 'application/json',
    headers: { ...NO_STORE, ...opts.headers },
  };
}

/**
 * The one place an OAuthError becomes a JSON error Result (RFC 6749 §5.2 shape).
 * `actionFor` maps the OAuth error to the endpoint's action vocabulary.
 */
export function errorResult<A extends string>(err: OAuthError, actionFor: (e: OAuthError) => A, defaultStatus = 400): Result<A> {
  const headers: Record<string, string> = {};
  if (err.wwwAuthenticate) headers['WWW-Authenticate'] = err.wwwAuthenticate;
  if (err.retryAfter !== undefined) headers['Retry-After'] = String(err.retryAfter);
  if (err.headers) Object.assign(headers, err.headers);
  const rc = err.resultCode ?? defaultResultCode(err);
  return jsonResult(actionFor(err), err.status ?? defaultStatus, rc, err.body(), {
    headers,
    message: err.detail ? `${resultCodes[rc]} ${err.detail}` : `${resultCodes[rc]} (${err.description})`,
  });
}

export function internalErrorResult<A extends string>(action: A, cause: unknown, log?: EngineLogger): Result<A> {
  if (isStoreUnavailable(cause)) {
    // The database is away (restart, failover): a retry soon will likely work, so say so (503 + Retry-After)
    // rather than claim a server bug. The statement failed, so nothing was issued (crash.test.ts proves it).
    log?.warn({ err: cause }, 'engine: database unavailable');
    return jsonResult(action, 503, 'LK9501', { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; retry later' }, { headers: { 'Retry-After': '1' } });
  }
  log?.error({ err: cause }, 'engine: unexpected failure');
  return jsonResult(action, 500, 'LK0001', { error: 'server_error', error_description: 'internal server error' });
}

function defaultResultCode(err: OAuthError): ResultCode {
  switch (err.code) {
    case 'invalid_client':
      return 'LK1002';
    case 'unauthorized_client':
      return 'LK1007';
    case 'unsupported_grant_type':
      return 'LK2002';
    case 'invalid_scope':
      return 'LK2003';
    case 'invalid_token':
      return 'LK4003';
    default:
      return 'LK0004';
  }
}

/**
 * Run an engine body: OAuthErrors become error Results via `actionFor`, anything else an INTERNAL_SERVER_ERROR
 * with a generic body and the cause logged. Never a stack trace to the client.
 */
export async function runEngine<A extends string>(
  body: () => Promise<Result<A>>,
  actionFor: (e: OAuthError) => A,
  internalAction: A,
  log?: EngineLogger,
): Promise<Result<A>> {
  try {
    return await body();
  } catch (e) {
    return failureResult(e, actionFor, internalAction, log);
  }
}

/**
 * The client's error a failure stands for, if any: an OAuthError itself, or a value the database refused
 * (isStoreRejectedInput: the request carried something no valid request holds, e.g. a NUL byte) as invalid_request.
 * Anything else is the server's. The one rule runEngine and every engine step that catches on its own apply.
 */
export function clientErrorOf(e: unknown): OAuthError | undefined {
  if (e instanceof OAuthError) return e;
  if (isStoreRejectedInput(e)) return new OAuthError('invalid_request', 'the request holds characters no valid request holds', { resultCode: 'LK0004' });
  return undefined;
}

/** A caught failure as a Result: the client's error (clientErrorOf) through `actionFor`, else internalErrorResult. */
export function failureResult<A extends string>(e: unknown, actionFor: (e: OAuthError) => A, internalAction: A, log?: EngineLogger): Result<A> {
  const err = clientErrorOf(e);
  return err ? errorResult(err, actionFor) : internalErrorResult(internalAction, e, log);
}
