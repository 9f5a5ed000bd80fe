import { createHmac } from 'node:crypto';
import type { ClientMetadata, ClientRecord } from '../store/types.js';
import type { EngineContext } from './context.js';

/**
 * Subject identifiers (OIDC Core §8): `public` gives every client the user's local sub; `pairwise` gives each
 * sector (OIDC Core §8.1: the host, without port, of the client's sector_identifier_uri, else of its redirect URIs) its own,
 * so that clients of different sectors cannot correlate a user by sub.
 */

type SubjectClient = Pick<ClientMetadata, 'subjectType' | 'sectorIdentifierUri' | 'redirectUris'> & Pick<ClientRecord, 'pairwiseSector'>;

/** The URL the sector comes from: sector_identifier_uri, else the (single-host) redirect URIs. */
function sectorSource(client: Pick<ClientMetadata, 'sectorIdentifierUri' | 'redirectUris'>): URL | undefined {
  const from = client.sectorIdentifierUri ?? client.redirectUris[0];
  if (from === undefined) return undefined;
  try {
    return new URL(from);
  } catch {
    return undefined;
  }
}

/**
 * OIDC Core §8.1: the sector identifier of a client: the one stored at registration (pairwiseSector), else, for a
 * record stored before sectors were stored, the URL host WITH its port, as every sub of such a client was computed.
 */
export function sectorOf(client: SubjectClient): string | undefined {
  if (client.pairwiseSector !== undefined) return client.pairwiseSector;
  return sectorSource(client)?.host.toLowerCase();
}

/** OIDC Core §8.1: "the host component" of sector_identifier_uri or of the redirect URIs: the hostname, no port. */
export function hostSectorOf(client: Pick<ClientMetadata, 'sectorIdentifierUri' | 'redirectUris'>): string | undefined {
  const source = sectorSource(client);
  return source && sectorKeyOf(source);
}

/**
 * The sector a URL names: its hostname (OIDC Core §8.1, without the port); undefined when it has none (a private-use
 * scheme like com.example.app:/cb). The host of a private-use scheme URI (com.example.app://callback) is no DNS name
 * anyone owns: unrelated apps all using "callback" would share a sector, and so their users' subs. There the scheme
 * (RFC 8252 §7.1: a reversed domain name of the app's owner) is part of the sector.
 */
export function sectorKeyOf(u: URL): string | undefined {
  const host = u.hostname.toLowerCase();
  if (host === '') return undefined;
  return u.protocol === 'https:' || u.protocol === 'http:' ? host : `${u.protocol.toLowerCase()}//${host}`;
}

/**
 * The sector to store on a pairwise client being registered (no `existing`) or replaced. A new client gets the
 * spec's sector (hostSectorOf). An update keeps the sector the client had while its host stays the same, so a
 * client registered before the port was dropped (sector "rp.example:8443") keeps handing out the subs it handed
 * out; only moving to another host (a new sector, new subs) takes the new derivation.
 */
export function sectorToStore(metadata: Pick<ClientMetadata, 'subjectType' | 'sectorIdentifierUri' | 'redirectUris'>, existing?: SubjectClient): string | undefined {
  if (metadata.subjectType !== 'pairwise') return undefined;
  const source = sectorSource(metadata);
  const sector = source && sectorKeyOf(source);
  const before = existing?.subjectType === 'pairwise' ? sectorOf(existing) : undefined;
  if (sector !== undefined && before !== undefined && sameHost(before, source!)) return before;
  return sector;
}

/** Whether a stored sector (sectorKeyOf, or a legacy URL.host with its port) names the host of `u`. */
function sameHost(sector: string, u: URL): boolean {
  if (sector.includes('//')) return sector === sectorKeyOf(u); // a private-use scheme's sector: no port to drop
  try {
    return new URL(`https://${sector}`).hostname.toLowerCase() === u.hostname.toLowerCase();
  } catch {
    return false;
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

/**
 * The local user id behind a sub this client knows a user by, or undefined when it cannot be told. Public: the sub
 * itself. Pairwise (OIDC Core §8.1): the sub is one-way by design, so there is no inverse; the user is found through
 * the session an ID token was issued in (`sid`): among the users of that session and of the grants made in it, the
 * one whose sub for this client is exactly the given one. Without a sid (an ID token from the password grant, or
 * from an embedding application that passes none to the issue step), or once that session and its grants are gone,
 * the answer is undefined: never a guess.
 */
export async function localSubjectOf(
  ctx: Pick<EngineContext, 'hasher' | 'tenant' | 'store'>,
  client: SubjectClient | undefined,
  sub: string,
  sid: string | undefined,
): Promise<string | undefined> {
  if (client?.subjectType !== 'pairwise' || sectorOf(client) === undefined) return sub;
  if (sid === undefined || sid === '' || sid.length > 255) return undefined;
  const candidates = new Set<string>();
  const session = await ctx.store.findSessionBySid(ctx.tenant.id, sid);
  if (session) candidates.add(session.subject);
  // An embedding application's sid has no session row here; the grants made under it record their user.
  for (const g of await ctx.store.listGrantsBySid(ctx.tenant.id, sid)) if (g.subject !== null) candidates.add(g.subject);
  for (const local of candidates) if (subjectFor(ctx, client, local) === sub) return local;
  return undefined;
}
