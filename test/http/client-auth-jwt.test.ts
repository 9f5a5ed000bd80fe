import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
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

  it('openid-client: private_key_jwt with the token endpoint as audience', async () => {
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
    const tok = await client.clientCredentialsGrant(config, { scope: 'api:read' });
    expect(tok.access_token).toBeTruthy();
  });

  it('introspection and revocation accept private_key_jwt (the endpoint URL is a valid audience)', async () => {
    const c: oauth.Client = { client_id: pkjwt };
    const auth = oauth.PrivateKeyJwt({ key: key.privateKey, kid: 'k1' }, {
      [oauth.modifyAssertion]: (_h, payload) => {
        payload.aud = as.introspection_endpoint;
      },
    });
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
