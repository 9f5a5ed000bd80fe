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
  // token services (issue 4): resource indicators (RFC 8707), JWT access tokens (RFC 9068), token exchange
  // (RFC 8693), the password grant (RFC 6749 §4.3) and refresh policies (RFC 9700 §4.14.2)
  LK6001: 'invalid_target: a resource value is not an absolute URI without a fragment, or too many were sent (RFC 8707 §2).',
  LK6002: 'invalid_target: the resource is not a registered resource server of this tenant (RFC 8707 §2).',
  LK6003: 'invalid_target: the client may not request tokens for this resource (its resources allow-list).',
  LK6004: 'invalid_target: the resource was not part of the original grant; only those or a subset may be named (RFC 8707 §2.2).',
  LK6005: 'invalid_target: the requested scope has no meaning at the requested resource (RFC 8707 §2, RFC 9068 §2.2.3).',
  LK6006: 'invalid_scope: the scopes belong to different resource servers and no resource was named (RFC 9068 §3).',
  LK6010: 'Password grant: verify the username and password, then call tokenIssue or tokenFail with the ticket.',
  LK6011: 'Password grant: wrong username or password, or a disabled account (invalid_grant, RFC 6749 §5.2).',
  LK6012: 'Password grant: too many failed sign-ins for this account or address; refused without checking (invalid_grant).',
  LK6013: 'Password grant: the ticket is unknown, expired or already used.',
  LK6014: 'Password grant: the username or password is longer than accepted.',
  LK6015: 'Password grant: the caller could not verify the credentials (server_error).',
  LK6020: 'Token exchange: subject_token_type or actor_token_type is unsupported or not allowed for this client (RFC 8693 §2.2.2).',
  LK6021: 'Token exchange: the subject_token is invalid, expired, revoked, of another type, or not acceptable to this client (RFC 8693 §2.2.2).',
  LK6022: 'Token exchange: the actor_token is invalid, expired, revoked, of another type, or not acceptable to this client (RFC 8693 §2.2.2).',
  LK6023: 'Token exchange: impersonation (no actor_token) is not allowed for this client.',
  LK6024: 'Token exchange: delegation (an actor_token) is not allowed for this client.',
  LK6025: 'Token exchange: the requested_token_type cannot be issued (access_token and jwt can).',
  LK6026: 'Token exchange: actor_token and actor_token_type go together (RFC 8693 §2.1).',
  LK6027: 'Token exchange: the requested scope exceeds the subject token\'s or the client\'s (invalid_scope).',
  LK6030: 'Token issued: a rotated refresh token was presented again within the reuse interval and accepted once more; its family stays valid (RFC 9700 §4.14.2).',
  LK6031: 'Token issued: refresh token rotation is off for this client; the same refresh token was returned and stays valid.',
  // logout (LK9xxx)
  LK9001: 'The logout request is invalid (id_token_hint or client_id).',
  LK9002: 'post_logout_redirect_uri is not registered for the client; no redirect is made.',
  LK9003: 'The logout request is valid.',
} as const;

export type ResultCode = keyof typeof resultCodes;
