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

// The other way round: the client's own RFC 7592 update is in flight (it has read the client and built its record) when
// an operator writes. The operator keeps the client's registration access token, so only the client's revision tells the
// client's write that what it read is gone. Deterministic as above: the operator's write runs to the end just before
// the client's write reaches the store.
describe('the client\'s own RFC 7592 update racing an operator\'s write', () => {
  let t: TestLatchkey;
  beforeAll(async () => {
    t = await openTestLatchkey({ registration: 'open' });
  });
  afterAll(() => t.close());

  async function register(extra: Record<string, unknown> = {}) {
    const r = await registration({ body: JSON.stringify({ redirect_uris: [CB], client_name: 'self', ...extra }), contentType: 'application/json' }, t.ctx);
    expect(r.action, r.resultMessage).toBe('CREATED');
    return JSON.parse(r.responseContent as string) as { client_id: string; client_secret: string; registration_access_token: string };
  }
  const put = (ctx: EngineContext, clientId: string, token: string, body: Record<string, unknown>) =>
    registrationManagement(
      { method: 'PUT', clientId, authorization: `Bearer ${token}`, contentType: 'application/json', body: JSON.stringify({ client_id: clientId, ...body }) },
      ctx,
    );
  const stored = async (clientId: string) => (await t.ctx.store.transaction((tx) => tx.findClient(t.ctx.tenant.id, clientId)))!;
  const read = (clientId: string, token: string) => registrationManagement({ method: 'GET', clientId, authorization: `Bearer ${token}` }, t.ctx);

  it('RFC 7592 §2.2: an operator\'s secret rotation during the client\'s update survives it (the update is rebuilt on the rotated client)', async () => {
    const reg = await register();
    let secret = '';
    const s = interleaved(t.ctx.store, async () => {
      secret = (await rotateClientSecret(t.ctx, reg.client_id, 0)).json.client_secret as string;
    });
    const r = await put({ ...t.ctx, store: s.store }, reg.client_id, reg.registration_access_token, { redirect_uris: [CB], client_name: 'renamed' });
    expect(r.action, r.resultMessage).toBe('OK');
    expect(s.writes()).toBe(2); // the first write lost on the revision, the rebuilt one went through
    const now = await stored(reg.client_id);
    expect(t.ctx.hasher.verify(secret, now.secretHash!)).toBe(true); // the operator's new secret, not the one the client read
    expect(t.ctx.hasher.verify(reg.client_secret, now.secretHash!)).toBe(false);
    expect(now.previousSecretHash).toBeUndefined(); // grace 0: the old secret is not brought back as the previous one either
    expect(now.clientName).toBe('renamed');
    const token = (JSON.parse(r.responseContent as string) as { registration_access_token: string }).registration_access_token;
    expect((await read(reg.client_id, token)).action).toBe('OK');
    expect((await read(reg.client_id, reg.registration_access_token)).status).toBe(401);
  });

  it('RFC 7592 §2.2: scope an operator takes away during the client\'s update stays away (the update is refused on the narrowed client)', async () => {
    const reg = await register();
    // The operator gave the client a scope dynamic registration does not allow; the client keeps it in its updates.
    await replaceClient(t.ctx, reg.client_id, { redirect_uris: [CB], client_name: 'self', scope: 'openid api:write' });
    const s = interleaved(t.ctx.store, async () => {
      await replaceClient(t.ctx, reg.client_id, { redirect_uris: [CB], client_name: 'self', scope: 'openid' });
    });
    const r = await put({ ...t.ctx, store: s.store }, reg.client_id, reg.registration_access_token, { redirect_uris: [CB], client_name: 'renamed', scope: 'openid api:write' });
    expect(r.status, r.resultMessage).toBe(400); // rebuilt on the narrowed client: api:write is not the client's to ask for
    expect(JSON.parse(r.responseContent as string)).toMatchObject({ error: 'invalid_client_metadata' });
    const now = await stored(reg.client_id);
    expect(now.scope).toEqual(['openid']);
    expect(now.clientName).toBe('self');
    expect((await read(reg.client_id, reg.registration_access_token)).action).toBe('OK'); // nothing written: the token still works
  });

  it('RFC 7592 §2.2: an operator setting (skip_consent) turned off during the client\'s update stays off (the update is rebuilt on what is stored)', async () => {
    const reg = await register();
    await replaceClient(t.ctx, reg.client_id, { redirect_uris: [CB], client_name: 'self', skip_consent: true });
    const s = interleaved(t.ctx.store, async () => {
      await replaceClient(t.ctx, reg.client_id, { redirect_uris: [CB], client_name: 'self' });
    });
    // The client's update was built on the client it read, with the operator's skip_consent: true carried over.
    const r = await put({ ...t.ctx, store: s.store }, reg.client_id, reg.registration_access_token, { redirect_uris: [CB], client_name: 'renamed' });
    expect(r.action, r.resultMessage).toBe('OK');
    expect(JSON.parse(r.responseContent as string)).not.toHaveProperty('skip_consent', true);
    const now = await stored(reg.client_id);
    expect(now.skipConsent).toBe(false);
    expect(now.clientName).toBe('renamed');
  });

  it('a client\'s update losing twice to operator writes is 409 (LK7190), writes nothing, and its token keeps working', async () => {
    const reg = await register();
    let n = 0;
    const s = interleaved(t.ctx.store, async () => {
      await replaceClient(t.ctx, reg.client_id, { redirect_uris: [CB], client_name: `operator ${++n}` });
    }, 10);
    const r = await put({ ...t.ctx, store: s.store }, reg.client_id, reg.registration_access_token, { redirect_uris: [CB], client_name: 'client' });
    expect(r.status, r.resultMessage).toBe(409);
    expect(r.resultCode).toBe('LK7190');
    expect(s.writes()).toBe(2); // one retry, not a loop
    expect((await stored(reg.client_id)).clientName).toBe('operator 2');
    expect((await read(reg.client_id, reg.registration_access_token)).action).toBe('OK');
  });

  it('RFC 7592 §2.2: a client\'s update racing its own update with the same token is still 401 (the token was rotated), not retried', async () => {
    const reg = await register();
    let other: Awaited<ReturnType<typeof put>> | undefined;
    const s = interleaved(t.ctx.store, async () => {
      other = await put(t.ctx, reg.client_id, reg.registration_access_token, { redirect_uris: [CB], client_name: 'first' });
    });
    const r = await put({ ...t.ctx, store: s.store }, reg.client_id, reg.registration_access_token, { redirect_uris: [CB], client_name: 'second' });
    expect(other!.action).toBe('OK');
    expect(r.status).toBe(401);
    expect(s.writes()).toBe(1);
    expect((await stored(reg.client_id)).clientName).toBe('first');
  });
});

describe('two operator writes racing', () => {
  let t: TestLatchkey;
  beforeAll(async () => {
    t = await openTestLatchkey();
  });
  afterAll(() => t.close());

  it('a replacement built before another operator\'s secret rotation is rebuilt, and the rotated secret survives it (the revision, not the token, tells)', async () => {
    const c = await t.client({ redirect_uris: [CB], client_name: 'static' }); // no registration access token to compare
    let secret = '';
    const s = interleaved(t.ctx.store, async () => {
      secret = (await rotateClientSecret(t.ctx, c.clientId, 0)).json.client_secret as string;
    });
    await replaceClient({ ...t.ctx, store: s.store }, c.clientId, { redirect_uris: [CB], client_name: 'static 2' });
    expect(s.writes()).toBe(2);
    const now = (await t.ctx.store.transaction((tx) => tx.findClient(t.ctx.tenant.id, c.clientId)))!;
    expect(t.ctx.hasher.verify(secret, now.secretHash!)).toBe(true);
    expect(now.clientName).toBe('static 2');
  });
});
