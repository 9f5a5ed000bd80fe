import { signedUntil, type KeyListing } from '../keys/keystore.js';
import { JARM_TTL } from '../engine/authorization/response.js';
import { LOGOUT_TOKEN_LIFETIME } from '../tokens/logout-token.js';
import type { Latchkey } from '../server/latchkey.js';
import { SIGNING_ALGS, type SigningAlg } from '../tokens/jwt.js';
import { badRequest, conflict, notFound } from './errors.js';
import { storedResourceServers } from './resources.js';

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
 * The longest a token we sign stays valid in this tenant: ID tokens and access tokens (JWT access tokens are signed;
 * whichever format a client or resource gets, the bound holds), with every client's and resource server's
 * override, and the fixed lifetimes of logout tokens and JARM responses (a response JWT verified after a short
 * access token lifetime would otherwise name a retired key). It knows the lifetimes configured now, not ones changed since a token was signed.
 */
export async function longestTokenLifetime(lk: Latchkey, tenantId: string): Promise<number> {
  const ctx = await lk.context(tenantId);
  const s = ctx.tenant.settings;
  const lifetimes = [s.idTokenTtl, s.accessTokenTtl, LOGOUT_TOKEN_LIFETIME, JARM_TTL];
  for (const c of await ctx.store.listClients(tenantId)) lifetimes.push(c.idTokenLifetime ?? 0, c.accessTokenLifetime ?? 0);
  // As stored now (past the registry cache): a resource server registered through another instance a moment ago counts.
  for (const r of await storedResourceServers(ctx)) lifetimes.push(r.accessTokenLifetime ?? 0);
  return Math.max(...lifetimes);
}

/**
 * Retire a rotated-out key: it leaves the JWKS, so whatever it signed stops verifying. DESIGN.md "Keys and tokens":
 * old keys stay published until every token they signed has expired, so a key is retired only once its successor
 * has been signing for the longest token lifetime (longestTokenLifetime); `force` retires it anyway (a compromised
 * key: what it signed should stop verifying). The active key cannot be retired (rotate first), nor a pending one.
 */
export async function retireKey(lk: Latchkey, tenantId: string, kid: string, opts: { force?: boolean } = {}): Promise<KeyListing> {
  const listing = await lk.keys.list(tenantId);
  const key = listing.find((k) => k.kid === kid);
  if (!key) throw notFound(`key ${kid}`);
  if (key.state === 'active') throw conflict(`key ${kid} is the active ${key.alg} key; rotate first`);
  if (key.state === 'pending') {
    throw conflict(`key ${kid} is pending: it signs from ${new Date(key.activatesAt * 1000).toISOString()} and is not replaced yet`);
  }
  if (key.state === 'retired') return key;
  if (!opts.force) {
    const until = signedUntil(listing, kid);
    const safe = until === undefined ? undefined : until + (await longestTokenLifetime(lk, tenantId));
    const now = Math.floor(lk.clock() / 1000);
    if (safe === undefined || now < safe) {
      throw conflict(
        `key ${kid} may have signed tokens that are still valid` +
          (safe === undefined ? '' : ` until ${new Date(safe * 1000).toISOString()} (its successor's activation plus the longest token lifetime)`) +
          '; retire it then, or force it (a compromised key)',
      );
    }
  }
  if (!(await lk.keys.retire(tenantId, kid))) throw conflict(`key ${kid} changed meanwhile; try again`);
  return { ...key, status: 'retired', state: 'retired' };
}
