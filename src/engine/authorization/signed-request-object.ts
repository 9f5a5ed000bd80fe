import { OAuthError } from '../errors.js';
import type { Check, CheckState } from './request.js';

/** RFC 9101 §10.5: the client (require_signed_request_object) or its tenant requires signed request objects. */
export const signedRequestObjectRequired = (s: CheckState): boolean =>
  s.client!.requireSignedRequestObject === true || s.ctx.tenant.settings.requireSignedRequestObject === true;

/**
 * RFC 9101 §10.5: under the requirement an `alg: none` request object "MUST" be rejected. At the authorization
 * endpoint that is invalid_request_object (RFC 9101 §7); the PAR endpoint refuses anything but a signed request
 * object with invalid_request (RFC 9126 §2.3).
 */
export const unsignedRequestObjectRefused = (s: CheckState): OAuthError =>
  new OAuthError(s.endpoint === 'par' ? 'invalid_request' : 'invalid_request_object', 'the request object must be signed: alg none is not accepted (require_signed_request_object)', { resultCode: 'LK7051' });

/**
 * RFC 9101 §10.5 (downgrade attack): a client registered with require_signed_request_object, or any client of a
 * tenant that requires it, is served only requests whose parameters came from a signed request object: by value,
 * or pushed (RFC 9126 §3; the alg verified at push time travels with the request_uri). An unsigned object sent by
 * value is refused already by checkRequestObject, so its error follows the request-object rule for redirects.
 * Plain parameters are refused here, after the redirect URI is verified, so at the authorization endpoint the
 * refusal goes back to the client (as with require_pushed_authorization_requests).
 */
export const checkSignedRequestObject: Check = (s) => {
  if (!signedRequestObjectRequired(s)) return;
  if (s.requestObjectAlg === undefined) {
    // RFC 9126 §2.3 (PAR) and RFC 6749 §4.1.2.1: the request lacks what the client's policy makes required.
    throw new OAuthError('invalid_request', 'this client must send its authorization request as a signed request object (require_signed_request_object)', { resultCode: 'LK7050' });
  }
  // Pushed unsigned before the requirement was set (a request_uri lives at most 60 s).
  if (s.requestObjectAlg === 'none') throw unsignedRequestObjectRefused(s);
};
