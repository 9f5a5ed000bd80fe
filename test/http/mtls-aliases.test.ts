import { createHash, X509Certificate } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { makeTestPki, type Pem, type TestPki } from '../helpers/certs.js';
import { tlsFetch } from '../helpers/https-fetch.js';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { insertRefreshFamily } from '../helpers/tokens.js';
import { tokenKey } from '../../src/tokens/handles.js';

const x5t = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');

describe('RFC 8705 §5: mtls_endpoint_aliases (mtlsBaseUrl)', () => {
  let pki: TestPki;
  let s: TestServer;
  let alias: string;
  let good: Pem;
  let other: Pem;

  beforeAll(async () => {
    pki = makeTestPki();
    // The same HTTPS listener reached under another host name: 127.0.0.1 is the issuer, localhost the mTLS host.
    const port = await freePort();
    alias = `https://localhost:${port}`;
    s = await startTestServer({
      port, issuer: `https://127.0.0.1:${port}`, mtlsBaseUrl: alias,
      tlsCert: pki.server.certFile, tlsKey: pki.server.keyFile, tlsClientCa: pki.ca.certFile,
    });
    good = pki.client('alias-good', '/O=Example/CN=alias-app');
    other = pki.client('alias-other', '/O=Example/CN=other-app');
  });
  afterAll(async () => {
    await s.close();
    pki.cleanup();
  });

  it('§5: discovery lists the token, introspection, revocation, UserInfo, PAR and device endpoints at the mTLS base', async () => {
    const doc = (await (await tlsFetch({ ca: pki.ca.cert })(s.url('/.well-known/openid-configuration'))).json()) as Record<string, any>;
    expect(doc.mtls_endpoint_aliases).toEqual({
      token_endpoint: `${alias}/oauth/token`,
      userinfo_endpoint: `${alias}/oauth/userinfo`,
      pushed_authorization_request_endpoint: `${alias}/oauth/par`,
      introspection_endpoint: `${alias}/oauth/introspect`,
      revocation_endpoint: `${alias}/oauth/revoke`,
      device_authorization_endpoint: `${alias}/oauth/device_authorization`,
    });
    // The main endpoints stay where they were.
    expect(doc.token_endpoint).toBe(s.url('/oauth/token'));
    const oauthDoc = (await (await tlsFetch({ ca: pki.ca.cert })(s.url('/.well-known/oauth-authorization-server'))).json()) as Record<string, any>;
    expect(oauthDoc.mtls_endpoint_aliases).toEqual(doc.mtls_endpoint_aliases);
  });

  it('§5, §3: a certificate-bound token obtained at the alias (oauth4webapi, use_mtls_endpoint_aliases) works at UserInfo there, with that certificate only', async () => {
    const clientId = (
      await s.client({
        redirect_uris: ['https://rp.example/cb'], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid offline_access',
        token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=alias-app,O=Example', tls_client_certificate_bound_access_tokens: true,
      })
    ).clientId;
    const sub = await s.user('alia', 'alia-password');
    const { refreshToken } = await insertRefreshFamily(s.ctx, { clientId, subject: sub });

    const withCert = { [oauth.customFetch]: tlsFetch({ ca: pki.ca.cert, cert: good.cert, key: good.key }) };
    const issuer = new URL(s.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, withCert));
    const client: oauth.Client = { client_id: clientId, use_mtls_endpoint_aliases: true };
    const seen: string[] = [];
    const recording = {
      [oauth.customFetch]: (url: string, init: RequestInit) => {
        seen.push(url);
        return withCert[oauth.customFetch](url, init as never);
      },
    };
    const tok = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.TlsClientAuth(), refreshToken, recording));
    expect(seen).toEqual([`${alias}/oauth/token`]);
    const rec = await s.ctx.store.findToken(s.ctx.tenant.id, tokenKey(s.ctx.hasher, tok.access_token));
    expect(rec!.data.cnf).toEqual({ 'x5t#S256': x5t(good.cert) });

    const info = await oauth.processUserInfoResponse(as, client, sub, await oauth.userInfoRequest(as, client, tok.access_token, recording));
    expect(seen[1]).toBe(`${alias}/oauth/userinfo`);
    expect(info.sub).toBe(sub);

    // Another certificate, or none, at the alias: the binding holds (RFC 8705 §3).
    for (const tls of [{ cert: other.cert, key: other.key }, {}]) {
      const r = await tlsFetch({ ca: pki.ca.cert, ...tls })(`${alias}/oauth/userinfo`, { headers: { authorization: `Bearer ${tok.access_token}` } });
      expect(r.status).toBe(401);
    }
  });
});

describe('mtls_endpoint_aliases only when configured', () => {
  it('RFC 8705 §5: no mtlsBaseUrl, no aliases in discovery', async () => {
    const s = await startTestServer({ clientCertificateHeader: 'X-SSL-Client-Cert', trustedProxies: ['127.0.0.1'] });
    try {
      const doc = (await (await fetch(s.url('/.well-known/openid-configuration'))).json()) as Record<string, unknown>;
      expect(doc.tls_client_certificate_bound_access_tokens).toBe(true);
      expect(doc).not.toHaveProperty('mtls_endpoint_aliases');
    } finally {
      await s.close();
    }
  });

  it('mtlsBaseUrl must be https, reach the same paths, and needs a way for certificates to arrive', () => {
    const load = (o: Record<string, unknown>) => () => loadConfig({ env: {}, file: undefined, overrides: { issuer: 'https://as.example', ...o } });
    expect(load({ mtlsBaseUrl: 'https://mtls.as.example', tlsCert: 'c.pem', tlsKey: 'k.pem' })().mtlsBaseUrl).toBe('https://mtls.as.example');
    expect(load({ mtlsBaseUrl: 'http://mtls.as.example', tlsCert: 'c.pem', tlsKey: 'k.pem' })).toThrow(/https/);
    expect(load({ mtlsBaseUrl: 'https://mtls.as.example/other', tlsCert: 'c.pem', tlsKey: 'k.pem' })).toThrow(/same path/);
    expect(load({ mtlsBaseUrl: 'https://mtls.as.example' })).toThrow(/tlsCert/);
  });
});
