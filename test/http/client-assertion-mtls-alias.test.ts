import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type Pem, type TestPki } from '../helpers/certs.js';
import { tlsFetch } from '../helpers/https-fetch.js';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * private_key_jwt with certificate-bound tokens (RFC 8705 §3, as FAPI uses it): the client calls the token and PAR
 * endpoints at their mTLS aliases (§5) and may name the endpoint it calls, its alias URL, as the assertion audience.
 */
describe('RFC 7523 §3 with RFC 8705 §5: client assertion audiences at the mTLS endpoint aliases (insecureLegacyClientAssertionAudience)', () => {
  let pki: TestPki;
  let s: TestServer;
  let alias: string;
  let cert: Pem;
  let key: { privateKey: CryptoKey; jwk: JWK };
  let clientId: string;
  let as: oauth.AuthorizationServer;
  let withCert: { [oauth.customFetch]: ReturnType<typeof tlsFetch> };
  const seen: string[] = [];

  beforeAll(async () => {
    pki = makeTestPki();
    const port = await freePort();
    alias = `https://localhost:${port}`;
    s = await startTestServer({
      port, issuer: `https://127.0.0.1:${port}`, mtlsBaseUrl: alias,
      // The endpoint URLs are legacy audiences (draft-ietf-oauth-rfc7523bis): admitted here by the setting.
      insecureLegacyClientAssertionAudience: true,
      tlsCert: pki.server.certFile, tlsKey: pki.server.keyFile, tlsClientCa: pki.ca.certFile,
    });
    cert = pki.client('pkjwt-alias', '/O=Example/CN=pkjwt-app');
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    key = { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' } };
    clientId = (
      await s.client({
        redirect_uris: ['https://rp.example/cb'], grant_types: ['authorization_code', 'client_credentials'], scope: 'openid api:read',
        token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.jwk] }, tls_client_certificate_bound_access_tokens: true,
      })
    ).clientId;
    const f = tlsFetch({ ca: pki.ca.cert, cert: cert.cert, key: cert.key });
    withCert = { [oauth.customFetch]: ((url: string, init: never) => (seen.push(url), f(url, init))) as typeof f };
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, withCert));
  });
  afterAll(async () => {
    await s?.close();
    pki?.cleanup();
  });

  const auth = (aud: string) =>
    oauth.PrivateKeyJwt({ key: key.privateKey, kid: 'k1' }, { [oauth.modifyAssertion]: (_h, payload) => void (payload.aud = aud) });
  const client = (): oauth.Client => ({ client_id: clientId, use_mtls_endpoint_aliases: true });

  it('RFC 7523 §3, RFC 8705 §5: the alias token endpoint URL is accepted as the audience, as the token endpoint URL is', async () => {
    for (const aud of [`${alias}/oauth/token`, s.url('/oauth/token'), s.issuer]) {
      const res = await oauth.clientCredentialsGrantRequest(as, client(), auth(aud), { scope: 'api:read' }, withCert);
      expect(seen.at(-1)).toBe(`${alias}/oauth/token`);
      const tok = await oauth.processClientCredentialsResponse(as, client(), res);
      expect(tok.access_token).toBeTruthy();
    }
  });

  it('RFC 9126 §2 with RFC 8705 §5: the alias PAR endpoint URL is accepted as the audience of a pushed request', async () => {
    const params = new URLSearchParams({ redirect_uri: 'https://rp.example/cb', response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
    const res = await oauth.pushedAuthorizationRequest(as, client(), auth(`${alias}/oauth/par`), params, withCert);
    expect(seen.at(-1)).toBe(`${alias}/oauth/par`);
    const par = await oauth.processPushedAuthorizationResponse(as, client(), res);
    expect(par.request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:/);
  });

  it('RFC 7523 §3: an audience on another host, or the alias of an endpoint not called, is still refused', async () => {
    for (const aud of ['https://elsewhere.example/oauth/token', `${alias}/oauth/introspect`, alias]) {
      const res = await oauth.clientCredentialsGrantRequest(as, client(), auth(aud), { scope: 'api:read' }, withCert);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_client');
    }
  });
});
