import { INITIAL_ACCESS_TOKEN_PREFIX } from '../engine/registration.js';
import type { Latchkey } from '../server/latchkey.js';
import type { ManagementTokenRecord } from '../store/types.js';
import { newHandle } from '../tokens/handles.js';
import { badRequest, notFound } from './errors.js';
import { getTenant } from './tenants.js';

/**
 * Admin API tokens and RFC 7591 initial access tokens: bearer tokens created by an operator, shown once,
 * stored as keyed hashes. The prefix makes a leaked one recognisable.
 */
export const ADMIN_TOKEN_PREFIX = 'lka_';

export function managementTokenView(t: ManagementTokenRecord): Record<string, unknown> {
  return {
    id: t.id, kind: t.kind, name: t.name, tenant_id: t.tenantId, created_at: t.createdAt, expires_at: t.expiresAt,
    revoked_at: t.revokedAt, remaining_uses: t.remainingUses,
  };
}

function checkName(name: string | undefined): string | null {
  if (name === undefined) return null;
  if (!/^[^\x00-\x1f]{1,100}$/.test(name)) throw badRequest('name must be 1-100 characters');
  return name;
}

async function create(
  lk: Latchkey,
  kind: ManagementTokenRecord['kind'],
  input: { name?: string; tenantId: string | null; expiresIn?: number; uses?: number },
): Promise<{ record: ManagementTokenRecord; token: string }> {
  if (input.expiresIn !== undefined && (!Number.isInteger(input.expiresIn) || input.expiresIn <= 0)) throw badRequest('expires_in must be a positive number of seconds');
  if (input.uses !== undefined && (!Number.isInteger(input.uses) || input.uses <= 0)) throw badRequest('uses must be a positive integer');
  const token = (kind === 'admin' ? ADMIN_TOKEN_PREFIX : INITIAL_ACCESS_TOKEN_PREFIX) + newHandle(lk.random);
  const now = Math.floor(lk.clock() / 1000);
  const record: ManagementTokenRecord = {
    id: newHandle(lk.random, 9),
    kind,
    tenantId: input.tenantId,
    hash: lk.hasher.hash(token),
    name: checkName(input.name),
    createdAt: now,
    expiresAt: input.expiresIn !== undefined ? now + input.expiresIn : null,
    revokedAt: null,
    remainingUses: input.uses ?? null,
  };
  await lk.store.insertManagementToken(record);
  return { record, token };
}

export function createAdminToken(lk: Latchkey, input: { name?: string; expiresIn?: number } = {}) {
  return create(lk, 'admin', { ...input, tenantId: null });
}

/** An initial access token for dynamic registration in one tenant, optionally limited in time and uses. */
export async function createInitialAccessToken(lk: Latchkey, input: { tenantId: string; name?: string; expiresIn?: number; uses?: number }) {
  await getTenant(lk, input.tenantId);
  return create(lk, 'initial_access', input);
}

export function listManagementTokens(lk: Latchkey, kind: ManagementTokenRecord['kind']): Promise<ManagementTokenRecord[]> {
  return lk.store.listManagementTokens(kind);
}

export async function revokeManagementToken(lk: Latchkey, kind: ManagementTokenRecord['kind'], id: string): Promise<void> {
  if (!(await lk.store.revokeManagementToken(kind, id, Math.floor(lk.clock() / 1000)))) throw notFound(`${kind === 'admin' ? 'admin' : 'initial access'} token ${id}`);
}

/** The admin token behind an Authorization header, if it is live. */
export async function verifyAdminToken(lk: Latchkey, authorization: string | undefined): Promise<ManagementTokenRecord | undefined> {
  const m = authorization === undefined ? null : /^Bearer +(lka_[A-Za-z0-9_-]{20,100}) *$/i.exec(authorization);
  if (!m) return undefined;
  return lk.store.findManagementToken('admin', lk.hasher.hash(m[1]!), Math.floor(lk.clock() / 1000));
}
