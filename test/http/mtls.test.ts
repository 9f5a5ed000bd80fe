import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import { makeTestPki, type Pem, type TestPki } from '../helpers/certs.js';
import { tlsFetch } from '../helpers/https-fetch.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('mutual-TLS client authentication over HTTPS (RFC 8705 §2)', () => {
  let pki: TestPki;
  let s: TestServer;
  let as: oauth.AuthorizationServer;
  let good: Pem;
  let self: Pem;
  let pkiClient: string;
  let selfClient: string;

  beforeAll(async () => {
    pki = makeTestPki();
    s = await startTestServer({ tlsCert: pki.server.certFile, tlsKey: pki.server.keyFile, tlsClientCa: pki.ca.certFile });
    good = pki.client('mtls-good', '/O=Example/CN=payments-service');
    self = pki.selfSigned('mtls-self', '/CN=self-signed-service');
    pkiClient = (
      await s.client({
        grant_types: ['client_credentials'], scope: 'api:read', token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_subject_dn: 'CN=payments-service,O=Example',
      })
    ).clientId;
    const der = new X509Certificate(self.cert).raw.toString('base64');
    const jwk = new X509Certificate(self.cert).publicKey.export({ format: 'jwk' });
    selfClient = (
      await s.client({
        grant_types: ['client_credentials'], scope: 'api:read', token_endpoint_auth_method: 'self_signed_tls_client_auth',
        jwks: { keys: [{ ...jwk, x5c: [der] }] },
      })
    ).clientId;
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { [oauth.customFetch]: tlsFetch({ ca: pki.ca.cert }) }));
  });
  afterAll(async () => {
    await s.close();
    pki.cleanup();
  });

  const grant = (clientId: string, with_: { cert?: string; key?: string }) =>
    oauth.clientCredentialsGrantRequest(as, { client_id: clientId }, oauth.TlsClientAuth(), { scope: 'api:read' }, {
      [oauth.customFetch]: tlsFetch({ ca: pki.ca.cert, ...with_ }),
    });

  it('RFC 8414 §2: with an HTTPS listener and trusted CAs, discovery lists both certificate methods', () => {
    expect(s.issuer.startsWith('https://')).toBe(true);
    expect(as.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['tls_client_auth', 'self_signed_tls_client_auth']));
  });

  it('RFC 8705 §2.1: oauth4webapi with a CA-issued client certificate (tls_client_auth) gets a token', async () => {
    const res = await grant(pkiClient, { cert: good.cert, key: good.key });
    const tok = await oauth.processClientCredentialsResponse(as, { client_id: pkiClient }, res);
    expect(tok.access_token).toBeTruthy();
  });

  it('RFC 8705 §2.2: oauth4webapi with a self-signed registered certificate (self_signed_tls_client_auth) gets a token', async () => {
    const res = await grant(selfClient, { cert: self.cert, key: self.key });
    const tok = await oauth.processClientCredentialsResponse(as, { client_id: selfClient }, res);
    expect(tok.access_token).toBeTruthy();
  });

  it('RFC 8705 §2: no certificate, another client\'s certificate, or an untrusted issuer is invalid_client', async () => {
    const none = await grant(pkiClient, {});
    expect(none.status).toBe(401);
    expect((await none.json()).error).toBe('invalid_client');
    expect((await grant(pkiClient, { cert: self.cert, key: self.key })).status).toBe(401);
    expect((await grant(selfClient, { cert: good.cert, key: good.key })).status).toBe(401);
    const forged = pki.client('mtls-forged', '/O=Example/CN=payments-service', undefined, pki.otherCa);
    expect((await grant(pkiClient, { cert: forged.cert, key: forged.key })).status).toBe(401);
  });

  it('the certificate is requested, not required: other clients and the UI work without one', async () => {
    const basicClient = await s.client({ grant_types: ['client_credentials'] });
    const res = await oauth.clientCredentialsGrantRequest(as, { client_id: basicClient.clientId }, oauth.ClientSecretBasic(basicClient.clientSecret!), {}, {
      [oauth.customFetch]: tlsFetch({ ca: pki.ca.cert }),
    });
    expect(res.status).toBe(200);
  });
});

describe('client certificates from a TLS-terminating proxy (header, trustedProxies only)', () => {
  let pki: TestPki;
  let s: TestServer;
  let cert: Pem;
  let clientId: string;

  beforeAll(async () => {
    pki = makeTestPki();
    s = await startTestServer({ tlsClientCa: pki.ca.certFile, clientCertificateHeader: 'X-SSL-Client-Cert', trustedProxies: ['127.0.0.1', '10.0.0.0/8'] });
    cert = pki.client('proxied', '/CN=proxied-client', 'DNS:proxied.example');
    clientId = (await s.client({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_san_dns: 'proxied.example' })).clientId;
  });
  afterAll(async () => {
    await s.close();
    pki.cleanup();
  });

  // nginx: proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
  const viaProxy = (localAddress: string, headerValue: string | undefined) =>
    tlsFetch({ localAddress })(s.url('/oauth/token'), {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(headerValue !== undefined ? { 'x-ssl-client-cert': headerValue } : {}),
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId }).toString(),
    });

  it('from a trusted proxy address, the URL-encoded PEM in the header authenticates the client', async () => {
    const res = await viaProxy('127.0.0.1', encodeURIComponent(cert.cert));
    expect(res.status).toBe(200);
    expect((await res.json()).access_token).toBeTruthy();
  });

  it('from an address not in trustedProxies, the header is ignored: invalid_client', async () => {
    const res = await viaProxy('127.0.0.2', encodeURIComponent(cert.cert));
    expect(res.status).toBe(401);
    expect((await res.json()).error).toBe('invalid_client');
  });

  it('a trusted proxy that sends no certificate gets invalid_client', async () => {
    expect((await viaProxy('127.0.0.1', undefined)).status).toBe(401);
    expect((await viaProxy('127.0.0.1', 'garbage')).status).toBe(401);
  });
});
