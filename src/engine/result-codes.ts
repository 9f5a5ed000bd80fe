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
  // resource-server helpers (src/resource-server; LK12xxx)
  LK12001: 'Resource server: the DPoP proof is missing or invalid (RFC 9449 §4.3: one proof, dpop+jwt, asymmetric signature by its jwk, htm, htu, iat window, ath, single use).',
  LK12002: 'Resource server: the DPoP proof is signed by a key other than the one the access token is bound to (cnf.jkt, RFC 9449 §7.1).',
  LK12003: 'Resource server: a DPoP-bound access token was presented as a Bearer token, or an unbound one with the DPoP scheme (RFC 9449 §7.2).',
  LK12004: 'Resource server: the access token is bound to a TLS client certificate (cnf.x5t#S256) that was not presented (RFC 8705 §3).',
  LK12005: 'Resource server: the access token is not meant for this resource server (aud, RFC 9068 §4).',
  LK12006: 'Resource server: the authorization server could not be reached or answered nonsense (discovery, JWKS or introspection); answered 503.',
  LK12007: 'Resource server: an opaque access token was presented but no introspection credentials are configured.',
} as const;

export type ResultCode = keyof typeof resultCodes;
