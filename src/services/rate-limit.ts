import { type EngineContext, nowSeconds } from '../engine/context.js';

/**
 * Failed-login limits per account and per client address, in fixed windows kept in the store (so they hold
 * across instances). The same answer is given whether or not the account exists. Shared by everything that
 * checks a password: the login page and the password grant (RFC 6749 §4.3) count against the same limits, so
 * neither is a way around the other.
 */
function keys(ctx: EngineContext, username: string, ip: string): [string, string] {
  return [`login:acct:${ctx.tenant.id}:${username.toLowerCase()}`, `login:ip:${ctx.tenant.id}:${ip}`];
}

function window(ctx: EngineContext): { start: number; end: number } {
  const w = ctx.tenant.settings.loginRateWindow;
  const start = Math.floor(nowSeconds(ctx) / w) * w;
  return { start, end: start + w };
}

export async function loginBlocked(ctx: EngineContext, username: string, ip: string): Promise<boolean> {
  const { start } = window(ctx);
  const limit = ctx.tenant.settings.loginRateLimit;
  const counts = await Promise.all(keys(ctx, username, ip).map((k) => ctx.store.count(k, start)));
  return counts.some((c) => c >= limit);
}

export async function recordLoginFailure(ctx: EngineContext, username: string, ip: string): Promise<void> {
  const { start, end } = window(ctx);
  for (const k of keys(ctx, username, ip)) await ctx.store.hit(k, start, end);
}

export async function clearAccountFailures(ctx: EngineContext, username: string, ip: string): Promise<void> {
  await ctx.store.reset(keys(ctx, username, ip)[0]);
}

/** Seconds until the current window ends, for Retry-After. */
export function retryAfter(ctx: EngineContext): number {
  return window(ctx).end - nowSeconds(ctx);
}
