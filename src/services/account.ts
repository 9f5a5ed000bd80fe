import { consentFor } from '../engine/consent.js';
import { nowSeconds, type EngineContext } from '../engine/context.js';
import type { AuditLog } from '../audit/audit.js';
import { checkPassword, endBrowserSession, hashPassword, liveSessionsOf, parseClaims, typedText, UserInputError } from './users.js';
import { logoutUserEverywhere } from '../engine/logout.js';
import { notFound } from './errors.js';
import { MFA_ACR } from './mfa.js';
import type { LogoutDeliveryRecord } from '../store/types.js';

/**
 * The user's own account page (/account): which applications can reach their account, and taking that access back,
 * as Keycloak's account console lists "Applications" with "Remove access". Grants are swept once nothing they
 * issued lives (store sweepGrants), so an unrevoked grant is access an application still holds; a consent is access
 * it can get again without asking.
 */
export interface AppAccess {
  clientId: string;
  clientName: string;
  logoUri?: string;
  /** What it may use: the consented scopes (and `claim:<name>` entries, engine/consent.ts consentScopes) and its live grants' scopes. */
  scopes: string[];
  /** When the user last allowed it: their consent, or the newest live grant (seconds). */
  lastAllowed: number;
}

/** The applications with access to the user's account, the most recently allowed first. */
export async function appsWithAccess(ctx: EngineContext, subject: string): Promise<AppAccess[]> {
  const tenantId = ctx.tenant.id;
  const [grants, consents] = await Promise.all([ctx.store.listGrantsOfSubject(tenantId, subject), ctx.store.listConsentsOfSubject(tenantId, subject)]);
  const byClient = new Map<string, { scopes: Set<string>; lastAllowed: number }>();
  const add = (clientId: string, scopes: string[], at: number) => {
    const a = byClient.get(clientId) ?? { scopes: new Set<string>(), lastAllowed: 0 };
    for (const s of scopes) a.scopes.add(s);
    a.lastAllowed = Math.max(a.lastAllowed, at);
    byClient.set(clientId, a);
  };
  for (const g of grants) if (g.revokedAt === null) add(g.clientId, g.scope, g.createdAt);
  const out: AppAccess[] = [];
  const clientIds = new Set([...byClient.keys(), ...consents.map((c) => c.clientId)]);
  for (const clientId of clientIds) {
    const client = await ctx.store.findClient(tenantId, clientId);
    if (!client) continue; // deleted: its grants and consents went with it (or are about to)
    // A consent given to an earlier client under the same client_id does not count (consentFor).
    const consent = consentFor(consents.find((c) => c.clientId === clientId), client);
    if (consent) add(clientId, consent.scope, consent.updatedAt);
    const a = byClient.get(clientId);
    if (!a) continue;
    out.push({ clientId, clientName: client.clientName ?? clientId, logoUri: client.logoUri, scopes: [...a.scopes], lastAllowed: a.lastAllowed });
  }
  return out.sort((x, y) => y.lastAllowed - x.lastAllowed || x.clientId.localeCompare(y.clientId));
}

/**
 * Take an application's access back: every live grant of the user to it revoked, with every token it issued (RFC
 * 7009 §2.1: a refresh token's access tokens too), and the user's consent forgotten, so its next authorization request
 * asks again; one transaction. False when it had none.
 */
export async function removeAppAccess(ctx: EngineContext, subject: string, clientId: string): Promise<boolean> {
  const tenantId = ctx.tenant.id;
  const now = nowSeconds(ctx);
  return ctx.store.transaction(async (tx) => {
    const live = (await tx.listGrantsOfSubject(tenantId, subject)).filter((g) => g.clientId === clientId && g.revokedAt === null);
    for (const g of live) await tx.revokeGrant(tenantId, g.id, now);
    const consented = await tx.deleteConsent(tenantId, subject, clientId);
    return consented || live.length > 0;
  });
}

/** One of the user's live browser sessions, as the account page shows it. */
export interface SessionSummary {
  /** The public `sid`: what the page's sign-out button names (only the user's own sessions can be ended with it). */
  sid: string;
  /** The browser's coarse name at sign-in (ui/device.ts), when it had one. */
  device?: string;
  signedInAt: number;
  lastSeenAt: number;
  /** The browser showing the page. */
  current: boolean;
  /** Signed in with two steps (acr MFA_ACR). */
  twoStep: boolean;
}

/** The user's live browser sessions (liveSessionsOf), the one showing the page first, then the newest. */
export async function sessionsOf(ctx: EngineContext, subject: string, currentSid: string): Promise<SessionSummary[]> {
  const all = (await liveSessionsOf(ctx, subject)).map((s) => ({
    sid: s.sid, device: typeof s.data.device === 'string' ? s.data.device : undefined, signedInAt: s.authTime, lastSeenAt: s.lastSeenAt, current: s.sid === currentSid, twoStep: s.acr === MFA_ACR,
  }));
  return [...all.filter((s) => s.current), ...all.filter((s) => !s.current)];
}

/**
 * Sign the user out of one of their other browsers (the account page's per-session button): endBrowserSession for a
 * session of theirs only (another user's sid ends nothing), source `account`. Not the browser making the request: it
 * signs out with the logout endpoint. Undefined when there was no such live session.
 */
export async function signOutSession(
  ctx: EngineContext, audit: Pick<AuditLog, 'record'>, subject: string, currentSid: string, sid: string, ip?: string,
): Promise<LogoutDeliveryRecord[] | undefined> {
  if (sid === currentSid) return undefined;
  const outcome = await endBrowserSession(ctx, audit, sid, { method: 'session_end', source: 'account', ip }, subject);
  return outcome.ended ? outcome.backchannel : undefined;
}

/**
 * Sign the user out of every other browser: each of their other live sessions ended as a logout (endBrowserSession:
 * its grants revoked, its clients' back-channel notifications recorded for the dispatcher, a `logout` event with
 * source `account`). Each session ends in its own transaction, so a failure part way leaves the rest for a retry.
 * Returns how many were ended, and the back-channel deliveries to send now (the dispatcher retries what fails).
 */
export async function signOutOtherSessions(
  ctx: EngineContext, audit: Pick<AuditLog, 'record'>, subject: string, currentSid: string, ip?: string,
): Promise<{ ended: number; backchannel: LogoutDeliveryRecord[] }> {
  let ended = 0;
  const backchannel: LogoutDeliveryRecord[] = [];
  for (const s of await liveSessionsOf(ctx, subject)) {
    const delivered = await signOutSession(ctx, audit, subject, currentSid, s.sid, ip);
    if (!delivered) continue;
    ended++;
    backchannel.push(...delivered);
  }
  return { ended, backchannel };
}

/**
 * The user's own password change (the caller has checked a recent sign-in): the new password (services/users.ts
 * checkPassword's rule, argon2id) and every other session of the user ended as a logout, in one transaction, so a
 * session taken from another browser does not outlive the change (Keycloak's "sign out other devices"); the browser
 * making the change stays signed in. Returns how many sessions ended and their back-channel deliveries to send.
 */
export async function changePassword(
  ctx: EngineContext, subject: string, currentSid: string, password: string,
): Promise<{ sessionsEnded: number; backchannel: LogoutDeliveryRecord[] }> {
  checkPassword(password);
  const passwordHash = await hashPassword(password);
  return ctx.store.transaction(async (tx) => {
    const user = await tx.findUserById(ctx.tenant.id, subject);
    if (!user) throw notFound(`user ${subject}`);
    await tx.updateUser({ ...user, passwordHash });
    const { sessionsEnded, backchannel } = await logoutUserEverywhere({ ...ctx, store: tx }, subject, currentSid);
    return { sessionsEnded, backchannel };
  });
}

/** The claims a user edits on the account page (OIDC Core §5.1): what Keycloak's account console calls personal info. */
export const PROFILE_CLAIMS = ['name', 'given_name', 'family_name', 'email'] as const;
export type ProfileClaim = (typeof PROFILE_CLAIMS)[number];

/**
 * The user's own change to their details (PROFILE_CLAIMS): each field trimmed, an empty one removing its claim, the
 * others left as they are. A changed email is unverified (email_verified false: nothing here proved the user reads
 * it, OIDC Core §5.1) until an operator says otherwise; an unchanged one keeps its flag. updated_at is set when
 * anything changed (§5.1). Checked as every user's claims are (UserInputError naming the field); the row is read
 * locked and written in one transaction, so an operator's change to the same user is not undone. Returns the names
 * of the claims that changed (none: nothing written).
 */
export async function updateProfile(ctx: EngineContext, subject: string, input: Partial<Record<ProfileClaim, string>>): Promise<ProfileClaim[]> {
  const typed: Partial<Record<ProfileClaim, string>> = {};
  for (const k of PROFILE_CLAIMS) {
    const v = input[k];
    if (v === undefined) continue;
    const t = typedText(v);
    if (t.length > (k === 'email' ? 320 : 200)) throw new UserInputError(`${k} is too long`, k);
    typed[k] = t;
  }
  return ctx.store.transaction(async (tx) => {
    const user = await tx.findUserLocked(ctx.tenant.id, subject);
    if (!user) throw notFound(`user ${subject}`);
    const claims: Record<string, unknown> = { ...user.claims };
    const changed: ProfileClaim[] = [];
    for (const k of PROFILE_CLAIMS) {
      const v = typed[k];
      if (v === undefined || v === (claims[k] ?? '')) continue;
      changed.push(k);
      if (v) claims[k] = v;
      else delete claims[k];
      if (k === 'email') {
        if (v) claims.email_verified = false;
        else delete claims.email_verified;
      }
    }
    if (!changed.length) return changed;
    claims.updated_at = nowSeconds(ctx);
    const checked = parseClaims(claims);
    await tx.updateUser({ ...user, claims: checked });
    return changed;
  });
}
