import type { ResultCode } from './result-codes.js';

/** Error codes from the OAuth/OIDC error registries (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1; OIDC Core §3.1.2.6). */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'unsupported_token_type'
  | 'invalid_target'
  | 'login_required'
  | 'consent_required'
  | 'interaction_required'
  | 'account_selection_required'
  | 'invalid_request_uri'
  | 'invalid_request_object'
  | 'request_not_supported'
  | 'request_uri_not_supported'
  | 'registration_not_supported'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'invalid_software_statement' // RFC 7591 §3.2.2
  | 'unapproved_software_statement' // RFC 7591 §3.2.2
  | 'invalid_authorization_details' // RFC 9396 §5
  | 'unknown_user_id' // OpenID CIBA Core §13
  | 'invalid_binding_message'; // OpenID CIBA Core §13

export interface OAuthErrorOptions {
  resultCode?: ResultCode;
  status?: number;
  /** Full WWW-Authenticate header value, when the spec requires one. */
  wwwAuthenticate?: string;
  /** Internal detail for logs and resultMessage; never sent to the client. */
  detail?: string;
  /** RFC 6585 §4: seconds to send as Retry-After (with status 429). */
  retryAfter?: number;
  /** Further response headers the spec requires (RFC 9449 §8: DPoP-Nonce). */
  headers?: Record<string, string>;
}

/**
 * RFC 6749 §4.1.2.1, §5.2 (and RFC 6750 §3): error_description holds only %x20-21 / %x23-5B / %x5D-7E. Messages
 * that quote request input (JSON.stringify adds `"`) or a host's own text (the Core API's fail description) are
 * brought into that set: a double quote becomes a single one; the engine's own section signs and ellipses are
 * spelled out (`RFC 6749 section 3.1.2`, `...`); anything else outside the set becomes a `?`.
 */
export function descriptionText(s: string): string {
  if (/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/.test(s)) return s;
  return s.replace(/"/g, "'").replace(/§ ?/g, 'section ').replace(/…/g, '...').replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '?');
}

/** A protocol failure inside the engine. One function (toErrorResult) turns it into a Result. */
export class OAuthError extends Error {
  override name = 'OAuthError';
  readonly resultCode: ResultCode | undefined;
  readonly status: number | undefined;
  readonly wwwAuthenticate: string | undefined;
  readonly detail: string | undefined;
  readonly retryAfter: number | undefined;
  readonly headers: Record<string, string> | undefined;

  /** Sent to the client as error_description: printable ASCII without `"` and `\` (descriptionText). */
  readonly description: string;

  constructor(
    readonly code: OAuthErrorCode,
    description: string,
    opts: OAuthErrorOptions = {},
  ) {
    super(`${code}: ${description}`);
    this.description = descriptionText(description);
    this.resultCode = opts.resultCode;
    this.status = opts.status;
    this.wwwAuthenticate = opts.wwwAuthenticate;
    this.detail = opts.detail;
    this.retryAfter = opts.retryAfter;
    this.headers = opts.headers;
  }

  /** The RFC 6749 §5.2 JSON error body. */
  body(): { error: string; error_description: string } {
    return { error: this.code, error_description: this.description };
  }
}

/**
 * The challenge of every invalid_client answer: the one HTTP authentication scheme our client-authenticated endpoints
 * take (RFC 6749 §2.3.1). Every 401 carries a WWW-Authenticate challenge (RFC 9110 §15.5.2: MUST).
 */
export const CLIENT_AUTH_CHALLENGE = 'Basic realm="latchkey", charset="UTF-8"';

/**
 * Client authentication failed (RFC 6749 §5.2): 401 with CLIENT_AUTH_CHALLENGE, whichever method the client tried.
 * When the client used the Authorization header, §5.2 requires exactly this. When it did not (client_secret_post,
 * a JWT assertion, a certificate, client_id alone), §5.2 allows 400 or a 401 "to indicate which HTTP authentication
 * schemes are supported"; we keep 401, so the status never depends on the method, and name Basic, the only HTTP
 * scheme there is to name. What a client sees: oauth4webapi (and openid-client, which passes its errors through) reads
 * any challenge before the body, so such a failure surfaces as WWWAuthenticateChallengeError (status 401, scheme
 * basic, the invalid_client body still on its `response`) rather than ResponseBodyError, as a Basic client's already
 * did; neither retries or switches method on it (their only automatic retry is the DPoP use_dpop_nonce challenge).
 * Failures never say whether the client exists, so the answer is the same for every cause.
 */
export function invalidClient(resultCode: ResultCode, detail: string): OAuthError {
  return new OAuthError('invalid_client', 'client authentication failed', { status: 401, resultCode, detail, wwwAuthenticate: CLIENT_AUTH_CHALLENGE });
}
