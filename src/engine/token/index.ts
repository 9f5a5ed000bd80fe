import { authenticateClient, clientAuthDeps, presentedCredentials } from '../client-auth.js';
import { endpointsOf, type EngineContext } from '../context.js';
import { OAuthError } from '../errors.js';
import { checkFormContentType, Params } from '../params.js';
import { runEngine, type Result } from '../result.js';
import { authorizationCode } from './authorization-code.js';
import { clientCredentials } from './client-credentials.js';
import { deviceCode } from './device-code.js';
import { refreshToken } from './refresh-token.js';
import type { GrantHandler, TokenAction, TokenInput } from './types.js';

export type { TokenAction, TokenInput } from './types.js';

/** One handler per grant type; a grant is supported exactly when it is in this table. */
export const grantHandlers: Record<string, GrantHandler> = {
  authorization_code: authorizationCode,
  refresh_token: refreshToken,
  client_credentials: clientCredentials,
  'urn:ietf:params:oauth:grant-type:device_code': deviceCode, // RFC 8628 §3.4
};

export function registerGrant(grantType: string, handler: GrantHandler): void {
  grantHandlers[grantType] = handler;
}

const actionFor = (e: OAuthError): TokenAction => (e.code === 'invalid_client' ? 'INVALID_CLIENT' : 'BAD_REQUEST');

/** The token endpoint (RFC 6749 §3.2). */
export function token(input: TokenInput, ctx: EngineContext): Promise<Result<TokenAction>> {
  return runEngine(
    async () => {
      checkFormContentType(input.contentType);
      const params = Params.parse(input.parameters);
      const grantType = params.require('grant_type');
      const auth = await authenticateClient(
        clientAuthDeps(ctx, endpointsOf(ctx.tenant.issuer).token),
        presentedCredentials(input),
        params,
      );
      const handler = Object.hasOwn(grantHandlers, grantType) ? grantHandlers[grantType] : undefined;
      if (!handler) throw new OAuthError('unsupported_grant_type', 'unsupported grant_type', { resultCode: 'LK2002' });
      if (!auth.client.grantTypes.includes(grantType)) {
        throw new OAuthError('unauthorized_client', `client is not allowed the ${grantType} grant`, { resultCode: 'LK1007' });
      }
      return handler(params, auth, ctx, input);
    },
    actionFor,
    'INTERNAL_SERVER_ERROR',
    ctx.log,
  );
}
