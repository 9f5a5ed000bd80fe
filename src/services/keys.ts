import type { Latchkey } from '../server/latchkey.js';
import type { SigningKeyRecord } from '../store/types.js';
import { SIGNING_ALGS, type SigningAlg } from '../tokens/jwt.js';
import { badRequest, conflict, notFound } from './errors.js';

/** Signing key operations shared by the CLI and the admin API. */

export function keyView(k: SigningKeyRecord): Record<string, unknown> {
  return { kid: k.kid, alg: k.alg, status: k.status, created_at: k.createdAt, public_jwk: k.publicJwk };
}

export async function listKeys(lk: Latchkey, tenantId: string): Promise<SigningKeyRecord[]> {
  return lk.keys.list(tenantId);
}

/** New active keys for the given algs (default: all); the previous active keys stay published in the JWKS. */
export async function rotateKeys(lk: Latchkey, tenantId: string, algs?: readonly string[]): Promise<SigningKeyRecord[]> {
  const chosen = algs && algs.length ? algs : [...SIGNING_ALGS];
  for (const a of chosen) if (!(SIGNING_ALGS as readonly string[]).includes(a)) throw badRequest(`unknown alg ${a}; one of ${SIGNING_ALGS.join(', ')}`);
  return lk.keys.rotate(tenantId, chosen as SigningAlg[]);
}

/**
 * Retire a rotated-out key: it leaves the JWKS, so whatever it signed stops verifying. Retire a key only after
 * every token it signed has expired. An active key cannot be retired: rotate first.
 */
export async function retireKey(lk: Latchkey, tenantId: string, kid: string): Promise<SigningKeyRecord> {
  const key = (await lk.keys.list(tenantId)).find((k) => k.kid === kid);
  if (!key) throw notFound(`key ${kid}`);
  if (key.status === 'active') throw conflict(`key ${kid} is the active ${key.alg} key; rotate first`);
  if (key.status === 'retired') return key;
  if (!(await lk.keys.retire(tenantId, kid))) throw conflict(`key ${kid} changed meanwhile; try again`);
  return { ...key, status: 'retired' };
}
