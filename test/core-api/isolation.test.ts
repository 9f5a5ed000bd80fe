import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInitialAccessToken } from '../../src/services/management-tokens.js';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { core, testService, type TestService } from '../helpers/core-api.js';
import { basic, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://app.example/cb';
const form = (p: Record<string, string>) => new URLSearchParams(p).toString();
const now = () => Math.floor(Date.now() / 1000);
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * Services are tenants: nothing one issues (ticket, code, token, client, key) is accepted by another, through
 * any endpoint. Both services register a client with the same client_id, so that only the tenant tells them apart.
 */
describe('Core API tenant isolation', () => {
  let s: TestServer;
  let a: TestService;
  let b: TestService;
  let all: string;
  const creds: Record<string, { clientId: string; clientSecret?: string }> = {};

  beforeAll(async () => {
    s = await startTestServer({ registration: 'token' });
    a = await testService(s, 'svc-a', 'https://a.example');
    b = await testService(s, 'svc-b', 'https://b.example');
    all = (await createServiceToken(s.lk, { name: 'all' })).token;
    const meta = { client_id: 'shared-app', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid profile offline_access', access_token_format: 'jwt' };
    creds.a = await a.client(meta);
    creds.b = await b.client(meta);
    creds.aOnly = await a.client({ client_id: 'a-only', redirect_uris: [CB] });
    const tv = { client_id: 'shared-tv', grant_types: [DEVICE_GRANT], token_endpoint_auth_method: 'none', scope: 'openid' };
    await a.client(tv);
    await b.client(tv);
  });
  afterAll(() => s.close());

  const call = (svc: TestService, path: string, body: unknown) => core(s, svc.id, path, body, all);
  const authz = (svc: TestService, clientId: string, extra: Record<string, string> = {}) =>
    call(svc, 'auth/authorization', { parameters: form({ response_type: 'code', client_id: clientId, redirect_uri: CB, scope: 'openid profile offline_access', state: 's', ...extra }) });

  async function ticketIn(svc: TestService): Promise<string> {
    return (await authz(svc, 'shared-app')).json.ticket;
  }
  async function codeIn(svc: TestService): Promise<string> {
    const r = await call(svc, 'auth/authorization/issue', { ticket: await ticketIn(svc), subject: 'alice', authTime: now() });
    return new URL(r.json.responseContent).searchParams.get('code')!;
  }
  async function tokensIn(svc: TestService, who: 'a' | 'b'): Promise<{ access_token: string; refresh_token: string; id_token: string }> {
    const r = await call(svc, 'auth/token', { parameters: form({ grant_type: 'authorization_code', code: await codeIn(svc), redirect_uri: CB }), authorization: basic('shared-app', creds[who]!.clientSecret!) });
    expect(r.json.action).toBe('OK');
    return JSON.parse(r.json.responseContent);
  }

  it('auth/authorization: a client of A is unknown to B', async () => {
    expect((await authz(a, 'a-only')).json.action).toBe('INTERACTION');
    expect((await authz(b, 'a-only')).json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK3003' });
  });

  it('auth/authorization: an ID token of A is no id_token_hint at B (A\'s keys mean nothing to B)', async () => {
    const t = await tokensIn(a, 'a');
    expect((await authz(a, 'shared-app', { id_token_hint: t.id_token })).json).toMatchObject({ action: 'INTERACTION', idTokenHintSub: 'alice' });
    const r = await authz(b, 'shared-app', { id_token_hint: t.id_token });
    expect(r.json.action).toBe('LOCATION');
    expect(new URL(r.json.responseContent).searchParams.get('error')).toBe('invalid_request');
  });

  it('auth/authorization/issue and /fail: a ticket of A is unknown at B, and stays usable at A', async () => {
    const t = await ticketIn(a);
    expect((await call(b, 'auth/authorization/issue', { ticket: t, subject: 'mallory', authTime: now() })).json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK3006' });
    expect((await call(b, 'auth/authorization/fail', { ticket: t, reason: 'ACCESS_DENIED' })).json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK3006' });
    const ok = await call(a, 'auth/authorization/issue', { ticket: t, subject: 'alice', authTime: now() });
    expect(ok.json.action).toBe('LOCATION');
    expect(new URL(ok.json.responseContent).searchParams.get('iss')).toBe('https://a.example');
  });

  it('auth/token: A\'s code, A\'s refresh token and A\'s client secret are refused at B', async () => {
    const c = await codeIn(a);
    const atB = await call(b, 'auth/token', { parameters: form({ grant_type: 'authorization_code', code: c, redirect_uri: CB }), authorization: basic('shared-app', creds.b!.clientSecret!) });
    expect(atB.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK2004' });
    const atA = await call(a, 'auth/token', { parameters: form({ grant_type: 'authorization_code', code: c, redirect_uri: CB }), authorization: basic('shared-app', creds.a!.clientSecret!) });
    expect(atA.json.action).toBe('OK'); // not consumed by the attempt at B
    const t = JSON.parse(atA.json.responseContent);
    const refresh = await call(b, 'auth/token', { parameters: form({ grant_type: 'refresh_token', refresh_token: t.refresh_token }), authorization: basic('shared-app', creds.b!.clientSecret!) });
    expect(refresh.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK2008' });
    const wrongSecret = await call(b, 'auth/token', { parameters: 'grant_type=refresh_token&refresh_token=x', authorization: basic('shared-app', creds.a!.clientSecret!) });
    expect(wrongSecret.json).toMatchObject({ action: 'INVALID_CLIENT' });
  });

  it('auth/introspection: A\'s (JWT) access token is invalid at B', async () => {
    const t = await tokensIn(a, 'a');
    expect(t.access_token.split('.')).toHaveLength(3);
    expect((await call(a, 'auth/introspection', { token: t.access_token, scopes: [] })).json.action).toBe('OK');
    expect((await call(b, 'auth/introspection', { token: t.access_token, scopes: [] })).json).toMatchObject({ action: 'UNAUTHORIZED', resultCode: 'LK4003' });
  });

  it('auth/introspection/standard: A\'s token is inactive at B, and A\'s client cannot authenticate there', async () => {
    const t = await tokensIn(a, 'a');
    const r = await call(b, 'auth/introspection/standard', { parameters: form({ token: t.access_token }), clientId: 'shared-app', clientSecret: creds.b!.clientSecret });
    expect(JSON.parse(r.json.responseContent)).toEqual({ active: false });
    expect((await call(b, 'auth/introspection/standard', { parameters: form({ token: t.access_token }), clientId: 'shared-app', clientSecret: creds.a!.clientSecret })).json.action).toBe('INVALID_CLIENT');
  });

  it('auth/revocation: B cannot revoke A\'s tokens', async () => {
    const t = await tokensIn(a, 'a');
    const r = await call(b, 'auth/revocation', { parameters: form({ token: t.refresh_token }), clientId: 'shared-app', clientSecret: creds.b!.clientSecret });
    expect(r.json).toMatchObject({ action: 'OK', resultCode: 'LK5006' }); // RFC 7009 §2.2: nothing to revoke
    expect((await call(a, 'auth/introspection', { token: t.access_token, scopes: [] })).json.action).toBe('OK');
  });

  it('auth/userinfo and /issue: A\'s token is invalid at B', async () => {
    const t = await tokensIn(a, 'a');
    expect((await call(b, 'auth/userinfo', { token: t.access_token })).json.action).toBe('UNAUTHORIZED');
    expect((await call(b, 'auth/userinfo/issue', { token: t.access_token, claims: { name: 'x' } })).json.action).toBe('UNAUTHORIZED');
    expect((await call(a, 'auth/userinfo', { token: t.access_token })).json).toMatchObject({ action: 'OK', subject: 'alice' });
  });

  it('service/configuration and service/jwks/get: each service has its own issuer and its own keys', async () => {
    const conf = async (svc: TestService) => JSON.parse((await call(svc, 'service/configuration', {})).json.responseContent);
    expect((await conf(a)).issuer).toBe('https://a.example');
    expect((await conf(b)).issuer).toBe('https://b.example');
    const kids = async (svc: TestService) => JSON.parse((await call(svc, 'service/jwks/get', {})).json.responseContent).keys.map((k: any) => k.kid);
    const [ka, kb] = [await kids(a), await kids(b)];
    expect(ka.filter((k: string) => kb.includes(k))).toEqual([]);
  });

  it('device/authorization, /verification, /complete: a client of A is unknown to B; A\'s user code and device code mean nothing at B', async () => {
    expect((await call(b, 'device/authorization', { parameters: 'client_id=a-only&scope=openid' })).json.action).toBe('UNAUTHORIZED');
    const d = JSON.parse((await call(a, 'device/authorization', { parameters: 'client_id=shared-tv&scope=openid' })).json.responseContent);
    expect((await call(b, 'device/verification', { userCode: d.user_code })).json.action).toBe('NOT_EXIST');
    expect((await call(b, 'device/complete', { userCode: d.user_code, result: 'AUTHORIZED', subject: 'mallory' })).json.action).toBe('USER_CODE_NOT_EXIST');
    const poll = (svc: TestService) => call(svc, 'auth/token', { parameters: form({ grant_type: DEVICE_GRANT, device_code: d.device_code, client_id: 'shared-tv' }) });
    expect((await call(a, 'device/verification', { userCode: d.user_code })).json.action).toBe('VALID'); // untouched at A
    expect((await call(a, 'device/complete', { userCode: d.user_code, result: 'AUTHORIZED', subject: 'alice' })).json.action).toBe('SUCCESS');
    const atB = await poll(b);
    expect(atB.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK7021' });
    expect(JSON.parse(atB.json.responseContent).error).toBe('invalid_grant');
    const atA = await poll(a);
    expect(atA.json.action).toBe('OK');
  });

  it('pushed_auth_req: A\'s request_uri is refused at B\'s auth/authorization, and stays usable at A', async () => {
    const pushed = await call(a, 'pushed_auth_req', { parameters: form({ response_type: 'code', redirect_uri: CB, scope: 'openid', state: 's' }), authorization: basic('shared-app', creds.a!.clientSecret!) });
    expect(pushed.json.action).toBe('CREATED');
    const front = form({ client_id: 'shared-app', request_uri: JSON.parse(pushed.json.responseContent).request_uri });
    const atB = await call(b, 'auth/authorization', { parameters: front });
    expect(atB.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK7006' });
    expect((await call(a, 'auth/authorization', { parameters: front })).json.action).toBe('INTERACTION');
    // A's client secret does not push at B.
    const wrong = await call(b, 'pushed_auth_req', { parameters: form({ response_type: 'code', redirect_uri: CB }), authorization: basic('shared-app', creds.a!.clientSecret!) });
    expect(wrong.json.action).toBe('UNAUTHORIZED');
  });

  it('client/registration (+ get/update/delete): A\'s initial access token does not register at B; A\'s registration access token manages nothing at B', async () => {
    const { token: initialA } = await createInitialAccessToken(s.lk, { tenantId: a.id });
    const body = JSON.stringify({ redirect_uris: [CB], client_name: 'Dyn' });
    const atB = await call(b, 'client/registration', { body, authorization: `Bearer ${initialA}` });
    expect(atB.json).toMatchObject({ action: 'UNAUTHORIZED', resultCode: 'LK8027' });
    const created = await call(a, 'client/registration', { body, authorization: `Bearer ${initialA}` });
    expect(created.json.action).toBe('CREATED');
    const c = JSON.parse(created.json.responseContent);
    expect(c.registration_client_uri).toMatch(/^https:\/\/a\.example\/oauth\/register\//);
    const auth = `Bearer ${c.registration_access_token}`;
    expect((await call(b, 'client/registration/get', { clientId: c.client_id, authorization: auth })).json.action).toBe('UNAUTHORIZED');
    expect((await call(b, 'client/registration/update', { clientId: c.client_id, authorization: auth, body: JSON.stringify({ client_id: c.client_id, redirect_uris: [CB] }) })).json.action).toBe('UNAUTHORIZED');
    expect((await call(b, 'client/registration/delete', { clientId: c.client_id, authorization: auth })).json.action).toBe('UNAUTHORIZED');
    expect((await authz(b, c.client_id)).json.action).toBe('BAD_REQUEST'); // unknown to B
    expect((await call(a, 'client/registration/get', { clientId: c.client_id, authorization: auth })).json.action).toBe('OK'); // intact at A
  });

  it('the built-in endpoints (default tenant) accept nothing of service A', async () => {
    const t = await tokensIn(a, 'a');
    const ui = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${t.access_token}` } });
    expect(ui.status).toBe(401);
  });
});
