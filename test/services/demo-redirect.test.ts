import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CLIENT_ID, ensureDemo } from '../../src/services/demo.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

describe('demo bootstrap with an http issuer off the loopback interface', () => {
  let t: TestLatchkey;
  beforeAll(async () => {
    t = await openTestLatchkey({ issuer: 'http://latchkey.internal:9000' });
  });
  afterAll(() => t.close());

  it('http redirect URIs need loopback, so the demo client is client_credentials only and start-up does not fail', async () => {
    const text = await ensureDemo(t.ctx);
    expect(text).toMatch(/redirect_uri\s+\(none/);
    const c = await t.ctx.store.findClient(t.ctx.tenant.id, DEMO_CLIENT_ID);
    expect(c).toMatchObject({ grantTypes: ['client_credentials'], redirectUris: [] });
  });
});
