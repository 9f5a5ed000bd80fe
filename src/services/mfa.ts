import { nowSeconds, type EngineContext } from '../engine/context.js';
import { base32Encode, matchTotp, otpauthUri, TOTP_SECRET_BYTES } from './totp.js';
import { ServiceError } from './errors.js';

/**
 * Two-step sign-in on the built-in pages: a password, then a code from the user's authenticator app (RFC 6238 TOTP).
 * A user turns it on at /mfa (signed in); from then on every password sign-in asks for a code, and the session it
 * makes says so: acr MFA_ACR and amr ["pwd", "otp", "mfa"] (RFC 8176), in ID tokens and introspection.
 */
export { KEY_AMR, MFA_ACR, MFA_AMR } from '../engine/accounts.js';

function secretsOf(ctx: EngineContext) {
  if (!ctx.secrets) throw new Error('two-step sign-in needs the key-encryption key (ctx.secrets)');
  return ctx.secrets;
}

/** Whether the user's sign-ins ask for a code (a confirmed authenticator app). */
export async function otpRequired(ctx: EngineContext, userId: string): Promise<boolean> {
  const r = await ctx.store.findOtp(ctx.tenant.id, userId);
  return r !== undefined && r.confirmedAt !== null;
}

/** Setting up an app: what the page shows, the secret in base32 and the otpauth URI. */
export interface OtpSetup {
  secret: string;
  uri: string;
}

const setupOf = (ctx: EngineContext, secret: Buffer, username: string): OtpSetup =>
  ({ secret: base32Encode(secret), uri: otpauthUri(secret, new URL(ctx.tenant.issuer).host, username) });

/**
 * The set-up in progress: the unconfirmed secret already stored (the page reloaded, a wrong code), so the app the user
 * added it to keeps working; else a new one (startOtpSetup). Undefined when the user's app is already confirmed.
 */
export async function otpSetup(ctx: EngineContext, user: { id: string; username: string }): Promise<OtpSetup | undefined> {
  const r = await ctx.store.findOtp(ctx.tenant.id, user.id);
  if (r?.confirmedAt != null) return undefined;
  if (r) return setupOf(ctx, Buffer.from(await secretsOf(ctx).decrypt(r.secret), 'base64url'), user.username);
  return startOtpSetup(ctx, user);
}

/**
 * Start setting up an app: a new random secret (160 bits), kept encrypted and unconfirmed until a first code proves
 * the app has it (acceptOtp with confirm). A user who already has a confirmed app is refused (conflict): turn it off
 * first, with a code from it.
 */
export async function startOtpSetup(ctx: EngineContext, user: { id: string; username: string }): Promise<OtpSetup> {
  const secret = Buffer.from(ctx.random(TOTP_SECRET_BYTES));
  const stored = await ctx.store.putPendingOtp({
    tenantId: ctx.tenant.id, userId: user.id, secret: await secretsOf(ctx).encrypt(secret.toString('base64url')), confirmedAt: null, lastStep: 0, createdAt: nowSeconds(ctx),
  });
  if (!stored) throw new ServiceError(409, 'conflict', 'two-step sign-in is already on for this user');
  return setupOf(ctx, secret, user.username);
}

/**
 * Check a code against the user's app and accept its time step once (RFC 6238 §5.2: never a step at or before the
 * last one accepted, so a code seen over a shoulder is spent). `confirm`: the code finishes the set-up of an
 * unconfirmed app; otherwise the app must be confirmed. False for a wrong, reused or out-of-window code.
 */
export async function acceptOtp(ctx: EngineContext, userId: string, code: string, confirm = false, recoveryCodes?: string[]): Promise<boolean> {
  const r = await ctx.store.findOtp(ctx.tenant.id, userId);
  if (!r || (r.confirmedAt !== null) === confirm) return false;
  const secret = Buffer.from(await secretsOf(ctx).decrypt(r.secret), 'base64url');
  const now = nowSeconds(ctx);
  const step = matchTotp(secret, code, now);
  return step !== undefined && (await ctx.store.acceptOtpStep(ctx.tenant.id, userId, step, { confirm, now, recoveryCodes }));
}

/**
 * How recent a sign-in must be to change how one signs in (turn two-step sign-in on or off, new recovery codes), on
 * /mfa or inside a sign-in: a session left open is not enough.
 */
export const MFA_CHANGE_FRESHNESS = 600;

/** Recovery codes made when two-step sign-in is turned on: each works once, in place of a code from the app. */
export const RECOVERY_CODES = 10;
const RECOVERY_DIGITS = 10;

const recoveryHash = (ctx: EngineContext, userId: string, digits: string) => ctx.hasher.hash(`recovery-code:${JSON.stringify([ctx.tenant.id, userId, digits])}`);

/** Draw RECOVERY_CODES distinct codes: as shown once, and as stored (keyed hashes). */
function drawRecoveryCodes(ctx: EngineContext, userId: string): { shown: string[]; hashes: string[] } {
  const codes: string[] = [];
  while (codes.length < RECOVERY_CODES) {
    let digits = '';
    while (digits.length < RECOVERY_DIGITS) for (const b of ctx.random(16)) if (b < 250 && digits.length < RECOVERY_DIGITS) digits += String(b % 10); // no modulo bias
    if (!codes.includes(digits)) codes.push(digits);
  }
  return { shown: codes.map((c) => `${c.slice(0, 5)}-${c.slice(5)}`), hashes: codes.map((c) => recoveryHash(ctx, userId, c)) };
}

/**
 * New recovery codes for a user, the old ones void: RECOVERY_CODES codes of 10 digits (about 33 bits each, behind the
 * same per-user limit on wrong codes as the app's), stored as keyed hashes and shown once, as 12345-67890.
 */
export async function newRecoveryCodes(ctx: EngineContext, userId: string): Promise<string[]> {
  const { shown, hashes } = drawRecoveryCodes(ctx, userId);
  await ctx.store.replaceRecoveryCodes(ctx.tenant.id, userId, hashes);
  return shown;
}

/**
 * Finish setting up an app with its first code (acceptOtp with confirm): two-step sign-in is then on, and the user's
 * new recovery codes are returned to be shown once. The confirmation and the codes are one store transaction, so a
 * failure between them cannot leave two-step sign-in on with no recovery codes. Undefined for a wrong code (nothing
 * changes).
 */
export async function confirmOtp(ctx: EngineContext, userId: string, code: string): Promise<string[] | undefined> {
  const { shown, hashes } = drawRecoveryCodes(ctx, userId);
  return (await acceptOtp(ctx, userId, code, true, hashes)) ? shown : undefined;
}

/** How many recovery codes the user has left. */
export const recoveryCodesLeft = (ctx: EngineContext, userId: string): Promise<number> => ctx.store.countRecoveryCodes(ctx.tenant.id, userId);

/**
 * The second step of a sign-in (or of turning it off): a code from the app (6 digits, acceptOtp), or one of the
 * user's recovery codes (10 digits, spent once); which one it was, or undefined when it was neither.
 */
export async function acceptSecondFactor(ctx: EngineContext, userId: string, presented: string): Promise<'otp' | 'recovery' | undefined> {
  const digits = presented.replace(/[\s-]/g, '');
  if (/^\d{10}$/.test(digits)) {
    if (!(await otpRequired(ctx, userId))) return undefined;
    return (await ctx.store.useRecoveryCode(ctx.tenant.id, userId, recoveryHash(ctx, userId, digits), nowSeconds(ctx))) ? 'recovery' : undefined;
  }
  return (await acceptOtp(ctx, userId, presented)) ? 'otp' : undefined;
}

/** Turn two-step sign-in off for a user (their own choice, with a code; or an operator's reset); false when it was off. */
export function removeOtp(ctx: EngineContext, userId: string): Promise<boolean> {
  return ctx.store.deleteOtp(ctx.tenant.id, userId);
}
