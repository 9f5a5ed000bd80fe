import { beforeEach, describe, expect, it } from 'vitest';
import type { OpenedStore } from '../../src/store/open.js';
import type { TokenRecord } from '../../src/store/types.js';
import { backend, id, useContractStore } from '../helpers/store-contract.js';

/** The store contract for the token services' additions (migration 0002_token_services), on every backend. */

const NOW = 1_700_000_000;
const FAR = 4_102_444_800;
const RACERS = 50;

const refresh = (tenantId: string, hash: string, extra: Partial<TokenRecord> = {}): TokenRecord => ({
  tenantId, hash, kind: 'refresh_token', clientId: 'c1', subject: 'alice', scope: ['openid'], grantId: null, issuedAt: NOW,
  expiresAt: FAR, revokedAt: null, consumedAt: null, data: {}, ...extra,
});

describe(`store contract: resource servers and refresh policies (${backend})`, () => {
  const contract = useContractStore();
  let store: OpenedStore;
  let A: string;
  let B: string;
  beforeEach(() => {
    ({ store, A, B } = contract);
  });

  it('resource servers: create, find, list (by identifier), delete; per tenant', async () => {
    const rs = { tenantId: A, identifier: 'https://api.example/ünï', name: 'API ✓', scopes: ['a', 'b'], accessTokenFormat: 'jwt' as const, accessTokenLifetime: 600, createdAt: NOW };
    await store.createResourceServer(rs);
    await store.createResourceServer({ tenantId: A, identifier: 'https://a-first.example/', scopes: [], createdAt: NOW });
    expect(await store.findResourceServer(A, rs.identifier)).toEqual(rs);
    expect((await store.listResourceServers(A)).map((r) => r.identifier)).toEqual(['https://a-first.example/', rs.identifier]);
    expect(await store.findResourceServer(B, rs.identifier)).toBeUndefined();
    expect(await store.listResourceServers(B)).toEqual([]);
    expect(await store.deleteResourceServer(B, rs.identifier)).toBe(false);
    expect(await store.deleteResourceServer(A, rs.identifier)).toBe(true);
    expect(await store.findResourceServer(A, rs.identifier)).toBeUndefined();
    await expect(store.createResourceServer({ ...rs, identifier: 'https://a-first.example/' })).rejects.toThrow();
  });

  it('resource servers: update replaces the metadata (introspectionClients too), keeps createdAt; per tenant; the list sees it at once', async () => {
    const rs = { tenantId: A, identifier: 'https://upd.example/', scopes: ['a'], createdAt: NOW };
    await store.createResourceServer(rs);
    expect((await store.listResourceServers(A)).find((r) => r.identifier === rs.identifier)!.introspectionClients).toBeUndefined();
    const next = { ...rs, scopes: ['a', 'b'], introspectionClients: ['rs-1'], createdAt: NOW + 999 };
    expect(await store.updateResourceServer(next)).toBe(true);
    expect(await store.findResourceServer(A, rs.identifier)).toEqual({ ...next, createdAt: NOW });
    expect((await store.listResourceServers(A)).find((r) => r.identifier === rs.identifier)!.introspectionClients).toEqual(['rs-1']);
    expect(await store.updateResourceServer({ ...next, tenantId: B })).toBe(false);
    expect(await store.updateResourceServer({ ...next, identifier: 'https://none.example/' })).toBe(false);
    expect(await store.findResourceServer(B, rs.identifier)).toBeUndefined();
  });

  it('findToken: look-ups asked together (one statement on PostgreSQL) each get their own tenant\'s row, or none', async () => {
    const h = id('shared-hash');
    await store.insertToken(refresh(A, h, { clientId: 'in-a' }));
    await store.insertToken(refresh(B, h, { clientId: 'in-b' }));
    await store.insertToken(refresh(A, `${h}-2`, { clientId: 'in-a-2' }));
    const [a, b, a2, missing, none] = await Promise.all([
      store.findToken(A, h), store.findToken(B, h), store.findToken(A, `${h}-2`), store.findToken(A, `${h}-missing`), store.findToken(id('tenant-c'), h),
    ]);
    expect([a?.clientId, b?.clientId, a2?.clientId, missing, none]).toEqual(['in-a', 'in-b', 'in-a-2', undefined, undefined]);
    expect(a).toMatchObject({ tenantId: A, hash: h });
    expect(b).toMatchObject({ tenantId: B, hash: h });
  });

  it('extendToken moves the expiry of an unrevoked token only, in its own tenant', async () => {
    await store.insertToken(refresh(A, 'h1', { expiresAt: NOW + 10 }));
    await store.insertToken(refresh(A, 'h2', { expiresAt: NOW + 10, revokedAt: NOW }));
    await store.extendToken(A, 'h1', NOW + 100);
    await store.extendToken(A, 'h2', NOW + 100);
    await store.extendToken(B, 'h1', NOW + 999);
    expect((await store.findToken(A, 'h1'))!.expiresAt).toBe(NOW + 100);
    expect((await store.findToken(A, 'h2'))!.expiresAt).toBe(NOW + 10);
  });

  it('reuseRotatedToken: only a token rotated since the given time, not revoked, and only once', async () => {
    await store.insertToken(refresh(A, 'fresh', { consumedAt: NOW - 5 }));
    await store.insertToken(refresh(A, 'old', { consumedAt: NOW - 500 }));
    await store.insertToken(refresh(A, 'live'));
    await store.insertToken(refresh(A, 'revoked', { consumedAt: NOW - 5, revokedAt: NOW - 1 }));
    expect(await store.reuseRotatedToken(B, 'fresh', NOW, NOW - 30)).toBeUndefined();
    expect(await store.reuseRotatedToken(A, 'old', NOW, NOW - 30)).toBeUndefined();
    expect(await store.reuseRotatedToken(A, 'live', NOW, NOW - 30)).toBeUndefined();
    expect(await store.reuseRotatedToken(A, 'revoked', NOW, NOW - 30)).toBeUndefined();
    expect(await store.reuseRotatedToken(A, 'fresh', NOW, NOW - 30)).toMatchObject({ hash: 'fresh', consumedAt: NOW - 5 });
    expect(await store.reuseRotatedToken(A, 'fresh', NOW, NOW - 30)).toBeUndefined();
  });

  it(`reuseRotatedToken is exactly-once: ${RACERS} concurrent calls, one winner`, async () => {
    await store.insertToken(refresh(A, 'race', { consumedAt: NOW }));
    const results = await Promise.all(Array.from({ length: RACERS }, () => store.reuseRotatedToken(A, 'race', NOW, NOW - 30)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});
