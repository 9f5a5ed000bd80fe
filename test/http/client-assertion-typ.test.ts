import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { postForm, startTestServer, type TestServer } from '../helpers/server.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * RFC 8725 §3.11, RFC 9101 §10.8: a JWT a client signed for another purpose and typed so is no client assertion,
 * at any endpoint that authenticates clients. The case that matters: a request object passed by value travels through
 * the browser (`request=` in the authorization URL), and one that names the client as iss and sub, the issuer as
 * aud, with exp and jti, would otherwise authenticate whoever saw it as that client.
 */
describe('client assertions over HTTP: explicit types of other JWTs are refused', () => {
  let s: TestServer;
  let key: { privateKey: CryptoKey; jwk: JWK };
  let clientId: string;

  beforeAll(async () => {
    s = await startTestServer();
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    key = { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' } };
    clientId = (await s.client({
      grant_types: ['client_credentials', 'authorization_code'], redirect_uris: ['https://rp.example/cb'], scope: 'api:read',
      token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.jwk] },
    })).clientId;
  });
  afterAll(() => s.close());

  const requestObject = () => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ client_id: clientId, response_type: 'code', redirect_uri: 'https://rp.example/cb', scope: 'api:read', jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'oauth-authz-req+jwt' })
      .setIssuer(clientId).setSubject(clientId).setAudience(s.issuer).setIssuedAt(now).setExpirationTime(now + 60)
      .sign(key.privateKey);
  };

  it('RFC 9101 §10.8: a request object (typ oauth-authz-req+jwt) seen in the browser does not authenticate its client at the token, PAR, introspection or revocation endpoints', async () => {
    for (const [path, extra] of [
      ['/oauth/token', { grant_type: 'client_credentials' }],
      ['/oauth/par', { response_type: 'code', redirect_uri: 'https://rp.example/cb', scope: 'api:read' }],
      ['/oauth/introspect', { token: 'x' }],
      ['/oauth/revoke', { token: 'x' }],
    ] as const) {
      const r = await postForm(s.url(path), { ...extra, client_id: clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: await requestObject() });
      expect(r.status, path).toBe(401);
      expect(r.json.error, path).toBe('invalid_client');
    }
  });

  it('oauth4webapi\'s private_key_jwt (untyped) still authenticates', async () => {
    const issuer = new URL(s.issuer);
    const opts = { [oauth.allowInsecureRequests]: true };
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...opts }));
    const c: oauth.Client = { client_id: clientId };
    const r = await oauth.clientCredentialsGrantRequest(as, c, oauth.PrivateKeyJwt({ key: key.privateKey, kid: 'k1' }), { scope: 'api:read' }, opts);
    const body = await oauth.processClientCredentialsResponse(as, c, r);
    expect(body.access_token).toBeTruthy();
  });
});
