import { z } from 'zod';
import type { EngineContext } from '../engine/context.js';
import type { Latchkey } from '../server/latchkey.js';
import { DEFAULT_TENANT, type TenantRecord } from '../store/types.js';
import { badRequest, conflict, notFound } from './errors.js';

/** Tenant operations shared by the CLI and the admin API. */

const seconds = z.number().int().positive().max(10 * 365 * 86400);
/** Per-tenant overrides of the server's defaults (TenantSettings in engine/context.ts). */
export const tenantSettingsSchema = z
  .object({
    accessTokenTtl: seconds, idTokenTtl: seconds, refreshTokenTtl: seconds, authorizationCodeTtl: z.number().int().min(1).max(600),
    interactionTtl: seconds, sessionTtl: seconds, sessionIdleTtl: seconds, accessTokenFormat: z.enum(['opaque', 'jwt']),
    loginRateLimit: z.number().int().min(1).max(10000), loginRateWindow: seconds,
  })
  .partial()
  .strict();

export const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function tenantView(t: TenantRecord, lk: Latchkey): Record<string, unknown> {
  return { id: t.id, issuer: t.id === DEFAULT_TENANT ? lk.config.issuer : t.issuer, settings: t.settings, created_at: t.createdAt };
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

/**
 * A new tenant with its own signing keys. Its issuer is `<issuer>/t/<id>`; serving requests under that issuer is
 * the routing layer's business (not done yet): the tenant, its keys, clients and users can be managed already.
 */
export async function createTenant(lk: Latchkey, input: { id: string; settings?: unknown }): Promise<TenantRecord> {
  if (!TENANT_ID.test(input.id)) throw badRequest('tenant id must be 1-63 lower-case letters, digits and dashes, starting with a letter or digit');
  const parsed = tenantSettingsSchema.safeParse(input.settings ?? {});
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw badRequest(`settings${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`);
  }
  if (await lk.store.findTenant(input.id)) throw conflict(`tenant ${input.id} already exists`);
  const t: TenantRecord = {
    id: input.id,
    issuer: `${lk.config.issuer}/t/${input.id}`,
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
  return t;
}
