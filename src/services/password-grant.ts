import type { EngineContext } from '../engine/context.js';
import { nowSeconds } from '../engine/context.js';
import type { Result } from '../engine/result.js';
import { tokenFail, tokenIssue, type TokenAction, type TokenResult } from '../engine/token/index.js';
import { beginLoginAttempt, loginSucceeded, retryAfter } from './rate-limit.js';
import { verifyCredentials } from './accounts.js';
import { otpRequired } from './mfa.js';

/**
 * The built-in server's half of the password grant (RFC 6749 §4.3): given the engine's PASSWORD result, check
 * the credentials against the tenant's users (argon2id) behind the login page's rate limits, then finish with
 * tokenIssue or tokenFail. A Core API caller does the same against its own user store.
 */
export async function completePasswordGrant(ctx: EngineContext, r: TokenResult, ip: string): Promise<Result<TokenAction>> {
  const ticket = r.ticket!;
  const username = r.username!;
  try {
    if (await beginLoginAttempt(ctx, username, ip)) {
      return tokenFail({ ticket, reason: 'RATE_LIMITED', retryAfter: retryAfter(ctx) }, ctx);
    }
    const { account: user } = await verifyCredentials(ctx, username, r.password!);
    if (!user) {
      ctx.log?.info({ event: 'password_grant_failure', tenant: ctx.tenant.id, client: r.clientId }, 'password grant: wrong credentials');
      return tokenFail({ ticket, reason: 'INVALID_CREDENTIALS' }, ctx);
    }
    await loginSucceeded(ctx, username, ip);
    // Two-step sign-in (services/mfa.ts): a password alone must not get around the code the browser asks for.
    if (await otpRequired(ctx, user.id)) {
      ctx.log?.info({ event: 'password_grant_failure', tenant: ctx.tenant.id, client: r.clientId }, 'password grant: the account uses two-step sign-in');
      return tokenFail({ ticket, reason: 'SECOND_FACTOR_REQUIRED' }, ctx);
    }
    // Built-in users are read again, locked, where the tokens are issued: setDisabled may have run since the check.
    return tokenIssue({ ticket, subject: user.id, authTime: nowSeconds(ctx), amr: ['pwd'] }, ctx, { builtInUser: !ctx.accounts });
  } catch (e) {
    ctx.log?.error({ err: e }, 'password grant: credentials check failed');
    return tokenFail({ ticket, reason: 'SERVER_ERROR' }, ctx);
  }
}
