import { lookupToken } from '../tokens/lookup.js';
import { claimsForScopes, USER_CLAIMS } from './claims.js';
import type { EngineContext } from './context.js';
import { OAuthError } from './errors.js';
import { checkFormContentType, Params } from './params.js';
import { jsonResult, runEngine, type Result } from './result.js';

export type UserInfoAction = 'OK' | 'BAD_REQUEST' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'INTERNAL_SERVER_ERROR';

export interface UserInfoInput {
  /** The raw Authorization header. */
  authorization?: string;
  /** Or the access token already extracted by the caller. */
  accessToken?: string;
  /** The raw form body of a POST (RFC 6750 §2.2), with its content type. */
  parameters?: string;
  contentType?: string;
}

/** RFC 6750 §3: WWW-Authenticate for a bearer-protected resource. */
function bearerError(code: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | undefined, description: string, status: number): OAuthError {
  const parts = ['realm="latchkey"'];
  if (code) parts.push(`error="${code}"`, `error_description="${description}"`);
  return new OAuthError(code ?? 'invalid_token', description, {
    status,
    wwwAuthenticate: `Bearer ${parts.join(', ')}`,
    resultCode: code === 'insufficient_scope' ? 'LK4004' : code === 'invalid_request' ? 'LK4005' : code ? 'LK4003' : 'LK4002',
  });
}

/** RFC 6750 §2.1, §2.2: the token in the header or the form body, never both. */
export function extractBearer(input: UserInfoInput): string | undefined {
  if (input.accessToken !== undefined) return input.accessToken;
  const h = input.authorization;
  const fromHeader = h !== undefined ? /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(h)?.[1] : undefined;
  if (h !== undefined && fromHeader === undefined && /^Bearer\b/i.test(h)) throw bearerError('invalid_request', 'malformed Authorization header', 400);
  let fromBody: string | undefined;
  if (input.parameters) {
    try {
      checkFormContentType(input.contentType ?? '');
      fromBody = Params.parse(input.parameters).get('access_token');
    } catch {
      throw bearerError('invalid_request', 'malformed request body', 400);
    }
  }
  if (fromHeader !== undefined && fromBody !== undefined) throw bearerError('invalid_request', 'access token presented more than once', 400);
  return fromHeader ?? fromBody;
}

const actionFor = (e: OAuthError): UserInfoAction =>
  e.status === 401 ? 'UNAUTHORIZED' : e.status === 403 ? 'FORBIDDEN' : 'BAD_REQUEST';

/** OIDC Core §5.3: claims about the authenticated user, by the scopes the access token carries. */
export function userinfo(input: UserInfoInput, ctx: EngineContext): Promise<Result<UserInfoAction>> {
  return runEngine(
    async () => {
      const token = extractBearer(input);
      if (token === undefined) throw bearerError(undefined, 'no access token', 401); // RFC 6750 §3.1: no error code
      const state = await lookupToken(ctx, token);
      if (!state.active || state.record.kind !== 'access_token' || !state.record.subject) {
        throw bearerError('invalid_token', 'the access token is invalid, expired or revoked', 401);
      }
      if (!state.record.scope.includes('openid')) throw bearerError('insufficient_scope', 'the access token lacks the openid scope', 403);
      const user = await ctx.store.findUserById(ctx.tenant.id, state.record.subject);
      if (!user || user.disabled) throw bearerError('invalid_token', 'the access token is invalid, expired or revoked', 401);
      // OIDC Core §5.5: claims requested for UserInfo by name are released even without their scope.
      const named = Array.isArray(state.record.data.claims) ? (state.record.data.claims as string[]) : [];
      const byName = Object.fromEntries(named.filter((n) => USER_CLAIMS.has(n) && user.claims[n] !== undefined).map((n) => [n, user.claims[n]]));
      const body = { ...claimsForScopes(state.record.scope, user.claims), ...byName, sub: user.id };
      return jsonResult('OK', 200, 'LK4001', body);
    },
    actionFor,
    'INTERNAL_SERVER_ERROR',
    ctx.log,
  );
}
