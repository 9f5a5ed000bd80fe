// An operator's write to a client (admin API / CLI: replaceClient, rotateClientSecret) racing the client's own RFC 7592
// update, which rotates its registration access token. Deterministic: the store runs the client's update to the end
// just before the operator's write reaches it, i.e. after the operator has read the client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineContext } from '../../src/engine/context.js';
import { registration, registrationManagement } from '../../src/engine/registration.js';
import { replaceClient, rotateClientSecret } from '../../src/services/clients.js';
import { ServiceError } from '../../src/services/errors.js';
import type { ClientRecord, ClientWriteCondition, Store } from '../../src/store/types.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

const CB = 'https://app.example/cb';

/** The store, except that each of the first `times` client writes first runs `before` to completion. */
function interleaved(store: Store, before: () => Promise<void>, times = 1): { store: Store; writes: () => number } {
  let writes = 0;
  const wrapped = new Proxy(store, {
    get(target, p) {
      if (p === 'updateClient') {
        return async (c: ClientRecord, condition?: ClientWriteCondition) => {
          if (writes++ < times) await before();
          return target.updateClient(c, condition);
        };
      }
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { store: wrapped, writes: () => writes };
}

describe('operator writes to a client racing its own RFC 7592 update', () => {
  let t: TestLatchkey;
  beforeAll(async () => {
    t = await openTestLatchkey({ registration: 'open' });
  });
  afterAll(() => t.close());

  async function register() {
    const r = await registration({ body: JSON.stringify({ redirect_uris: [CB], client_name: 'self' }), contentType: 'application/json' }, t.ctx);
    expect(r.action, r.resultMessage).toBe('CREATED');
    return JSON.parse(r.responseContent as string) as { client_id: string; client_secret: string; registration_access_token: string };
  }

  /** The client's own PUT (RFC 7592 §2.2) with the token it holds; returns the rotated token. */
  async function clientUpdate(clientId: string, token: string, name: string): Promise<string> {
    const r = await registrationManagement(
      { method: 'PUT', clientId, authorization: `Bearer ${token}`, contentType: 'application/json', body: JSON.stringify({ client_id: clientId, redirect_uris: [CB], client_name: name }) },
      t.ctx,
    );
    expect(r.action, r.resultMessage).toBe('OK');
    return (JSON.parse(r.responseContent as string) as { registration_access_token: string }).registration_access_token;
  }

  const read = (clientId: string, token: string) => registrationManagement({ method: 'GET', clientId, authorization: `Bearer ${token}` }, t.ctx);

  it('RFC 7592 §2.2: an operator\'s replacement racing the client\'s update keeps the token the update issued (the old one stays dead)', async () => {
    const reg = await register();
    let rotated = '';
    const s = interleaved(t.ctx.store, async () => {
      rotated = await clientUpdate(reg.client_id, reg.registration_access_token, 'by the client');
    });
    const ctx: EngineContext = { ...t.ctx, store: s.store };
    const out = await replaceClient(ctx, reg.client_id, { redirect_uris: [CB], client_name: 'by the operator' });
    expect(out.client.clientName).toBe('by the operator');
    expect(rotated).not.toBe('');
    // The client's new token works; the operator's write did not put the old one back.
    const now = await read(reg.client_id, rotated);
    expect(now.action, now.resultMessage).toBe('OK');
    expect(JSON.parse(now.responseContent as string)).toMatchObject({ client_name: 'by the operator' });
    expect((await read(reg.client_id, reg.registration_access_token)).status).toBe(401);
  });

  it('RFC 7592 §2.2: a secret rotation racing the client\'s update keeps the token the update issued, and the new secret works', async () => {
    const reg = await register();
    let rotated = '';
    const s = interleaved(t.ctx.store, async () => {
      rotated = await clientUpdate(reg.client_id, reg.registration_access_token, 'renamed');
    });
    const out = await rotateClientSecret({ ...t.ctx, store: s.store }, reg.client_id, 60);
    const stored = (await t.ctx.store.transaction((tx) => tx.findClient(t.ctx.tenant.id, reg.client_id)))!;
    expect(t.ctx.hasher.verify(out.json.client_secret as string, stored.secretHash!)).toBe(true);
    expect(stored.clientName).toBe('renamed'); // the client's update is not undone either
    expect((await read(reg.client_id, rotated)).action).toBe('OK');
    expect((await read(reg.client_id, reg.registration_access_token)).status).toBe(401);
  });

  it('an operator write that keeps losing to the client\'s updates is a 409 conflict, and leaves the client\'s latest token in place', async () => {
    const reg = await register();
    let token = reg.registration_access_token;
    const s = interleaved(t.ctx.store, async () => {
      token = await clientUpdate(reg.client_id, token, `client ${token.slice(0, 4)}`);
    }, 10);
    const err = await replaceClient({ ...t.ctx, store: s.store }, reg.client_id, { redirect_uris: [CB], client_name: 'operator' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect((err as ServiceError).status).toBe(409);
    expect(s.writes()).toBe(2); // one retry, not a loop
    expect((await read(reg.client_id, token)).action).toBe('OK');
  });

  it('an operator write racing the client\'s own deletion is a 404, and does not bring the client back', async () => {
    const reg = await register();
    const s = interleaved(t.ctx.store, async () => {
      const r = await registrationManagement({ method: 'DELETE', clientId: reg.client_id, authorization: `Bearer ${reg.registration_access_token}` }, t.ctx);
      expect(r.action).toBe('DELETED');
    });
    const err = await rotateClientSecret({ ...t.ctx, store: s.store }, reg.client_id, 0).catch((e: unknown) => e);
    expect((err as ServiceError).status).toBe(404);
    expect(await t.ctx.store.transaction((tx) => tx.findClient(t.ctx.tenant.id, reg.client_id))).toBeUndefined();
  });

  it('a client with no registration access token (registered by an operator) is replaced as before', async () => {
    const c = await t.client({ redirect_uris: [CB], client_name: 'static' });
    const out = await replaceClient(t.ctx, c.clientId, { redirect_uris: [CB], client_name: 'static 2' });
    expect(out.client.registrationAccessTokenHash).toBeUndefined();
    expect((await t.ctx.store.transaction((tx) => tx.findClient(t.ctx.tenant.id, c.clientId)))!.clientName).toBe('static 2');
    const rot = await rotateClientSecret(t.ctx, c.clientId, 0);
    expect(t.ctx.hasher.verify(rot.json.client_secret as string, (await t.ctx.store.transaction((tx) => tx.findClient(t.ctx.tenant.id, c.clientId)))!.secretHash!)).toBe(true);
  });
});
