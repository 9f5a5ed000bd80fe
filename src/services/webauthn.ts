import type { verifyAuthenticationResponse, verifyRegistrationResponse } from '@simplewebauthn/server';
import { isIP } from 'node:net';
import { z } from 'zod';
import { nowSeconds, type EngineContext } from '../engine/context.js';
import type { WebauthnCredentialRecord } from '../store/types.js';
import { otpRequired } from './mfa.js';
import { typedText } from './users.js';

/**
 * Security keys and passkeys as the second step of a sign-in (W3C Web Authentication Level 2), next to the
 * authenticator app of services/mfa.ts. A user adds keys once two-step sign-in is on, so the app and its recovery
 * codes remain the way back when a key is lost (as GitHub and Keycloak's WebAuthn two-factor policy do); turning
 * two-step sign-in off removes the keys with the app (store deleteOtp).
 *
 * The relying party is the issuer: RP ID its host name, the origin its origin (the pages are served there). The
 * challenge is never stored: it is a keyed hash over what it is for (the sign-in waiting for its second step, or the
 * /mfa form of this browser with an expiry), so the page carries it and the server recomputes it; a challenge that
 * passed is remembered until it expires (store rememberJti) and so works once (WebAuthn §13.4.3).
 */

/** How many keys one user may register. */
export const MAX_WEBAUTHN_KEYS = 10;
/** How long the browser may take to get an answer from the key (WebAuthn `timeout`), milliseconds. */
const TIMEOUT_MS = 120_000;
/** The algorithms offered at registration, in order of preference: ES256, EdDSA, RS256 (COSE ids). */
const ALGORITHMS = [-7, -8, -257];

/**
 * The verifier, loaded on first use: it brings ASN.1 and X.509 libraries that cost every process start (each CLI
 * command, each server) about 0.2 s, and most never see a key.
 */
let verifier: Promise<typeof import('@simplewebauthn/server')> | undefined;
const simpleWebauthn = () => (verifier ??= import('@simplewebauthn/server'));

const relyingParty = (ctx: EngineContext) => {
  const u = new URL(ctx.tenant.issuer);
  return { id: u.hostname, origin: u.origin, name: u.host };
};

/**
 * Whether a browser can use keys with this issuer: its host must be a name. WebAuthn's RP ID is a domain (§5.1.3: a
 * browser refuses an IP address, even 127.0.0.1, the out-of-the-box issuer), so there /mfa offers no key to add.
 */
export function webauthnUsable(ctx: EngineContext): boolean {
  return isIP(relyingParty(ctx).id.replace(/^\[|\]$/g, '')) === 0;
}

/** A challenge for `purpose`, bound to `binding`: 32 bytes of keyed hash, base64url (WebAuthn §13.4.3: ≥ 16 random bytes). */
export function webauthnChallenge(ctx: EngineContext, purpose: 'get' | 'create', binding: unknown[]): string {
  return ctx.hasher.hash(`webauthn-${purpose}:${JSON.stringify([ctx.tenant.id, ...binding])}`);
}

const b64 = z.string().max(8192).regex(/^[A-Za-z0-9_-]*$/);
/** The JSON the page's script posts (the PublicKeyCredential, binary fields base64url): checked before anything reads it. */
const CredentialJson = z.object({
  id: b64.min(1).max(1400),
  rawId: b64.min(1).max(1400),
  type: z.literal('public-key'),
  authenticatorAttachment: z.string().max(32).optional(), // 'platform' or 'cross-platform' today; a hint, not checked
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  response: z.object({
    clientDataJSON: b64.min(1),
    attestationObject: b64.min(1).optional(),
    authenticatorData: b64.min(1).optional(),
    signature: b64.min(1).optional(),
    userHandle: b64.optional(),
    transports: z.array(z.string().max(32)).max(10).optional(),
  }),
});

function parseCredential(json: string) {
  if (json.length > 32_768) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  const r = CredentialJson.safeParse(v);
  return r.success && r.data.id === r.data.rawId ? r.data : undefined;
}

/** The user's keys, oldest first. */
export const webauthnKeys = (ctx: EngineContext, userId: string): Promise<WebauthnCredentialRecord[]> => ctx.store.listWebauthnCredentials(ctx.tenant.id, userId);

/** The user handle given to a key (WebAuthn §14.6.1: no personal data): 32 bytes of keyed hash of the user's id, base64url. */
const userHandle = (ctx: EngineContext, userId: string) => ctx.hasher.hash(`webauthn-user:${JSON.stringify([ctx.tenant.id, userId])}`);

const descriptor = (k: WebauthnCredentialRecord) => ({ type: 'public-key', id: k.credentialId, ...(k.transports.length ? { transports: k.transports } : {}) });

/**
 * What the page passes to navigator.credentials.create (WebAuthn §5.4), binary members base64url for its script: the
 * user handle is a keyed hash of the user's id (no personal data, §14.6.1), the user's keys are excluded so the same
 * authenticator is not registered twice, and no attestation is asked for (§5.4.7 "none": the key is a second factor,
 * its make is not checked).
 */
export function creationOptions(ctx: EngineContext, user: { id: string; username: string }, challenge: string, keys: WebauthnCredentialRecord[]) {
  const rp = relyingParty(ctx);
  return {
    challenge,
    rp: { id: rp.id, name: rp.name },
    user: { id: userHandle(ctx, user.id), name: user.username, displayName: user.username },
    pubKeyCredParams: ALGORITHMS.map((alg) => ({ type: 'public-key', alg })),
    timeout: TIMEOUT_MS,
    attestation: 'none',
    excludeCredentials: keys.map(descriptor),
    authenticatorSelection: { residentKey: 'discouraged', userVerification: 'discouraged' },
  };
}

/** What the page passes to navigator.credentials.get (WebAuthn §5.5): one of the user's keys, a second factor (no user verification asked). */
export function requestOptions(ctx: EngineContext, challenge: string, keys: WebauthnCredentialRecord[]) {
  return { challenge, rpId: relyingParty(ctx).id, allowCredentials: keys.map(descriptor), timeout: TIMEOUT_MS, userVerification: 'discouraged' };
}

/** A key's name as the user typed it (typedText), at most 60 characters; "Security key" when empty. */
export function keyName(typed: string | null): string {
  return [...typedText(typed ?? '')].slice(0, 60).join('') || 'Security key';
}

/**
 * Register a key from the page's answer to creationOptions (WebAuthn §7.1: the challenge, origin, RP ID, user
 * presence and the attestation object are checked by @simplewebauthn/server). Only with two-step sign-in on. 'invalid'
 * for an answer that does not verify or was used already; 'exists' for a key registered already; 'full' at
 * MAX_WEBAUTHN_KEYS; 'off' when two-step sign-in is off.
 */
export async function addWebauthnKey(
  ctx: EngineContext, userId: string, json: string, challenge: string, challengeExp: number, name: string,
): Promise<'added' | 'invalid' | 'exists' | 'full' | 'off'> {
  if (!(await otpRequired(ctx, userId))) return 'off';
  const response = parseCredential(json);
  // §7.1 step 24: a credential id longer than 1023 bytes is refused.
  if (!response?.response.attestationObject || Buffer.from(response.id, 'base64url').length > 1023) return 'invalid';
  const rp = relyingParty(ctx);
  let info;
  try {
    const v = await (await simpleWebauthn()).verifyRegistrationResponse({
      response: { ...response, response: { ...response.response, attestationObject: response.response.attestationObject } } as Parameters<typeof verifyRegistrationResponse>[0]['response'],
      expectedChallenge: challenge, expectedOrigin: rp.origin, expectedRPID: rp.id, requireUserVerification: false, supportedAlgorithmIDs: ALGORITHMS,
    });
    if (!v.verified) return 'invalid';
    info = v.registrationInfo;
  } catch {
    return 'invalid';
  }
  const keys = await webauthnKeys(ctx, userId);
  if (keys.some((k) => k.credentialId === info.credential.id)) return 'exists';
  if (keys.length >= MAX_WEBAUTHN_KEYS) return 'full';
  const now = nowSeconds(ctx);
  if (!(await ctx.store.rememberJti(ctx.tenant.id, 'webauthn', challenge, challengeExp, now))) return 'invalid';
  const added = await ctx.store.addWebauthnCredential({
    tenantId: ctx.tenant.id, userId, credentialId: info.credential.id, publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
    counter: info.credential.counter, transports: (response.response.transports ?? []).filter((t) => /^[a-z-]{1,32}$/.test(t)), name, createdAt: now, lastUsedAt: null,
  });
  return added ? 'added' : 'exists';
}

/**
 * The second step of a sign-in with a key (WebAuthn §7.2): an assertion by one of the user's keys over `challenge`,
 * from this origin, with user presence; its signature counter past the one stored (§6.1.1, a cloned key), both
 * checked by @simplewebauthn/server. The challenge then works once (until challengeExp), and the counter moves only
 * from the value checked (store useWebauthnCredential). False for anything else.
 */
export async function acceptWebauthn(ctx: EngineContext, userId: string, json: string, challenge: string, challengeExp: number): Promise<boolean> {
  const response = parseCredential(json);
  const { authenticatorData, signature } = response?.response ?? {};
  if (!response || !authenticatorData || !signature) return false;
  // §7.2 step 6: the user was identified first (the password), so the key must be theirs, and a user handle, if the
  // authenticator returns one, must be the one their keys were given.
  if (response.response.userHandle !== undefined && response.response.userHandle !== userHandle(ctx, userId)) return false;
  const key = (await webauthnKeys(ctx, userId)).find((k) => k.credentialId === response.id);
  if (!key) return false;
  const rp = relyingParty(ctx);
  let newCounter: number;
  try {
    const v = await (await simpleWebauthn()).verifyAuthenticationResponse({
      response: { ...response, response: { ...response.response, authenticatorData, signature } } as Parameters<typeof verifyAuthenticationResponse>[0]['response'],
      expectedChallenge: challenge, expectedOrigin: rp.origin, expectedRPID: rp.id, requireUserVerification: false,
      credential: { id: key.credentialId, publicKey: Buffer.from(key.publicKey, 'base64url'), counter: key.counter, transports: key.transports as never },
    });
    if (!v.verified) return false;
    newCounter = v.authenticationInfo.newCounter;
  } catch {
    return false;
  }
  const now = nowSeconds(ctx);
  if (!(await ctx.store.rememberJti(ctx.tenant.id, 'webauthn', challenge, challengeExp, now))) return false;
  return ctx.store.useWebauthnCredential(ctx.tenant.id, userId, key.credentialId, key.counter, newCounter, now);
}

/** Remove one of the user's keys; false when the user has no such key. */
export const removeWebauthnKey = (ctx: EngineContext, userId: string, credentialId: string): Promise<boolean> =>
  ctx.store.deleteWebauthnCredential(ctx.tenant.id, userId, credentialId.slice(0, 1400));
