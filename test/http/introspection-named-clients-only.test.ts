import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import { createAdminToken } from '../../src/services/management-tokens.js';
import { registerClient } from '../../src/services/clients.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Creds = { clientId: string; clientSecret?: string };
const insecure = { [oauth.allowInsecureRequests]: true } as const;

/**
 * RFC 7662 §4 with the tenant-wide setting introspectionNamedClientsOnly, over HTTP with oauth4webapi: an access
 * token is described only to its own client and to the introspection_clients named by a resource server of its
 * audience; every other caller gets {"active":false} (RFC 7662 §2.2). Off, the default is unchanged.
 */
describe('introspectionNamedClientsOnly (RFC 7662 §4)', () => {
  const NAMED = 'https://named.example/api';
  const OPEN = 'https://open.example/api';

  async function setUp(s: TestServer, tenant = 'default', issuer = s.issuer) {
    const ctx = tenant === 'default' ? s.ctx : await s.lk.context(tenant);
    const client = async (meta: Record<string, unknown>): Promise<Creds> => {
      const { json } = await registerClient(ctx, { grant_types: ['client_credentials'], ...meta });
      return { clientId: json.client_id as string, clientSecret: json.client_secret as string };
    };
    const app = await client({ scope: 'named:read open:read misc' });
    const rs = await client({ scope: 'introspect' });
    const stranger = await client({ scope: 'introspect' });
    const admin = (await createAdminToken(s.lk, { name: 'test' })).token;
    for (const body of [
      { identifier: NAMED, scope: 'named:read', introspection_clients: [rs.clientId] },
      { identifier: OPEN, scope: 'open:read' },
    ]) {
      const created = await fetch(s.url(`/admin/tenants/${tenant}/resource-servers`), {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(created.status).toBe(201);
    }
    const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure }));
    const issue = async (params: Record<string, string>) => {
      const c: oauth.Client = { client_id: app.clientId };
      const res = await oauth.clientCredentialsGrantRequest(as, c, oauth.ClientSecretBasic(app.clientSecret!), new URLSearchParams(params), insecure);
      return (await oauth.processClientCredentialsResponse(as, c, res)).access_token;
    };
    const introspect = async (caller: Creds, tok: string, requestJwtResponse = false) => {
      const c: oauth.Client = { client_id: caller.clientId };
      const res = await oauth.introspectionRequest(as, c, oauth.ClientSecretBasic(caller.clientSecret!), tok, { requestJwtResponse, ...insecure });
      expect(res.status).toBe(200);
      return oauth.processIntrospectionResponse(as, c, res);
    };
    return { app, rs, stranger, issue, introspect };
  }

  describe('on (configuration)', () => {
    let s: TestServer;
    let t: Awaited<ReturnType<typeof setUp>>;
    beforeAll(async () => {
      s = await startTestServer({ introspectionNamedClientsOnly: true });
      t = await setUp(s);
    });
    afterAll(() => s.close());

    it('RFC 7662 §4: a token for a resource server that names no introspection_clients is shown only to its own client', async () => {
      const at = await t.issue({ resource: OPEN, scope: 'open:read' });
      expect(await t.introspect(t.app, at)).toMatchObject({ active: true, aud: OPEN });
      expect(await t.introspect(t.stranger, at)).toEqual({ active: false });
      expect(await t.introspect(t.rs, at)).toEqual({ active: false });
      expect(await t.introspect(t.stranger, at, true)).toEqual({ active: false }); // RFC 9701: the signed answer too
    });

    it('RFC 7662 §4: a token for a resource server naming its introspection_clients is shown to those and to its own client', async () => {
      const at = await t.issue({ resource: NAMED, scope: 'named:read' });
      expect(await t.introspect(t.rs, at)).toMatchObject({ active: true, aud: NAMED });
      expect((await t.introspect(t.app, at)).active).toBe(true);
      expect(await t.introspect(t.stranger, at)).toEqual({ active: false });
    });

    it('RFC 7662 §4: a token naming no resource server (audience the issuer) is shown only to its own client', async () => {
      const at = await t.issue({ scope: 'misc' });
      expect((await t.introspect(t.app, at)).active).toBe(true);
      expect(await t.introspect(t.stranger, at)).toEqual({ active: false });
    });
  });

  describe('off (default)', () => {
    let s: TestServer;
    let t: Awaited<ReturnType<typeof setUp>>;
    beforeAll(async () => {
      s = await startTestServer();
      t = await setUp(s);
    });
    afterAll(() => s.close());

    it('RFC 7662 §4 default: resource servers naming none leave their tokens to any confidential client; named ones still restrict', async () => {
      expect((await t.introspect(t.stranger, await t.issue({ resource: OPEN, scope: 'open:read' }))).active).toBe(true);
      expect((await t.introspect(t.stranger, await t.issue({ scope: 'misc' }))).active).toBe(true);
      expect(await t.introspect(t.stranger, await t.issue({ resource: NAMED, scope: 'named:read' }))).toEqual({ active: false });
    });

    it('RFC 7662 §4: a tenant may turn the rule on for itself (tenant settings.introspectionNamedClientsOnly)', async () => {
      const admin = (await createAdminToken(s.lk, { name: 'tenants' })).token;
      const res = await fetch(s.url('/admin/tenants'), {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'strict', settings: { introspectionNamedClientsOnly: true } }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
      const strict = await setUp(s, 'strict', `${s.issuer}/t/strict`);
      expect(await strict.introspect(strict.stranger, await strict.issue({ resource: OPEN, scope: 'open:read' }))).toEqual({ active: false });
      expect((await strict.introspect(strict.app, await strict.issue({ scope: 'misc' }))).active).toBe(true);
    });
  });
});
