import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { TokenRejection } from './errors.js';
import { TtlCache } from './ttl-cache.js';

/** Asymmetric JWS algorithms a DPoP proof may use (RFC 9449 §4.2: never none, never a MAC). */
export const DPOP_ALGS = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA', 'Ed25519'] as const;

export interface DpopCheck {
  /** The DPoP header as received (possibly several, joined with commas by node). */
  proof: string | string[] | undefined;
  method: string;
  /** The request's URL without query and fragment, as the client addressed it (RFC 9449 §4.3 check 9). */
  url: URL;
  accessToken: string;
  /** cnf.jkt of the token: the proof's key must have this RFC 7638 thumbprint. */
  jkt: string;
  nowMs: number;
  /** How old a proof may be, seconds (RFC 9449 §11.1: a short window, with the jti cache covering it). */
  maxAge: number;
  /** Allowed clock skew for a proof dated in the future, seconds. */
  clockTolerance: number;
  replay: DpopReplayStore;
}

/**
 * Where a resource server remembers the DPoP proofs it accepted (RFC 9449 §11.1: a proof is used once). The default
 * (memoryReplayStore) is one process's memory: an API run as several instances behind a load balancer gives them one
 * store they all reach (`dpopReplayStore` option), or a proof accepted by one instance is accepted once more by each
 * of the others within its window.
 */
export interface DpopReplayStore {
  /**
   * Remember `key` until `expiresAt` (milliseconds since the epoch). Resolves true when the key was not remembered
   * yet (first use), false when it was (a replay). Must be atomic across everything sharing the store: Redis
   * `SET key 1 NX PXAT expiresAt`, or SQL `INSERT … ON CONFLICT DO NOTHING` on a primary key (deleting expired rows).
   */
  remember(key: string, expiresAt: number): Promise<boolean>;
}

/**
 * This process's memory, bounded (`maxEntries`): right for a single instance. When it is full of live entries the
 * oldest is forgotten, and a proof whose entry may have been forgotten can no longer be told from a replay: so from then
 * on every proof whose window ends no later than a forgotten one's (`floor`; a window's end grows with the proof's iat)
 * is refused, as a replay. Filling the cache (any client can, with proofs of its own key) then shortens the window
 * instead of letting a captured proof be replayed (RFC 9449 §11.1); fresh proofs keep working.
 */
export function memoryReplayStore(maxEntries: number, clock: () => number): DpopReplayStore {
  let floor = -Infinity;
  const cache = new TtlCache<number>(maxEntries, clock, (expiresAt) => {
    if (expiresAt > floor) floor = expiresAt;
  });
  return {
    async remember(key, expiresAt) {
      if (expiresAt <= floor || cache.has(key)) return false;
      cache.set(key, expiresAt, expiresAt);
      return true;
    },
  };
}

const bad = (description: string, detail?: string) =>
  new TokenRejection('invalid_dpop_proof', description, 401, 'LK12001', { scheme: 'DPoP', detail });

/** base64url(SHA-256(ASCII(access token))): the proof's `ath` (RFC 9449 §4.2). */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url');
}

/** Scheme, host, port and path of a URL; query and fragment are not part of `htu` (RFC 9449 §4.2, §4.3). */
function htuOf(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/**
 * Check a DPoP proof presented with a DPoP-bound access token at a protected resource: RFC 9449 §4.3 (checks 1-12,
 * without server nonces) and §7.1 (ath and the key binding). Returns the proof's key thumbprint.
 */
export async function verifyDpopProof(c: DpopCheck): Promise<string> {
  // §4.3 check 1: exactly one DPoP header. Node joins repeated headers with ", "; a JWS never has a comma.
  const raw = Array.isArray(c.proof) ? (c.proof.length === 1 ? c.proof[0] : undefined) : c.proof;
  if (raw === undefined || raw.length === 0) throw bad('a DPoP proof is required with a DPoP-bound access token');
  if (raw.includes(',')) throw bad('exactly one DPoP proof is allowed');
  let payload: Record<string, unknown>;
  let jwk: JWK;
  try {
    // §4.3 checks 2-7: a well-formed JWS, typ dpop+jwt, an asymmetric alg, signed by the public key in its header.
    const r = await jwtVerify(raw, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...DPOP_ALGS], currentDate: new Date(c.nowMs) });
    payload = r.payload as Record<string, unknown>;
    jwk = r.protectedHeader.jwk as JWK;
  } catch (e) {
    throw bad('the DPoP proof is invalid', (e as Error).message);
  }
  // §4.2: the embedded key is public; a private member means a broken client, and jose would not publish it.
  if ('d' in jwk) throw bad('the DPoP proof key must be a public key');
  const { jti, htm, htu, iat, ath } = payload;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw bad('the DPoP proof needs a jti');
  // §4.3 check 8
  if (htm !== c.method) throw bad('the DPoP proof htm does not match the request method');
  // §4.3 check 9: compared after syntax- and scheme-based normalisation (RFC 3986 §6.2.2, §6.2.3), which URL does.
  let proofUrl: URL;
  try {
    proofUrl = new URL(String(htu));
  } catch {
    throw bad('the DPoP proof htu is not a URL');
  }
  if (typeof htu !== 'string' || htuOf(proofUrl) !== htuOf(c.url)) throw bad('the DPoP proof htu does not match the request URL');
  // §4.3 check 11: iat within a window.
  const now = Math.floor(c.nowMs / 1000);
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw bad('the DPoP proof needs an iat');
  if (iat > now + c.clockTolerance) throw bad('the DPoP proof is dated in the future');
  if (iat < now - c.maxAge) throw bad('the DPoP proof is too old');
  // §4.3 check 12, §7.1: ath binds the proof to this access token.
  if (typeof ath !== 'string' || ath !== accessTokenHash(c.accessToken)) throw bad('the DPoP proof ath does not match the access token');
  const thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
  // §7.1: the proof's key must be the one the token is bound to. The spec's own example answers invalid_token.
  if (thumbprint !== c.jkt) {
    throw new TokenRejection('invalid_token', 'invalid DPoP key binding', 401, 'LK12002', { scheme: 'DPoP' });
  }
  // §11.1: a proof is used once. Keyed by key and jti, kept as long as the proof could still be accepted.
  const replayKey = `${thumbprint}:${jti}`;
  if (!(await c.replay.remember(replayKey, (iat + c.maxAge + c.clockTolerance + 1) * 1000))) throw bad('the DPoP proof was already used');
  return thumbprint;
}
