import { limitAddress, limitClient } from '../abuse-limit.js';
import { authenticateClient, clientAuthDeps, presentedCredentials } from '../client-auth.js';
import { endpointsOf, type EngineContext } from '../context.js';
import { OAuthError } from '../errors.js';
import { checkFormContentType, Params } from '../params.js';
import { runEngine, type Result } from '../result.js';
import { authorizationCode } from './authorization-code.js';
import { clientCredentials } from './client-credentials.js';
import { TOKEN_EXCHANGE_GRANT } from './exchange-policy.js';
import { passwordGrant } from './password.js';
import { deviceCode } from './device-code.js';
import { cibaGrant } from '../ciba.js';
import { refreshToken } from './refresh-token.js';
import { tokenExchange } from './token-exchange.js';
import type { GrantHandler, TokenAction, TokenInput, TokenResult } from './types.js';
import { tokenRequestConfirmation } from '../token-binding.js';
import { currentDpopNonce } from '../dpop.js';
import { resolveEncryptionKey } from '../response-encryption.js';
import { FAPI_ALGS, idTokenAlgOutsideProfile, isFapi } from '../fapi.js';

export type { TokenAction, TokenInput, TokenResult } from './types.js';
export { PASSWORD_FAIL_REASONS, tokenFail, tokenIssue, type PasswordFailReason, type TokenIssueInput } from './password.js';

/** One handler per grant type; a grant is supported exactly when it is in this table. */
export const grantHandlers: Record<string, GrantHandler> = {
  authorization_code: authorizationCode,
  refresh_token: refreshToken,
  client_credentials: clientCredentials,
  // RFC 6749 §4.3: listed in discovery because a client can opt in; off for every client that did not.
  password: passwordGrant,
  [TOKEN_EXCHANGE_GRANT]: tokenExchange, // RFC 8693
  'urn:ietf:params:oauth:grant-type:device_code': deviceCode, // RFC 8628 §3.4
  'urn:openid:params:grant-type:ciba': cibaGrant, // OpenID CIBA Core §10.1
};

/**
 * The built-in handlers that never mint an ID token (no key to resolve for them): client_credentials (no user),
 * token exchange (issues access tokens) and the password grant's first step (its tokens come from tokenIssue, which
 * resolves its own). By handler, not grant name: a handler put in with registerGrant gets the key whenever it might
 * need one, under any name.
 */
const NO_ID_TOKEN_HANDLERS: ReadonlySet<GrantHandler> = new Set([clientCredentials, tokenExchange, passwordGrant]);

export function registerGrant(grantType: string, handler: GrantHandler): void {
  grantHandlers[grantType] = handler;
}

const actionFor = (e: OAuthError): TokenAction => (e.code === 'invalid_client' ? 'INVALID_CLIENT' : 'BAD_REQUEST');

/** The token endpoint (RFC 6749 §3.2). */
export function token(input: TokenInput, ctx: EngineContext): Promise<TokenResult> {
  return runEngine<TokenAction>(
    async () => {
      checkFormContentType(input.contentType, input.repeatedContentType);
      // RFC 8707 §2 and RFC 8693 §2.1: resource and audience may repeat.
      const params = Params.parse(input.parameters, { allowRepeated: ['resource', 'audience'] });
      const grantType = params.require('grant_type');
      await limitAddress(ctx, 'token', input.clientAddress);
      const auth = await authenticateClient(
        clientAuthDeps(ctx, endpointsOf(ctx.tenant.issuer).token),
        presentedCredentials(input),
        params,
      );
      await limitClient(ctx, 'token', auth.client.clientId, auth.method, input.clientAddress);
      const handler = Object.hasOwn(grantHandlers, grantType) ? grantHandlers[grantType] : undefined;
      if (!handler) throw new OAuthError('unsupported_grant_type', 'unsupported grant_type', { resultCode: 'LK2002' });
      if (!auth.client.grantTypes.includes(grantType)) {
        throw new OAuthError('unauthorized_client', `client is not allowed the ${grantType} grant`, { resultCode: 'LK1007' });
      }
      // FAPI 2.0 §5.3.2.1: no password grant, even for a client registered with it before the tenant's profile was on.
      if (grantType === 'password' && isFapi(auth.client, ctx.tenant.settings)) {
        throw new OAuthError('unauthorized_client', 'the password grant is not allowed under the FAPI 2.0 profile', { resultCode: 'LK7468' });
      }
      // FAPI 2.0 §5.4.1: nor an ID token signed with another alg for a client registered before it (RS256 was the
      // default). PAR refuses its new requests (fapi.ts); its refresh tokens from before and the device grant do not pass there.
      const outside = isFapi(auth.client, ctx.tenant.settings) && !NO_ID_TOKEN_HANDLERS.has(handler) ? idTokenAlgOutsideProfile(auth.client) : undefined;
      if (outside !== undefined) {
        throw new OAuthError('unauthorized_client', `this client's id_token_signed_response_alg ${outside} is outside the FAPI 2.0 profile (${FAPI_ALGS.join(', ')}): update it`, { resultCode: 'LK7468' });
      }
      // OIDC Core §10.2: the key of a client that registered encrypted ID tokens is resolved here, for whichever grant,
      // outside the grant's transaction (a jwks_uri is never fetched while the store's writer is held), and carried to
      // mintIdToken, which never fetches. Only a client registered for openid can be issued an ID token (every grant
      // narrows to the client's scope). A refusal is kept, not thrown: it is thrown (invalid_client_metadata, LK7240)
      // only when an ID token is minted, inside the transaction, so the code or refresh token stays unspent; a
      // redemption without openid is answered as usual.
      const keyed = auth.client.idTokenEncryptedResponseAlg !== undefined && auth.client.scope.includes('openid') && !NO_ID_TOKEN_HANDLERS.has(handler)
        ? { ...ctx, idTokenEncryption: await resolveEncryptionKey(ctx, auth.client, 'id_token', 'LK7240') }
        : ctx;
      const confirmation = await tokenRequestConfirmation(keyed, auth.client, input);
      const result = await handler(params, auth, confirmation ? { ...keyed, confirmation } : keyed, input);
      const answered = confirmation?.jkt ? dpopTokenType(result) : result;
      // RFC 9449 §8.2: with nonces on, every answer to a DPoP request carries a fresh nonce for the next proof.
      if (input.dpop !== undefined && ctx.tenant.settings.dpopNonces) answered.headers = { ...answered.headers, 'DPoP-Nonce': currentDpopNonce(ctx) };
      return answered;
    },
    actionFor,
    'INTERNAL_SERVER_ERROR',
    ctx.log,
  );
}

/** RFC 9449 §5: a DPoP-bound access token is answered with token_type DPoP, whichever grant minted it. */
function dpopTokenType(result: Result<TokenAction>): Result<TokenAction> {
  if (result.action !== 'OK' || !result.responseContent) return result;
  const body = JSON.parse(result.responseContent) as Record<string, unknown>;
  if (typeof body.access_token !== 'string' || body.token_type !== 'Bearer') return result;
  return { ...result, responseContent: JSON.stringify({ ...body, token_type: 'DPoP' }) };
}
