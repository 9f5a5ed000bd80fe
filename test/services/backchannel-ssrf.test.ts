import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { guardedFetch } from '../../src/engine/remote.js';
import { BackchannelDispatcher } from '../../src/services/backchannel.js';
import type { LogoutDeliveryRecord, Store } from '../../src/store/types.js';

/** The two store calls a delivery makes, in memory. */
function deliveryStore() {
  const updates: LogoutDeliveryRecord[] = [];
  const store = {
    claimDelivery: async () => true,
    updateDelivery: async (d: LogoutDeliveryRecord) => {
      updates.push(d);
    },
  } as unknown as Store;
  return { store, updates };
}

const delivery = (uri: string): LogoutDeliveryRecord => ({
  tenantId: 'default', id: 'd1', clientId: 'c', uri, logoutToken: 'lt', attempts: 0, nextAttemptAt: 0, deliveredAt: null, lastError: null, createdAt: 0,
});

describe('back-channel logout deliveries go through the SSRF address guard', () => {
  it('OIDC Back-Channel Logout §2.5 (SSRF): with the default policy (public), a backchannel_logout_uri on a loopback address is never contacted', async () => {
    let contacted = false;
    const rp = createServer((_req, res) => {
      contacted = true;
      res.writeHead(200).end();
    });
    await new Promise<void>((r) => rp.listen(0, '127.0.0.1', r));
    const port = (rp.address() as { port: number }).port;
    try {
      const { store, updates } = deliveryStore();
      const blocked = new BackchannelDispatcher(store, () => 0, undefined, { fetch: guardedFetch('public'), retryDelays: [] });
      await blocked.deliver([delivery(`http://127.0.0.1:${port}/logout`)]);
      expect(contacted).toBe(false);
      expect(updates[0]?.deliveredAt ?? null).toBeNull();
      expect(updates[0]?.lastError).toMatch(/blocked/);

      const { store: store2, updates: updates2 } = deliveryStore();
      const allowed = new BackchannelDispatcher(store2, () => 0, undefined, { fetch: guardedFetch('loopback'), retryDelays: [] });
      await allowed.deliver([delivery(`http://127.0.0.1:${port}/logout`)]);
      expect(contacted).toBe(true);
      expect(updates2[0]?.lastError).toBeNull();
    } finally {
      await new Promise<void>((r) => rp.close(() => r()));
    }
  });
});
