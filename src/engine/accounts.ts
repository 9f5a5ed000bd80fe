import type { EngineContext } from './context.js';
import type { Store } from '../store/types.js';

/**
 * User accounts kept by an application that embeds Latchkey (createLatchkey's `findAccount`), used instead of the
 * tenant's users table wherever the engine needs a user's claims (ID tokens, UserInfo, introspection's username).
 */
export interface AccountSource {
  /** The claims of the account with this `sub`, or null/undefined when there is none (or it is disabled). */
  findAccount(sub: string): Promise<Record<string, unknown> | null | undefined>;
  /**
   * Check a username and password; the account's `sub`, or null. Used by the built-in sign-in pages and the password
   * grant (services/accounts.ts), never by the engine itself. Without it, nobody can sign in with a password here.
   */
  authenticate?(username: string, password: string): Promise<string | null | undefined>;
}

/** What the engine and the sign-in pages need to know about a user, wherever the account lives. */
export interface Account {
  id: string;
  username: string;
  claims: Record<string, unknown>;
  disabled: boolean;
}

/**
 * The account behind a subject: the embedding application's (ctx.accounts), else the tenant's users table read
 * through `store` (the caller's transaction, inside one).
 */
export async function findAccount(ctx: Pick<EngineContext, 'accounts' | 'tenant'>, store: Pick<Store, 'findUserById'>, sub: string): Promise<Account | undefined> {
  if (!ctx.accounts) return store.findUserById(ctx.tenant.id, sub);
  const claims = await ctx.accounts.findAccount(sub);
  if (!claims) return undefined;
  const name = claims.preferred_username;
  return { id: sub, username: typeof name === 'string' ? name : sub, claims: { ...claims, sub }, disabled: false };
}
