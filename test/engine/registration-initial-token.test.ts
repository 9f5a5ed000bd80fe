import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineContext } from '../../src/engine/context.js';
import { registration } from '../../src/engine/registration.js';
import { createInitialAccessToken } from '../../src/services/management-tokens.js';
import type { Store } from '../../src/store/types.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

describe('initial access tokens (RFC 7591 §3, engine)', () => {
  let t: TestLatchkey;
  beforeAll(async () => {
    t = await openTestLatchkey({ registration: 'token' });
  });
  afterAll(() => t.close());

  /** A store whose client insert fails (an outage, a constraint), inside a transaction or not. */
  const failingInsert = (store: Store): Store =>
    new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'createClient') return async () => { throw new Error('insert failed'); };
        if (prop === 'transaction') return <T>(fn: (tx: Store) => Promise<T>) => target.transaction((tx) => fn(failingInsert(tx)));
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });

  const register = (token: string, ctx: EngineContext = t.ctx) =>
    registration({ body: JSON.stringify({ grant_types: ['client_credentials'] }), contentType: 'application/json', authorization: `Bearer ${token}` }, ctx);

  it('RFC 7591 §3: a use of a counted initial access token is spent only with a client stored: a registration whose insert fails keeps it', async () => {
    const { token } = await createInitialAccessToken(t.lk, { tenantId: 'default', uses: 1 });
    const failed = await register(token, { ...t.ctx, store: failingInsert(t.ctx.store) });
    expect(failed.action).toBe('INTERNAL_SERVER_ERROR');
    const ok = await register(token);
    expect(ok.action).toBe('CREATED');
    expect(await t.ctx.store.findClient('default', ok.clientId!)).toBeDefined();
    expect((await register(token)).action).toBe('UNAUTHORIZED');
  });
});
