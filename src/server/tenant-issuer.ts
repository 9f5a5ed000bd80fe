import { DEFAULT_TENANT, type TenantRecord } from '../store/types.js';

/** Where the built-in endpoints serve a tenant other than the default one, below the configured issuer. */
export const TENANT_PATH_PREFIX = '/t/';

/**
 * The issuer of a tenant. The default tenant's is the configured issuer. Any other tenant's is the issuer stored on
 * its record when one was given explicitly at creation (a service fronted by another application, or a host a
 * proxy maps onto its path), else `<configured issuer>/t/<id>`, derived here rather than stored so that it follows
 * the configured issuer when that changes, as the default tenant's does. An empty stored issuer means "derived".
 */
export function issuerOfTenant(configuredIssuer: string, t: Pick<TenantRecord, 'id' | 'issuer'>): string {
  if (t.id === DEFAULT_TENANT) return configuredIssuer;
  return t.issuer || `${configuredIssuer}${TENANT_PATH_PREFIX}${t.id}`;
}

/**
 * Whether the built-in endpoints serve a tenant at `<configured issuer>/t/<id>`: only when that is its issuer. RFC 8414
 * §3.3 and OIDC Discovery §4.3: the issuer in the metadata must be identical to the URL it was fetched under, and
 * every page URL and cookie path is built from the issuer, so a tenant with an explicit issuer of its own is served
 * where that issuer points (an application fronting it through the Core API), not under /t/<id>.
 */
export function servedAtTenantPath(configuredIssuer: string, t: Pick<TenantRecord, 'id'> & { issuer: string }): boolean {
  return t.id !== DEFAULT_TENANT && t.issuer === `${configuredIssuer}${TENANT_PATH_PREFIX}${t.id}`;
}
