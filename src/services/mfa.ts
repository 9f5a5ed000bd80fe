import { nowSeconds, type EngineContext } from '../engine/context.js';
import { base32Encode, matchTotp, otpauthUri, TOTP_SECRET_BYTES } from './totp.js';
import { ServiceError } from './errors.js';

/**
 * Two-step sign-in on the built-in pages: a password, then a code from the user's authenticator app (RFC 6238 TOTP).
 * A user turns it on at /mfa (signed in); from then on every password sign-in asks for a code, and the session it
 * makes says so: acr MFA_ACR and amr ["pwd", "otp", "mfa"] (RFC 8176), in ID tokens and introspection.
 */
export { MFA_ACR, MFA_AMR } from '../engine/accounts.js';

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
export async function acceptOtp(ctx: EngineContext, userId: string, code: string, confirm = false): Promise<boolean> {
  const r = await ctx.store.findOtp(ctx.tenant.id, userId);
  if (!r || (r.confirmedAt !== null) === confirm) return false;
  const secret = Buffer.from(await secretsOf(ctx).decrypt(r.secret), 'base64url');
  const now = nowSeconds(ctx);
  const step = matchTotp(secret, code, now);
  return step !== undefined && (await ctx.store.acceptOtpStep(ctx.tenant.id, userId, step, { confirm, now }));
}

/** Turn two-step sign-in off for a user (their own choice, with a code; or an operator's reset); false when it was off. */
export function removeOtp(ctx: EngineContext, userId: string): Promise<boolean> {
  return ctx.store.deleteOtp(ctx.tenant.id, userId);
}
