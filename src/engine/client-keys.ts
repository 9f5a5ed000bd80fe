import { createLocalJWKSet, createRemoteJWKSet, customFetch, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { ClientRecord } from '../store/types.js';
import { fetchBounded } from './remote.js';

/**
 * A client's public keys as a jose key resolver, from its registered `jwks` (inline) or `jwks_uri` (fetched with a
 * timeout and a size limit, cached). Used to verify what a client signs: request objects (RFC 9101) and JWT client
 * authentication (RFC 7523). Undefined when the client registered no keys.
 */
export function clientKeySet(client: Pick<ClientRecord, 'tenantId' | 'clientId' | 'jwks' | 'jwksUri'>): JWTVerifyGetKey | undefined {
  if (client.jwks) return createLocalJWKSet(client.jwks as unknown as JSONWebKeySet);
  if (client.jwksUri) return remoteSet(client.tenantId, client.clientId, client.jwksUri);
  return undefined;
}

/** Remote key sets, one per (tenant, client, uri) so that changing the registration takes effect at once. */
const remote = new Map<string, JWTVerifyGetKey>();
const MAX_CACHED = 1000;

function remoteSet(tenantId: string, clientId: string, uri: string): JWTVerifyGetKey {
  const key = `${tenantId}\u0000${clientId}\u0000${uri}`;
  let set = remote.get(key);
  if (!set) {
    if (remote.size >= MAX_CACHED) remote.clear();
    set = createRemoteJWKSet(new URL(uri), {
      timeoutDuration: 3000,
      cooldownDuration: 30_000,
      cacheMaxAge: 10 * 60_000,
      [customFetch]: async (url) => {
        const r = await fetchBounded(url, { timeoutMs: 3000, maxBytes: 64 * 1024, accept: 'application/json, application/jwk-set+json' });
        return new Response(r.body, { status: r.status, headers: { 'content-type': r.contentType } });
      },
    });
    remote.set(key, set);
  }
  return set;
}
