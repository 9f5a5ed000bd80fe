import { z } from 'zod';
import { clientMetadataSchema } from '../../engine/client-metadata.js';
import type { Latchkey } from '../../server/latchkey.js';
import {
  clientView,
  deleteClient,
  getClient,
  listClients,
  registerClient,
  replaceClient,
  rotateClientSecret,
} from '../../services/clients.js';
import { notFound } from '../../services/errors.js';
import { keyView, listKeys, retireKey, rotateKeys } from '../../services/keys.js';
import {
  createInitialAccessToken,
  listManagementTokens,
  managementTokenView,
  revokeManagementToken,
} from '../../services/management-tokens.js';
import { createTenant, getTenant, listTenants, tenantContext, tenantSettingsSchema, tenantView } from '../../services/tenants.js';
import {
  createUser,
  deleteUser,
  endUserSession,
  getUser,
  grantView,
  listUserGrants,
  listUserSessions,
  listUsers,
  revokeUserGrant,
  sessionView,
  setDisabled,
  setPassword,
  unlockUser,
  resetUserMfa,
  removeUserSecurityKey,
  updateUser,
  userDetails,
  userView,
} from '../../services/users.js';
import { SIGNING_ALGS } from '../../tokens/jwt.js';
import { auditEventView } from '../../audit/audit.js';
import { listAuditEvents, parseAuditQuery } from '../../services/audit.js';
import { registerResourceServer, resourceServerSchema, resourceServerToJson, storedResourceServer, storedResourceServers, updateResourceServer } from '../../services/resources.js';
import { conflict } from '../../services/errors.js';

/**
 * The admin API as one table: each operation's method, path, schemas and handler. The routes and the OpenAPI
 * document (/admin/openapi.json) are both generated from it, so the document cannot drift from what is served.
 * Handlers only translate: the operations themselves are in src/services/, shared with the CLI.
 */

const int = z.number().int();
const nullableInt = int.nullable();

/** Named schemas, published under components/schemas. */
export const schemas = {
  Error: z.object({ error: z.string(), error_description: z.string() }),
  Tenant: z.looseObject({ id: z.string(), issuer: z.string(), settings: z.record(z.string(), z.unknown()), created_at: int }),
  TenantCreate: z.object({
    id: z.string().describe('1-63 lower-case letters, digits and dashes'),
    settings: tenantSettingsSchema.optional(),
    issuer: z.string().optional().describe('Default <issuer>/t/<id>, where the built-in endpoints serve the tenant. An explicit issuer is the URL of the application that fronts the tenant through the Core API, or of a host a reverse proxy maps onto /t/<id> (still served there, printing every URL from that issuer); it must lie outside this server\'s own URL space (the configured issuer and every path below it, on its host or the mtlsBaseUrl host; 400 otherwise)'),
  }),
  ClientMetadata: clientMetadataSchema.describe('RFC 7591 §2 client metadata (operators may also set client_id, client_secret, skip_consent)'),
  Client: clientMetadataSchema
    .extend({
      client_id: z.string(),
      client_id_issued_at: int,
      client_secret: z.string().optional().describe('Only in the response that issued it'),
      client_secret_expires_at: int.optional(),
      previous_secret_expires_at: int.optional().describe('While a rotated-out secret still works'),
      dynamically_registered: z.boolean().optional(),
      open_registration: z.boolean().optional().describe('With dynamically_registered: whether it registered itself without an initial access token, so that it counts toward registrationMaxClients and is held to registrationTrustedHosts (docs/clients.md)'),
    })
    .loose(),
  SecretRotation: z.object({
    grace_seconds: int.min(0).max(90 * 86400).optional().describe('How long the previous secret keeps working (default 0)'),
  }),
  User: z.looseObject({ sub: z.string(), username: z.string(), disabled: z.boolean(), claims: z.record(z.string(), z.unknown()), created_at: int }),
  UserDetails: z.looseObject({
    sub: z.string(), username: z.string(), disabled: z.boolean(), claims: z.record(z.string(), z.unknown()), created_at: int,
    mfa: z.object({
      otp: z.boolean().describe('Two-step sign-in with an authenticator app is on (RFC 6238)'),
      recovery_codes_left: int.optional().describe('With otp: how many of its recovery codes are unused'),
      security_keys: z.array(z.object({ id: z.string().describe('The credential id (base64url), for removeUserSecurityKey'), name: z.string(), created_at: int, last_used_at: int.nullable() })).optional()
        .describe('With otp: the security keys and passkeys the user added at /mfa (WebAuthn), usable in place of a code'),
    }),
  }),
  UserCreate: z.object({
    username: z.string(),
    password: z.string(),
    claims: z.record(z.string(), z.unknown()).optional().describe('OIDC Core §5.1 standard claims'),
    sub: z.string().optional(),
  }),
  UserUpdate: z.object({ username: z.string().optional(), claims: z.record(z.string(), z.unknown()).optional() }),
  PasswordReset: z.object({ password: z.string() }),
  Grant: z.looseObject({ id: z.string(), client_id: z.string(), scope: z.string(), created_at: int, revoked_at: nullableInt }),
  Session: z.looseObject({
    sid: z.string(), auth_time: int, acr: z.string().nullable(), created_at: int, last_seen_at: int, expires_at: int,
  }),
  Key: z.looseObject({
    kid: z.string(), alg: z.string(), status: z.enum(['pending', 'active', 'published', 'retired']), created_at: int,
    public_jwk: z.record(z.string(), z.unknown()),
    activates_at: int.optional().describe('When the key signs (pending) or began to (docs/operations.md: staged activation)'),
  }),
  KeyRotation: z.object({
    algs: z.array(z.enum(SIGNING_ALGS)).optional().describe('Default: every alg'),
    immediate: z.boolean().optional().describe('Sign with the new keys at once, skipping keyActivationDelay (a compromised key): until they fetch the JWKS again, other instances and relying parties reject what they sign'),
  }),
  InitialAccessToken: z.looseObject({
    id: z.string(), kind: z.literal('initial_access'), name: z.string().nullable(), tenant_id: z.string().nullable(),
    created_at: int, expires_at: nullableInt, revoked_at: nullableInt, remaining_uses: nullableInt,
    token: z.string().optional().describe('Only in the response that created it'),
  }),
  InitialAccessTokenCreate: z.object({
    name: z.string().optional(),
    expires_in: int.positive().optional().describe('Seconds; default: no expiry'),
    uses: int.positive().optional().describe('Registrations allowed; default: unlimited'),
  }),
  AuditEvent: z.object({
    id: z.string(), tenant_id: z.string(), at: z.string().describe('RFC 3339 time'), type: z.string(),
    client_id: z.string().nullable(), subject: z.string().nullable(), ip: z.string().nullable(), result_code: z.string().nullable(),
    detail: z.record(z.string(), z.unknown()),
  }).describe('A security event (docs/audit.md)'),
  ResourceServerCreate: resourceServerSchema.describe('A resource server (RFC 8707; docs/token-services.md); scope is space-separated'),
  ResourceServerUpdate: resourceServerSchema.partial({ identifier: true }).describe('The resource server\'s new metadata (replaces the old; identifier, if given, must be the one in the path)'),
  ResourceServer: z.looseObject({
    identifier: z.string(), name: z.string().optional(), scope: z.string(), access_token_format: z.enum(['opaque', 'jwt']).optional(),
    access_token_lifetime: int.optional(), created_at: int,
    introspection_clients: z.array(z.string()).optional().describe('Only these clients (and each token\'s own) may introspect its tokens (RFC 7662 §4)'),
  }),
} satisfies Record<string, z.ZodType>;

export type SchemaName = keyof typeof schemas;

export interface AdminRequest {
  params: Record<string, string>;
  body: unknown;
  /** Query string parameters (operations that declare `query`). */
  query?: Record<string, string>;
  /** The caller's address, for audit events a handler records (endUserSession). */
  ip?: string;
}

export interface AdminOperation {
  operationId: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** OpenAPI path template (`{name}` parameters). */
  path: string;
  summary: string;
  tag: string;
  body?: SchemaName;
  /** Validate the body against its schema before the handler (off where the service gives richer, RFC-shaped errors). */
  validateBody?: boolean;
  response: { status: 200 | 201 | 204; schema?: SchemaName; array?: boolean; description: string };
  /** Query string parameters, for the OpenAPI document. */
  query?: { name: string; description: string; type: 'string' | 'integer' }[];
  handler: (lk: Latchkey, req: AdminRequest) => Promise<unknown>;
}

const T = '/admin/tenants/{tenant_id}';
const ctxOf = (lk: Latchkey, req: AdminRequest) => tenantContext(lk, req.params.tenant_id!);
type Body = Record<string, unknown>;

export const operations: AdminOperation[] = [
  // tenants
  {
    operationId: 'listTenants', method: 'GET', path: '/admin/tenants', summary: 'List tenants', tag: 'tenants',
    response: { status: 200, schema: 'Tenant', array: true, description: 'Every tenant' },
    handler: async (lk) => (await listTenants(lk)).map((t) => tenantView(t, lk)),
  },
  {
    operationId: 'createTenant', method: 'POST', path: '/admin/tenants', summary: 'Create a tenant (issuer <issuer>/t/<id>, served there, unless one is given: the URL of a Core API application or of a proxy mapping onto /t/<id>) with its signing keys', tag: 'tenants',
    body: 'TenantCreate', validateBody: true,
    response: { status: 201, schema: 'Tenant', description: 'The tenant' },
    handler: async (lk, req) => {
      const b = req.body as z.output<typeof schemas.TenantCreate>;
      return tenantView(await createTenant(lk, { id: b.id, settings: b.settings, issuer: b.issuer }), lk);
    },
  },
  {
    operationId: 'getTenant', method: 'GET', path: T, summary: 'Read a tenant', tag: 'tenants',
    response: { status: 200, schema: 'Tenant', description: 'The tenant' },
    handler: async (lk, req) => tenantView(await getTenant(lk, req.params.tenant_id!), lk),
  },
  // clients
  {
    operationId: 'listClients', method: 'GET', path: `${T}/clients`, summary: 'List clients', tag: 'clients',
    response: { status: 200, schema: 'Client', array: true, description: 'Every client of the tenant' },
    handler: async (lk, req) => (await listClients(await ctxOf(lk, req))).map(clientView),
  },
  {
    operationId: 'createClient', method: 'POST', path: `${T}/clients`, summary: 'Register a client (the secret is shown only in this response)', tag: 'clients',
    body: 'ClientMetadata',
    response: { status: 201, schema: 'Client', description: 'The client, with client_secret when its method uses one' },
    handler: async (lk, req) => (await registerClient(await ctxOf(lk, req), req.body)).json,
  },
  {
    operationId: 'getClient', method: 'GET', path: `${T}/clients/{client_id}`, summary: 'Read a client', tag: 'clients',
    response: { status: 200, schema: 'Client', description: 'The client (never its secret)' },
    handler: async (lk, req) => clientView(await getClient(await ctxOf(lk, req), req.params.client_id!)),
  },
  {
    operationId: 'replaceClient', method: 'PUT', path: `${T}/clients/{client_id}`, summary: 'Replace a client\'s metadata (the secret is kept)', tag: 'clients',
    body: 'ClientMetadata',
    response: { status: 200, schema: 'Client', description: 'The client as now registered' },
    handler: async (lk, req) => (await replaceClient(await ctxOf(lk, req), req.params.client_id!, req.body)).json,
  },
  {
    operationId: 'deleteClient', method: 'DELETE', path: `${T}/clients/{client_id}`, summary: 'Delete a client and revoke its grants and tokens; its users\' consents and pending requests go with it', tag: 'clients',
    response: { status: 204, description: 'Deleted' },
    handler: async (lk, req) => deleteClient(await ctxOf(lk, req), req.params.client_id!),
  },
  {
    operationId: 'rotateClientSecret', method: 'POST', path: `${T}/clients/{client_id}/secret`,
    summary: 'Issue a new client secret; the previous one keeps working for grace_seconds', tag: 'clients',
    body: 'SecretRotation', validateBody: true,
    response: { status: 200, schema: 'Client', description: 'The client with its new client_secret (shown only now)' },
    handler: async (lk, req) =>
      (await rotateClientSecret(await ctxOf(lk, req), req.params.client_id!, (req.body as z.output<typeof schemas.SecretRotation>).grace_seconds ?? 0)).json,
  },
  // users
  {
    operationId: 'listUsers', method: 'GET', path: `${T}/users`, summary: 'List users', tag: 'users',
    response: { status: 200, schema: 'User', array: true, description: 'Every user of the tenant' },
    handler: async (lk, req) => (await listUsers(await ctxOf(lk, req))).map(userView),
  },
  {
    operationId: 'createUser', method: 'POST', path: `${T}/users`, summary: 'Create a user (password hashed with argon2id)', tag: 'users',
    body: 'UserCreate', validateBody: true,
    response: { status: 201, schema: 'User', description: 'The user' },
    handler: async (lk, req) => {
      const b = req.body as z.output<typeof schemas.UserCreate>;
      return userView(await createUser(await ctxOf(lk, req), { username: b.username, password: b.password, claims: b.claims, id: b.sub }));
    },
  },
  {
    operationId: 'getUser', method: 'GET', path: `${T}/users/{sub}`, summary: 'Read a user, with whether two-step sign-in is on', tag: 'users',
    response: { status: 200, schema: 'UserDetails', description: 'The user' },
    handler: async (lk, req) => {
      const ctx = await ctxOf(lk, req);
      return userDetails(ctx, await getUser(ctx, req.params.sub!));
    },
  },
  {
    operationId: 'updateUser', method: 'PATCH', path: `${T}/users/{sub}`, summary: 'Change a user\'s username or claims', tag: 'users',
    body: 'UserUpdate', validateBody: true,
    response: { status: 200, schema: 'User', description: 'The user' },
    handler: async (lk, req) => userView(await updateUser(await ctxOf(lk, req), req.params.sub!, req.body as Body)),
  },
  {
    operationId: 'deleteUser', method: 'DELETE', path: `${T}/users/{sub}`, summary: 'Delete a user, revoking their grants and sessions and forgetting their consents', tag: 'users',
    response: { status: 204, description: 'Deleted' },
    handler: async (lk, req) => deleteUser(await ctxOf(lk, req), req.params.sub!),
  },
  {
    operationId: 'resetPassword', method: 'POST', path: `${T}/users/{sub}/password`, summary: 'Set a new password; the user\'s sessions end', tag: 'users',
    body: 'PasswordReset', validateBody: true,
    response: { status: 204, description: 'Changed' },
    handler: async (lk, req) => setPassword(await ctxOf(lk, req), req.params.sub!, (req.body as { password: string }).password),
  },
  {
    operationId: 'disableUser', method: 'POST', path: `${T}/users/{sub}/disable`,
    summary: 'Disable a user: sessions end, every grant and token (refresh tokens included) is revoked', tag: 'users',
    response: { status: 200, schema: 'User', description: 'The user' },
    handler: async (lk, req) => userView(await setDisabled(await ctxOf(lk, req), req.params.sub!, true)),
  },
  {
    operationId: 'enableUser', method: 'POST', path: `${T}/users/{sub}/enable`, summary: 'Enable a disabled user', tag: 'users',
    response: { status: 200, schema: 'User', description: 'The user' },
    handler: async (lk, req) => userView(await setDisabled(await ctxOf(lk, req), req.params.sub!, false)),
  },
  {
    operationId: 'unlockUser', method: 'POST', path: `${T}/users/{sub}/unlock`,
    summary: 'Unlock an account locked by failed sign-ins (the lock otherwise ends with loginRateWindow)', tag: 'users',
    response: { status: 200, schema: 'User', description: 'The user' },
    handler: async (lk, req) => userView(await unlockUser(await ctxOf(lk, req), req.params.sub!)),
  },
  {
    operationId: 'resetUserMfa', method: 'POST', path: `${T}/users/{sub}/mfa/reset`,
    summary: 'Turn off a user\'s two-step sign-in (a lost authenticator app): the next password sign-in asks for no code', tag: 'users',
    response: { status: 200, schema: 'UserDetails', description: 'The user' },
    handler: async (lk, req) => {
      const ctx = await ctxOf(lk, req);
      return userDetails(ctx, await resetUserMfa(ctx, req.params.sub!));
    },
  },
  {
    operationId: 'removeUserSecurityKey', method: 'DELETE', path: `${T}/users/{sub}/security-keys/{key_id}`,
    summary: 'Remove one of a user\'s security keys (a lost or stolen key; key_id from the user\'s mfa.security_keys), the rest of two-step sign-in untouched', tag: 'users',
    response: { status: 200, schema: 'UserDetails', description: 'The user, without the key' },
    handler: async (lk, req) => {
      const ctx = await ctxOf(lk, req);
      return userDetails(ctx, await removeUserSecurityKey(ctx, req.params.sub!, req.params.key_id!));
    },
  },
  {
    operationId: 'listUserGrants', method: 'GET', path: `${T}/users/{sub}/grants`, summary: 'List a user\'s grants', tag: 'grants',
    response: { status: 200, schema: 'Grant', array: true, description: 'Grants, newest first' },
    handler: async (lk, req) => (await listUserGrants(await ctxOf(lk, req), req.params.sub!)).map(grantView),
  },
  {
    operationId: 'revokeUserGrant', method: 'DELETE', path: `${T}/users/{sub}/grants/{grant_id}`, summary: 'Revoke a grant and every token it issued, and the user\'s consent to its client', tag: 'grants',
    response: { status: 204, description: 'Revoked' },
    handler: async (lk, req) => revokeUserGrant(await ctxOf(lk, req), req.params.sub!, req.params.grant_id!),
  },
  {
    operationId: 'listUserSessions', method: 'GET', path: `${T}/users/{sub}/sessions`, summary: 'List a user\'s live browser sessions', tag: 'sessions',
    response: { status: 200, schema: 'Session', array: true, description: 'Sessions, newest first' },
    handler: async (lk, req) => (await listUserSessions(await ctxOf(lk, req), req.params.sub!)).map(sessionView),
  },
  {
    operationId: 'endUserSession', method: 'DELETE', path: `${T}/users/{sub}/sessions/{sid}`, summary: 'End a browser session', tag: 'sessions',
    response: { status: 204, description: 'Ended' },
    handler: async (lk, req) => endUserSession(await ctxOf(lk, req), lk.audit, req.params.sub!, req.params.sid!, req.ip),
  },
  // keys
  {
    operationId: 'listKeys', method: 'GET', path: `${T}/keys`, summary: 'List signing keys', tag: 'keys',
    response: { status: 200, schema: 'Key', array: true, description: 'Keys, oldest first' },
    handler: async (lk, req) => (await listKeys(lk, (await getTenant(lk, req.params.tenant_id!)).id)).map(keyView),
  },
  {
    operationId: 'rotateKeys', method: 'POST', path: `${T}/keys/rotate`, summary: 'New keys, published at once, signing after keyActivationDelay; the previous ones stay published', tag: 'keys',
    body: 'KeyRotation', validateBody: true,
    response: { status: 201, schema: 'Key', array: true, description: 'The new keys' },
    handler: async (lk, req) => {
      const t = await getTenant(lk, req.params.tenant_id!);
      const body = req.body as z.output<typeof schemas.KeyRotation>;
      return (await rotateKeys(lk, t.id, body.algs, { immediate: body.immediate })).map(keyView);
    },
  },
  {
    operationId: 'retireKey', method: 'POST', path: `${T}/keys/{kid}/retire`, summary: 'Retire a published key: it leaves the JWKS', tag: 'keys',
    query: [
      { name: 'force', description: 'true: retire it even though tokens it signed may still be valid (a compromised key); otherwise 409 until its successor has signed for the longest token lifetime', type: 'string' },
    ],
    response: { status: 200, schema: 'Key', description: 'The retired key' },
    handler: async (lk, req) => keyView(await retireKey(lk, (await getTenant(lk, req.params.tenant_id!)).id, req.params.kid!, { force: req.query?.force === 'true' })),
  },
  // initial access tokens (RFC 7591 §3)
  {
    operationId: 'listInitialAccessTokens', method: 'GET', path: `${T}/initial-access-tokens`, summary: 'List initial access tokens', tag: 'registration',
    response: { status: 200, schema: 'InitialAccessToken', array: true, description: 'Tokens (never their value)' },
    handler: async (lk, req) => {
      const t = await getTenant(lk, req.params.tenant_id!);
      return (await listManagementTokens(lk, 'initial_access')).filter((x) => x.tenantId === t.id).map(managementTokenView);
    },
  },
  {
    operationId: 'createInitialAccessToken', method: 'POST', path: `${T}/initial-access-tokens`,
    summary: 'Create an initial access token for dynamic registration (shown only in this response)', tag: 'registration',
    body: 'InitialAccessTokenCreate', validateBody: true,
    response: { status: 201, schema: 'InitialAccessToken', description: 'The token record and its value' },
    handler: async (lk, req) => {
      const b = req.body as z.output<typeof schemas.InitialAccessTokenCreate>;
      const { record, token } = await createInitialAccessToken(lk, { tenantId: req.params.tenant_id!, name: b.name, expiresIn: b.expires_in, uses: b.uses });
      return { ...managementTokenView(record), token };
    },
  },
  {
    operationId: 'revokeInitialAccessToken', method: 'DELETE', path: `${T}/initial-access-tokens/{token_id}`, summary: 'Revoke an initial access token', tag: 'registration',
    response: { status: 204, description: 'Revoked' },
    handler: async (lk, req) => {
      const t = await getTenant(lk, req.params.tenant_id!);
      const tok = (await listManagementTokens(lk, 'initial_access')).find((x) => x.id === req.params.token_id && x.tenantId === t.id);
      if (!tok) throw notFound(`initial access token ${req.params.token_id}`);
      return revokeManagementToken(lk, 'initial_access', tok.id);
    },
  },
  // audit trail (docs/audit.md)
  {
    operationId: 'listAuditEvents', method: 'GET', path: `${T}/audit-events`, summary: 'List security events, newest first', tag: 'audit',
    query: [
      { name: 'type', description: 'Only events of this type (e.g. login.failure)', type: 'string' },
      { name: 'since', description: 'Only events at or after this time (RFC 3339, or seconds since the epoch)', type: 'string' },
      { name: 'limit', description: 'At most this many events (1-1000, default 100)', type: 'integer' },
    ],
    response: { status: 200, schema: 'AuditEvent', array: true, description: 'Events, newest first' },
    handler: async (lk, req) => {
      const t = await getTenant(lk, req.params.tenant_id!);
      return (await listAuditEvents(lk, t.id, parseAuditQuery(req.query ?? {}))).map(auditEventView);
    },
  },
  // resource servers (RFC 8707); {identifier} is the URL-encoded resource indicator
  {
    operationId: 'listResourceServers', method: 'GET', path: `${T}/resource-servers`, summary: 'List resource servers', tag: 'resource servers',
    response: { status: 200, schema: 'ResourceServer', array: true, description: 'Every resource server of the tenant' },
    handler: async (lk, req) => {
      const ctx = await ctxOf(lk, req);
      return (await storedResourceServers(ctx)).map(resourceServerToJson);
    },
  },
  {
    operationId: 'createResourceServer', method: 'POST', path: `${T}/resource-servers`,
    summary: 'Register a resource server: clients name it with resource, its tokens carry it as aud', tag: 'resource servers',
    body: 'ResourceServerCreate', validateBody: true,
    response: { status: 201, schema: 'ResourceServer', description: 'The resource server' },
    handler: async (lk, req) => {
      const ctx = await ctxOf(lk, req);
      const identifier = (req.body as { identifier: string }).identifier;
      if (await storedResourceServer(ctx, identifier)) throw conflict(`resource server ${identifier} already exists`);
      return resourceServerToJson(await registerResourceServer(ctx, req.body));
    },
  },
  {
    operationId: 'getResourceServer', method: 'GET', path: `${T}/resource-servers/{identifier}`, summary: 'Read a resource server', tag: 'resource servers',
    response: { status: 200, schema: 'ResourceServer', description: 'The resource server' },
    handler: async (lk, req) => {
      const ctx = await ctxOf(lk, req);
      const rs = await storedResourceServer(ctx, req.params.identifier!);
      if (!rs) throw notFound(`resource server ${req.params.identifier!.slice(0, 100)}`);
      return resourceServerToJson(rs);
    },
  },
  {
    operationId: 'replaceResourceServer', method: 'PUT', path: `${T}/resource-servers/{identifier}`,
    summary: 'Replace a resource server\'s metadata (scope, format, lifetime, introspection_clients); its identifier stays', tag: 'resource servers',
    body: 'ResourceServerUpdate', validateBody: true,
    response: { status: 200, schema: 'ResourceServer', description: 'The resource server as now registered' },
    handler: async (lk, req) => resourceServerToJson(await updateResourceServer(await ctxOf(lk, req), req.params.identifier!, req.body)),
  },
  {
    operationId: 'deleteResourceServer', method: 'DELETE', path: `${T}/resource-servers/{identifier}`,
    summary: 'Delete a resource server (clients can no longer name it; tokens already issued for it stay valid until they expire)', tag: 'resource servers',
    response: { status: 204, description: 'Deleted' },
    handler: async (lk, req) => {
      const ctx = await ctxOf(lk, req);
      if (!(await ctx.store.deleteResourceServer(ctx.tenant.id, req.params.identifier!))) throw notFound(`resource server ${req.params.identifier!.slice(0, 100)}`);
    },
  },
];
