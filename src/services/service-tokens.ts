import type { ResultCode } from '../engine/result-codes.js';
import type { Latchkey } from '../server/latchkey.js';
import type { ServiceTokenRecord } from '../store/types.js';
import { newHandle } from '../tokens/handles.js';
import { TENANT_ID } from './tenants.js';
import { UserInputError } from './users.js';

/*
 * Core API credentials: bearer tokens an operator creates for a delegating application, for one service or for
 * all. 256 random bits, shown once, stored as a keyed hash; the prefix makes a leaked one recognisable.
 * Operations shared by the CLI and (later) the admin API.
 */

export const SERVICE_TOKEN_PREFIX = 'lks_';

export function serviceTokenView(t: ServiceTokenRecord): Record<string, unknown> {
  return { id: t.id, service: t.tenantId ?? '*', name: t.name, created_at: t.createdAt, revoked_at: t.revokedAt };
}

export async function createServiceToken(
  lk: Latchkey,
  input: { serviceId?: string; name?: string } = {},
): Promise<{ record: ServiceTokenRecord; token: string }> {
  if (input.name !== undefined && !/^[^\x00-\x1f]{1,100}$/.test(input.name)) throw new UserInputError('name must be 1-100 characters');
  if (input.serviceId !== undefined && !(TENANT_ID.test(input.serviceId) && (await lk.store.findTenant(input.serviceId)))) {
    throw new UserInputError(`no service ${input.serviceId}`);
  }
  const token = SERVICE_TOKEN_PREFIX + newHandle(lk.random);
  const record: ServiceTokenRecord = {
    id: newHandle(lk.random, 9),
    tenantId: input.serviceId ?? null,
    hash: lk.hasher.hash(token),
    name: input.name ?? null,
    createdAt: Math.floor(lk.clock() / 1000),
    revokedAt: null,
  };
  await lk.store.insertServiceToken(record);
  return { record, token };
}

export function listServiceTokens(lk: Latchkey): Promise<ServiceTokenRecord[]> {
  return lk.store.listServiceTokens();
}

export async function revokeServiceToken(lk: Latchkey, id: string): Promise<void> {
  if (!(await lk.store.revokeServiceToken(id, Math.floor(lk.clock() / 1000)))) throw new UserInputError(`no live service token ${id}`);
}

export type ServiceTokenCheck = { ok: true; record: ServiceTokenRecord } | { ok: false; resultCode: Extract<ResultCode, 'LK11004' | 'LK11005' | 'LK11006'> };

const SERVICE_TOKEN = /^Bearer +(lks_[A-Za-z0-9_-]{43}) *$/i;

/** May the bearer of this Authorization header act for this service? */
export async function authenticateServiceToken(lk: Latchkey, authorization: string | undefined, serviceId: string): Promise<ServiceTokenCheck> {
  if (!authorization || !/^Bearer\b/i.test(authorization)) return { ok: false, resultCode: 'LK11004' };
  const m = SERVICE_TOKEN.exec(authorization);
  const record = m ? await lk.store.findServiceTokenByHash(lk.hasher.hash(m[1]!)) : undefined;
  if (!record || record.revokedAt !== null) return { ok: false, resultCode: 'LK11005' };
  if (record.tenantId !== null && record.tenantId !== serviceId) return { ok: false, resultCode: 'LK11006' };
  return { ok: true, record };
}
