import type { EngineContext } from '../../src/engine/context.js';
import { nowSeconds } from '../../src/engine/context.js';
import { newHandle, secureRandom } from '../../src/tokens/handles.js';

/**
 * A grant with one refresh token and one access token issued from it, written straight through the store
 * (the refresh_token grant is not on this branch yet). Values are random; rows hold only their hashes.
 */
export async function insertRefreshFamily(
  ctx: EngineContext,
  opts: { clientId: string; subject: string; scope?: string[]; cnf?: Record<string, unknown>; authTime?: number; acr?: string },
): Promise<{ grantId: string; refreshToken: string; accessToken: string }> {
  const now = nowSeconds(ctx);
  const scope = opts.scope ?? ['openid', 'offline_access'];
  const grantId = newHandle(secureRandom, 16);
  const refreshToken = newHandle(secureRandom);
  const accessToken = newHandle(secureRandom);
  await ctx.store.insertGrant({ tenantId: ctx.tenant.id, id: grantId, clientId: opts.clientId, subject: opts.subject, scope, createdAt: now, revokedAt: null, data: {} });
  const common = { tenantId: ctx.tenant.id, clientId: opts.clientId, subject: opts.subject, scope, grantId, issuedAt: now, revokedAt: null, consumedAt: null };
  await ctx.store.insertToken({ ...common, hash: ctx.hasher.hash(refreshToken), kind: 'refresh_token', expiresAt: now + 86400, data: {} });
  const data: Record<string, unknown> = { format: 'opaque', aud: [opts.clientId] };
  if (opts.cnf) data.cnf = opts.cnf;
  if (opts.authTime !== undefined) data.auth_time = opts.authTime;
  if (opts.acr !== undefined) data.acr = opts.acr;
  await ctx.store.insertToken({ ...common, hash: ctx.hasher.hash(accessToken), kind: 'access_token', expiresAt: now + 3600, data });
  return { grantId, refreshToken, accessToken };
}
