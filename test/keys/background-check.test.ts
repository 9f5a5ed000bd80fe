import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateKeys } from '../../src/services/keys.js';
import { DEFAULT_TENANT } from '../../src/store/types.js';
import { startTestInstances } from '../helpers/server.js';

type Cluster = Awaited<ReturnType<typeof startTestInstances>>;

/*
 * Key sets are re-validated on a timer as well as on use: an instance that served no request while another one
 * rotated keys must not sign its next request with the key set it had before.
 */
describe('background re-validation of key sets', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startTestInstances(2, { keyActivationDelay: 0 }, { keyRecheckMs: 1000 });
  });
  afterAll(() => cluster.close());

  it('an idle instance picks up another instance\'s rotation without a request asking for keys', async () => {
    const [one, two] = cluster.instances as [Cluster['instances'][0], Cluster['instances'][0]];
    const before = (await two.lk.keys.forTenant(DEFAULT_TENANT)).version;
    await rotateKeys(one.lk, DEFAULT_TENANT, ['RS256'], { immediate: true });
    const rotated = (await one.lk.keys.forTenant(DEFAULT_TENANT)).version;
    expect(rotated).toBeGreaterThan(before);
    // No request reaches instance two meanwhile; only its timer can notice. Bounded wait, then one look.
    const deadline = Date.now() + 8000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      if ((two.lk.keys as unknown as { cache: Map<string, { keys: { version: number } }> }).cache.get(DEFAULT_TENANT)?.keys.version === rotated) break;
    }
    // The very first use after the wait already signs with the new key set (no stale answer while it refreshes).
    expect((await two.lk.keys.forTenant(DEFAULT_TENANT)).version).toBe(rotated);
  });
});
