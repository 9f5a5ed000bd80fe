import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { insertRefreshFamily } from '../helpers/tokens.js';

type Creds = { clientId: string; clientSecret?: string };

describe('introspection (RFC 7662, RFC 9701) and revocation (RFC 7009) over HTTP', () => {
  let s: TestServer;
  let now = Date.now();
  let rs: Creds; // a resource server: introspects tokens issued to other clients
  let app: Creds;
  let jwtApp: Creds;
  let pub: Creds;

  beforeAll(async () => {
    s = await startTestServer({}, { clock: () => now });
    rs = await s.client({ grant_types: ['client_credentials'], scope: 'introspect' });
    app = await s.client({ grant_types: ['client_credentials'], scope: 'api:read api:write' });
    jwtApp = await s.client({ grant_types: ['client_credentials'], scope: 'api:read', access_token_format: 'jwt' });
    pub = await s.client({ redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none' });
  });
  afterAll(() => s.close());

  const auth = (c: Creds) => ({ authorization: basic(c.clientId, c.clientSecret!) });
  const issue = async (c: Creds = app, scope = 'api:read') => {
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', scope }, auth(c));
    expect(r.status).toBe(200);
    return r.json.access_token as string;
  };
  const introspect = (tok: string, c: Creds = rs, headers: Record<string, string> = {}) =>
    postForm(s.url('/oauth/introspect'), { token: tok }, { ...auth(c), ...headers });
  const revoke = (tok: string, c: Creds = app, extra: Record<string, string> = {}) =>
    postForm(s.url('/oauth/revoke'), { token: tok, ...extra }, auth(c));

  it('RFC 8414 §2: discovery lists the introspection and revocation endpoints and what they accept', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      const d = await (await fetch(s.url(path))).json();
      expect(d.introspection_endpoint).toBe(`${s.issuer}/oauth/introspect`);
      // Every confidential method; never none (RFC 7662 §2.1).
      expect(d.introspection_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt']);
      expect(d.introspection_signing_alg_values_supported).toContain('RS256');
      expect(d.revocation_endpoint).toBe(`${s.issuer}/oauth/revoke`);
      expect(d.revocation_endpoint_auth_methods_supported).toEqual(d.token_endpoint_auth_methods_supported);
    }
  });

  it('RFC 7662 §2.2: a live opaque client_credentials token is active, as JSON with Cache-Control: no-store', async () => {
    const at = await issue(app, 'api:read api:write');
    const r = await introspect(at);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.json).toMatchObject({ active: true, scope: 'api:read api:write', client_id: app.clientId, token_type: 'Bearer', sub: app.clientId, iss: s.issuer });
    expect(r.json.exp - r.json.iat).toBe(3600);
  });

  it('RFC 7662 §2.2: a JWT access token (RFC 9068) is active, with its jti', async () => {
    const at = await issue(jwtApp);
    const r = await introspect(at);
    expect(r.json).toMatchObject({ active: true, client_id: jwtApp.clientId, jti: decodeJwt(at).jti, aud: s.issuer });
  });

  it('RFC 7662 §2.2: unknown, malformed and expired tokens are {"active":false} only', async () => {
    for (const tok of ['nope', 'a.b.c', 'eyJhbGciOiJub25lIn0.e30.']) {
      const r = await introspect(tok);
      expect(r.status).toBe(200);
      expect(r.text).toBe('{"active":false}');
    }
    const at = await issue(app);
    const jwt = await issue(jwtApp);
    const saved = now;
    now += 3601 * 1000;
    try {
      expect((await introspect(at)).text).toBe('{"active":false}');
      expect((await introspect(jwt)).text).toBe('{"active":false}');
    } finally {
      now = saved;
    }
  });

  it('RFC 7009 §2.1 + RFC 7662 §2.2: revoke, then introspect: inactive (opaque and JWT)', async () => {
    for (const [c, tok] of [[app, await issue(app)], [jwtApp, await issue(jwtApp)]] as const) {
      expect((await introspect(tok)).json.active).toBe(true);
      const r = await revoke(tok, c);
      expect(r.status).toBe(200);
      expect(r.text).toBe('');
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.headers.get('content-type')).toBeNull(); // RFC 7009 §2.2: the body is empty and ignored
      expect((await introspect(tok)).text).toBe('{"active":false}');
    }
  });

  it('RFC 7009 §2.1: revoking another client\'s token is refused (400 invalid_request) and the token stays active', async () => {
    const at = await issue(app);
    const r = await revoke(at, jwtApp);
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('invalid_request');
    expect((await introspect(at)).json.active).toBe(true);
  });

  it('RFC 7009 §2.1: revoking a refresh token makes the access tokens of its grant inactive', async () => {
    const sub = await s.user('alice', 'correct horse battery staple');
    const fam = await insertRefreshFamily(s.ctx, { clientId: app.clientId, subject: sub });
    expect((await introspect(fam.accessToken)).json).toMatchObject({ active: true, username: 'alice', sub });
    expect((await revoke(fam.refreshToken, app, { token_type_hint: 'refresh_token' })).status).toBe(200);
    expect((await introspect(fam.accessToken)).text).toBe('{"active":false}');
    expect((await introspect(fam.refreshToken, app)).text).toBe('{"active":false}');
  });

  it('RFC 7662 §2.3: wrong client credentials are 401 invalid_client with WWW-Authenticate: Basic', async () => {
    const at = await issue(app);
    const r = await introspect(at, { clientId: rs.clientId, clientSecret: 'wrong' });
    expect(r.status).toBe(401);
    expect(r.json.error).toBe('invalid_client');
    expect(r.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const none = await postForm(s.url('/oauth/introspect'), { token: at });
    expect(none.status).toBe(401);
    const rv = await revoke(at, { clientId: app.clientId, clientSecret: 'wrong' });
    expect(rv.status).toBe(401);
    expect((await introspect(at)).json.active).toBe(true);
  });

  it('RFC 7662 §2.1: a public client is refused (401 invalid_client); RFC 7009 §2.1: it may still revoke its own tokens', async () => {
    const at = await issue(app);
    const r = await postForm(s.url('/oauth/introspect'), { token: at, client_id: pub.clientId });
    expect(r.status).toBe(401);
    expect(r.json.error).toBe('invalid_client');
    const sub = await s.user('pat', 'correct horse battery staple');
    const fam = await insertRefreshFamily(s.ctx, { clientId: pub.clientId, subject: sub });
    const rv = await postForm(s.url('/oauth/revoke'), { token: fam.refreshToken, client_id: pub.clientId });
    expect(rv.status).toBe(200);
    expect((await introspect(fam.accessToken)).text).toBe('{"active":false}');
  });

  it('RFC 7662 §2.2: a token of another server (another tenant, another database) is unknown here', async () => {
    const other = await startTestServer();
    try {
      const c = await other.client({ grant_types: ['client_credentials'], scope: 'api:read' });
      const jc = await other.client({ grant_types: ['client_credentials'], scope: 'api:read', access_token_format: 'jwt' });
      for (const k of [c, jc]) {
        const r = await postForm(other.url('/oauth/token'), { grant_type: 'client_credentials' }, auth(k));
        expect((await introspect(r.json.access_token)).text).toBe('{"active":false}');
        expect((await revoke(r.json.access_token)).status).toBe(200);
      }
    } finally {
      await other.close();
    }
  });

  it('RFC 9701 §5: Accept: application/token-introspection+jwt gets a JWT that verifies against the JWKS', async () => {
    const at = await issue(app);
    const r = await introspect(at, rs, { accept: 'application/token-introspection+jwt' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/token-introspection+jwt');
    expect(r.headers.get('cache-control')).toBe('no-store');
    const jwks = createRemoteJWKSet(new URL(s.url('/.well-known/jwks.json')));
    const { payload, protectedHeader } = await jwtVerify(r.text, jwks, {
      typ: 'token-introspection+jwt',
      issuer: s.issuer,
      audience: rs.clientId,
      algorithms: ['RS256'],
      currentDate: new Date(now),
    });
    expect(protectedHeader.typ).toBe('token-introspection+jwt');
    expect(payload.token_introspection).toMatchObject({ active: true, client_id: app.clientId, scope: 'api:read' });
    const inactive = await introspect('nope', rs, { accept: 'application/token-introspection+jwt' });
    expect(decodeJwt(inactive.text).token_introspection).toEqual({ active: false });
  });

  describe('resource servers built on real client libraries', () => {
    const discover = async () => {
      const issuer = new URL(s.issuer);
      return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }));
    };

    it('RFC 7662: oauth4webapi introspects an opaque and a JWT access token', async () => {
      const as = await discover();
      const rsClient: oauth.Client = { client_id: rs.clientId };
      for (const tok of [await issue(app), await issue(jwtApp)]) {
        const res = await oauth.introspectionRequest(as, rsClient, oauth.ClientSecretBasic(rs.clientSecret!), tok, { [oauth.allowInsecureRequests]: true });
        const body = await oauth.processIntrospectionResponse(as, rsClient, res);
        expect(body.active).toBe(true);
        expect(body.iss).toBe(s.issuer);
      }
      const res = await oauth.introspectionRequest(as, rsClient, oauth.ClientSecretBasic(rs.clientSecret!), 'nope', { [oauth.allowInsecureRequests]: true });
      expect(await oauth.processIntrospectionResponse(as, rsClient, res)).toEqual({ active: false });
    });

    it('RFC 9701: oauth4webapi requests a JWT response and validates its signature', async () => {
      const as = await discover();
      const rsClient: oauth.Client = { client_id: rs.clientId };
      const at = await issue(app);
      const res = await oauth.introspectionRequest(as, rsClient, oauth.ClientSecretBasic(rs.clientSecret!), at, {
        requestJwtResponse: true,
        [oauth.allowInsecureRequests]: true,
      });
      const body = await oauth.processIntrospectionResponse(as, rsClient, res);
      expect(body).toMatchObject({ active: true, client_id: app.clientId });
      await oauth.validateApplicationLevelSignature(as, res, { [oauth.allowInsecureRequests]: true });
    });

    it('RFC 9701 §6: a client registered with introspection_signed_response_alg gets that alg, and oauth4webapi checks it', async () => {
      const es = await s.client({ grant_types: ['client_credentials'], scope: 'x', introspection_signed_response_alg: 'ES256' });
      const as = await discover();
      const esClient: oauth.Client = { client_id: es.clientId, introspection_signed_response_alg: 'ES256' };
      const res = await oauth.introspectionRequest(as, esClient, oauth.ClientSecretBasic(es.clientSecret!), await issue(app), { [oauth.allowInsecureRequests]: true });
      expect(res.headers.get('content-type')).toBe('application/token-introspection+jwt');
      expect((await oauth.processIntrospectionResponse(as, esClient, res)).active).toBe(true);
      await oauth.validateApplicationLevelSignature(as, res, { [oauth.allowInsecureRequests]: true });
    });

    it('RFC 7009: oauth4webapi revokes a token, which then introspects as inactive', async () => {
      const as = await discover();
      const appClient: oauth.Client = { client_id: app.clientId };
      const at = await issue(app);
      const res = await oauth.revocationRequest(as, appClient, oauth.ClientSecretBasic(app.clientSecret!), at, {
        additionalParameters: { token_type_hint: 'access_token' },
        [oauth.allowInsecureRequests]: true,
      });
      expect(await oauth.processRevocationResponse(res)).toBeUndefined();
      expect((await introspect(at)).json).toEqual({ active: false });
    });

    it('RFC 7662, RFC 7009: openid-client introspects and revokes', async () => {
      const rsConfig = await client.discovery(new URL(s.issuer), rs.clientId, rs.clientSecret, client.ClientSecretBasic(rs.clientSecret), { execute: [client.allowInsecureRequests] });
      const appConfig = await client.discovery(new URL(s.issuer), app.clientId, app.clientSecret, client.ClientSecretBasic(app.clientSecret), { execute: [client.allowInsecureRequests] });
      const at = await issue(app);
      expect((await client.tokenIntrospection(rsConfig, at)).active).toBe(true);
      await client.tokenRevocation(appConfig, at);
      expect((await client.tokenIntrospection(rsConfig, at)).active).toBe(false);
    });
  });
});
