import type { AuthenticatedClient } from '../client-auth.js';
import type { EngineContext } from '../context.js';
import type { Params, RepeatedHeaders } from '../params.js';
import type { Result } from '../result.js';

export type TokenAction = 'OK' | 'INVALID_CLIENT' | 'BAD_REQUEST' | 'PASSWORD' | 'INTERNAL_SERVER_ERROR';

/** The token request as received (DESIGN: the engine contract). */
export interface TokenInput extends RepeatedHeaders {
  /** The raw application/x-www-form-urlencoded body, unmodified. */
  parameters: string;
  /** The Content-Type the body came with, when known; anything but form encoding is invalid_request (RFC 6749 §3.2). */
  contentType?: string;
  /** The raw Authorization header; decoded here when clientId/clientSecret are not given. */
  authorization?: string;
  /** From HTTP Basic, already decoded. */
  clientId?: string;
  clientSecret?: string;
  clientCertificate?: string;
  dpop?: string;
  htm?: string;
  htu?: string;
  /** The caller's network address, for the abuse limits (src/engine/abuse-limit.ts). */
  clientAddress?: string;
}

/** The token endpoint's Result; PASSWORD (RFC 6749 §4.3) also carries what the caller needs to verify. */
export interface TokenResult extends Result<TokenAction> {
  /** PASSWORD: hand it back to tokenIssue or tokenFail. */
  ticket?: string;
  /** PASSWORD: the credentials as sent, for the caller to verify. Never stored. */
  username?: string;
  password?: string;
  clientId?: string;
  scopes?: string[];
  resources?: string[];
}

export type GrantHandler = (params: Params, auth: AuthenticatedClient, ctx: EngineContext, input: TokenInput) => Promise<TokenResult>;
