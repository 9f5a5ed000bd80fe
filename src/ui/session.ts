import { type EngineContext, nowSeconds } from '../engine/context.js';
import type { SessionRecord } from '../store/types.js';
import { findAccount, type Account } from '../engine/accounts.js';
import { newHandle } from '../tokens/handles.js';

export const SESSION_COOKIE = 'lk_session';

/** The live browser session behind a cookie value: not ended, within absolute and idle lifetimes, user enabled. */
export async function readSession(ctx: EngineContext, cookie: string | undefined): Promise<{ session: SessionRecord; user: Account } | undefined> {
  if (!cookie || cookie.length > 100) return undefined;
  const hash = ctx.hasher.hash(cookie);
  const session = await ctx.store.findSession(ctx.tenant.id, hash);
  const now = nowSeconds(ctx);
  if (!session || session.endedAt !== null || session.expiresAt <= now) return undefined;
  if (now - session.lastSeenAt > ctx.tenant.settings.sessionIdleTtl) return undefined;
  const user = await findAccount(ctx, ctx.store, session.subject);
  if (!user || user.disabled) return undefined;
  if (now - session.lastSeenAt > 60) await ctx.store.touchSession(ctx.tenant.id, hash, now);
  return { session, user };
}

/** A fresh session on every login (never reuse an id across authentications: session fixation). */
export async function createSession(ctx: EngineContext, subject: string, opts: { acr?: string; amr?: string[] } = {}): Promise<{ cookie: string; session: SessionRecord }> {
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
    data: { amr: opts.amr ?? ['pwd'] },
  };
  await ctx.store.insertSession(session);
  return { cookie, session };
}

export async function endSession(ctx: EngineContext, cookie: string | undefined): Promise<void> {
  if (!cookie || cookie.length > 100) return;
  await ctx.store.endSession(ctx.tenant.id, ctx.hasher.hash(cookie), nowSeconds(ctx));
}
