import { findAccount, type Account } from '../engine/accounts.js';
import type { EngineContext } from '../engine/context.js';
import { dummyPasswordHash, verifyPassword } from './users.js';

/**
 * The password check behind every sign-in form and the password grant: the embedding application's
 * `authenticate` when it supplied its accounts (createLatchkey), else the tenant's users table (argon2id, verified
 * against a dummy hash for unknown users so the answer takes as long either way). `knownSubject` names the account
 * a failed attempt was for, when there is one (for the audit trail).
 */
export async function verifyCredentials(ctx: EngineContext, username: string, password: string): Promise<{ account?: Account; knownSubject?: string }> {
  if (ctx.accounts) {
    const sub = ctx.accounts.authenticate ? await ctx.accounts.authenticate(username, password) : undefined;
    if (!sub) return {};
    const account = await findAccount(ctx, ctx.store, sub);
    return account ? { account } : { knownSubject: sub };
  }
  const user = await ctx.store.findUserByUsername(ctx.tenant.id, username);
  const ok = (await verifyPassword(user?.passwordHash ?? (await dummyPasswordHash()), password)) && user !== undefined && !user.disabled;
  return ok ? { account: user } : { knownSubject: user?.id };
}
