import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import { bearerError, DPOP_ALGS } from './bearer.js';
import { type EngineContext, mtlsAliasBase, nowSeconds } from './context.js';
import { OAuthError } from './errors.js';

/*
 * The one DPoP proof validator (RFC 9449 §4.3) of the engine: the token endpoint, PAR, UserInfo and the Core API
 * all call verifyDpopProof. Only the shape of a refusal differs: a JSON error at the token endpoint (§5), a
 * WWW-Authenticate challenge at a protected resource (§7.1).
 */

/** Default distance of a proof's iat from now, either way, seconds (RFC 9449 §11.1: seconds or minutes). */
export const DPOP_PROOF_WINDOW = 60;
/** Length of a nonce time slot, seconds; the current and the previous slot's nonces are accepted (RFC 9449 §8). */
const NONCE_SLOT = 300;

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Where the proof came: the token endpoint (and PAR) answer JSON errors, resources answer challenges. */
export type DpopSite = 'token' | 'resource';

function invalidProof(site: DpopSite, why: string, algs?: readonly string[]): OAuthError {
  // RFC 9449 §5: 400 invalid_dpop_proof at the token endpoint; §7.1: 401 with a DPoP challenge at a resource.
  if (site === 'token') return new OAuthError('invalid_dpop_proof', why, { resultCode: 'LK13001', status: 400 });
  return bearerError('invalid_dpop_proof', why, 401, { scheme: 'DPoP', resultCode: 'LK11015', algs });
}

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

/** RFC 9449 §8: a stateless server nonce, a keyed hash of the tenant and a time slot (works on every instance). */
function nonceFor(ctx: EngineContext, slot: number): string {
  return ctx.hasher.hash(`dpop-nonce:${ctx.tenant.id}:${slot}`).replace(/[^A-Za-z0-9_-]/g, '_');
}

/** The nonce to hand out now (RFC 9449 §8.1: in the DPoP-Nonce header). */
export function currentDpopNonce(ctx: EngineContext): string {
  return nonceFor(ctx, Math.floor(nowSeconds(ctx) / NONCE_SLOT));
}

function nonceIsFresh(ctx: EngineContext, nonce: unknown): boolean {
  if (typeof nonce !== 'string') return false;
  const slot = Math.floor(nowSeconds(ctx) / NONCE_SLOT);
  return nonce === nonceFor(ctx, slot) || nonce === nonceFor(ctx, slot - 1);
}

function useNonce(ctx: EngineContext, site: DpopSite, algs?: readonly string[]): OAuthError {
  const headers = { 'DPoP-Nonce': currentDpopNonce(ctx) };
  // RFC 9449 §8: 400 use_dpop_nonce at the token endpoint; §9: 401 challenge error="use_dpop_nonce" at a resource.
  if (site === 'token') return new OAuthError('use_dpop_nonce', 'a DPoP nonce from this server is required', { resultCode: 'LK13002', status: 400, headers });
  return bearerError('use_dpop_nonce', 'a DPoP nonce from this server is required', 401, { scheme: 'DPoP', resultCode: 'LK13002', headers, algs });
}

/**
 * Proof keys already imported, by alg and public members: a client signs every proof with the same key, and
 * importing it (WebCrypto) costs more than verifying the signature. Bounded; the oldest entry goes first.
 */
const proofKeys = new Map<string, { key: CryptoKey | Uint8Array; jkt: string }>();
const PROOF_KEYS_MAX = 1000;

async function proofKey(jwk: JWK, alg: string): Promise<{ key: CryptoKey | Uint8Array; jkt: string }> {
  const id = `${alg} ${JSON.stringify([jwk.kty, jwk.crv, jwk.x, jwk.y, jwk.n, jwk.e])}`;
  const hit = proofKeys.get(id);
  if (hit) return hit;
  const key = await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, n: jwk.n, e: jwk.e } as JWK, alg);
  const entry = { key, jkt: await calculateJwkThumbprint(jwk, 'sha256') };
  if (proofKeys.size >= PROOF_KEYS_MAX) proofKeys.delete(proofKeys.keys().next().value!);
  proofKeys.set(id, entry);
  return entry;
}

export interface DpopRequest {
  /** The HTTP method of the request the proof came with. */
  htm?: string;
  /** The URI of that request, built from the issuer (endpointsOf), never from the Host header. */
  htu?: string;
  /** The access token presented with it, at a protected resource (§7). */
  accessToken?: string;
  /** The refusal style; 'resource' when absent. */
  site?: DpopSite;
  /** The algs this client's proofs may use, narrower than DPOP_ALGS (FAPI 2.0 §5.4.1: fapi.ts); all of them when absent. */
  algs?: readonly string[];
}

/**
 * Check a DPoP proof (RFC 9449 §4.3) and return the RFC 7638 thumbprint of its key. A proof is accepted once per
 * target URI (§11.1): its jti goes to the store's replay cache (rememberJti, one atomic statement shared by every
 * instance) for as long as the proof would be accepted. Server nonces (§8, §9) when the tenant enables them.
 */
export async function verifyDpopProof(ctx: EngineContext, proof: string, req: DpopRequest): Promise<{ jkt: string }> {
  const site = req.site ?? 'resource';
  if (proof.length > 8192 || !JWT_SHAPE.test(proof)) throw invalidProof(site, 'the DPoP proof is not a JWT', req.algs); // §4.3 steps 1, 2
  const htu = req.htu !== undefined ? targetUri(req.htu) : undefined;
  if (!req.htm || !htu) throw invalidProof(site, 'the request method and URI are needed to check the DPoP proof', req.algs);
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw invalidProof(site, 'the DPoP proof does not verify', req.algs);
  }
  // RFC 9449 §4.3 step 7: the header's jwk is a public key (no private or symmetric members).
  const jwk = header.jwk as JWK | undefined;
  if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk) || 'd' in jwk || 'p' in jwk || 'k' in jwk || jwk.kty === 'oct') {
    throw invalidProof(site, 'the DPoP proof must carry a public key', req.algs);
  }
  // FAPI 2.0 §5.4.1: a FAPI client's proofs use PS256, ES256 or EdDSA only (RFC 9449 §4.3 step 5: an alg the server accepts).
  if (req.algs && typeof header.alg === 'string' && !req.algs.includes(header.alg)) {
    if (site === 'token') throw new OAuthError('invalid_dpop_proof', `the DPoP proof alg must be one of ${req.algs.join(', ')}`, { resultCode: 'LK7466', status: 400 });
    throw bearerError('invalid_dpop_proof', `the DPoP proof alg must be one of ${req.algs.join(', ')}`, 401, { scheme: 'DPoP', resultCode: 'LK7466', algs: req.algs });
  }
  let payload: Record<string, unknown>;
  let jkt: string;
  try {
    // RFC 9449 §4.3 steps 4-7: typ, an asymmetric alg we support, a signature by the public key in the header.
    if (typeof header.alg !== 'string' || !(DPOP_ALGS as readonly string[]).includes(header.alg)) throw new Error('alg');
    const k = await proofKey(jwk, header.alg);
    if (k.key instanceof Uint8Array || k.key.type !== 'public') throw new Error('not a public key');
    // exp and nbf, when a proof carries them, are judged by the server's clock like iat (ctx.clock), not the host's.
    const verified = await jwtVerify(proof, k.key, { typ: 'dpop+jwt', algorithms: [...DPOP_ALGS], currentDate: new Date(ctx.clock()) });
    payload = verified.payload as Record<string, unknown>;
    jkt = k.jkt;
  } catch {
    throw invalidProof(site, 'the DPoP proof does not verify', req.algs);
  }
  const { jti, htm, iat, ath } = payload;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw invalidProof(site, 'the DPoP proof has no valid jti', req.algs);
  if (htm !== req.htm) throw invalidProof(site, 'the DPoP proof is for another HTTP method', req.algs); // §4.3 step 8
  // Step 9. A request to one of our endpoints may have come through its RFC 8705 §5 mTLS alias (a client authenticating
  // with a certificate and binding tokens with DPoP, as FAPI 2.0 allows), which names the same endpoint: the proof's
  // htu is then the alias. The replay key below stays the main URI, so one proof is not accepted once at each.
  if (typeof payload.htu !== 'string' || !sameEndpoint(ctx, targetUri(payload.htu), htu)) throw invalidProof(site, 'the DPoP proof is for another URI', req.algs);
  const now = nowSeconds(ctx);
  const window = ctx.tenant.settings.dpopProofWindow ?? DPOP_PROOF_WINDOW;
  if (typeof iat !== 'number' || iat < now - window || iat > now + window) throw invalidProof(site, 'the DPoP proof is too old or from the future', req.algs); // step 11
  if (req.accessToken !== undefined && ath !== accessTokenHash(req.accessToken)) {
    throw invalidProof(site, 'the DPoP proof does not carry the hash of this access token', req.algs); // §4.3 step 12, §7
  }
  if (ctx.tenant.settings.dpopNonces && !nonceIsFresh(ctx, payload.nonce)) throw useNonce(ctx, site, req.algs); // §4.3 step 10
  // §11.1: a proof seen before at this URI is a replay. Recorded last, so that broken proofs cost no storage.
  const key = ctx.hasher.hash(`${htu} ${jkt} ${jti}`);
  if (!(await ctx.store.rememberJti(ctx.tenant.id, 'dpop', key, iat + window + 1, now))) throw invalidProof(site, 'the DPoP proof was used before', req.algs);
  return { jkt };
}

/** Whether a proof's htu names the request's URI: that URI itself, or, for one of this issuer's endpoints, its mTLS alias. */
function sameEndpoint(ctx: EngineContext, proofHtu: string | undefined, htu: string): boolean {
  if (proofHtu === undefined) return false;
  if (proofHtu === htu) return true;
  const issuer = ctx.tenant.issuer;
  const base = mtlsAliasBase(ctx.clients, issuer);
  return base !== undefined && htu.startsWith(`${issuer}/`) && proofHtu === base + htu.slice(issuer.length);
}

/** RFC 9449 §10: a dpop_jkt parameter is an RFC 7638 SHA-256 thumbprint, 43 base64url characters. */
export const JKT_SHAPE = /^[A-Za-z0-9_-]{43}$/;
