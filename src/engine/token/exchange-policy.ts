import type { TokenExchangePolicy } from '../../store/types.js';

/** RFC 8693 §2.1: the grant type of a token exchange. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** RFC 8693 §3: token type identifiers. */
export const TOKEN_TYPE = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
} as const;

/** Types we can validate as subject or actor tokens: only tokens this server issued (lookupToken, our JWKS). */
export const EXCHANGE_INPUT_TYPES: readonly string[] = Object.values(TOKEN_TYPE);

/** Types we issue: access tokens, opaque or RFC 9068 JWT (the `jwt` type forces the JWT format). */
export const EXCHANGE_OUTPUT_TYPES: readonly string[] = [TOKEN_TYPE.accessToken, TOKEN_TYPE.jwt];

/**
 * The policy a client gets when it registers the token-exchange grant without saying more: it may exchange
 * access tokens issued to itself, with an actor token (delegation), and nothing else.
 */
export function defaultExchangePolicy(): TokenExchangePolicy {
  return {
    subjectTokenTypes: [TOKEN_TYPE.accessToken],
    actorTokenTypes: [TOKEN_TYPE.accessToken],
    subjectTokenAudiences: [],
    delegation: true,
    impersonation: false,
  };
}
