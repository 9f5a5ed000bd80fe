import type { ClientMetadata } from '../store/types.js';
import type { EngineContext } from './context.js';
import { OAuthError } from './errors.js';
import { fetchBounded, RemoteFetchError } from './remote.js';

function invalid(msg: string): OAuthError {
  return new OAuthError('invalid_client_metadata', msg, { resultCode: 'LK9401' });
}

/**
 * OIDC Registration §2 (sector_identifier_uri) and §5: the document at sector_identifier_uri is a JSON array of
 * redirect URIs, and every redirect URI the client registers MUST be in it. It is fetched at registration (and
 * at every update), with the limits of every outbound fetch on a client's behalf (src/engine/remote.ts: https
 * only, no redirects, 3 s, 64 KiB); anything else is invalid_client_metadata.
 */
export async function checkSectorIdentifierUri(ctx: EngineContext, metadata: Pick<ClientMetadata, 'sectorIdentifierUri' | 'redirectUris'>): Promise<void> {
  const uri = metadata.sectorIdentifierUri;
  if (uri === undefined) return;
  let listed: unknown;
  try {
    // Through the configured address policy (insecureRemoteFetchAddresses), as jwks_uri is: no SSRF by sector URI.
    const r = await fetchBounded(uri, { accept: 'application/json', allowHttp: ctx.clients?.allowHttpSectorIdentifierUri ?? false, fetch: ctx.clients?.keySet.fetch });
    if (r.status !== 200) throw invalid(`sector_identifier_uri answered HTTP ${r.status} (OIDC Registration §5)`);
    listed = JSON.parse(r.body);
  } catch (e) {
    if (e instanceof OAuthError) throw e;
    if (e instanceof RemoteFetchError) throw invalid(`sector_identifier_uri could not be fetched: ${e.message}`);
    throw invalid('sector_identifier_uri is not a JSON document');
  }
  if (!Array.isArray(listed) || !listed.every((v) => typeof v === 'string')) {
    throw invalid('sector_identifier_uri must hold a JSON array of redirect URIs (OIDC Registration §5)');
  }
  const missing = metadata.redirectUris.find((r) => !listed.includes(r));
  if (missing !== undefined) {
    throw invalid(`redirect_uris: ${JSON.stringify(missing.slice(0, 200))} is not listed at sector_identifier_uri (OIDC Registration §5)`);
  }
}
