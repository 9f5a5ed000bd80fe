import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type FetchImplementation,
  type JSONWebKeySet,
  type LocalJWKSet,
  type RemoteJWKSet,
} from 'jose';
import type { ClientMetadata } from '../store/types.js';
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
        [customFetch]: limitedFetch(opts.maxBytes ?? 64 * 1024, opts.fetch ?? guardedFetch('public')),
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
}
