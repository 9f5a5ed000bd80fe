import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNKNOWN_TENANT_MAX, UNKNOWN_TENANT_TTL_MS } from '../../src/server/latchkey.js';
import { createTenant, serviceContext } from '../../src/services/tenants.js';
import { openTestLatchkey, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Requests for an unknown /t/<id> are answered 404 from a short-lived negative cache: a flood of them costs one
 * tenant query per id per UNKNOWN_TENANT_TTL_MS, and a tenant created later is served within that time (at once
 * on the instance that created it).
 */
describe('unknown tenants: a bounded negative cache in front of the tenant lookup', () => {
  let s: TestServer;
  let now = Date.UTC(2030, 0, 1);
  let lookups: string[] = [];

  beforeAll(async () => {
    s = await startTestServer({}, { clock: () => now });
    const store = s.lk.store;
    const findTenant = store.findTenant.bind(store);
    store.findTenant = async (id) => {
      lookups.push(id);
      return findTenant(id);
    };
  });
  afterAll(() => s.close());

  const discovery = (id: string) => fetch(s.url(`/t/${id}/.well-known/openid-configuration`));

  it('a flood of requests for one unknown tenant costs one tenant query per TTL, each answered 404 not_found', async () => {
    lookups = [];
    for (let i = 0; i < 20; i++) {
      const res = await discovery('nobody');
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: string }).error).toBe('not_found');
    }
    expect(lookups.filter((id) => id === 'nobody')).toHaveLength(1);
    now += UNKNOWN_TENANT_TTL_MS;
    expect((await discovery('nobody')).status).toBe(404);
    expect(lookups.filter((id) => id === 'nobody')).toHaveLength(2);
  });

  it('a tenant created on this instance after a miss is served at once', async () => {
    expect((await discovery('late')).status).toBe(404);
    await createTenant(s.lk, { id: 'late' });
    const res = await discovery('late');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { issuer: string }).issuer).toBe(`${s.issuer}/t/late`);
  });

  it('a tenant created by another instance (same database) is served once the miss expires', async () => {
    expect((await discovery('elsewhere')).status).toBe(404);
    const other = await openTestLatchkey({ databaseUrl: s.lk.config.databaseUrl, keyEncryptionKey: s.lk.config.keyEncryptionKey, issuer: s.issuer, dataDir: s.dir });
    try {
      await createTenant(other.lk, { id: 'elsewhere' });
    } finally {
      await other.lk.close();
    }
    expect((await discovery('elsewhere')).status).toBe(404); // still within the TTL
    now += UNKNOWN_TENANT_TTL_MS;
    expect((await discovery('elsewhere')).status).toBe(200);
  });

  it('the negative cache is bounded: distinct unknown ids never hold more than UNKNOWN_TENANT_MAX entries', async () => {
    for (let i = 0; i < UNKNOWN_TENANT_MAX + 200; i++) expect(await serviceContext(s.lk, `ghost-${i}`)).toBeUndefined();
    expect(s.lk.unknownTenants.size).toBeLessThanOrEqual(UNKNOWN_TENANT_MAX);
  });
});
