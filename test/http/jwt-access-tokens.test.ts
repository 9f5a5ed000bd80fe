import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { Agent } from '../helpers/agent.js';
import { startResourceServer, type TestResourceServer } from '../helpers/resource-server.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { registerResourceServer } from '../../src/services/resources.js';

type Creds = { clientId: string; clientSecret?: string };
const ORDERS = 'https://api.example/orders';
const BILLING = 'https://api.example/billing';
const CB = 'https://rp.example/cb';

describe('JWT access tokens (RFC 9068) validated by a resource server using oauth4webapi', () => {
  let s: TestServer;
  let orders: TestResourceServer;
  let billing: TestResourceServer;
  let svc: Creds; // opaque by default, but the orders API asks for JWTs
  let jwtSvc: Creds; // JWTs by its own registration
  let rp: Creds;
  let aliceSub: string;

  beforeAll(async () => {
    s = await startTestServer();
    await registerResourceServer(s.ctx, { identifier: ORDERS, scope: 'orders:read orders:write', access_token_format: 'jwt', access_token_lifetime: 600 });
    await registerResourceServer(s.ctx, { identifier: BILLING, scope: 'billing:read', access_token_format: 'jwt' });
    svc = await s.client({ grant_types: ['client_credentials'], scope: 'orders:read orders:write billing:read misc' });
    jwtSvc = await s.client({ grant_types: ['client_credentials'], scope: 'misc', access_token_format: 'jwt', access_token_lifetime: 300 });
    rp = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid profile offline_access orders:read billing:read', skip_consent: true });
    aliceSub = await s.user('alice', 'alice-password');
    orders = await startResourceServer(s.issuer, ORDERS);
    billing = await startResourceServer(s.issuer, BILLING);
  });
  afterAll(async () => {
    await orders.close();
    await billing.close();
    await s.close();
  });

  const token = (c: Creds, body: Record<string, string>) => postForm(s.url('/oauth/token'), body, { authorization: basic(c.clientId, c.clientSecret!) });

  it('RFC 9068 §4: a resource server validates a client_credentials JWT for its resource with oauth4webapi', async () => {
    const r = await token(svc, { grant_type: 'client_credentials', resource: ORDERS, scope: 'orders:read' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ token_type: 'Bearer', scope: 'orders:read', expires_in: 600 });
    const res = await orders.call(r.json.access_token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.claims).toMatchObject({ iss: s.issuer, aud: ORDERS, sub: svc.clientId, client_id: svc.clientId, scope: 'orders:read' });
  });

  it('RFC 9068 §2.1, §2.2: typ at+jwt, ES256 with the kid of our JWKS; iss, exp, aud, sub, client_id, iat, jti; no session id', async () => {
    const r = await token(svc, { grant_type: 'client_credentials', resource: ORDERS });
    const at = r.json.access_token as string;
    const header = decodeProtectedHeader(at);
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
    const { payload } = await jwtVerify(at, createRemoteJWKSet(new URL(s.url('/.well-known/jwks.json'))), { issuer: s.issuer, audience: ORDERS, typ: 'at+jwt' });
    for (const claim of ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti']) expect(payload[claim], claim).toBeDefined();
    expect(payload.exp! - payload.iat!).toBe(600); // the resource's lifetime
    expect(payload.sid).toBeUndefined();
    // RFC 8707 §2.2: no scope asked for, so the client's scopes down-scoped to those the orders API understands.
    expect(payload.scope).toBe('orders:read orders:write');
  });

  it('RFC 9068 §4: a JWT for another audience is refused by the resource server', async () => {
    const r = await token(svc, { grant_type: 'client_credentials', resource: BILLING });
    expect((await billing.call(r.json.access_token)).status).toBe(200);
    const res = await orders.call(r.json.access_token);
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/aud/);
  });

  it('RFC 9068 §3: with no resource, the audience is inferred from the scope; when none can be, it is the issuer', async () => {
    const inferred = await token(svc, { grant_type: 'client_credentials', scope: 'billing:read' });
    expect(decodeJwt(inferred.json.access_token).aud).toBe(BILLING);
    expect((await billing.call(inferred.json.access_token)).status).toBe(200);
    const plain = await token(jwtSvc, { grant_type: 'client_credentials' });
    const claims = decodeJwt(plain.json.access_token);
    expect(claims.aud).toBe(s.issuer);
    expect(claims.exp! - claims.iat!).toBe(300); // the client's own access_token_lifetime
    expect((await orders.call(plain.json.access_token)).status).toBe(401);
  });

  it('RFC 8707: the resource\'s format wins over the client\'s: an opaque-by-default client gets an opaque token without a resource', async () => {
    const r = await token(svc, { grant_type: 'client_credentials', scope: 'misc' });
    expect(r.json.access_token).not.toMatch(/\./);
  });

  it('RFC 7009 + RFC 7662: a revoked JWT access token is inactive at introspection (the row is found by jti)', async () => {
    const r = await token(svc, { grant_type: 'client_credentials', resource: ORDERS });
    const at = r.json.access_token as string;
    const intro = () => postForm(s.url('/oauth/introspect'), { token: at }, { authorization: basic(svc.clientId, svc.clientSecret!) });
    expect((await intro()).json).toMatchObject({ active: true, aud: ORDERS, jti: decodeJwt(at).jti });
    expect((await postForm(s.url('/oauth/revoke'), { token: at }, { authorization: basic(svc.clientId, svc.clientSecret!) })).status).toBe(200);
    expect((await intro()).text).toBe('{"active":false}');
  });

  it('RFC 9068 §2.2, RFC 8707 §2.1: a user\'s JWT from the code flow with two resources, validated at each, with the user\'s sub and auth_time', async () => {
    const url = `${s.issuer}/oauth/authorize?` + new URLSearchParams([
      ['client_id', rp.clientId], ['redirect_uri', CB], ['response_type', 'code'], ['scope', 'openid orders:read billing:read'], ['state', 's1'],
      ['resource', ORDERS], ['resource', BILLING],
    ]);
    const cb = await new Agent(s.issuer).authorize(url, 'alice', 'alice-password');
    const code = cb.searchParams.get('code')!;
    expect(code).toBeTruthy();
    const r = await token(rp, { grant_type: 'authorization_code', code, redirect_uri: CB });
    expect(r.status).toBe(200);
    const claims = decodeJwt(r.json.access_token);
    // RFC 8707 §2: the issuer joins the audience because openid was granted (UserInfo accepts the token).
    expect(claims.aud).toEqual([ORDERS, BILLING, s.issuer]);
    expect(claims).toMatchObject({ sub: aliceSub, client_id: rp.clientId, scope: 'openid orders:read billing:read' });
    expect(typeof claims.auth_time).toBe('number');
    for (const rs of [orders, billing]) {
      const res = await rs.call(r.json.access_token);
      expect(res.status).toBe(200);
      expect(res.body.claims.sub).toBe(aliceSub);
    }
    const info = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${r.json.access_token}` } });
    expect(info.status).toBe(200);
  });

  it('RFC 7519 §4.1.7, RFC 6750 §5.2: a JWT access token\'s jti is an identifier, not a bearer token: UserInfo, introspection and revocation ignore it', async () => {
    const url = `${s.issuer}/oauth/authorize?` + new URLSearchParams([
      ['client_id', rp.clientId], ['redirect_uri', CB], ['response_type', 'code'], ['scope', 'openid orders:read'], ['state', 's2'], ['resource', ORDERS],
    ]);
    const cb = await new Agent(s.issuer).authorize(url, 'alice', 'alice-password');
    const r = await token(rp, { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB });
    expect(r.status, r.text).toBe(200);
    const at = r.json.access_token as string;
    const jti = decodeJwt(at).jti as string;
    expect(typeof jti).toBe('string');
    const userinfo = (t: string) => fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${t}` } });
    const bad = await userinfo(jti);
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    const intro = (t: string) => postForm(s.url('/oauth/introspect'), { token: t }, { authorization: basic(rp.clientId, rp.clientSecret!) });
    expect((await intro(jti)).text).toBe('{"active":false}');
    // RFC 7009 §2.2: revoking by jti is revoking an unknown token: 200, and the JWT stays live.
    expect((await postForm(s.url('/oauth/revoke'), { token: jti }, { authorization: basic(rp.clientId, rp.clientSecret!) })).status).toBe(200);
    expect((await userinfo(at)).status).toBe(200);
    expect((await intro(at)).json).toMatchObject({ active: true, jti });
  });

  it('RFC 9068 §2.2: tokens requested at the same moment each get their own jti and signature, and each is live at introspection', async () => {
    const rs = await Promise.all(Array.from({ length: 12 }, () => token(jwtSvc, { grant_type: 'client_credentials', scope: 'misc' })));
    const jwks = createRemoteJWKSet(new URL(s.url('/.well-known/jwks.json')));
    const jtis = new Set<string>();
    for (const r of rs) {
      expect(r.status).toBe(200);
      const { payload } = await jwtVerify(r.json.access_token, jwks, { issuer: s.issuer, typ: 'at+jwt' });
      jtis.add(payload.jti!);
      const i = await postForm(s.url('/oauth/introspect'), { token: r.json.access_token }, { authorization: basic(jwtSvc.clientId, jwtSvc.clientSecret!) });
      expect(i.json).toMatchObject({ active: true, jti: payload.jti, client_id: jwtSvc.clientId });
    }
    expect(jtis.size).toBe(12);
  });
});
