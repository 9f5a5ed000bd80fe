import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createAdminToken } from '../../src/services/management-tokens.js';
import { registerClient } from '../../src/services/clients.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('JWT client authentication over HTTP (RFC 7523, OIDC Core §9)', () => {
  let s: TestServer;
  let as: oauth.AuthorizationServer;
  let key: { privateKey: CryptoKey; jwk: JWK };
  let pkjwt: string;
  let csjwt: { clientId: string; clientSecret?: string };
  const opts = { [oauth.allowInsecureRequests]: true };

  beforeAll(async () => {
    s = await startTestServer();
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    key = { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' } };
    pkjwt = (await s.client({ grant_types: ['client_credentials'], scope: 'api:read', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.jwk] } })).clientId;
    csjwt = await s.client({ grant_types: ['client_credentials'], scope: 'api:read', token_endpoint_auth_method: 'client_secret_jwt' });
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...opts }));
  });
  afterAll(() => s.close());

  it('RFC 8414 §2: discovery lists the JWT methods and their algorithms', () => {
    expect(as.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['private_key_jwt', 'client_secret_jwt']));
    expect(as.token_endpoint_auth_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'RS256', 'HS256']));
    expect(as.token_endpoint_auth_signing_alg_values_supported).not.toContain('none');
    // No listener with client certificates here: the certificate methods are not advertised.
    expect(as.token_endpoint_auth_methods_supported).not.toContain('tls_client_auth');
  });

  it('oauth4webapi: client_credentials with private_key_jwt', async () => {
    const c: oauth.Client = { client_id: pkjwt };
    const res = await oauth.clientCredentialsGrantRequest(as, c, oauth.PrivateKeyJwt({ key: key.privateKey, kid: 'k1' }), { scope: 'api:read' }, opts);
    const tok = await oauth.processClientCredentialsResponse(as, c, res);
    expect(tok.access_token).toBeTruthy();
    expect(tok.scope).toBe('api:read');
  });

  it('oauth4webapi: client_credentials with client_secret_jwt', async () => {
    const c: oauth.Client = { client_id: csjwt.clientId };
    const res = await oauth.clientCredentialsGrantRequest(as, c, oauth.ClientSecretJwt(csjwt.clientSecret!), { scope: 'api:read' }, opts);
    const tok = await oauth.processClientCredentialsResponse(as, c, res);
    expect(tok.access_token).toBeTruthy();
  });

  it('RFC 7518 §3.2: a client_secret_jwt secret is long enough for every HMAC algorithm advertised (HS512: 512 bits), and an HS512 assertion authenticates', async () => {
    expect(Buffer.byteLength(csjwt.clientSecret!)).toBeGreaterThanOrEqual(64);
    const now = Math.floor(Date.now() / 1000);
    const a = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'HS512' })
      .setIssuer(csjwt.clientId).setSubject(csjwt.clientId).setAudience(s.issuer).setIssuedAt(now).setExpirationTime(now + 60)
      .sign(new TextEncoder().encode(csjwt.clientSecret!));
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: a });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
  });

  it('draft-ietf-oauth-rfc7523bis: openid-client with the token endpoint as audience is refused by default (invalid_client)', async () => {
    const config = await client.discovery(
      new URL(s.issuer),
      pkjwt,
      undefined,
      client.PrivateKeyJwt(
        { key: key.privateKey, kid: 'k1' },
        {
          [client.modifyAssertion]: (_h, payload) => {
            payload.aud = `${s.issuer}/oauth/token`;
          },
        },
      ),
      { execute: [client.allowInsecureRequests] },
    );
    const err = await client.clientCredentialsGrant(config, { scope: 'api:read' }).catch((e: unknown) => e);
    // 401 (openid-client reports it as the response's WWW-Authenticate challenge; the body is invalid_client).
    expect(err).toBeInstanceOf(client.WWWAuthenticateChallengeError);
    expect((err as client.WWWAuthenticateChallengeError).status).toBe(401);
    expect(await (err as client.WWWAuthenticateChallengeError).response.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('draft-ietf-oauth-rfc7523bis (audience injection): an aud array naming the issuer and a foreign party is refused at every endpoint taking client assertions', async () => {
    const id = (
      await s.client({
        grant_types: ['authorization_code', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'], redirect_uris: ['https://rp.example/cb'],
        scope: 'openid api:read', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.jwk] },
      })
    ).clientId;
    const c: oauth.Client = { client_id: id };
    const injected = () => oauth.PrivateKeyJwt({ key: key.privateKey, kid: 'k1' }, { [oauth.modifyAssertion]: (_h, p) => void (p.aud = [s.issuer, 'https://evil.example']) });
    const good = () => oauth.PrivateKeyJwt({ key: key.privateKey, kid: 'k1' });
    const { access_token } = await oauth.processClientCredentialsResponse(as, c, await oauth.clientCredentialsGrantRequest(as, c, good(), { scope: 'api:read' }, opts));
    const par = new URLSearchParams({ response_type: 'code', redirect_uri: 'https://rp.example/cb', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
    const attempts: [string, (auth: oauth.ClientAuth) => Promise<Response>][] = [
      ['token', (auth) => oauth.clientCredentialsGrantRequest(as, c, auth, { scope: 'api:read' }, opts)],
      ['introspection', (auth) => oauth.introspectionRequest(as, c, auth, access_token, opts)],
      ['revocation', (auth) => oauth.revocationRequest(as, c, auth, access_token, opts)],
      ['PAR', (auth) => oauth.pushedAuthorizationRequest(as, c, auth, par, opts)],
      ['device authorization', (auth) => oauth.deviceAuthorizationRequest(as, c, auth, { scope: 'api:read' }, opts)],
    ];
    for (const [endpoint, call] of attempts) {
      const res = await call(injected());
      expect(res.status, endpoint).toBe(401);
      expect(((await res.json()) as { error: string }).error, endpoint).toBe('invalid_client');
      // The same request with the issuer alone goes through (the refusal is the audience's).
      expect((await call(good())).status, endpoint).toBeLessThan(300);
    }
  });

  it('draft-ietf-oauth-rfc7523bis: the endpoint URL as audience is refused at introspection by default', async () => {
    const c: oauth.Client = { client_id: pkjwt };
    const auth = oauth.PrivateKeyJwt({ key: key.privateKey, kid: 'k1' }, { [oauth.modifyAssertion]: (_h, p) => void (p.aud = as.introspection_endpoint) });
    const res = await oauth.introspectionRequest(as, c, auth, 'whatever', opts);
    expect(res.status).toBe(401);
  });

  it('introspection and revocation accept private_key_jwt', async () => {
    const c: oauth.Client = { client_id: pkjwt };
    const auth = oauth.PrivateKeyJwt({ key: key.privateKey, kid: 'k1' });
    const res = await oauth.clientCredentialsGrantRequest(as, c, oauth.PrivateKeyJwt({ key: key.privateKey, kid: 'k1' }), { scope: 'api:read' }, opts);
    const { access_token } = await oauth.processClientCredentialsResponse(as, c, res);
    const intro = await oauth.processIntrospectionResponse(as, c, await oauth.introspectionRequest(as, c, auth, access_token, opts));
    expect(intro.active).toBe(true);
    const rev = await oauth.revocationRequest(as, c, oauth.PrivateKeyJwt({ key: key.privateKey, kid: 'k1' }), access_token, opts);
    await oauth.processRevocationResponse(rev);
    const after = await oauth.processIntrospectionResponse(
      as,
      c,
      await oauth.introspectionRequest(as, c, oauth.PrivateKeyJwt({ key: key.privateKey, kid: 'k1' }), access_token, opts),
    );
    expect(after.active).toBe(false);
  });

  const assertion = (o: { exp?: number; iat?: number } = {}, jti = randomUUID()) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ jti })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(pkjwt)
      .setSubject(pkjwt)
      .setAudience(s.issuer)
      .setIssuedAt(o.iat ?? now)
      .setExpirationTime(o.exp ?? now + 60)
      .sign(key.privateKey);
  };
  const tokenWith = (a: string) =>
    postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: a });

  it('RFC 7523 §3: a replayed assertion is rejected with 401 invalid_client', async () => {
    const a = await assertion();
    expect((await tokenWith(a)).status).toBe(200);
    const replay = await tokenWith(a);
    expect(replay.status).toBe(401);
    expect(replay.json).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
  });

  it('RFC 7523 §3: an expired assertion is rejected with 401 invalid_client', async () => {
    const now = Math.floor(Date.now() / 1000);
    const r = await tokenWith(await assertion({ iat: now - 900, exp: now - 600 }));
    expect(r.status).toBe(401);
    expect(r.json.error).toBe('invalid_client');
  });

  it('a client registered for private_key_jwt cannot use client_secret_basic, and the reverse', async () => {
    const basicClient = await s.client({ grant_types: ['client_credentials'] });
    const viaBasic = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(pkjwt, 'x'.repeat(43)) });
    expect(viaBasic.status).toBe(401);
    expect(viaBasic.json.error).toBe('invalid_client');
    const c: oauth.Client = { client_id: basicClient.clientId };
    const res = await oauth.clientCredentialsGrantRequest(as, c, oauth.ClientSecretJwt(basicClient.clientSecret!), {}, opts);
    expect(res.status).toBe(401);
  });
});

describe('insecureLegacyClientAssertionAudience: the legacy audiences of older clients, as single strings', () => {
  let s: TestServer;
  let as: oauth.AuthorizationServer;
  let key: { privateKey: CryptoKey; jwk: JWK };
  let c: oauth.Client;
  const opts = { [oauth.allowInsecureRequests]: true };
  const withAud = (aud: string | undefined | (string | undefined)[]) => oauth.PrivateKeyJwt({ key: key.privateKey, kid: 'k1' }, { [oauth.modifyAssertion]: (_h, p) => void (p.aud = aud as string | string[]) });

  beforeAll(async () => {
    s = await startTestServer({ insecureLegacyClientAssertionAudience: true });
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    key = { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' } };
    c = { client_id: (await s.client({ grant_types: ['client_credentials'], scope: 'api:read', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.jwk] } })).clientId };
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...opts }));
  });
  afterAll(() => s.close());

  it('RFC 7523 §3 (legacy): the token endpoint URL, and the URL of the endpoint called, are accepted as a string', async () => {
    const res = await oauth.clientCredentialsGrantRequest(as, c, withAud(as.token_endpoint), { scope: 'api:read' }, opts);
    const { access_token } = await oauth.processClientCredentialsResponse(as, c, res);
    const intro = await oauth.processIntrospectionResponse(as, c, await oauth.introspectionRequest(as, c, withAud(as.introspection_endpoint), access_token, opts));
    expect(intro.active).toBe(true);
    const viaTokenUrl = await oauth.processIntrospectionResponse(as, c, await oauth.introspectionRequest(as, c, withAud(as.token_endpoint), access_token, opts));
    expect(viaTokenUrl.active).toBe(true);
  });

  it('RFC 7523 §3 (legacy): openid-client 5 sends aud [issuer, token endpoint]: accepted, every member names this server', async () => {
    for (const aud of [[s.issuer, as.token_endpoint], [as.token_endpoint]]) {
      const res = await oauth.clientCredentialsGrantRequest(as, c, withAud(aud), { scope: 'api:read' }, opts);
      expect(res.status, JSON.stringify(aud)).toBe(200);
    }
  });

  it('draft-ietf-oauth-rfc7523bis (audience injection): an array is still refused when a member names anything but this server', async () => {
    for (const aud of [[as.token_endpoint, 'https://evil.example'], [s.issuer, 'https://evil.example'], ['https://evil.example/token', as.token_endpoint]]) {
      const res = await oauth.clientCredentialsGrantRequest(as, c, withAud(aud), { scope: 'api:read' }, opts);
      expect(res.status, JSON.stringify(aud)).toBe(401);
    }
    const another = await oauth.clientCredentialsGrantRequest(as, c, withAud(as.introspection_endpoint), { scope: 'api:read' }, opts);
    expect(another.status).toBe(401);
  });
});

describe('insecureLegacyClientAssertionAudience per tenant (settings.insecureLegacyClientAssertionAudience)', () => {
  let s: TestServer;
  afterAll(() => s?.close());

  it('draft-ietf-oauth-rfc7523bis: a tenant may re-admit its token endpoint URL while the server keeps the issuer-only rule', async () => {
    s = await startTestServer();
    const admin = (await createAdminToken(s.lk, { name: 'tenants' })).token;
    const res = await fetch(s.url('/admin/tenants'), {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'legacy', settings: { insecureLegacyClientAssertionAudience: true } }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const opts = { [oauth.allowInsecureRequests]: true };
    const withAud = (aud: string) => oauth.PrivateKeyJwt({ key: privateKey, kid: 'k1' }, { [oauth.modifyAssertion]: (_h, p) => void (p.aud = aud) });
    const statusAt = async (tenant: string) => {
      const ctx = await s.lk.context(tenant);
      const { json } = await registerClient(ctx, { grant_types: ['client_credentials'], scope: 'api:read', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } });
      const c: oauth.Client = { client_id: json.client_id as string };
      const issuer = new URL(ctx.tenant.issuer);
      const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...opts }));
      const r = await oauth.clientCredentialsGrantRequest(as, c, withAud(as.token_endpoint!), { scope: 'api:read' }, opts);
      return r.status;
    };
    expect(await statusAt('legacy')).toBe(200);
    expect(await statusAt('default')).toBe(401);
  });
});
