import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { bearerError, DPOP_ALGS } from './bearer.js';
import { type EngineContext, nowSeconds } from './context.js';

/** How long after its creation a proof is accepted (RFC 9449 §11.1: seconds or minutes), and how far ahead. */
export const DPOP_PROOF_MAX_AGE = 300;
const FUTURE_SKEW = 60;

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const invalidProof = (why: string) => bearerError('invalid_dpop_proof', why, 401, { scheme: 'DPoP', resultCode: 'LK11015' });

/** RFC 9449 §4.3 step 9: the URI without query and fragment, normalized (RFC 3986 §6.2.2, §6.2.3). */
function targetUri(value: string): string | undefined {
  try {
    const u = new URL(value);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
    u.search = '';
    u.hash = '';
    return u.href;
  } catch {
    return undefined;
  }
}

/** RFC 9449 §4.2: ath is the base64url SHA-256 of the ASCII access token. */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

export interface DpopRequest {
  /** The HTTP method of the request the proof came with. */
  htm?: string;
  /** The URI of that request. */
  htu?: string;
  /** The access token presented with it, at a protected resource (§7). */
  accessToken?: string;
}

/**
 * Check a DPoP proof (RFC 9449 §4.3) and return the RFC 7638 thumbprint of its key. Every check of §4.3 except
 * nonces (we never ask for one). A proof is accepted once per target URI (§11.1): its jti is remembered for as
 * long as the proof would be accepted, in the store's counter table (shared by every instance).
 */
export async function verifyDpopProof(ctx: EngineContext, proof: string, req: DpopRequest): Promise<{ jkt: string }> {
  if (proof.length > 8192 || !JWT_SHAPE.test(proof)) throw invalidProof('the DPoP proof is not a JWT');
  const htu = req.htu !== undefined ? targetUri(req.htu) : undefined;
  if (!req.htm || !htu) throw invalidProof('the request method and URI are needed to check the DPoP proof');
  let header: ReturnType<typeof decodeProtectedHeader>;
  let payload: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(proof);
    // RFC 9449 §4.3 steps 4-7: typ, an asymmetric alg we support, a signature by the public key in the header.
    const verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...DPOP_ALGS] });
    payload = verified.payload as Record<string, unknown>;
  } catch {
    throw invalidProof('the DPoP proof does not verify');
  }
  const jwk = header.jwk as JWK | undefined;
  if (!jwk || 'd' in jwk) throw invalidProof('the DPoP proof must carry a public key'); // §4.3 step 7
  const { jti, htm, iat, ath } = payload;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw invalidProof('the DPoP proof has no valid jti');
  if (htm !== req.htm) throw invalidProof('the DPoP proof is for another HTTP method'); // §4.3 step 8
  if (typeof payload.htu !== 'string' || targetUri(payload.htu) !== htu) throw invalidProof('the DPoP proof is for another URI'); // step 9
  const now = nowSeconds(ctx);
  if (typeof iat !== 'number' || iat < now - DPOP_PROOF_MAX_AGE || iat > now + FUTURE_SKEW) throw invalidProof('the DPoP proof is too old or from the future'); // step 11
  if (req.accessToken !== undefined && ath !== accessTokenHash(req.accessToken)) {
    throw invalidProof('the DPoP proof does not carry the hash of this access token'); // §4.3 step 12, §7
  }
  const jkt = await calculateJwkThumbprint(jwk, 'sha256');
  // §11.1: a proof seen before at this URI is a replay. Recorded last, so that broken proofs cost no storage.
  const key = `dpop-jti:${ctx.tenant.id}:${ctx.hasher.hash(`${htu} ${jkt} ${jti}`)}`;
  if ((await ctx.store.hit(key, 0, iat + DPOP_PROOF_MAX_AGE + FUTURE_SKEW)) > 1) throw invalidProof('the DPoP proof was used before');
  return { jkt };
}
