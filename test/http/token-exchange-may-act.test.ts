// Token exchange over HTTP (RFC 8693 §4.4 may_act), with real clients: exchanges through oauth4webapi's generic token
// endpoint request (it has no token-exchange helper), introspection through oauth4webapi (RFC 7662), JWT access
// tokens validated by a resource server written with oauth4webapi (RFC 9068). The operator says, per client
// (access_token_may_act), who may act for the subject of its tokens; the tokens say it (may_act) to resource servers
// and the exchange enforces it.
import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replaceClient } from '../../src/services/clients.js';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { DEFAULT_TENANT } from '../../src/store/types.js';
import { core } from '../helpers/core-api.js';
import { registerResourceServer } from '../../src/services/resources.js';
import { startResourceServer, type TestResourceServer } from '../helpers/resource-server.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

type Creds = { clientId: string; clientSecret?: string };
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const API1 = 'https://api1.example/';
const API2 = 'https://api2.example/';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe('token exchange: may_act over HTTP (RFC 8693 §4.4)', () => {
  let s: TestServer;
  let as: oauth.AuthorizationServer;
  let api1: TestResourceServer;
  let app: Creds; // password grant for its users; its tokens say only svc-one may act for them
  let svc1: Creds; // the service named; also introspects
  let svc2: Creds; // another service that accepts tokens for API 1

  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
    as = await oauth.processDiscoveryResponse(new URL(s.issuer), await oauth.discoveryRequest(new URL(s.issuer), insecure));
    await registerResourceServer(s.ctx, { identifier: API1, scope: 'api1', access_token_format: 'jwt' });
    await registerResourceServer(s.ctx, { identifier: API2, scope: 'api2' });
    const policy = { subject_token_types: [AT, JWT], actor_token_types: [AT], subject_token_audiences: [API1], impersonation: true, delegation: true };
    svc1 = await s.client({ client_id: 'svc-one', grant_types: ['client_credentials', GRANT], scope: 'api1 api2', token_exchange: policy });
    svc2 = await s.client({ client_id: 'svc-two', grant_types: ['client_credentials', GRANT], scope: 'api1 api2', token_exchange: policy });
    app = await s.client({
      grant_types: ['password', 'refresh_token', GRANT], insecure_password_grant: true, scope: 'openid offline_access api1 api2',
      token_exchange: { subject_token_types: [AT], impersonation: true, delegation: true }, access_token_may_act: { sub: 'svc-one' },
    });
    await s.user('ivy', 'ivy-password-123');
    api1 = await startResourceServer(s.issuer, API1);
  });
  afterAll(async () => {
    await api1?.close();
    await s?.close();
  });

  /** An exchange by `c` through oauth4webapi: the token response, or the OAuth error it answered. */
  async function exchange(c: Creds, params: Record<string, string>): Promise<{ ok: true; body: oauth.TokenEndpointResponse } | { ok: false; error: string; description?: string }> {
    const client: oauth.Client = { client_id: c.clientId };
    const response = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(c.clientSecret!), GRANT, new URLSearchParams(params), insecure);
    try {
      return { ok: true, body: await oauth.processGenericTokenEndpointResponse(as, client, response) };
    } catch (e) {
      if (e instanceof oauth.ResponseBodyError) return { ok: false, error: e.error, description: e.error_description };
      throw e;
    }
  }
  const issued = (r: Awaited<ReturnType<typeof exchange>>) => {
    if (!r.ok) throw new Error(`exchange refused: ${r.error} ${r.description}`);
    return r.body;
  };
  const post = (c: Creds, body: Record<string, string>) => postForm(s.url('/oauth/token'), body, { authorization: basic(c.clientId, c.clientSecret!) });
  const ownToken = async (c: Creds) => (await post(c, { grant_type: 'client_credentials', scope: 'api1' })).json.access_token as string;
  const ivyToken = async () => {
    const r = await post(app, { grant_type: 'password', username: 'ivy', password: 'ivy-password-123', scope: 'openid api1', resource: API1 });
    expect(r.status, r.text).toBe(200);
    return r.json.access_token as string;
  };
  /** RFC 7662 through oauth4webapi, by svc-one. */
  async function introspect(tok: string): Promise<oauth.IntrospectionResponse> {
    const client = { client_id: svc1.clientId };
    const res = await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic(svc1.clientSecret!), tok, insecure);
    return oauth.processIntrospectionResponse(as, client, res);
  }

  it('RFC 8693 §4.4, RFC 9068, RFC 7662: the client\'s access token says who may act for its subject, in the JWT a resource server validates and at introspection alike', async () => {
    const tok = await ivyToken();
    expect(decodeJwt(tok).may_act).toEqual({ sub: 'svc-one' });
    const res = await api1.call(tok);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.claims.may_act).toEqual({ sub: 'svc-one' });
    expect(await introspect(tok)).toMatchObject({ active: true, may_act: { sub: 'svc-one' } });
  });

  it('RFC 8693 §4.4, §2.2.2: delegation by the party may_act names is issued (act in the JWT and at introspection); by another it is invalid_request', async () => {
    const tok = await ivyToken();
    const ok = issued(await exchange(svc1, { subject_token: tok, subject_token_type: AT, actor_token: await ownToken(svc1), actor_token_type: AT, resource: API1 }));
    const res = await api1.call(ok.access_token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.claims).toMatchObject({ client_id: 'svc-one', act: { sub: 'svc-one' } });
    expect(res.body.claims.may_act).toBeUndefined(); // svc-one's own tokens name nobody
    expect(await introspect(ok.access_token)).toMatchObject({ active: true, act: { sub: 'svc-one' } });
    const no = await exchange(svc2, { subject_token: tok, subject_token_type: AT, actor_token: await ownToken(svc2), actor_token_type: AT, resource: API1 });
    expect(no).toMatchObject({ ok: false, error: 'invalid_request' });
    expect(!no.ok && no.description).toMatch(/may_act/);
  });

  it('RFC 8693 §4.4, §2.2.2: impersonation by the client may_act names is issued; by another client it is invalid_request; the token\'s own client still re-targets it', async () => {
    const tok = await ivyToken();
    expect(issued(await exchange(svc1, { subject_token: tok, subject_token_type: JWT, resource: API1 })).issued_token_type).toBe(AT);
    expect(await exchange(svc2, { subject_token: tok, subject_token_type: JWT, resource: API1 })).toMatchObject({ ok: false, error: 'invalid_request' });
    expect(issued(await exchange(app, { subject_token: tok, subject_token_type: AT, resource: API1 })).scope).toBe('api1');
  });

  it('Core API auth/introspection tells a resource server act and may_act as the JWT and RFC 7662 do', async () => {
    const service = (await createServiceToken(s.lk, { name: 'tests' })).token;
    const tok = await ivyToken();
    const plain = await core(s, DEFAULT_TENANT, 'auth/introspection', { token: tok, scopes: ['api1'] }, service);
    expect(plain.json, plain.text).toMatchObject({ action: 'OK', mayAct: { sub: 'svc-one' } });
    expect(plain.json.act).toBeUndefined();
    const ok = issued(await exchange(svc1, { subject_token: tok, subject_token_type: AT, actor_token: await ownToken(svc1), actor_token_type: AT, resource: API1 }));
    const delegated = await core(s, DEFAULT_TENANT, 'auth/introspection', { token: ok.access_token, scopes: ['api1'] }, service);
    expect(delegated.json, delegated.text).toMatchObject({ action: 'OK', act: { sub: 'svc-one' } });
    expect(delegated.json.mayAct).toBeUndefined();
  });

  it('RFC 8693 §4.4: a token exchanged by a client with access_token_may_act says its own client\'s policy, enforced at the next hop', async () => {
    await replaceClient(s.ctx, svc1.clientId, {
      grant_types: ['client_credentials', GRANT], scope: 'api1 api2', token_endpoint_auth_method: 'client_secret_basic', access_token_may_act: { sub: 'svc-two' },
      token_exchange: { subject_token_types: [AT, JWT], actor_token_types: [AT], subject_token_audiences: [API1], impersonation: true, delegation: true },
    });
    try {
      const hop1 = issued(await exchange(svc1, { subject_token: await ivyToken(), subject_token_type: AT, actor_token: await ownToken(svc1), actor_token_type: AT, resource: API1 }));
      expect(decodeJwt(hop1.access_token)).toMatchObject({ act: { sub: 'svc-one' }, may_act: { sub: 'svc-two' } });
      const hop2 = issued(await exchange(svc2, { subject_token: hop1.access_token, subject_token_type: JWT, actor_token: await ownToken(svc2), actor_token_type: AT, resource: API1 }));
      expect(decodeJwt(hop2.access_token).act).toEqual({ sub: 'svc-two', act: { sub: 'svc-one' } });
      expect(await exchange(svc1, { subject_token: hop1.access_token, subject_token_type: JWT, actor_token: await ownToken(svc1), actor_token_type: AT, resource: API1 })).toMatchObject({ ok: false, error: 'invalid_request' });
    } finally {
      await replaceClient(s.ctx, svc1.clientId, {
        grant_types: ['client_credentials', GRANT], scope: 'api1 api2', token_endpoint_auth_method: 'client_secret_basic',
        token_exchange: { subject_token_types: [AT, JWT], actor_token_types: [AT], subject_token_audiences: [API1], impersonation: true, delegation: true },
      });
    }
  });

  it('RFC 7591 §2: access_token_may_act is the operator\'s: a client registering itself cannot set it, and its RFC 7592 update keeps the operator\'s', async () => {
    const reg = await fetch(s.url('/oauth/register'), {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'openid', access_token_may_act: { sub: 'svc-one' } }),
    });
    expect(reg.status).toBe(201);
    const body = (await reg.json()) as Record<string, any>;
    expect(body.access_token_may_act).toBeUndefined();
    await replaceClient(s.ctx, body.client_id, { grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'openid', access_token_may_act: { sub: 'svc-one' } });
    const read = await fetch(body.registration_client_uri, { headers: { authorization: `Bearer ${body.registration_access_token}` } });
    const current = (await read.json()) as Record<string, any>;
    expect(current.access_token_may_act).toEqual({ sub: 'svc-one' });
    const put = await fetch(body.registration_client_uri, {
      method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${current.registration_access_token ?? body.registration_access_token}` },
      body: JSON.stringify({ client_id: body.client_id, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'openid', access_token_may_act: { sub: 'svc-two' } }),
    });
    expect(put.status).toBe(200);
    expect(((await put.json()) as Record<string, any>).access_token_may_act).toEqual({ sub: 'svc-one' });
  });
});
