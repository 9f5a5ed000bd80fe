import { type EngineContext, nowSeconds } from '../engine/context.js';
import type { SessionRecord } from '../store/types.js';
import { findAccount, type Account } from '../engine/accounts.js';
import { newHandle } from '../tokens/handles.js';
import { isSessionLive, sessionTouchDue } from '../engine/sessions.js';

export const SESSION_COOKIE = 'lk_session';

/** The session behind a cookie value, if it is live: not ended, within its absolute and idle lifetimes. */
async function liveSession(ctx: EngineContext, cookie: string | undefined, now: number): Promise<SessionRecord | undefined> {
  if (!cookie || cookie.length > 100) return undefined;
  const session = await ctx.store.findSession(ctx.tenant.id, ctx.hasher.hash(cookie));
  if (!session || !isSessionLive(ctx.tenant.settings, session, now)) return undefined;
  return session;
}

/** The live browser session behind a cookie value (liveSession), its user enabled. */
export async function readSession(ctx: EngineContext, cookie: string | undefined): Promise<{ session: SessionRecord; user: Account } | undefined> {
  const now = nowSeconds(ctx);
  const session = await liveSession(ctx, cookie, now);
  if (!session) return undefined;
  const user = await findAccount(ctx, ctx.store, session.subject);
  if (!user || user.disabled) return undefined;
  if (sessionTouchDue(ctx.tenant.settings, session, now)) await ctx.store.touchSession(ctx.tenant.id, session.hash, now);
  return { session, user };
}

/** A fresh session on every login (never reuse an id across authentications: session fixation). */
/** How a session was signed in: acr and amr (RFC 8176), and the browser's coarse name (ui/device.ts) for the account page. */
export interface SignInHow {
  acr?: string;
  amr?: string[];
  device?: string;
}

export async function createSession(ctx: EngineContext, subject: string, opts: SignInHow = {}): Promise<{ cookie: string; session: SessionRecord }> {
  const cookie = newHandle(ctx.random);
  const now = nowSeconds(ctx);
  const session: SessionRecord = {
    tenantId: ctx.tenant.id,
    hash: ctx.hasher.hash(cookie),
    sid: newHandle(ctx.random, 16),
    subject,
    authTime: now,
    acr: opts.acr ?? null,
    createdAt: now,
    lastSeenAt: now,
    expiresAt: now + ctx.tenant.settings.sessionTtl,
    endedAt: null,
    data: { amr: opts.amr ?? ['pwd'], ...(opts.device ? { device: opts.device } : {}) },
  };
  await ctx.store.insertSession(session);
  return { cookie, session };
}

export async function endSession(ctx: EngineContext, cookie: string | undefined): Promise<void> {
  if (!cookie || cookie.length > 100) return;
  await ctx.store.endSession(ctx.tenant.id, ctx.hasher.hash(cookie), nowSeconds(ctx));
}

/**
 * A successful sign-in in a browser that may already hold a session (prompt=login, max_age, select_account, another
 * user). OWASP Session Management: the session id is renewed on every authentication, and the value the browser
 * presented before it must stop working, so that a copy of it (stolen, or planted) is not a session after it.
 * - The same user's live session is renewed in place (renewSession): a new cookie value and auth_time, the same sid,
 *   so the clients that received tokens in it stay in it and a later logout still ends all of them.
 * - Another user's live session is not carried over: `replacedSid` names it, for the caller to end as a logout
 *   (its grants revoked, its clients told), since this browser no longer holds it.
 * - Otherwise a fresh session (createSession).
 */
export async function signIn(
  ctx: EngineContext,
  presented: string | undefined,
  subject: string,
  opts: SignInHow = {},
): Promise<{ cookie: string; session: SessionRecord; replacedSid?: string }> {
  const now = nowSeconds(ctx);
  const prior = await liveSession(ctx, presented, now);
  if (prior && prior.subject === subject) {
    const cookie = newHandle(ctx.random);
    const session = await ctx.store.renewSession(ctx.tenant.id, prior.hash, {
      hash: ctx.hasher.hash(cookie),
      authTime: now,
      acr: opts.acr ?? null,
      lastSeenAt: now,
      expiresAt: now + ctx.tenant.settings.sessionTtl,
      data: { ...prior.data, amr: opts.amr ?? ['pwd'], ...(opts.device ? { device: opts.device } : {}) },
    });
    if (session) return { cookie, session };
  }
  const created = await createSession(ctx, subject, opts);
  return prior && prior.subject !== subject ? { ...created, replacedSid: prior.sid } : created;
}
