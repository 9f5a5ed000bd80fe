import type { KeyListing } from '../keys/keystore.js';
import type { Latchkey } from '../server/latchkey.js';
import { SIGNING_ALGS, type SigningAlg } from '../tokens/jwt.js';
import { badRequest, conflict, notFound } from './errors.js';

/** Signing key operations shared by the CLI and the admin API. */

/** status: pending | active | published | retired, as of now (staged activation, docs/operations.md). */
export function keyView(k: KeyListing): Record<string, unknown> {
  return { kid: k.kid, alg: k.alg, status: k.state, created_at: k.createdAt, activates_at: k.activatesAt, public_jwk: k.publicJwk };
}

export async function listKeys(lk: Latchkey, tenantId: string): Promise<KeyListing[]> {
  return lk.keys.list(tenantId);
}

/**
 * New keys for the given algs (default: all), published in the JWKS at once. They sign from keyActivationDelay on;
 * the previous keys sign until then and stay published afterwards. `immediate` (a compromised key) signs at once:
 * until their next JWKS fetch, other instances and relying parties reject what the new key signs.
 */
export async function rotateKeys(lk: Latchkey, tenantId: string, algs?: readonly string[], opts: { immediate?: boolean } = {}): Promise<KeyListing[]> {
  const chosen = algs && algs.length ? algs : [...SIGNING_ALGS];
  for (const a of chosen) if (!(SIGNING_ALGS as readonly string[]).includes(a)) throw badRequest(`unknown alg ${a}; one of ${SIGNING_ALGS.join(', ')}`);
  const added = new Set((await lk.keys.rotate(tenantId, chosen as SigningAlg[], opts)).map((k) => k.kid));
  return (await lk.keys.list(tenantId)).filter((k) => added.has(k.kid));
}

/**
 * Retire a rotated-out key: it leaves the JWKS, so whatever it signed stops verifying. Retire a key only after
 * every token it signed has expired. The active key cannot be retired (rotate first), nor a pending one.
 */
export async function retireKey(lk: Latchkey, tenantId: string, kid: string): Promise<KeyListing> {
  const key = (await lk.keys.list(tenantId)).find((k) => k.kid === kid);
  if (!key) throw notFound(`key ${kid}`);
  if (key.state === 'active') throw conflict(`key ${kid} is the active ${key.alg} key; rotate first`);
  if (key.state === 'pending') {
    throw conflict(`key ${kid} is pending: it signs from ${new Date(key.activatesAt * 1000).toISOString()} and is not replaced yet`);
  }
  if (key.state === 'retired') return key;
  if (!(await lk.keys.retire(tenantId, kid))) throw conflict(`key ${kid} changed meanwhile; try again`);
  return { ...key, status: 'retired', state: 'retired' };
}
