import { createHmac } from 'node:crypto';
import type { ClientMetadata } from '../store/types.js';
import type { EngineContext } from './context.js';

/**
 * Subject identifiers (OIDC Core §8): `public` gives every client the user's local sub; `pairwise` gives each
 * sector (OIDC Core §8.1: the host of the client's sector_identifier_uri, else of its redirect URIs) its own,
 * so that clients of different sectors cannot correlate a user by sub.
 */

type SubjectClient = Pick<ClientMetadata, 'subjectType' | 'sectorIdentifierUri' | 'redirectUris'>;

/** OIDC Core §8.1: the sector identifier: the host of sector_identifier_uri, or of the (single-host) redirect URIs. */
export function sectorOf(client: SubjectClient): string | undefined {
  const from = client.sectorIdentifierUri ?? client.redirectUris[0];
  if (from === undefined) return undefined;
  try {
    return new URL(from).host.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * The per-tenant secret salt, derived from the server's hash key (never stored: a database leak does not reveal
 * it; every instance sharing the key derives the same one, so subs are stable across instances and restarts).
 */
function pairwiseSalt(ctx: Pick<EngineContext, 'hasher' | 'tenant'>): string {
  return ctx.hasher.hash(`latchkey/pairwise-subject-salt/v1\u0000${ctx.tenant.id}`);
}

/**
 * The sub this client sees for a local user id. OIDC Core §8.1: a pairwise sub is a one-way function of the
 * sector identifier, the local account id and a salt the OP keeps secret; here HMAC-SHA-256 keyed by the tenant
 * salt. The same user gets the same sub at every client of a sector, different ones across sectors.
 */
export function subjectFor(ctx: Pick<EngineContext, 'hasher' | 'tenant'>, client: SubjectClient | undefined, localSub: string): string {
  if (client?.subjectType !== 'pairwise') return localSub;
  const sector = sectorOf(client);
  if (sector === undefined) return localSub; // registration guarantees a sector; never reached for valid records
  return createHmac('sha256', pairwiseSalt(ctx)).update(`${sector}\u0000${localSub}`).digest('base64url');
}
