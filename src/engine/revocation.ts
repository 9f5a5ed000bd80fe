import { limitAddress, limitClient } from './abuse-limit.js';
import { lookupToken } from '../tokens/lookup.js';
import { authenticateClient, clientAuthDeps, presentedCredentials } from './client-auth.js';
import { endpointsOf, nowSeconds, type EngineContext } from './context.js';
import { OAuthError } from './errors.js';
import { checkFormContentType, Params, type RepeatedHeaders } from './params.js';
import { NO_STORE, runEngine, type Result } from './result.js';
import { resultCodes, type ResultCode } from './result-codes.js';

export type RevocationAction = 'OK' | 'INVALID_CLIENT' | 'BAD_REQUEST' | 'INTERNAL_SERVER_ERROR';

/** The revocation request as received (DESIGN: the engine contract). */
export interface RevocationInput extends RepeatedHeaders {
  /** The raw application/x-www-form-urlencoded body, unmodified. */
  parameters: string;
  contentType?: string;
  /** The raw Authorization header; decoded here when clientId/clientSecret are not given. */
  authorization?: string;
  clientId?: string;
  clientSecret?: string;
  /** The TLS client certificate (PEM), for tls_client_auth / self_signed_tls_client_auth (RFC 8705 §2). */
  clientCertificate?: string;
  /** The caller's address, for the per-address abuse limit (abuse-limit.ts); absent for Core API callers. */
  clientAddress?: string;
}

const actionFor = (e: OAuthError): RevocationAction => (e.code === 'invalid_client' ? 'INVALID_CLIENT' : 'BAD_REQUEST');

/**
 * RFC 7009 §2.2: every outcome a client can act on is the same 200 (an unknown or expired token too); the body is
 * ignored by the client, so it is empty. The result code tells operators what actually happened.
 */
function done(resultCode: ResultCode, detail?: string): Result<RevocationAction> {
  return {
    action: 'OK',
    resultCode,
    resultMessage: detail ? `${resultCodes[resultCode]} (${detail})` : resultCodes[resultCode],
    responseContent: '',
    status: 200,
    headers: { ...NO_STORE },
  };
}

/**
 * The revocation endpoint (RFC 7009 §2). Confidential clients authenticate with their registered method;
 * public clients identify with client_id alone (RFC 7009 §2.1) and may revoke their own tokens.
 *
 * - An access token (opaque or JWT, through its stored row) is revoked on its own; the refresh token it came
 *   with stays valid (RFC 7009 §2.1 only says MAY).
 * - A refresh token revokes its grant, the token family: every refresh and access token issued from it
 *   (RFC 7009 §2.1: SHOULD also invalidate the access tokens of the same grant). That holds for a rotated or
 *   expired refresh token too: the client is saying it is done with the grant.
 * - `token_type_hint` is ignored: the lookup finds any token by its hash, and RFC 7009 §2.1 makes the server
 *   search every type anyway. `unsupported_token_type` (§2.2.1) is therefore never sent: both kinds of token
 *   we issue are revocable, and no hint can make a findable token unrevocable.
 */
export function revocation(input: RevocationInput, ctx: EngineContext): Promise<Result<RevocationAction>> {
  return runEngine(
    async () => {
      checkFormContentType(input.contentType, input.repeatedContentType);
      const params = Params.parse(input.parameters);
      await limitAddress(ctx, 'revocation', input.clientAddress);
      const { client, method } = await authenticateClient(
        clientAuthDeps(ctx, endpointsOf(ctx.tenant.issuer).revocation),
        presentedCredentials(input),
        params,
      );
      await limitClient(ctx, 'revocation', client.clientId, method, input.clientAddress);
      const token = params.require('token');
      const { active, record } = await lookupToken(ctx, token);
      // RFC 7009 §2.2: an invalid token is not an error, the client could not handle one.
      if (!record) return done('LK5006');
      // RFC 7009 §2.1: only the client the token was issued to may revoke it; "if this validation fails, the request
      // is refused and the client is informed of the error". (Nothing is given away: that client holds the token,
      // and could present it to a resource server just as well.)
      if (record.clientId !== client.clientId) {
        throw new OAuthError('invalid_request', 'the token was not issued to this client', { resultCode: 'LK5007' });
      }
      const now = nowSeconds(ctx);
      if (record.kind === 'refresh_token') {
        if (record.grantId !== null) await ctx.store.revokeGrant(ctx.tenant.id, record.grantId, now);
        await ctx.store.revokeToken(ctx.tenant.id, record.hash, now); // a refresh token without a grant, too
        return done('LK5005', record.grantId !== null ? `grant ${record.grantId}` : 'no grant');
      }
      await ctx.store.revokeToken(ctx.tenant.id, record.hash, now);
      return done('LK5004', active ? undefined : 'it was already inactive');
    },
    actionFor,
    'INTERNAL_SERVER_ERROR',
    ctx.log,
  );
}
