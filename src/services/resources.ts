import { z } from 'zod';
import type { EngineContext } from '../engine/context.js';
import { nowSeconds } from '../engine/context.js';
import { OAuthError } from '../engine/errors.js';
import { isResourceIndicator } from '../engine/resources.js';
import type { ResourceServerRecord } from '../store/types.js';

const scopeToken = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** A resource server as the CLI and admin callers describe it (snake_case, like client metadata). */
const schema = z
  .object({
    identifier: z.string().max(2000),
    name: z.string().max(200).optional(),
    scope: z.string().max(2000).optional(),
    access_token_format: z.enum(['opaque', 'jwt']).optional(),
    access_token_lifetime: z.coerce.number().int().positive().max(10 * 365 * 86400).optional(),
  })
  .strict();

const invalid = (msg: string) => new OAuthError('invalid_request', msg);

/**
 * Register a resource server (RFC 8707): its identifier is the resource indicator clients send and the `aud`
 * of its tokens; its scopes are the ones its tokens may carry, and the ones that make it the inferred audience
 * when a client names no resource (RFC 9068 §3).
 */
export async function registerResourceServer(ctx: EngineContext, input: unknown): Promise<ResourceServerRecord> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalid(`${issue.path.join('.') || 'resource server'}: ${issue.message}`);
  }
  const m = parsed.data;
  if (!isResourceIndicator(m.identifier)) throw invalid('identifier: must be an absolute URI without a fragment (RFC 8707 §2)');
  const scopes = [...new Set((m.scope ?? '').split(' ').filter(Boolean))];
  for (const s of scopes) if (!scopeToken.test(s)) throw invalid(`scope: ${JSON.stringify(s)} is not a valid scope token`);
  if (await ctx.store.findResourceServer(ctx.tenant.id, m.identifier)) throw invalid(`resource server ${m.identifier} already exists`);
  const rs: ResourceServerRecord = {
    tenantId: ctx.tenant.id,
    identifier: m.identifier,
    name: m.name,
    scopes,
    accessTokenFormat: m.access_token_format,
    accessTokenLifetime: m.access_token_lifetime,
    createdAt: nowSeconds(ctx),
  };
  await ctx.store.createResourceServer(rs);
  return rs;
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
    }),
  ) as Record<string, unknown>;
}
