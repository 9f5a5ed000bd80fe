import type { ClientMetadata, ClientRecord, Store } from '../store/types.js';
import { newHandle } from '../tokens/handles.js';
import { supportedClientAuthMethods } from './client-auth.js';
import { clientToJson, DEVICE_CODE_GRANT, OPERATOR_ONLY_FIELDS, SECRET_METHODS, validateClientMetadata, withoutNullMembers, type ValidateOptions } from './client-metadata.js';
import { endpointsOf, nowSeconds, type EngineContext } from './context.js';
import { OAuthError } from './errors.js';
import { applySoftwareStatement } from './software-statement.js';
import { checkSectorIdentifierUri } from './sector-identifier.js';
import { checkInlineClientKeys } from './client-keys.js';
import { sectorKeyOf, sectorToStore } from './subject.js';

/**
 * Building and changing client records: one implementation for dynamic registration (RFC 7591/7592), the admin
 * API and the CLI. Secrets are generated here (256 bits), stored as keyed hashes, and for client_secret_jwt also
 * encrypted, since verifying an HMAC needs the secret itself.
 */

/** Credentials issued by an operation; each is shown to the caller once and never stored in the clear. */
export interface IssuedCredentials {
  clientSecret?: string;
  registrationAccessToken?: string;
}

/** Validation options from the server's client settings. */
export function clientValidateOptions(ctx: EngineContext, dynamic: boolean): ValidateOptions {
  return {
    supportedAuthMethods: supportedClientAuthMethods(ctx.clients),
    allowHttpJwksUri: ctx.clients?.keySet.allowHttp ?? false,
    allowHttpSectorIdentifierUri: ctx.clients?.allowHttpSectorIdentifierUri ?? false,
    certificatesAvailable: ctx.clients?.certificatesAvailable ?? false,
    remoteFetchPolicy: ctx.clients?.remoteFetchAddresses,
    authorizationDetailsTypes: ctx.tenant.settings.authorizationDetailsTypes ?? [],
    fapi: ctx.tenant.settings.fapiProfile === '2.0',
    dynamic: dynamic ? { allowedScopes: ctx.clients?.registrationScopes ?? [] } : undefined,
  };
}

function asObject(input: unknown): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new OAuthError('invalid_client_metadata', 'client metadata must be a JSON object', { resultCode: 'LK8030' });
  }
  // RFC 7592 §2.2: a null member is no value (before the software statement too: "software_statement": null is none).
  return withoutNullMembers(input as Record<string, unknown>);
}

/** Secret material for a method: a hash always, the encrypted secret too for client_secret_jwt. */
async function secretFields(ctx: EngineContext, method: string, secret: string): Promise<Pick<ClientRecord, 'secretHash' | 'secretJwe'>> {
  if (method !== 'client_secret_jwt') return { secretHash: ctx.hasher.hash(secret), secretJwe: undefined };
  if (!ctx.secrets) throw new Error('client_secret_jwt needs ctx.secrets to encrypt the secret');
  return { secretHash: ctx.hasher.hash(secret), secretJwe: await ctx.secrets.encrypt(secret) };
}

/**
 * A new client secret: 256 random bits, base64url. A client_secret_jwt secret is the HMAC key itself, and RFC 7518
 * §3.2 wants a key at least as long as the hash output (HS512: 512 bits), so it gets 512 random bits (86 characters).
 */
const newClientSecret = (ctx: EngineContext, method: string) => newHandle(ctx.random, method === 'client_secret_jwt' ? 64 : 32);

const NO_PREVIOUS_SECRET = { previousSecretHash: undefined, previousSecretJwe: undefined, previousSecretExpiresAt: undefined };

/** How a record is built: by a client itself (`dynamic`, RFC 7591/7592) or an operator; `policy` runs on the validated metadata before anything is fetched. */
export interface ClientRecordOptions {
  dynamic: boolean;
  /** A registration policy (registration-policy.ts): throws to refuse the metadata. */
  policy?: (metadata: ClientMetadata) => void;
}

/** A new client from RFC 7591 metadata (not yet stored). Dynamic registrations also get a registration access token. */
export async function newClientRecord(ctx: EngineContext, input: unknown, opts: ClientRecordOptions): Promise<{ client: ClientRecord; issued: IssuedCredentials }> {
  const merged = await applySoftwareStatement(ctx, asObject(input));
  const { clientId, clientSecret, metadata } = validateClientMetadata(merged, clientValidateOptions(ctx, opts.dynamic));
  opts.policy?.(metadata);
  await checkInlineClientKeys(metadata);
  await checkSectorIdentifierUri(ctx, metadata);
  const id = clientId ?? newHandle(ctx.random, 16);
  const method = metadata.tokenEndpointAuthMethod;
  const secret = SECRET_METHODS.includes(method) ? (clientSecret ?? newClientSecret(ctx, method)) : undefined;
  const issued: IssuedCredentials = { clientSecret: secret };
  const client: ClientRecord = {
    ...metadata,
    tenantId: ctx.tenant.id,
    clientId: id,
    createdAt: nowSeconds(ctx),
    ...(secret ? await secretFields(ctx, method, secret) : { secretHash: null }),
    pairwiseSector: sectorToStore(metadata),
  };
  if (opts.dynamic) {
    issued.registrationAccessToken = newHandle(ctx.random);
    client.registrationAccessTokenHash = ctx.hasher.hash(issued.registrationAccessToken);
  }
  return { client, issued };
}

/**
 * Replace a client's metadata (RFC 7592 §2.2: omitted fields are deleted). The secret is kept; a client moving
 * to a method that needs one it does not have (or, for client_secret_jwt, one we can recover) gets a new one.
 * In a client's own (dynamic) update every operator-only field keeps the operator's stored value whatever the client
 * sends, and grants and scopes the operator gave beyond what registration allows stay if the client keeps them
 * (storedByOperator). Dynamic updates rotate the registration access token. An operator may set client_secret
 * explicitly; a client may not (§2.2).
 */
export async function replacedClientRecord(
  ctx: EngineContext,
  existing: ClientRecord,
  input: unknown,
  opts: ClientRecordOptions,
): Promise<{ client: ClientRecord; issued: IssuedCredentials }> {
  const merged = await applySoftwareStatement(ctx, { ...asObject(input), client_id: existing.clientId });
  const options = clientValidateOptions(ctx, opts.dynamic);
  if (options.dynamic) options.dynamic.stored = storedByOperator(existing);
  const { clientSecret, metadata } = validateClientMetadata(merged, options);
  opts.policy?.(metadata);
  await checkInlineClientKeys(metadata);
  await checkSectorIdentifierUri(ctx, metadata);
  const method = metadata.tokenEndpointAuthMethod;
  const issued: IssuedCredentials = {};
  const base = {
    tenantId: existing.tenantId,
    clientId: existing.clientId,
    createdAt: existing.createdAt,
    registrationAccessTokenHash: existing.registrationAccessTokenHash,
    // How it registered stays what it was, whoever replaces its metadata (registration-policy.ts counts on it).
    registeredThrough: existing.registeredThrough,
  };
  let secretPart: Partial<ClientRecord>;
  if (!SECRET_METHODS.includes(method)) {
    secretPart = { secretHash: null, secretJwe: undefined, ...NO_PREVIOUS_SECRET };
  } else if (clientSecret !== undefined) {
    secretPart = { ...(await secretFields(ctx, method, clientSecret)), ...NO_PREVIOUS_SECRET };
  } else if (existing.secretHash && (method !== 'client_secret_jwt' || existing.secretJwe)) {
    secretPart = {
      secretHash: existing.secretHash,
      secretJwe: method === 'client_secret_jwt' ? existing.secretJwe : undefined,
      previousSecretHash: existing.previousSecretHash,
      previousSecretJwe: method === 'client_secret_jwt' ? existing.previousSecretJwe : undefined,
      previousSecretExpiresAt: existing.previousSecretExpiresAt,
    };
  } else {
    issued.clientSecret = newClientSecret(ctx, method);
    secretPart = { ...(await secretFields(ctx, method, issued.clientSecret)), ...NO_PREVIOUS_SECRET };
  }
  const client: ClientRecord = { ...metadata, ...base, secretHash: null, ...secretPart, pairwiseSector: sectorToStore(metadata, existing) };
  if (opts.dynamic) {
    issued.registrationAccessToken = newHandle(ctx.random);
    client.registrationAccessTokenHash = ctx.hasher.hash(issued.registrationAccessToken);
  }
  return { client, issued };
}

/**
 * RFC 7592 §2.2: the server may ignore or replace values a client sends, and its answer holds what it stored. A client
 * re-sending what it read must not reset the operator's settings (lifetimes, rotation, consent, the password grant
 * and exchange policy) to their defaults, nor lose a grant the operator gave it, so its update gets these back.
 */
function storedByOperator(existing: ClientRecord): NonNullable<NonNullable<ValidateOptions['dynamic']>['stored']> {
  const json = clientToJson(existing);
  const fields = OPERATOR_ONLY_FIELDS.filter((f) => f !== 'client_id' && f !== 'client_secret' && json[f] !== undefined);
  // OIDC Core §8.1: a pairwise device client without sector_identifier_uri (possible only as an operator set it up)
  // keeps that sector, and only that one (client-metadata.ts checkSubjectType).
  const first = existing.redirectUris[0];
  const pairwiseDeviceSector = existing.subjectType === 'pairwise' && existing.sectorIdentifierUri === undefined && existing.grantTypes.includes(DEVICE_CODE_GRANT) && first !== undefined && URL.canParse(first)
    ? (sectorKeyOf(new URL(first)) ?? undefined)
    : undefined;
  return { operatorValues: Object.fromEntries(fields.map((f) => [f, json[f]])), grantTypes: existing.grantTypes, scope: existing.scope, resources: existing.resources, pairwiseDeviceSector };
}

/**
 * A new secret for a client; the current one keeps working for graceSeconds (0: stops at once), so deployed
 * instances can be updated one by one.
 */
export async function rotatedSecretRecord(ctx: EngineContext, existing: ClientRecord, graceSeconds: number): Promise<{ client: ClientRecord; secret: string }> {
  const method = existing.tokenEndpointAuthMethod;
  if (!SECRET_METHODS.includes(method)) throw new OAuthError('invalid_request', `a client using ${method} has no client_secret to rotate`);
  const secret = newClientSecret(ctx, method);
  const keepOld = graceSeconds > 0 && existing.secretHash !== null;
  const client: ClientRecord = {
    ...existing,
    ...(await secretFields(ctx, method, secret)),
    previousSecretHash: keepOld ? existing.secretHash! : undefined,
    previousSecretJwe: keepOld && method === 'client_secret_jwt' ? existing.secretJwe : undefined,
    previousSecretExpiresAt: keepOld ? nowSeconds(ctx) + graceSeconds : undefined,
  };
  return { client, secret };
}

/** The registration_client_uri of a client (RFC 7592 §3), built from the issuer. */
export function registrationClientUri(ctx: EngineContext, clientId: string): string {
  return `${endpointsOf(ctx.tenant.issuer).registration}/${encodeURIComponent(clientId)}`;
}

/** The client's JSON plus what was issued now (RFC 7591 §3.2.1, RFC 7592 §3). */
export function clientResponse(ctx: EngineContext, client: ClientRecord, issued: IssuedCredentials, registrationAccessToken?: string): Record<string, unknown> {
  const json = clientToJson(client);
  if (issued.clientSecret) json.client_secret = issued.clientSecret;
  const rat = issued.registrationAccessToken ?? registrationAccessToken;
  if (rat) {
    json.registration_access_token = rat;
    json.registration_client_uri = registrationClientUri(ctx, client.clientId);
  }
  return json;
}

/**
 * The client as stored now, read past the root store's client cache (a transaction's store keeps none): what a
 * conditional client write (RFC 7592 update, an operator's replacement or rotation) re-reads after losing a race.
 */
export function storedClient(ctx: EngineContext, clientId: string): Promise<ClientRecord | undefined> {
  return clientAsStored(ctx.store, ctx.tenant.id, clientId);
}

/** storedClient for a caller with a store and no engine context (the back-channel dispatcher). */
export function clientAsStored(store: Store, tenantId: string, clientId: string): Promise<ClientRecord | undefined> {
  return store.transaction((tx) => tx.findClient(tenantId, clientId));
}
