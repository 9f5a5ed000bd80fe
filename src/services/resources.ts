import { z } from 'zod';
import type { EngineContext } from '../engine/context.js';
import { nowSeconds } from '../engine/context.js';
import { OAuthError } from '../engine/errors.js';
import { conflict, notFound } from './errors.js';
import { isResourceIndicator } from '../engine/resources.js';
import type { ResourceServerRecord } from '../store/types.js';

const scopeToken = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** A resource server as the CLI and admin callers describe it (snake_case, like client metadata). */
export const resourceServerSchema = z
  .object({
    identifier: z.string().max(2000),
    name: z.string().max(200).optional(),
    scope: z.string().max(2000).optional(),
    access_token_format: z.enum(['opaque', 'jwt']).optional(),
    access_token_lifetime: z.coerce.number().int().positive().max(10 * 365 * 86400).optional(),
    introspection_clients: z
      .array(z.string().min(1).max(255))
      .max(100)
      .optional()
      .describe('The clients that introspect for this resource (RFC 7662 §4): absent, any confidential client; present, only these (and each token\'s own client)'),
  })
  .strict();

const invalid = (msg: string) => new OAuthError('invalid_request', msg);

/**
 * Register a resource server (RFC 8707): its identifier is the resource indicator clients send and the `aud`
 * of its tokens; its scopes are the ones its tokens may carry, and the ones that make it the inferred audience
 * when a client names no resource (RFC 9068 §3). `introspection_clients`, when given, are the clients that
 * introspect for it (RFC 7662 §4: engine/introspection.ts shows its tokens to no other client but their own).
 */
export async function registerResourceServer(ctx: EngineContext, input: unknown): Promise<ResourceServerRecord> {
  const m = await validate(ctx, input);
  const exists = () => storedResourceServer(ctx, m.identifier);
  if (await exists()) throw conflict(`resource server ${m.identifier} already exists`);
  const rs: ResourceServerRecord = { ...m, createdAt: nowSeconds(ctx) };
  try {
    await ctx.store.createResourceServer(rs);
  } catch (e) {
    // Registered meanwhile (another instance, or a concurrent request): the primary key refused the second one.
    if (await exists()) throw conflict(`resource server ${m.identifier} already exists`);
    throw e;
  }
  return rs;
}

/**
 * The tenant's resource servers as stored now, read past the store's 5-second registry cache (a transaction's store
 * keeps none). Token requests read the cached registry; what an operator reads and writes goes by the database, so
 * a resource server registered, changed or deleted through another instance is seen at once (read-your-writes
 * behind a load balancer).
 */
export function storedResourceServers(ctx: EngineContext): Promise<ResourceServerRecord[]> {
  return ctx.store.transaction((tx) => tx.listResourceServers(ctx.tenant.id));
}

/** One resource server as stored now (storedResourceServers), or undefined. */
export function storedResourceServer(ctx: EngineContext, identifier: string): Promise<ResourceServerRecord | undefined> {
  return ctx.store.transaction((tx) => tx.findResourceServer(ctx.tenant.id, identifier));
}

/**
 * Replace a resource server's metadata (its identifier and creation time stay). Tokens already issued keep their
 * audience; the new `introspection_clients` apply to them from now on (at once on this instance, within the store's 5-second registry cache on the others).
 */
export async function updateResourceServer(ctx: EngineContext, identifier: string, input: unknown): Promise<ResourceServerRecord> {
  const existing = await storedResourceServer(ctx, identifier);
  if (!existing) throw notFound(`resource server ${identifier.slice(0, 100)}`);
  const body = typeof input === 'object' && input !== null && !Array.isArray(input) ? (input as Record<string, unknown>) : {};
  if (body.identifier !== undefined && body.identifier !== identifier) throw invalid('identifier: cannot be changed (it is the aud of issued tokens)');
  const m = await validate(ctx, { ...body, identifier });
  const rs: ResourceServerRecord = { ...m, createdAt: existing.createdAt };
  if (!(await ctx.store.updateResourceServer(rs))) throw notFound(`resource server ${identifier.slice(0, 100)}`);
  return rs;
}

async function validate(ctx: EngineContext, input: unknown): Promise<Omit<ResourceServerRecord, 'createdAt'>> {
  const parsed = resourceServerSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalid(`${issue.path.join('.') || 'resource server'}: ${issue.message}`);
  }
  const m = parsed.data;
  if (!isResourceIndicator(m.identifier)) throw invalid('identifier: must be an absolute URI without a fragment (RFC 8707 §2)');
  const scopes = [...new Set((m.scope ?? '').split(' ').filter(Boolean))];
  for (const s of scopes) if (!scopeToken.test(s)) throw invalid(`scope: ${JSON.stringify(s)} is not a valid scope token`);
  const introspectionClients = m.introspection_clients && [...new Set(m.introspection_clients)];
  for (const id of introspectionClients ?? []) {
    // A name that can never introspect is a mistake to report now, not a silent lock-out later.
    const c = await ctx.store.findClient(ctx.tenant.id, id);
    if (!c) throw invalid(`introspection_clients: no client ${JSON.stringify(id.slice(0, 100))}`);
    if (c.tokenEndpointAuthMethod === 'none') throw invalid(`introspection_clients: ${JSON.stringify(id.slice(0, 100))} is a public client, which cannot introspect (RFC 7662 §2.1)`);
  }
  return {
    tenantId: ctx.tenant.id,
    identifier: m.identifier,
    name: m.name,
    scopes,
    accessTokenFormat: m.access_token_format,
    accessTokenLifetime: m.access_token_lifetime,
    introspectionClients,
  };
}

export function resourceServerToJson(r: ResourceServerRecord): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify({
      identifier: r.identifier,
      name: r.name,
      scope: r.scopes.join(' '),
      access_token_format: r.accessTokenFormat,
      access_token_lifetime: r.accessTokenLifetime,
      created_at: r.createdAt,
      introspection_clients: r.introspectionClients,
    }),
  ) as Record<string, unknown>;
}
