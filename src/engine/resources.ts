import type { ClientRecord, ResourceServerRecord } from '../store/types.js';
import type { EngineContext } from './context.js';
import { OAuthError } from './errors.js';
import type { Params } from './params.js';

/**
 * Resource indicators (RFC 8707) and the audience of access tokens (RFC 9068 §3).
 *
 * The tenant keeps a registry of resource servers (store: resource_servers), each with its identifier (the
 * resource indicator, used verbatim as `aud`), the scopes meaningful there, and optionally the access token
 * format and lifetime its tokens get. A client may name registered resources only, and only those on its
 * `resources` allow-list when it has one. Identifiers are compared as exact strings: RFC 8707 §2 lets the
 * server map values, and exact matching leaves no room for two spellings of one resource.
 */

/** Scopes about the user at the authorization server itself (UserInfo, refresh); never a resource server's. */
export const OIDC_SCOPES: ReadonlySet<string> = new Set(['openid', 'profile', 'email', 'address', 'phone', 'offline_access']);

/** At most this many resources in one request: RFC 8707 §3 encourages one; a handful covers real use. */
export const MAX_RESOURCES = 10;

/** RFC 3986 §4.3 absolute-URI characters (scheme ":" hier-part ["?" query]); no "#", so no fragment (RFC 8707 §2). */
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})+$/;

/** RFC 8707 §2: a resource indicator is an absolute URI without a fragment component. */
export function isResourceIndicator(value: string): boolean {
  return value.length <= 2000 && ABSOLUTE_URI.test(value);
}

const invalidTarget = (rc: 'LK6001' | 'LK6002' | 'LK6003' | 'LK6004' | 'LK6005' | 'LK6007', description: string) =>
  new OAuthError('invalid_target', description, { resultCode: rc });

/** The `resource` values of a request, validated for shape (RFC 8707 §2) and de-duplicated. */
export function resourceParams(params: Params, name = 'resource'): string[] {
  const values = [...new Set(params.getAll(name))];
  if (values.length > MAX_RESOURCES) throw invalidTarget('LK6001', `at most ${MAX_RESOURCES} resource values are accepted`);
  for (const v of values) {
    if (!isResourceIndicator(v)) throw invalidTarget('LK6001', 'resource must be an absolute URI without a fragment (RFC 8707 §2)');
  }
  return values;
}

/** The registered resource servers behind identifiers, checked against the client's allow-list. */
export async function loadResources(ctx: EngineContext, client: ClientRecord, identifiers: readonly string[]): Promise<ResourceServerRecord[]> {
  const out: ResourceServerRecord[] = [];
  for (const id of identifiers) {
    const rs = await ctx.store.findResourceServer(ctx.tenant.id, id);
    if (!rs) throw invalidTarget('LK6002', `unknown resource ${JSON.stringify(id.slice(0, 100))}`);
    checkAllowed(client, rs);
    out.push(rs);
  }
  return out;
}

function checkAllowed(client: ClientRecord, rs: ResourceServerRecord): void {
  if (client.resources !== undefined && !client.resources.includes(rs.identifier)) {
    throw invalidTarget('LK6003', `the client may not request tokens for ${JSON.stringify(rs.identifier.slice(0, 100))}`);
  }
}

/** RFC 8707 §2.2: a code or refresh request may name only resources of the original grant (or a subset). */
export function checkSubset(requested: readonly string[], granted: readonly string[]): void {
  for (const r of requested) {
    if (!granted.includes(r)) throw invalidTarget('LK6004', `resource ${JSON.stringify(r.slice(0, 100))} was not part of the original grant`);
  }
}

/** What an access token is for: its audience, its (down-scoped) scope, and the format and lifetime they ask for. */
export interface TokenTarget {
  /** The resource servers the token is for, named or inferred; empty when it is for the authorization server. */
  resources: ResourceServerRecord[];
  audience: string[];
  scope: string[];
  format?: 'opaque' | 'jwt';
  lifetime?: number;
}

export interface TargetRequest {
  /** Resource servers named for this token (explicitly, or through the original grant). */
  resources: ResourceServerRecord[];
  /** The scope the token would carry before down-scoping. */
  scope: string[];
  /** Whether the scope was asked for in this request: then a scope no named resource understands is an error. */
  scopeRequested: boolean;
}

/**
 * Work out an access token's audience and scope.
 *
 * - Named resources: `aud` is their identifiers (RFC 8707 §2, RFC 9068 §3: the same value as `resource`). The
 *   scope is down-scoped to what those resources understand (RFC 8707 §2.2); a scope asked for in this very
 *   request that none of them understands is `invalid_target`, the "invalid combination of resource and scope"
 *   of RFC 8707 §2.
 * - No resource named: RFC 9068 §3 says to infer the default from the scope. When the non-OpenID scopes all
 *   belong to one registered resource server, that is the audience; when they belong to different ones, the
 *   request is `invalid_scope` (RFC 9068 §3). Otherwise the token is for the authorization server itself and
 *   `aud` is the issuer: the one audience that is always right for UserInfo, and never mistaken for an API.
 * - OpenID scopes are meaningful only at the authorization server: when `openid` is granted the issuer joins the
 *   audience (UserInfo accepts the token), otherwise they are dropped from a token aimed at resource servers
 *   (RFC 9068 §2.2.3: every scope must mean something to the audience).
 */
export async function tokenTarget(ctx: EngineContext, client: ClientRecord, req: TargetRequest): Promise<TokenTarget> {
  const named = req.resources.length > 0;
  const resources = named ? req.resources : await inferResource(ctx, client, req.scope);
  if (resources.length === 0) return { resources: [], audience: [ctx.tenant.issuer], scope: req.scope };

  const atIssuer = req.scope.includes('openid');
  const scope = req.scope.filter((s) => (OIDC_SCOPES.has(s) ? atIssuer : resources.some((r) => r.scopes.includes(s))));
  if (named && req.scopeRequested) {
    const meaningless = req.scope.find((s) => !scope.includes(s));
    if (meaningless !== undefined) {
      throw invalidTarget('LK6005', `scope ${meaningless} has no meaning at the requested resource`);
    }
  }
  // RFC 9068 §2.2.3, RFC 8707 §2: a token names a resource server in aud only with some scope meaningful there.
  // Otherwise any client (one registered dynamically too) could get a token whose aud names an API it holds no scope
  // of, which an API that checks aud alone accepts. A named resource the granted scope says nothing about is left out
  // of this token (RFC 8707 §2.2 lets the server narrow it; a grant keeps its resources for later requests); when
  // none is left, invalid_target (the client "is not allowed to request it"). A resource server registered with no
  // scopes at all is audience-only: its clients' allow-lists govern it.
  const meaningful = named ? meaningfulResources(resources, scope) : resources;
  if (meaningful.length === 0) {
    throw noMeaningfulResource(resources);
  }
  return targetOf(ctx, meaningful, scope, atIssuer);
}

/**
 * RFC 9068 §2.2.3: the named resources a token for `scope` may name in aud: those with one of their scopes in it, and
 * the audience-only ones (registered with no scopes). The token endpoint (tokenTarget) and the authorization endpoint
 * (checkResource, so a request that could only fail at the token endpoint is refused before the user is asked).
 */
export function meaningfulResources(resources: readonly ResourceServerRecord[], scope: readonly string[]): ResourceServerRecord[] {
  return resources.filter((r) => r.scopes.length === 0 || r.scopes.some((s) => scope.includes(s)));
}

/** LK6007: no named resource is left for the scope (meaningfulResources). */
export const noMeaningfulResource = (resources: readonly ResourceServerRecord[]) =>
  invalidTarget('LK6007', `no scope of the resource ${JSON.stringify(resources[0]!.identifier.slice(0, 100))} is granted; request one of its scopes`);

function targetOf(ctx: EngineContext, resources: ResourceServerRecord[], scope: string[], atIssuer: boolean): TokenTarget {
  const audience = resources.map((r) => r.identifier);
  if (atIssuer) audience.push(ctx.tenant.issuer);
  // A resource that wants JWTs gets them (it validates locally); opaque tokens are asked for explicitly.
  const format = resources.some((r) => r.accessTokenFormat === 'jwt') ? 'jwt' : resources.some((r) => r.accessTokenFormat === 'opaque') ? 'opaque' : undefined;
  const lifetimes = resources.map((r) => r.accessTokenLifetime).filter((v): v is number => typeof v === 'number');
  return { resources, audience, scope, format, lifetime: lifetimes.length ? Math.min(...lifetimes) : undefined };
}

/** RFC 9068 §3: the default resource indicator, inferred from the scope; [] when the scope names none. */
async function inferResource(ctx: EngineContext, client: ClientRecord, scope: readonly string[]): Promise<ResourceServerRecord[]> {
  const api = scope.filter((s) => !OIDC_SCOPES.has(s));
  if (api.length === 0) return [];
  const all = await ctx.store.listResourceServers(ctx.tenant.id);
  const owners = all.filter((r) => api.some((s) => r.scopes.includes(s)));
  if (owners.length === 0) return [];
  const whole = owners.filter((r) => api.every((s) => r.scopes.includes(s)));
  if (whole.length !== 1) {
    // RFC 9068 §3: scopes that refer to different default resources SHOULD be rejected with invalid_scope.
    throw new OAuthError('invalid_scope', 'the requested scopes belong to different resource servers; name one with the resource parameter', {
      resultCode: 'LK6006',
    });
  }
  checkAllowed(client, whole[0]!);
  return whole;
}

/**
 * RFC 7662 §4: "If the token can be used only at certain resource servers, the authorization server MUST
 * determine whether or not the token can be used at the resource server making the introspection call." A
 * resource server that names its introspection clients (`introspectionClients`) says who that may be. When the
 * token's audience includes such resource servers, the caller must be named by one of them; resource servers that
 * name none leave the token to any confidential client (so a token with no such audience is unaffected). The
 * caller being the token's own client is the introspection endpoint's business, not this check's.
 * With the tenant setting introspectionNamedClientsOnly, naming is required: a resource server that names none, an
 * unregistered audience and a token for the issuer alone leave the token to its own client only.
 */
export async function mayIntrospectFor(ctx: EngineContext, clientId: string, audience: unknown): Promise<boolean> {
  const ids = typeof audience === 'string' ? [audience] : Array.isArray(audience) ? audience.filter((a): a is string => typeof a === 'string') : [];
  // A token for the authorization server alone (aud = issuer) names no resource server: no registry read.
  const resources = ids.filter((a) => a !== ctx.tenant.issuer);
  const namedOnly = ctx.tenant.settings.introspectionNamedClientsOnly === true;
  if (resources.length === 0) return !namedOnly;
  // The registry is cached per tenant by the store, so this is no query per introspection.
  const registry = await ctx.store.listResourceServers(ctx.tenant.id);
  let restricted = false;
  for (const rs of registry) {
    if (rs.introspectionClients === undefined || !resources.includes(rs.identifier)) continue;
    if (rs.introspectionClients.includes(clientId)) return true;
    restricted = true;
  }
  return !restricted && !namedOnly;
}
