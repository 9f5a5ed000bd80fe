import type { EngineContext } from './context.js';
import type { Store } from '../store/types.js';
import { OAuthError } from './errors.js';

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

/**
 * Two-step sign-in on the built-in pages (services/mfa.ts: a password, then an authenticator app's code): the acr
 * its sessions carry, listed in discovery beside the password sign-in's (defaultAcr), and the amr (RFC 8176).
 * With a security key as the second step (services/webauthn.ts), the same acr and amr `pop` (a key held, hardware or not).
 */
export const MFA_ACR = 'urn:latchkey:acr:mfa';
export const MFA_AMR = ['pwd', 'otp', 'mfa'];
export const KEY_AMR = ['pwd', 'pop', 'mfa'];

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

/**
 * An embedding application's account, looked up before a store transaction for use inside it.
 *
 * ctx.accounts is the host's code: it may do slow I/O, or use Latchkey (so the store) itself. Called inside a
 * transaction it would hold the transaction (on SQLite the write lock) open while it runs, and a store call of its
 * own would wait for the transaction that waits for it: on SQLite, one connection behind a mutex, a deadlock. So the
 * grants look the host's account up before their transaction (prefetchAccount) and issue with what it answered
 * (accountInTransaction); the tenant's users table is still read inside, through the transaction.
 */
export interface PrefetchedAccount {
  sub: string;
  account: Account | undefined;
}

/** The host's account of sub, when there is a host (ctx.accounts) and the issuance will need it; else undefined. */
export async function prefetchAccount(ctx: Pick<EngineContext, 'accounts' | 'tenant' | 'store'>, sub: string | null | undefined, needed: boolean): Promise<PrefetchedAccount | undefined> {
  if (!ctx.accounts || !needed || sub === null || sub === undefined) return undefined;
  return { sub, account: await findAccount(ctx, ctx.store, sub) };
}

/** Inside a transaction: the users table through tx, or the host's account prefetched for this sub (never a host call). */
export async function accountInTransaction(
  ctx: Pick<EngineContext, 'accounts' | 'tenant'>,
  tx: Pick<Store, 'findUserById'>,
  sub: string,
  prefetched: PrefetchedAccount | undefined,
): Promise<Account | undefined> {
  if (!ctx.accounts) return findAccount(ctx, tx, sub);
  if (prefetched?.sub === sub) return prefetched.account;
  // A programming error, not a protocol one: the grant must call prefetchAccount before its transaction.
  throw new Error(`the host account of ${sub} was not looked up before the store transaction`);
}

/**
 * Before tokens are issued for a user of the embedding application (a code redeemed, a refresh, a device code): the
 * host's account, which must still exist. An account the host no longer finds (deleted, or disabled, which
 * findAccount reports the same way) gets no more tokens: invalid_grant, as oidc-provider and Keycloak answer.
 * Looked up before the store transaction (see prefetchAccount), and passed to it for the ID token's claims. With
 * the tenant's users table there is nothing to look up here: deleting or disabling a user revokes their grants in
 * the same transaction, which each grant's own revocation check sees (and denies the device codes they approved
 * but no device has redeemed yet: their grant is made only at the poll).
 * Token exchange applies the same rule to every user behind a subject or actor token (token-exchange.ts), through
 * findAccount, answering RFC 8693 §2.2.2's invalid_request rather than invalid_grant.
 */
export async function liveHostAccount(ctx: Pick<EngineContext, 'accounts' | 'tenant' | 'store'>, sub: string | null | undefined): Promise<PrefetchedAccount | undefined> {
  const prefetched = await prefetchAccount(ctx, sub, true);
  if (prefetched && !prefetched.account) throw accountGone();
  return prefetched;
}

export const accountGone = () => new OAuthError('invalid_grant', 'the account this grant was made for no longer exists', { resultCode: 'LK2011' });
