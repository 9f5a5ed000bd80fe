import { z } from 'zod';
import type { EngineContext } from '../engine/context.js';
import { UNKNOWN_TENANT_TTL_MS, UnknownTenantError, type Latchkey } from '../server/latchkey.js';
import { DEFAULT_TENANT, MAX_AUTHORIZATION_CODE_TTL, type TenantRecord } from '../store/types.js';
import { badRequest, conflict, notFound } from './errors.js';
import { issuerOfTenant } from '../server/tenant-issuer.js';
import { isHttpIssuerOffLoopback } from '../config/schema.js';
import { AUTHORIZATION_DETAILS_TYPE } from '../engine/authorization-details.js';

/** Tenant operations shared by the CLI and the admin API. */

const seconds = z.number().int().positive().max(10 * 365 * 86400);
/** Per-tenant overrides of the server's defaults (TenantSettings in engine/context.ts). */
export const tenantSettingsSchema = z
  .object({
    accessTokenTtl: seconds, idTokenTtl: seconds, refreshTokenTtl: seconds, authorizationCodeTtl: z.number().int().min(1).max(MAX_AUTHORIZATION_CODE_TTL),
    interactionTtl: seconds, sessionTtl: seconds, sessionIdleTtl: seconds, accessTokenFormat: z.enum(['opaque', 'jwt']),
    loginRateLimit: z.number().int().min(1).max(10000), loginRateWindow: seconds,
    introspectionNamedClientsOnly: z.boolean(),
    requireSignedRequestObject: z.boolean(), // RFC 9101 §10.5
    fapiProfile: z.enum(['off', '2.0']), // FAPI 2.0 Security Profile, engine/fapi.ts
    insecureLegacyClientAssertionAudience: z.boolean(), // draft-ietf-oauth-rfc7523bis
    cibaRequestTtl: z.number().int().min(30).max(3600), cibaPollInterval: z.number().int().min(1).max(60),
    cibaNotifyUrl: z.string().url().max(2000).refine((v) => /^https?:\/\//.test(v), 'must be an http(s) URL'), // engine/ciba.ts
    authorizationDetailsTypes: z.array(z.string().regex(AUTHORIZATION_DETAILS_TYPE, 'must be printable ASCII without spaces, at most 200 characters')).max(50), // RFC 9396
  })
  .partial()
  .strict();

export const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function tenantView(t: TenantRecord, lk: Latchkey): Record<string, unknown> {
  return { id: t.id, issuer: issuerOf(t, lk), settings: t.settings, created_at: t.createdAt };
}

export async function listTenants(lk: Latchkey): Promise<TenantRecord[]> {
  return lk.store.listTenants();
}

export async function getTenant(lk: Latchkey, id: string): Promise<TenantRecord> {
  const t = id.length <= 63 ? await lk.store.findTenant(id) : undefined;
  if (!t) throw notFound(`tenant ${id}`);
  return t;
}

/** The engine context of a tenant, or a 404 (not a crash) when there is no such tenant. */
export async function tenantContext(lk: Latchkey, id: string): Promise<EngineContext> {
  await getTenant(lk, id);
  return lk.context(id);
}

const issuerOf = (t: TenantRecord, lk: Latchkey) => issuerOfTenant(lk.config.issuer, t);

/** RFC 8414 §2, OIDC Discovery §3: an http(s) URL without query or fragment; no trailing slash, so paths join. */
function checkIssuer(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw badRequest(`issuer ${JSON.stringify(value)} is not a URL`);
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.search || u.hash || value.endsWith('/') || u.username || u.password) {
    throw badRequest('issuer must be an http(s) URL without query, fragment, credentials or trailing slash');
  }
  return value;
}

/**
 * An explicit issuer must lie outside this server's own URL space: the configured issuer and every path below it, on
 * the issuer's host and on the mTLS alias host (mtlsBaseUrl: the same routes under another host), either scheme.
 * That space holds the default tenant's routes (/oauth/…, /interaction/…, /.well-known/…, /admin, /api, /healthz, …),
 * every tenant's `/t/<id>` (its derived issuer, whether or not that tenant exists yet) and whatever routes later
 * releases add there. An explicit issuer is for another host: an application fronting the tenant through the Core
 * API, or a reverse proxy mapping its own host onto `/t/<id>`; one inside our space could be reached only by carving
 * holes in it, and one of the form `<issuer>/t/<other>` would take another tenant's issuer before it exists. A path elsewhere on the same host
 * (an issuer with a path, /auth, leaves /shop to others) collides with nothing: its RFC 8414 §3.1 metadata URL,
 * /.well-known/oauth-authorization-server/shop, is not one of ours (/.well-known/oauth-authorization-server/auth…).
 * Paths are compared percent-decoded (/t/%61cme is /t/acme to the router), hosts as the URL parser normalizes them.
 */
function checkOutsideOwnSpace(lk: Latchkey, issuer: string): void {
  const u = new URL(issuer);
  let path: string;
  try {
    path = decodeURIComponent(u.pathname);
  } catch {
    throw badRequest(`issuer ${JSON.stringify(issuer)} has a malformed percent-encoding in its path`);
  }
  for (const base of [lk.config.issuer, lk.config.mtlsBaseUrl]) {
    if (!base) continue;
    const own = new URL(base);
    const ownPath = own.pathname === '/' ? '' : own.pathname;
    if (u.host === own.host && (path === ownPath || path.startsWith(`${ownPath}/`))) {
      throw badRequest(
        `issuer ${issuer} lies in this server's own URL space (${own.origin}${ownPath}/…: the default tenant's endpoints, and ${lk.config.issuer}/t/<id> for tenants without an explicit issuer); omit the issuer to serve the tenant at /t/<id>, or give the URL of the application that fronts it through the Core API`,
      );
    }
  }
}

/**
 * RFC 8414 §2, OIDC Discovery §3: an issuer uses https. An explicit issuer on http off loopback is refused as `serve`
 * refuses such a configured issuer (cli/serve.ts checkServeConfig), unless insecureHttpIssuer (development only).
 * A derived issuer follows the configured one, which that rule already covers.
 */
function checkHttpIssuer(lk: Latchkey, issuer: string): void {
  if (!isHttpIssuerOffLoopback(issuer)) return;
  if (!lk.config.insecureHttpIssuer) {
    throw badRequest(
      `issuer ${issuer} is http on a host other than loopback (RFC 8414 §2: an issuer uses https): use its https URL (behind a TLS-terminating proxy, the proxy's), or set insecureHttpIssuer on the server (development only)`,
    );
  }
  // The warning `serve` gives for the configured issuer (cli/serve.ts), for a tenant admitted the same way.
  lk.logger?.warn(
    { issuer },
    `insecureHttpIssuer is on: tenant issuer ${issuer} is plain http off loopback; its codes, tokens and passwords cross the network in clear`,
  );
}

/**
 * A new tenant (a Core API "service") with its own signing keys. Its issuer defaults to `<issuer>/t/<id>`, where the
 * built-in endpoints serve it; that default is not stored but derived (issuerOfTenant), so it follows the configured
 * issuer. A service used through the Core API takes the issuer of the application that fronts it, or of the host a
 * reverse proxy maps onto `/t/<id>` (stored as given, outside this server's URL space: checkOutsideOwnSpace).
 * Two tenants never share an issuer: an issuer names exactly one authorization server (RFC 8414 §2).
 */
export async function createTenant(lk: Latchkey, input: { id: string; issuer?: string; settings?: unknown }): Promise<TenantRecord> {
  if (!TENANT_ID.test(input.id)) throw badRequest('tenant id must be 1-63 lower-case letters, digits and dashes, starting with a letter or digit');
  const parsed = tenantSettingsSchema.safeParse(input.settings ?? {});
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw badRequest(`settings${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`);
  }
  const issuer = checkIssuer(input.issuer ?? issuerOfTenant(lk.config.issuer, { id: input.id, issuer: '' }));
  const existing = await lk.store.listTenants();
  if (existing.some((t) => t.id === input.id)) throw conflict(`tenant ${input.id} already exists`);
  const clash = existing.find((t) => issuerOf(t, lk) === issuer);
  if (clash) throw conflict(`issuer ${issuer} is already the issuer of tenant ${clash.id}`);
  const derived = issuer === issuerOfTenant(lk.config.issuer, { id: input.id, issuer: '' });
  if (!derived) {
    checkOutsideOwnSpace(lk, issuer);
    checkHttpIssuer(lk, issuer);
  }
  const t: TenantRecord = {
    id: input.id,
    // The default issuer is stored as '' (derived); an explicit one as given.
    issuer: derived ? '' : issuer,
    settings: parsed.data,
    createdAt: Math.floor(lk.clock() / 1000),
  };
  try {
    await lk.store.createTenant(t);
  } catch (e) {
    if (await lk.store.findTenant(input.id)) throw conflict(`tenant ${input.id} already exists`);
    throw e;
  }
  await lk.keys.ensureKeys(t.id);
  lk.unknownTenants.delete(t.id); // served at once here (other instances: within UNKNOWN_TENANT_TTL_MS)
  return t;
}

/** The engine context of a service, or undefined when there is no such service (Core API routing). */
export async function serviceContext(lk: Latchkey, id: string): Promise<EngineContext | undefined> {
  if (!TENANT_ID.test(id)) return undefined;
  if (lk.unknownTenants.has(id)) return undefined; // a recent miss: no query
  try {
    return await lk.context(id); // cached after the first call
  } catch (e) {
    if (!(e instanceof UnknownTenantError)) throw e;
    lk.unknownTenants.set(id, true, lk.clock() + UNKNOWN_TENANT_TTL_MS);
    return undefined;
  }
}
