import { hash, verify } from '@node-rs/argon2';
import { z } from 'zod';
import type { EngineContext } from '../engine/context.js';
import type { AuditLog } from '../audit/audit.js';
import { logoutUserEverywhere, performLogout, type LogoutOutcome } from '../engine/logout.js';
import { nowSeconds } from '../engine/context.js';
import { isSessionLive } from '../engine/sessions.js';
import type { GrantRecord, SessionRecord, Store, UserRecord } from '../store/types.js';
import { newHandle } from '../tokens/handles.js';
import { unlockAccount } from './rate-limit.js';
import { otpRequired, recoveryCodesLeft, removeOtp } from './mfa.js';
import { ServiceError, conflict, notFound } from './errors.js';

/** argon2id with OWASP's recommended baseline (19 MiB, t=2, p=1). */
const ARGON2 = { algorithm: 2 as const, memoryCost: 19456, timeCost: 2, parallelism: 1 };

export const hashPassword = (password: string) => hash(password, ARGON2);
export const verifyPassword = async (stored: string, password: string) => {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
};

/** A hash of a random password, verified against when the username is unknown so timing does not tell. */
let dummyHash: Promise<string> | undefined;
export const dummyPasswordHash = () => (dummyHash ??= hashPassword(newHandle((n) => Buffer.alloc(n, 7))));

const addressSchema = z.object({
  formatted: z.string().optional(), street_address: z.string().optional(), locality: z.string().optional(),
  region: z.string().optional(), postal_code: z.string().optional(), country: z.string().optional(),
}).strict();

/** OIDC Core §5.1 standard claims a user may carry. */
export const claimsSchema = z.object({
  name: z.string().optional(), given_name: z.string().optional(), family_name: z.string().optional(),
  middle_name: z.string().optional(), nickname: z.string().optional(), preferred_username: z.string().optional(),
  profile: z.string().url().optional(), picture: z.string().url().optional(), website: z.string().url().optional(),
  email: z.string().email().optional(), email_verified: z.boolean().optional(), gender: z.string().optional(),
  birthdate: z.string().regex(/^(\d{4}|\d{4}-\d{2}-\d{2}|0000-\d{2}-\d{2})$/).optional(), zoneinfo: z.string().optional(),
  locale: z.string().optional(), phone_number: z.string().optional(), phone_number_verified: z.boolean().optional(),
  address: addressSchema.optional(), updated_at: z.number().int().optional(),
}).strict();

/** Bad input to a user operation (400 in the admin API). */
export class UserInputError extends ServiceError {
  constructor(
    message: string,
    /** The input it is about: username, password, id, or a claim's name (the sign-up page marks that field). */
    readonly field?: string,
  ) {
    super(400, 'invalid_request', message);
  }
}

/** Text a user typed into a form field, as stored: control characters (a pasted newline, NUL) as spaces, trimmed. */
export const typedText = (s: string): string => s.replace(/\p{Cc}/gu, ' ').trim();

function checkUsername(username: string): void {
  if (!/^[^\s\x00-\x1f]{1,100}$/.test(username)) throw new UserInputError('username must be 1-100 characters without spaces', 'username');
}
export function checkPassword(password: string): void {
  if (password.length < 8 || password.length > 1024) throw new UserInputError('password must be 8-1024 characters', 'password');
}
export function parseClaims(claims: unknown): z.output<typeof claimsSchema> {
  const parsed = claimsSchema.safeParse(claims ?? {});
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new UserInputError(`claims.${i.path.join('.') || ''}: ${i.message}`, i.path[0] === undefined ? undefined : String(i.path[0]));
  }
  return parsed.data;
}

export async function createUser(
  ctx: EngineContext,
  input: { username: string; password: string; claims?: unknown; id?: string },
): Promise<UserRecord> {
  const user = await newUserRecord(ctx, input);
  await storeNewUser(ctx, ctx.store, user);
  return user;
}

/**
 * Write a user newUserRecord made, through `store` (the caller's transaction, or the root store): its username and
 * sub are checked again first (conflict), since the password hash took a while after newUserRecord's checks.
 */
export async function storeNewUser(ctx: EngineContext, store: Store, user: UserRecord): Promise<void> {
  if (await store.findUserByUsername(ctx.tenant.id, user.username)) throw conflict(`user ${user.username} already exists`);
  if (await store.findUserById(ctx.tenant.id, user.id)) throw conflict(`a user with sub ${user.id} already exists`);
  await store.createUser(user);
}

/**
 * createUser without the write: the input checked (UserInputError; conflict when the username or sub is taken now) and
 * the password hashed, for a caller that stores the user (storeNewUser) in a transaction of its own (the sign-up page: the account
 * and its first session, both or neither). The slow hash is done here, before any transaction is open.
 */
export async function newUserRecord(
  ctx: EngineContext,
  input: { username: string; password: string; claims?: unknown; id?: string },
): Promise<UserRecord> {
  checkUsername(input.username);
  checkPassword(input.password);
  const claims = parseClaims(input.claims);
  if (input.id !== undefined && !/^[\x21-\x7e]{1,255}$/.test(input.id)) throw new UserInputError('id (sub) must be 1-255 printable ASCII characters', 'id');
  if (await ctx.store.findUserByUsername(ctx.tenant.id, input.username)) throw conflict(`user ${input.username} already exists`);
  if (input.id !== undefined && (await ctx.store.findUserById(ctx.tenant.id, input.id))) throw conflict(`a user with sub ${input.id} already exists`);
  const user: UserRecord = {
    tenantId: ctx.tenant.id,
    id: input.id ?? newHandle(ctx.random, 16),
    username: input.username,
    passwordHash: await hashPassword(input.password),
    claims: { preferred_username: input.username, ...claims },
    disabled: false,
    createdAt: nowSeconds(ctx),
  };
  return user;
}

/* ---------- management operations (CLI and admin API) ---------- */

/** A user as the admin API and CLI show it: never the password hash. */
export function userView(u: UserRecord): Record<string, unknown> {
  return { sub: u.id, username: u.username, disabled: u.disabled, claims: u.claims, created_at: u.createdAt };
}

/**
 * One user as the admin API's GET and the CLI's `user show` show them: userView and whether two-step sign-in is on,
 * with how many recovery codes are left and the user's security keys (a support desk's first questions when a user
 * cannot sign in).
 */
export async function userDetails(ctx: EngineContext, u: UserRecord): Promise<Record<string, unknown>> {
  const on = await otpRequired(ctx, u.id);
  if (!on) return { ...userView(u), mfa: { otp: false } };
  const keys = (await ctx.store.listWebauthnCredentials(ctx.tenant.id, u.id)).map((k) => ({ id: k.credentialId, name: k.name, created_at: k.createdAt, last_used_at: k.lastUsedAt }));
  return { ...userView(u), mfa: { otp: true, recovery_codes_left: await recoveryCodesLeft(ctx, u.id), security_keys: keys } };
}

export async function getUser(ctx: EngineContext, sub: string): Promise<UserRecord> {
  const u = sub.length <= 255 ? await ctx.store.findUserById(ctx.tenant.id, sub) : undefined;
  if (!u) throw notFound(`user ${sub}`);
  return u;
}

export async function listUsers(ctx: EngineContext): Promise<UserRecord[]> {
  return ctx.store.listUsers(ctx.tenant.id);
}

/** Change username and/or claims (claims are replaced as a whole). */
export async function updateUser(ctx: EngineContext, sub: string, input: { username?: string; claims?: unknown }): Promise<UserRecord> {
  const u = await getUser(ctx, sub);
  const next: UserRecord = { ...u };
  if (input.username !== undefined && input.username !== u.username) {
    checkUsername(input.username);
    if (await ctx.store.findUserByUsername(ctx.tenant.id, input.username)) throw conflict(`user ${input.username} already exists`);
    next.username = input.username;
  }
  if (input.claims !== undefined) next.claims = { preferred_username: next.username, ...parseClaims(input.claims) };
  await ctx.store.updateUser(next);
  return next;
}

/** Password reset by an operator. The user's sessions end, so a stolen session does not outlive the reset. */
export async function setPassword(ctx: EngineContext, sub: string, password: string): Promise<void> {
  checkPassword(password);
  const u = await getUser(ctx, sub);
  const passwordHash = await hashPassword(password);
  // One transaction: a reset whose logout failed after the new password was stored would leave the sessions live.
  await ctx.store.transaction(async (tx) => {
    await tx.updateUser({ ...u, passwordHash });
    await logoutUserEverywhere({ ...ctx, store: tx }, sub);
  });
}

/**
 * Disable (or enable) a user. Disabling ends their sessions and revokes every grant and token they hold, so no
 * refresh token keeps working; enabling does not bring them back.
 */
export async function setDisabled(ctx: EngineContext, sub: string, disabled: boolean): Promise<UserRecord> {
  const u = await getUser(ctx, sub);
  const next = { ...u, disabled };
  const now = nowSeconds(ctx);
  await ctx.store.transaction(async (tx) => {
    await tx.updateUser(next);
    if (!disabled) return;
    await tx.revokeSubject(ctx.tenant.id, sub, now);
    // Sessions end the way a logout ends them: clients are told (back-channel deliveries, sent by the sweep). In the
    // same transaction, so a failure leaves the user as they were rather than disabled with clients never told.
    await logoutUserEverywhere({ ...ctx, store: tx }, sub);
  });
  return next;
}

/**
 * Unlock an account locked by failed sign-ins (loginRateLimit within loginRateWindow). A lock also ends on its
 * own when the window ends, so an attacker cannot lock a user out for longer than loginRateWindow at a time.
 */
export async function unlockUser(ctx: EngineContext, sub: string): Promise<UserRecord> {
  const u = await getUser(ctx, sub);
  await unlockAccount(ctx, u.username);
  return u;
}

/**
 * Operator reset of two-step sign-in (a user who lost their authenticator app): the app is forgotten, so the next
 * password sign-in asks for no code, and the user can set up a new one at /mfa. Their sessions are left as they are.
 */
export async function resetUserMfa(ctx: EngineContext, sub: string): Promise<UserRecord> {
  const u = await getUser(ctx, sub);
  await removeOtp(ctx, u.id);
  return u;
}

/**
 * Remove one of a user's security keys (a lost or stolen key; `keyId` as userDetails lists it), the rest of their
 * two-step sign-in untouched. Not found when the user or the key is not there.
 */
export async function removeUserSecurityKey(ctx: EngineContext, sub: string, keyId: string): Promise<UserRecord> {
  const u = await getUser(ctx, sub);
  if (!(await ctx.store.deleteWebauthnCredential(ctx.tenant.id, u.id, keyId.slice(0, 1400)))) throw notFound(`security key ${keyId}`);
  return u;
}

/** Delete a user, revoking their grants and tokens, forgetting their consents and ending their sessions. */
export async function deleteUser(ctx: EngineContext, sub: string): Promise<void> {
  await getUser(ctx, sub);
  const now = nowSeconds(ctx);
  await ctx.store.transaction(async (tx) => {
    // The row first, then the revocation (as setDisabled): on PostgreSQL a password grant issuing for the user holds
    // the row (findUserLocked), so the delete waits for it and the revocation, a later statement, sees its tokens.
    await tx.deleteUser(ctx.tenant.id, sub);
    await tx.revokeSubject(ctx.tenant.id, sub, now);
    // A user created later with the same sub (an embedding application's own ids) has consented to nothing.
    await tx.deleteSubjectConsents(ctx.tenant.id, sub);
    // The sessions too, as logouts (their clients told by back-channel deliveries): after the deletion committed, a
    // failure here could never be made good, since deleting the user again finds no user (404).
    await logoutUserEverywhere({ ...ctx, store: tx }, sub);
  });
}

export function grantView(g: GrantRecord): Record<string, unknown> {
  return { id: g.id, client_id: g.clientId, scope: g.scope.join(' '), created_at: g.createdAt, revoked_at: g.revokedAt };
}

export async function listUserGrants(ctx: EngineContext, sub: string): Promise<GrantRecord[]> {
  await getUser(ctx, sub);
  return ctx.store.listGrantsOfSubject(ctx.tenant.id, sub);
}

/**
 * Revoke one of a user's grants and every token it issued, and forget the user's consent to its client, in one
 * transaction: the app's next authorization request asks the user again (as revoking an app's access does in
 * Keycloak's account console). The user's other grants to that client, if any, stay valid until revoked too.
 */
export async function revokeUserGrant(ctx: EngineContext, sub: string, grantId: string): Promise<void> {
  const g = grantId.length <= 255 ? await ctx.store.findGrant(ctx.tenant.id, grantId) : undefined;
  if (!g || g.subject !== sub) throw notFound(`grant ${grantId} of user ${sub}`);
  const now = nowSeconds(ctx);
  await ctx.store.transaction(async (tx) => {
    await tx.revokeGrant(ctx.tenant.id, grantId, now);
    await tx.deleteConsent(ctx.tenant.id, sub, g.clientId);
  });
}

export function sessionView(s: SessionRecord): Record<string, unknown> {
  return {
    sid: s.sid, auth_time: s.authTime, acr: s.acr, created_at: s.createdAt, last_seen_at: s.lastSeenAt, expires_at: s.expiresAt,
  };
}

/** The user's live sessions (admin API): liveSessionsOf, for a user that exists. */
export async function listUserSessions(ctx: EngineContext, sub: string): Promise<SessionRecord[]> {
  await getUser(ctx, sub);
  return liveSessionsOf(ctx, sub);
}

/** A subject's live sessions, newest first: not ended, not expired, not idle (isSessionLive, the cookie's own rule). */
export async function liveSessionsOf(ctx: EngineContext, sub: string): Promise<SessionRecord[]> {
  const now = nowSeconds(ctx);
  return (await ctx.store.listSessionsBySubject(ctx.tenant.id, sub, now)).filter((s) => isSessionLive(ctx.tenant.settings, s, now));
}

/** How a browser session came to end, as its `logout` audit event records it (docs/audit.md). */
export type SessionEndCause =
  | { method: 'rp_initiated'; clientId?: string | null; ip?: string }
  | { method: 'session_end'; source: 'admin_api' | 'cli' | 'account'; ip?: string }
  /** Another user signed in in the browser that held this session (ui/session.ts signIn). */
  | { method: 'signed_in_again'; ip?: string };

/**
 * End a browser session as a logout does (performLogout: its non-offline grants revoked, its clients' notifications
 * recorded) and record the `logout` audit event: the one place a session end becomes one. With `subject`, only a
 * session of that user is ended. Delivering the back-channel notifications is the caller's (now, or the dispatcher).
 */
export async function endBrowserSession(
  ctx: EngineContext,
  audit: Pick<AuditLog, 'record'>,
  sid: string,
  cause: SessionEndCause,
  subject?: string,
): Promise<LogoutOutcome> {
  if (subject !== undefined) {
    const s = sid.length <= 100 ? await ctx.store.findSessionBySid(ctx.tenant.id, sid) : undefined;
    if (!s || s.subject !== subject) return { ended: false, frontchannel: [], backchannel: [] };
  }
  const outcome = await performLogout(ctx, sid);
  if (outcome.ended) {
    const detail = cause.method === 'session_end' ? { method: cause.method, sid, source: cause.source } : { method: cause.method, sid };
    const clientId = cause.method === 'rp_initiated' ? cause.clientId || null : null;
    audit.record({ tenantId: ctx.tenant.id, type: 'logout', clientId, subject: outcome.subject ?? null, ip: cause.ip ?? null, detail });
  }
  return outcome;
}

/** End one of the user's sessions (admin API): endBrowserSession, and 404 when the user has no such live session. */
export async function endUserSession(ctx: EngineContext, audit: Pick<AuditLog, 'record'>, sub: string, sid: string, ip?: string): Promise<void> {
  if (!(await endBrowserSession(ctx, audit, sid, { method: 'session_end', source: 'admin_api', ip }, sub)).ended) throw notFound(`session ${sid} of user ${sub}`);
}
