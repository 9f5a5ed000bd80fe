import { type EngineContext, nowSeconds } from '../engine/context.js';
import { addressKey } from '../engine/address-key.js';
import { newHandle } from '../tokens/handles.js';

/**
 * Failed-login limits per account and per client address, in fixed windows kept in the store (so they hold
 * across instances). The same answer is given whether or not the account exists. Shared by everything that
 * checks a password: the login page and the password grant (RFC 6749 §4.3) count against the same limits, so
 * neither is a way around the other.
 */
function keys(ctx: EngineContext, username: string, ip: string): [string, string] {
  return [`login:acct:${ctx.tenant.id}:${username.toLowerCase()}`, `login:ip:${ctx.tenant.id}:${addressKey(ip)}`];
}

function window(ctx: EngineContext): { start: number; end: number } {
  const w = ctx.tenant.settings.loginRateWindow;
  const start = Math.floor(nowSeconds(ctx) / w) * w;
  return { start, end: start + w };
}

/**
 * Count one attempt on `key` first, then return the window's attempts that were not forgiven: those a success
 * recorded under `key:ok` (forgive) does not take back. Counting before checking keeps concurrent attempts bounded.
 */
async function hitUnforgiven(ctx: EngineContext, key: string, w: { start: number; end: number }): Promise<number> {
  return (await ctx.store.hit(key, w.start, w.end)) - (await ctx.store.count(`${key}:ok`, w.start));
}

/** A success on `key`: it takes back its attempt (hitUnforgiven). */
async function forgive(ctx: EngineContext, key: string, w: { start: number; end: number }): Promise<void> {
  await ctx.store.hit(`${key}:ok`, w.start, w.end);
}

/**
 * Known devices (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): a browser where a user signed in
 * holds a cookie naming that user, `nonce.mac`, the mac a keyed hash of the tenant, the username and the nonce. The
 * account limit is what stops a guesser, but it also locks the account's owner out for as long as the guessing lasts,
 * from as many addresses as the guesser has (a lockout anyone can cause). A sign-in from a known device of that user
 * is counted against the device instead: the owner still gets in on the browser they used before, and a stolen
 * cookie buys its holder only loginRateLimit guesses a window, as an address does.
 */
export const KNOWN_DEVICE_TTL = 365 * 86400;

const knownDeviceBinding = (ctx: EngineContext, username: string, nonce: string) =>
  `known-device:${JSON.stringify([ctx.tenant.id, username.toLowerCase(), nonce])}`;

/** A fresh known-device cookie value for this user (after a right password). */
export function knownDeviceCookie(ctx: EngineContext, username: string): string {
  const nonce = newHandle(ctx.random, 16);
  return `${nonce}.${ctx.hasher.hash(knownDeviceBinding(ctx, username, nonce))}`;
}

/** The device's nonce when `cookie` is a known-device cookie for this user; undefined otherwise (absent, forged, another user's). */
export function knownDeviceOf(ctx: EngineContext, cookie: string | undefined, username: string): string | undefined {
  const m = cookie === undefined ? null : /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/.exec(cookie);
  return m && ctx.hasher.verify(knownDeviceBinding(ctx, username, m[1]!), m[2]!) ? m[1] : undefined;
}

/** The counter of an account's sign-ins: the account's, or (from a known device of that user) the device's own. */
const accountKey = (ctx: EngineContext, username: string, ip: string, device: string | undefined) =>
  device === undefined ? keys(ctx, username, ip)[0] : `login:dev:${ctx.tenant.id}:${device}`;

/**
 * Count this sign-in attempt BEFORE the password is checked, and refuse it (true) when it is over a limit. Checking
 * a count first and recording the failure only after the slow argon2 verification let any number of concurrent
 * guesses through, each having seen the count from before the others (OWASP Authentication Cheat Sheet, account
 * lockout: the limit must bound the guesses). The account counter is cleared on success (loginSucceeded); the
 * address counter counts attempts, and its successes are counted apart (`:ok`) and subtracted, so that many users
 * signing in from one address still only spend failures. `device`: the nonce of a known device of this user
 * (knownDeviceOf), whose attempts count against it rather than the account.
 */
export async function beginLoginAttempt(ctx: EngineContext, username: string, ip: string, device?: string): Promise<boolean> {
  const w = window(ctx);
  const s = ctx.tenant.settings;
  const addr = keys(ctx, username, ip)[1];
  // The address first: an address over its limit spends none of an account's attempts (it cannot lock accounts).
  if ((await hitUnforgiven(ctx, addr, w)) > (s.loginRateLimitPerIp ?? s.loginRateLimit)) return true;
  return (await ctx.store.hit(accountKey(ctx, username, ip, device), w.start, w.end)) > s.loginRateLimit;
}

/**
 * After beginLoginAttempt, a right password: the failures counted on that attempt's counter (the account's, or the
 * known device's) are forgotten, and the address's attempt was no failure. A sign-in from a known device leaves the
 * account's counter as it is: a guesser locked out of the account is not given a fresh allowance by its owner.
 */
export async function loginSucceeded(ctx: EngineContext, username: string, ip: string, device?: string): Promise<void> {
  await ctx.store.reset(accountKey(ctx, username, ip, device));
  await forgive(ctx, keys(ctx, username, ip)[1], window(ctx));
}

/** Seconds until the current window ends, for Retry-After. */
export function retryAfter(ctx: EngineContext): number {
  return window(ctx).end - nowSeconds(ctx);
}

/** RFC 8628 §5.1: wrong user codes per signed-in user and per address, in the login window. */
function userCodeKeys(ctx: EngineContext, subject: string, ip: string): [string, string] {
  return [`usercode:user:${ctx.tenant.id}:${subject}`, `usercode:ip:${ctx.tenant.id}:${addressKey(ip)}`];
}

/**
 * RFC 8628 §5.1, race-free: count this user-code attempt BEFORE the code is looked up, and refuse it (true) when the
 * user or the address is over userCodeRateLimit. Checking first and recording the wrong code after the lookup let
 * concurrent guesses all pass. A code found valid is forgiven
 * (userCodeAccepted), so only wrong codes spend the limit.
 */
export async function beginUserCodeAttempt(ctx: EngineContext, subject: string, ip: string): Promise<boolean> {
  const w = window(ctx);
  const limit = ctx.tenant.settings.userCodeRateLimit ?? 10;
  let blocked = false;
  for (const k of userCodeKeys(ctx, subject, ip)) if ((await hitUnforgiven(ctx, k, w)) > limit) blocked = true;
  return blocked;
}

/** After beginUserCodeAttempt, a code that was not a wrong one: it does not count against the limit. */
export async function userCodeAccepted(ctx: EngineContext, subject: string, ip: string): Promise<void> {
  const w = window(ctx);
  for (const k of userCodeKeys(ctx, subject, ip)) await forgive(ctx, k, w);
}

/**
 * Codes from an authenticator app (services/mfa.ts), race-free: counted per user BEFORE the code is checked, refused
 * (true) past loginRateLimit wrong codes in the login window; a right code is forgiven (otpAccepted). Six digits
 * are 10^6 guesses, with three steps accepted at a time: at 10 a window the chance of a hit stays below 1 in 30,000.
 */
export async function beginOtpAttempt(ctx: EngineContext, userId: string, device?: string): Promise<boolean> {
  return (await hitUnforgiven(ctx, otpKey(ctx, userId, device), window(ctx))) > ctx.tenant.settings.loginRateLimit;
}

/** After beginOtpAttempt, a right code: it does not count against the limit. */
export async function otpAccepted(ctx: EngineContext, userId: string, device?: string): Promise<void> {
  await forgive(ctx, otpKey(ctx, userId, device), window(ctx));
}

/**
 * The counter of a user's wrong codes: the user's, or from a known device of that user (knownDeviceOf) the device's
 * own. Whoever has only the password spends the user's counter and can lock it; the owner's browser, which got its
 * known-device cookie from a complete sign-in (password and code), keeps its own allowance, as for passwords.
 */
const otpKey = (ctx: EngineContext, userId: string, device: string | undefined) =>
  device === undefined ? `otp:user:${ctx.tenant.id}:${userId}` : `otp:dev:${ctx.tenant.id}:${device}`;

/**
 * prompt=create, race-free: count this account-creation attempt per address BEFORE the account is made, and refuse it
 * (true) when the address is over loginRateLimit in the login window. Checking the count first and recording the
 * attempt after let concurrent requests all pass a check that saw the count from before the others (as for sign-in:
 * beginLoginAttempt). Every attempt counts, a refused or failed one too (a taken username also tells something).
 */
export async function beginRegistrationAttempt(ctx: EngineContext, ip: string): Promise<boolean> {
  const { start, end } = window(ctx);
  return (await ctx.store.hit(`register:ip:${ctx.tenant.id}:${addressKey(ip)}`, start, end)) > ctx.tenant.settings.loginRateLimit;
}

/**
 * Operator unlock (admin API `POST …/users/{sub}/unlock`, `latchkey user unlock SUB`): forget the account's failed
 * logins so it can sign in at once. The per-address counters stay: they limit the attacker, not the user.
 */
export async function unlockAccount(ctx: EngineContext, username: string): Promise<void> {
  await ctx.store.reset(keys(ctx, username, '')[0]);
}
