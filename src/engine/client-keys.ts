import {
  importJWK,
  type JWK,
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type FetchImplementation,
  type JSONWebKeySet,
  type LocalJWKSet,
  type RemoteJWKSet,
} from 'jose';
import type { ClientMetadata } from '../store/types.js';
import { ASYMMETRIC_ASSERTION_ALGS } from './client-assertion.js';
import { OAuthError } from './errors.js';
import { guardedFetch } from './remote.js';

/** How a client's jwks_uri is fetched and cached. */
export interface ClientKeySetOptions {
  /** Accept http:// jwks_uri values (development only; configuration `insecureAllowHttpJwksUri`). */
  allowHttp?: boolean;
  /** Abort a fetch after this many milliseconds (default 3000). */
  timeoutMs?: number;
  /** Largest JWK Set document accepted, in bytes (default 64 KiB). */
  maxBytes?: number;
  /** An unknown `kid` refetches at most this often, in milliseconds (default 60 s): a rate limit on refetches. */
  cooldownMs?: number;
  /** Fetched keys are reused for this long, in milliseconds (default 10 minutes). */
  cacheMaxAgeMs?: number;
  /** The fetch to use: guardedFetch(insecureRemoteFetchAddresses), which refuses private addresses (tests stub it). */
  fetch?: typeof fetch;
}

/** A jose key resolver for a client's keys, usable with jwtVerify / compactVerify. */
export type ClientKeySet = LocalJWKSet | RemoteJWKSet;

export class ClientKeysError extends Error {
  override name = 'ClientKeysError';
}

const MAX_CACHED = 1000;
const local = new Map<string, LocalJWKSet>();
const remote = new Map<string, RemoteJWKSet>();

function remember<V>(map: Map<string, V>, key: string, value: V): V {
  if (map.size >= MAX_CACHED) map.delete(map.keys().next().value!);
  map.set(key, value);
  return value;
}

/**
 * jwks_uri documents that could not be fetched lately, by URI: until `until` every fetch of one answers with the
 * remembered failure at once. Without it anyone who knows a client_id (and its redirect_uri) could make the server
 * fetch an unreachable jwks_uri on every request, each waiting out the timeout: jose's cooldown only follows a success.
 */
interface FetchFailure { until: number; why: string }
/**
 * How long a failure is remembered (at most the cooldown): long enough that a stream of requests naming the client
 * makes one fetch per window, short enough that a passing outage of the client's key server locks its
 * private_key_jwt authentication and encrypted answers out for seconds, not a minute.
 */
const FAILURE_MEMORY_MS = 10_000;
const failures = new Map<string, FetchFailure>();

/** The fetch of one jwks_uri: answered from the failure memory within the cooldown, and remembering a new failure. */
function rememberingFetch(cooldownMs: number, inner: FetchImplementation): FetchImplementation {
  return async (url, init) => {
    const known = failures.get(url);
    if (known && known.until > Date.now()) throw new ClientKeysError(`jwks_uri not refetched yet after a failed fetch (${known.why})`);
    let res: Response;
    try {
      res = await inner(url, init);
      // jose refuses these after the fetch (RFC 7517 §5: a JWK Set is a JSON object with a keys array).
      if (res.status !== 200) throw new ClientKeysError(`jwks_uri answered HTTP ${res.status}`);
      let doc: { keys?: unknown } | null;
      try {
        doc = JSON.parse(await res.clone().text()) as { keys?: unknown } | null;
      } catch {
        throw new ClientKeysError('jwks_uri document is not JSON');
      }
      // Every member an object, as jose's JWK Set reader requires: anything it would refuse is remembered here.
      const isJwkSet = typeof doc === 'object' && doc !== null && Array.isArray(doc.keys) && doc.keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k));
      if (!isJwkSet) throw new ClientKeysError('jwks_uri document is not a JWK Set');
    } catch (e) {
      failures.delete(url);
      remember(failures, url, { until: Date.now() + cooldownMs, why: (e as Error).message?.slice(0, 200) ?? 'failed' });
      throw e;
    }
    failures.delete(url);
    return res;
  };
}

/** Reads at most maxBytes of the response: a client's jwks_uri must not be able to exhaust our memory. */
function limitedFetch(maxBytes: number, base: typeof fetch): FetchImplementation {
  return async (url, init) => {
    const res = await base(url, init);
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > maxBytes) {
      await res.body?.cancel();
      throw new ClientKeysError(`jwks_uri document larger than ${maxBytes} bytes`);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > maxBytes) {
          await reader.cancel();
          throw new ClientKeysError(`jwks_uri document larger than ${maxBytes} bytes`);
        }
        chunks.push(value);
      }
    }
    return new Response(Buffer.concat(chunks), { status: res.status, headers: res.headers });
  };
}

/**
 * The client's public keys (RFC 7591 §2 `jwks` or `jwks_uri`) as a jose key set, or undefined when it
 * registered neither. Key sets are cached per document (inline) or per URI (remote); a remote set is fetched
 * on first use, refreshed when stale, and refetched when a token names a `kid` it does not have, at most once
 * per cooldown. Used for private_key_jwt assertions, self-signed certificates and request objects.
 */
export function clientKeySet(client: Pick<ClientMetadata, 'jwks' | 'jwksUri'>, opts: ClientKeySetOptions = {}): ClientKeySet | undefined {
  if (client.jwks) {
    const key = JSON.stringify(client.jwks);
    return local.get(key) ?? remember(local, key, createLocalJWKSet(client.jwks as JSONWebKeySet));
  }
  if (client.jwksUri) {
    const url = new URL(client.jwksUri);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && opts.allowHttp)) {
      throw new ClientKeysError('jwks_uri must use https');
    }
    const cacheKey = `${client.jwksUri} ${opts.timeoutMs ?? ''} ${opts.maxBytes ?? ''}`;
    const hit = remote.get(cacheKey);
    if (hit) return hit;
    return remember(
      remote,
      cacheKey,
      createRemoteJWKSet(url, {
        timeoutDuration: opts.timeoutMs ?? 3000,
        cooldownDuration: opts.cooldownMs ?? 60_000,
        cacheMaxAge: opts.cacheMaxAgeMs ?? 600_000,
        headers: { accept: 'application/jwk-set+json, application/json' },
        [customFetch]: rememberingFetch(Math.min(opts.cooldownMs ?? 60_000, FAILURE_MEMORY_MS), limitedFetch(opts.maxBytes ?? 64 * 1024, opts.fetch ?? guardedFetch('public'))),
      }),
    );
  }
  return undefined;
}

/**
 * The client's keys as a JWK Set document (for matching a self-signed certificate, RFC 8705 §2.2). A remote set
 * is fetched when it is not fresh, or when `refetch` is set and the cooldown allows.
 */
export async function clientJwks(set: ClientKeySet, opts: { refetch?: boolean } = {}): Promise<JSONWebKeySet> {
  if ('reload' in set) {
    if (set.jwks() === undefined || !set.fresh || (opts.refetch && !set.coolingDown)) await set.reload();
  }
  return set.jwks() ?? { keys: [] };
}

/** Forget cached key sets (tests). */
export function clearClientKeySets(): void {
  local.clear();
  remote.clear();
  failures.clear();
}

/** The signature algs a JWK can verify, by its alg member or else its kty and crv (RFC 7518 §3.1, RFC 8037 §3.1). */
function signatureAlgsOf(jwk: Record<string, unknown>): string[] {
  if (typeof jwk.alg === 'string') return [jwk.alg];
  if (jwk.kty === 'RSA') return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
  if (jwk.kty === 'EC') return ({ 'P-256': ['ES256'], 'P-384': ['ES384'], 'P-521': ['ES512'] } as Record<string, string[]>)[String(jwk.crv)] ?? [];
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return ['EdDSA', 'Ed25519'];
  return [];
}

/** The algs a registration-time key check imports with (what jose 6 and this server use); a key naming another alg is ignored. */
const CHECKED_ALGS = new Set([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
  'RSA-OAEP', 'RSA-OAEP-256', 'RSA-OAEP-384', 'RSA-OAEP-512', 'ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW',
]);
const NIST_CURVES: Record<string, string> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };
/** RFC 7517 §4.3: the key_ops values of a key used for encryption (also read by response-encryption.ts). */
export const ENCRYPTION_KEY_OPS: readonly string[] = ['encrypt', 'wrapKey', 'deriveKey', 'deriveBits'];

/** RFC 7517 §4.2, §4.3: a key meant for encryption (use "enc", or key_ops of encryption and not "verify"). */
function isEncryptionKey(jwk: Record<string, unknown>): boolean {
  if (jwk.use !== undefined) return jwk.use === 'enc';
  return Array.isArray(jwk.key_ops) && jwk.key_ops.some((op) => ENCRYPTION_KEY_OPS.includes(op as string)) && !jwk.key_ops.includes('verify');
}

/**
 * The alg a key is imported with to see that it is usable: its own when it names one we use, else what its kty and
 * crv are for (an encryption key with an encryption alg); 'ignore' for a key this server does not understand (another
 * alg, kty or curve: RFC 7517 §5 says to ignore it); undefined for a key too incomplete to say (no kty, an EC or OKP
 * key without crv).
 */
function importAlgOf(jwk: Record<string, unknown>): string | 'ignore' | undefined {
  // A curve we do not use, whatever the alg says (EdDSA also names Ed448).
  if (jwk.kty === 'OKP' && typeof jwk.crv === 'string' && jwk.crv !== 'Ed25519' && jwk.crv !== 'X25519') return 'ignore';
  if (jwk.kty === 'EC' && typeof jwk.crv === 'string' && !Object.hasOwn(NIST_CURVES, jwk.crv)) return 'ignore';
  if (jwk.alg !== undefined) return typeof jwk.alg === 'string' && CHECKED_ALGS.has(jwk.alg) ? jwk.alg : 'ignore';
  const enc = isEncryptionKey(jwk);
  if (typeof jwk.kty !== 'string') return undefined;
  if (jwk.kty === 'RSA') return enc ? 'RSA-OAEP-256' : 'RS256';
  if (jwk.kty === 'EC' || jwk.kty === 'OKP') {
    if (jwk.crv === undefined) return undefined;
    if (jwk.kty === 'EC') return typeof jwk.crv === 'string' && Object.hasOwn(NIST_CURVES, jwk.crv) ? (enc ? 'ECDH-ES' : NIST_CURVES[jwk.crv]) : 'ignore';
    return jwk.crv === 'Ed25519' ? 'EdDSA' : jwk.crv === 'X25519' ? 'ECDH-ES' : 'ignore';
  }
  return 'ignore';
}

/**
 * RFC 7591 §3.2.2: inline `jwks` keys a client could never use are invalid_client_metadata at registration, not a
 * client that fails every authentication later. A key this server does not understand (an alg such as RSA1_5 or
 * ES256K, a curve such as Ed448/X448 or secp256k1, another kty) is ignored (RFC 7517 §5: a JWK Set parser SHOULD
 * ignore such keys); every other key must import (jose importJWK with the alg it names, else one for its kty and crv:
 * an encryption alg for an encryption key, its `use` and `key_ops` left out of the usability test: its members
 * complete and consistent, the curve that of its alg), and an RSA key must be at least 2048 bits (jose verifies with
 * nothing smaller). A private_key_jwt client needs a signing key for an alg its assertions may use (its
 * token_endpoint_auth_signing_alg, else any asymmetric one: RFC 7523 §3, OIDC Core §9); an encryption key for each
 * registered *_encrypted_response_alg is checked by client-metadata.ts. A jwks_uri is not fetched.
 */
export async function checkInlineClientKeys(client: Pick<ClientMetadata, 'jwks' | 'tokenEndpointAuthMethod' | 'tokenEndpointAuthSigningAlg'>): Promise<void> {
  const keys = (client.jwks?.keys ?? []) as Record<string, unknown>[];
  const invalid = (msg: string) => new OAuthError('invalid_client_metadata', msg, { resultCode: 'LK8024' });
  const usable: Record<string, unknown>[] = [];
  for (const [i, jwk] of keys.entries()) {
    const alg = importAlgOf(jwk);
    if (alg === 'ignore') continue;
    if (alg === undefined) throw invalid(`jwks.keys.${i}: an incomplete key (${jwk.kty === undefined ? 'no kty' : `a ${JSON.stringify(String(jwk.kty).slice(0, 20))} key without crv`})`);
    const { use: _use, key_ops: _ops, alg: _alg, ...material } = jwk;
    let key: Awaited<ReturnType<typeof importJWK>>;
    try {
      key = await importJWK(material as JWK, alg);
    } catch (e) {
      throw invalid(`jwks.keys.${i}: not a usable ${alg} key (${(e as Error).message.slice(0, 120)})`);
    }
    const bits = (key as { algorithm?: { modulusLength?: number } }).algorithm?.modulusLength;
    if (jwk.kty === 'RSA' && (bits === undefined || bits < 2048)) throw invalid(`jwks.keys.${i}: an RSA key must be at least 2048 bits`);
    usable.push(jwk);
  }
  if (client.tokenEndpointAuthMethod === 'private_key_jwt' && keys.length) {
    const allowed: readonly string[] = client.tokenEndpointAuthSigningAlg ? [client.tokenEndpointAuthSigningAlg] : ASYMMETRIC_ASSERTION_ALGS;
    // A key jose verifies with (RFC 7517 §4.2, §4.3): use absent or "sig", key_ops (when present) including "verify".
    const verifies = (k: Record<string, unknown>) => (k.use === undefined || k.use === 'sig') && (k.key_ops === undefined || (Array.isArray(k.key_ops) && k.key_ops.includes('verify')));
    const signing = usable.some((k) => verifies(k) && signatureAlgsOf(k).some((a) => allowed.includes(a)));
    if (!signing) throw invalid(`jwks: no signing key for a private_key_jwt assertion alg (${allowed.join(', ')}) (RFC 7523 §3)`);
  }
}
