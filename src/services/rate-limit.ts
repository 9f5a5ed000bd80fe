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
  const s = ctx.tenant.settings;
  const [acct, addr] = await Promise.all(keys(ctx, username, ip).map((k) => ctx.store.count(k, start)));
  return acct! >= s.loginRateLimit || addr! >= (s.loginRateLimitPerIp ?? s.loginRateLimit);
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

/** RFC 8628 §5.1: wrong user codes per signed-in user and per address, in the login window. */
function userCodeKeys(ctx: EngineContext, subject: string, ip: string): [string, string] {
  return [`usercode:user:${ctx.tenant.id}:${subject}`, `usercode:ip:${ctx.tenant.id}:${ip}`];
}

export async function userCodeBlocked(ctx: EngineContext, subject: string, ip: string): Promise<boolean> {
  const { start } = window(ctx);
  const limit = ctx.tenant.settings.userCodeRateLimit ?? 10;
  const counts = await Promise.all(userCodeKeys(ctx, subject, ip).map((k) => ctx.store.count(k, start)));
  return counts.some((c) => c >= limit);
}

export async function recordUserCodeFailure(ctx: EngineContext, subject: string, ip: string): Promise<void> {
  const { start, end } = window(ctx);
  for (const k of userCodeKeys(ctx, subject, ip)) await ctx.store.hit(k, start, end);
}

/** prompt=create: accounts created per address in the login window (the same limit as failed logins). */
export async function registrationBlocked(ctx: EngineContext, ip: string): Promise<boolean> {
  return (await ctx.store.count(`register:ip:${ctx.tenant.id}:${ip}`, window(ctx).start)) >= ctx.tenant.settings.loginRateLimit;
}

export async function recordRegistration(ctx: EngineContext, ip: string): Promise<void> {
  const { start, end } = window(ctx);
  await ctx.store.hit(`register:ip:${ctx.tenant.id}:${ip}`, start, end);
}

/**
 * Operator unlock (admin API `POST …/users/{sub}/unlock`, `latchkey user unlock SUB`): forget the account's failed
 * logins so it can sign in at once. The per-address counters stay: they limit the attacker, not the user.
 */
export async function unlockAccount(ctx: EngineContext, username: string): Promise<void> {
  await ctx.store.reset(keys(ctx, username, '')[0]);
}
