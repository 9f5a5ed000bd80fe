import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { guardedFetch } from '../../src/engine/remote.js';
import { BackchannelDispatcher } from '../../src/services/backchannel.js';
import type { LogoutDeliveryRecord, Store } from '../../src/store/types.js';

/** The store calls a delivery makes, in memory: its client (still registering `uri`), the claim, the update. */
function deliveryStore(uri: string) {
  const updates: LogoutDeliveryRecord[] = [];
  const store: Store = {
    findClient: async () => ({ clientId: 'c', createdAt: 0, backchannelLogoutUri: uri }),
    // The dispatcher reads the client past the cache, in a transaction's store (this one).
    transaction: async <T>(fn: (tx: Store) => Promise<T>) => fn(store),
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
      const { store, updates } = deliveryStore(`http://127.0.0.1:${port}/logout`);
      const blocked = new BackchannelDispatcher(store, () => 0, undefined, { fetch: guardedFetch('public'), retryDelays: [] });
      await blocked.deliver([delivery(`http://127.0.0.1:${port}/logout`)]);
      expect(contacted).toBe(false);
      expect(updates[0]?.deliveredAt ?? null).toBeNull();
      expect(updates[0]?.lastError).toMatch(/blocked/);

      const { store: store2, updates: updates2 } = deliveryStore(`http://127.0.0.1:${port}/logout`);
      const allowed = new BackchannelDispatcher(store2, () => 0, undefined, { fetch: guardedFetch('loopback'), retryDelays: [] });
      await allowed.deliver([delivery(`http://127.0.0.1:${port}/logout`)]);
      expect(contacted).toBe(true);
      expect(updates2[0]?.lastError).toBeNull();
    } finally {
      await new Promise<void>((r) => rp.close(() => r()));
    }
  });
});

describe('back-channel logout deliveries: defaults that no caller can forget', () => {
  it('OIDC Back-Channel Logout §2.5 (SSRF): a dispatcher given no fetch uses the guarded one (public addresses only), never the global fetch', async () => {
    let contacted = 0;
    const rp = createServer((_req, res) => {
      contacted++;
      res.writeHead(200).end();
    });
    await new Promise<void>((r) => rp.listen(0, '127.0.0.1', r));
    const port = (rp.address() as { port: number }).port;
    try {
      for (const opts of [{ retryDelays: [] }, { retryDelays: [], fetch: undefined }]) {
        const { store, updates } = deliveryStore(`http://127.0.0.1:${port}/logout`);
        await new BackchannelDispatcher(store, () => 0, undefined, opts).deliver([delivery(`http://127.0.0.1:${port}/logout`)]);
        expect(updates[0]?.deliveredAt ?? null).toBeNull();
        expect(updates[0]?.lastError).toMatch(/blocked/);
      }
      expect(contacted).toBe(0);
    } finally {
      await new Promise<void>((r) => rp.close(() => r()));
    }
  });

  it('OIDC Back-Channel Logout §2.8: only the status matters; at most a few KB of the RP\'s answer are read, the rest dropped unread', async () => {
    const CHUNK = 64 * 1024;
    let pulled = 0;
    let cancelled = false;
    // A 64 MB answer: read in full, it would be buffered whole.
    const huge = () =>
      new Response(
        new ReadableStream<Uint8Array>(
          {
            pull(c) {
              if (pulled >= 64 * 1024 * 1024) return c.close();
              pulled += CHUNK;
              c.enqueue(new Uint8Array(CHUNK));
            },
            cancel() {
              cancelled = true;
            },
          },
          { highWaterMark: 0 },
        ),
        { status: 200 },
      );
    const { store, updates } = deliveryStore('https://rp.example/logout');
    const d = new BackchannelDispatcher(store, () => 0, undefined, { fetch: (async () => huge()) as typeof fetch, retryDelays: [] });
    await d.deliver([delivery('https://rp.example/logout')]);
    expect(updates[0]?.lastError).toBeNull();
    expect(updates[0]?.deliveredAt).not.toBeNull();
    expect(pulled).toBeLessThanOrEqual(2 * CHUNK);
    expect(cancelled).toBe(true);
  });
});
