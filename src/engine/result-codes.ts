/**
 * The catalogue of result codes. A result code is a stable diagnostic: callers and logs may key on it.
 * docs/result-codes.md is generated from this table (`npm run docs:result-codes`); never renumber.
 */
export const resultCodes = {
  // generic
  LK0001: 'Internal server error; the cause is logged on the server.',
  LK0002: 'A request parameter appears more than once (RFC 6749 §3.1).',
  LK0003: 'A required request parameter is missing.',
  LK0004: 'A request parameter has an invalid value.',
  LK0005: 'The request body is not application/x-www-form-urlencoded.',
  LK0006: 'The request body is malformed.',
  // client authentication
  LK1001: 'Client authentication failed: unknown client.',
  LK1002: 'Client authentication failed: wrong or missing secret.',
  LK1003: 'Client authentication failed: the client used a method other than its registered one.',
  LK1004: 'More than one client authentication method was used in one request (RFC 6749 §2.3).',
  LK1005: 'The Authorization header is malformed.',
  LK1006: 'client_id in the body does not match the authenticated client.',
  LK1007: 'The client is not allowed to use this grant type or response type.',
  // token endpoint
  LK2001: 'Token issued.',
  LK2002: 'Unsupported grant_type.',
  LK2003: 'Requested scope is not allowed for this client.',
  LK2004: 'The authorization code is invalid, expired or was issued to another client.',
  LK2005: 'The authorization code was already used; tokens issued from it were revoked (RFC 6749 §4.1.2).',
  LK2006: 'redirect_uri does not match the one in the authorization request (RFC 6749 §4.1.3).',
  LK2007: 'PKCE verification failed (RFC 7636 §4.6).',
  LK2008: 'The refresh token is invalid, expired, revoked or was issued to another client.',
  LK2009: 'A rotated refresh token was presented again; its whole family was revoked (RFC 9700 §4.14.2).',
  LK2010: 'The requested scope exceeds the scope originally granted (RFC 6749 §6).',
  // authorization endpoint
  LK3001: 'The authorization request needs user interaction (login or consent).',
  LK3002: 'The authorization request can be completed without interaction.',
  LK3003: 'Unknown client_id; the user sees an error page and is not redirected.',
  LK3004: 'redirect_uri is missing or not registered for this client; no redirect is made (RFC 9700 §4.1.3).',
  LK3005: 'The authorization request was rejected; the error is returned to the client by redirect.',
  LK3006: 'The ticket is unknown, expired or already used.',
  LK3007: 'Authorization issued; the user agent is redirected to the client.',
  LK3008: 'Authorization failed at the caller\'s request; the error is returned to the client by redirect.',
  LK3009: 'Unsupported response_type.',
  LK3010: 'PKCE is required for this client (RFC 9700 §2.1.1) or the code_challenge_method is not S256.',
  LK3011: 'prompt=none was sent but the user must log in or consent.',
  // resource access
  LK4001: 'The access token is valid.',
  LK4002: 'No access token was presented (RFC 6750 §3.1).',
  LK4003: 'The access token is invalid, expired or revoked (RFC 6750 §3.1).',
  LK4004: 'The access token lacks the scope needed (RFC 6750 §3.1).',
  LK4005: 'The access token was presented in more than one way (RFC 6750 §2).',
  // introspection (RFC 7662, RFC 9701) and revocation (RFC 7009)
  LK5001: 'Introspection: the token is active.',
  LK5002: 'Introspection: the token is inactive (unknown, expired, revoked, rotated, of another tenant, or not visible to this client); the message says which.',
  LK5003: 'Public clients may not call the introspection endpoint (RFC 7662 §2.1: the caller must be authorized).',
  LK5004: 'Revocation: the access token was revoked.',
  LK5005: 'Revocation: the refresh token and its whole grant (every token issued from it) were revoked (RFC 7009 §2.1).',
  LK5006: 'Revocation: nothing to revoke; the token is unknown, of another tenant, or already expired.',
  LK5007: 'Revocation: the token was issued to another client and was not revoked; answered 200 all the same (RFC 7009 §2.2).',
  // logout (LK9xxx)
  LK9001: 'The logout request is invalid (id_token_hint or client_id).',
  LK9002: 'post_logout_redirect_uri is not registered for the client; no redirect is made.',
  LK9003: 'The logout request is valid.',
  // Core API (issue 7): the JSON protocol API for delegating applications (LK11xxx)
  LK11001: 'Core API: the request body is not valid JSON.',
  LK11002: 'Core API: a field is missing, of the wrong type, or not recognised; the message names it.',
  LK11003: 'Core API: the request body must be application/json.',
  LK11004: 'Core API: no service access token was presented (Authorization: Bearer).',
  LK11005: 'Core API: the service access token is unknown or revoked.',
  LK11006: 'Core API: the service access token is not valid for this service.',
  LK11007: 'Core API: no such service.',
  LK11008: 'Core API: no such endpoint.',
  LK11009: 'Core API: the request body is too large.',
  LK11010: 'Core API: the service configuration (OpenID Provider / RFC 8414 metadata) of the service.',
  LK11011: 'Core API: the JWK Set (public signing keys) of the service.',
  LK11012: 'UserInfo: the access token is valid; gather the claims named in `claims` and call auth/userinfo/issue.',
  LK11013: 'The access token was issued for another subject than the one the resource belongs to.',
  LK11014: 'The access token is DPoP-bound and no DPoP proof was presented (RFC 9449 §7.1).',
  LK11015: 'The DPoP proof is invalid: malformed, badly signed, for another method or URI, too old, replayed, or without the access token hash (RFC 9449 §4.3).',
  LK11016: 'The DPoP proof was signed with another key than the one the access token is bound to (RFC 9449 §7.1).',
  LK11017: 'The access token is bound to a client certificate and none, or another one, was presented (RFC 8705 §3).',
  LK11018: 'The access token is not a b64token (RFC 6750 §2.1): the request is malformed.',
} as const;

export type ResultCode = keyof typeof resultCodes;
