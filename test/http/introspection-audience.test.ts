import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import { createAdminToken } from '../../src/services/management-tokens.js';
import { registerResourceServer } from '../../src/services/resources.js';
import { core, testService, type TestService } from '../helpers/core-api.js';
import { basic, startTestServer, type TestServer } from '../helpers/server.js';

type Creds = { clientId: string; clientSecret?: string };
const insecure = { [oauth.allowInsecureRequests]: true } as const;

/**
 * RFC 7662 §4 over HTTP: a resource server registered (through the admin API) with introspection_clients has its
 * tokens shown only to those clients and to each token's own client. Real clients: oauth4webapi gets the token
 * (RFC 8707 resource) and introspects it (JSON and RFC 9701 JWT).
 */
describe('introspection of audience-restricted tokens over HTTP (RFC 7662 §4)', () => {
  let s: TestServer;
  let app: Creds;
  let rs: Creds;
  let stranger: Creds;
  let as: oauth.AuthorizationServer;
  const API = 'https://orders.example/api';

  beforeAll(async () => {
    s = await startTestServer();
    app = await s.client({ grant_types: ['client_credentials'], scope: 'orders:read' });
    rs = await s.client({ grant_types: ['client_credentials'], scope: 'introspect' });
    stranger = await s.client({ grant_types: ['client_credentials'], scope: 'introspect' });
    const admin = (await createAdminToken(s.lk, { name: 'test' })).token;
    const created = await fetch(s.url('/admin/tenants/default/resource-servers'), {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ identifier: API, scope: 'orders:read', introspection_clients: [rs.clientId] }),
    });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ identifier: API, introspection_clients: [rs.clientId] });
    as = await oauth.processDiscoveryResponse(new URL(s.issuer), await oauth.discoveryRequest(new URL(s.issuer), { algorithm: 'oauth2', ...insecure }));
  });
  afterAll(() => s.close());

  const issue = async () => {
    const c: oauth.Client = { client_id: app.clientId };
    const res = await oauth.clientCredentialsGrantRequest(as, c, oauth.ClientSecretBasic(app.clientSecret!), new URLSearchParams({ resource: API }), insecure);
    const body = await oauth.processClientCredentialsResponse(as, c, res);
    return body.access_token;
  };
  const introspect = async (caller: Creds, tok: string, requestJwtResponse = false) => {
    const c: oauth.Client = { client_id: caller.clientId };
    const res = await oauth.introspectionRequest(as, c, oauth.ClientSecretBasic(caller.clientSecret!), tok, { requestJwtResponse, ...insecure });
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await oauth.processIntrospectionResponse(as, c, res);
    if (requestJwtResponse) {
      expect(res.headers.get('content-type')).toBe('application/token-introspection+jwt');
      await oauth.validateApplicationLevelSignature(as, res, insecure);
    }
    return body;
  };

  it('RFC 7662 §4: the named resource server sees the token; its own client too; any other client gets {"active":false}', async () => {
    const at = await issue();
    expect(await introspect(rs, at)).toMatchObject({ active: true, aud: API, client_id: app.clientId, scope: 'orders:read' });
    expect((await introspect(app, at)).active).toBe(true);
    expect(await introspect(stranger, at)).toEqual({ active: false });
    expect(await introspect(stranger, 'no-such-token')).toEqual({ active: false }); // the same answer as an unknown token
  });

  it('RFC 9701 with RFC 7662 §4: the signed answer follows the same rule', async () => {
    const at = await issue();
    expect(await introspect(rs, at, true)).toMatchObject({ active: true, aud: API });
    expect(await introspect(stranger, at, true)).toEqual({ active: false });
  });

  describe('Core API (one service)', () => {
    let svc: TestService;
    let svcApp: Creds;
    let svcRs: Creds;
    let svcStranger: Creds;
    const call = (path: string, body: unknown) => core(s, svc.id, path, body, svc.token);

    beforeAll(async () => {
      svc = await testService(s, 'rsintro');
      svcApp = await svc.client({ grant_types: ['client_credentials'], scope: 'orders:read' });
      svcRs = await svc.client({ grant_types: ['client_credentials'], scope: 'introspect' });
      svcStranger = await svc.client({ grant_types: ['client_credentials'], scope: 'introspect' });
      await registerResourceServer(svc.ctx, { identifier: API, scope: 'orders:read', introspection_clients: [svcRs.clientId] });
    });

    const svcToken = async () => {
      const r = await call('auth/token', { parameters: new URLSearchParams({ grant_type: 'client_credentials', resource: API }).toString(), authorization: basic(svcApp.clientId, svcApp.clientSecret!) });
      expect(r.json.action).toBe('OK');
      return JSON.parse(r.json.responseContent).access_token as string;
    };

    it('RFC 7662 §4: auth/introspection/standard (the RFC 7662 pass-through) applies the rule to the authenticated client', async () => {
      const at = await svcToken();
      const std = (c: Creds) => call('auth/introspection/standard', { parameters: `token=${encodeURIComponent(at)}`, authorization: basic(c.clientId, c.clientSecret!) });
      expect(JSON.parse((await std(svcRs)).json.responseContent)).toMatchObject({ active: true, aud: API });
      const refused = await std(svcStranger);
      expect(refused.json).toMatchObject({ action: 'OK', resultCode: 'LK5002' });
      expect(refused.json.responseContent).toBe('{"active":false}');
    });

    it('auth/introspection (service token) is the service\'s own check, not a client\'s: it answers OK with the audience for the caller to check', async () => {
      const r = await call('auth/introspection', { token: await svcToken(), scopes: ['orders:read'] });
      expect(r.json).toMatchObject({ action: 'OK', audience: [API], clientId: svcApp.clientId });
    });
  });
});
