import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { makeTestPki, type Pem, type TestPki } from '../helpers/certs.js';
import { tlsFetch } from '../helpers/https-fetch.js';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { insertRefreshFamily } from '../helpers/tokens.js';
import { tokenKey } from '../../src/tokens/handles.js';

/** A DPoP proof (RFC 9449 §4.2) by a fresh key, for a POST to url. */
async function dpopProofFor(url: string): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return new SignJWT({ htm: 'POST', htu: url, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
    .sign(privateKey);
}

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

  it('§5: discovery lists the token, introspection, revocation, UserInfo, PAR, device and CIBA endpoints at the mTLS base', async () => {
    const doc = (await (await tlsFetch({ ca: pki.ca.cert })(s.url('/.well-known/openid-configuration'))).json()) as Record<string, any>;
    expect(doc.mtls_endpoint_aliases).toEqual({
      token_endpoint: `${alias}/oauth/token`,
      userinfo_endpoint: `${alias}/oauth/userinfo`,
      pushed_authorization_request_endpoint: `${alias}/oauth/par`,
      introspection_endpoint: `${alias}/oauth/introspect`,
      revocation_endpoint: `${alias}/oauth/revoke`,
      device_authorization_endpoint: `${alias}/oauth/device_authorization`,
      backchannel_authentication_endpoint: `${alias}/oauth/bc-authorize`,
    });
    // The main endpoints stay where they were.
    expect(doc.token_endpoint).toBe(s.url('/oauth/token'));
    const oauthDoc = (await (await tlsFetch({ ca: pki.ca.cert })(s.url('/.well-known/oauth-authorization-server'))).json()) as Record<string, any>;
    expect(oauthDoc.mtls_endpoint_aliases).toEqual(doc.mtls_endpoint_aliases);
  });

  it('§5: a tls_client_auth CIBA client authenticates at the backchannel authentication endpoint\'s alias with its certificate, and only there', async () => {
    const c = await s.client({
      grant_types: ['urn:openid:params:grant-type:ciba'], backchannel_token_delivery_mode: 'poll', scope: 'openid',
      token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=alias-app,O=Example',
    });
    await s.user('cibauser', 'cibauser-password');
    const body = new URLSearchParams({ client_id: c.clientId, scope: 'openid', login_hint: 'cibauser' });
    const post = (url: string, cert?: Pem) =>
      tlsFetch({ ca: pki.ca.cert, ...(cert ? { cert: cert.cert, key: cert.key } : {}) })(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    const ok = await post(`${alias}/oauth/bc-authorize`, good);
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(((await ok.json()) as { auth_req_id: string }).auth_req_id).toBeTruthy();
    expect((await post(`${alias}/oauth/bc-authorize`, other)).status).toBe(401);
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

  it('RFC 9449 §4.3 with RFC 8705 §5: certificate authentication at the alias and DPoP-bound tokens (as FAPI 2.0 allows); the proof names the alias URL, and is accepted once', async () => {
    const clientId = (
      await s.client({
        redirect_uris: ['https://rp.example/cb'], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid offline_access',
        token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=alias-app,O=Example', dpop_bound_access_tokens: true,
      })
    ).clientId;
    const sub = await s.user('dpop-alia', 'dpop-alia-password');
    const { refreshToken } = await insertRefreshFamily(s.ctx, { clientId, subject: sub });
    const fetchWithCert = tlsFetch({ ca: pki.ca.cert, cert: good.cert, key: good.key });
    const seen: { url: string; dpop: string | null }[] = [];
    const recording = {
      [oauth.customFetch]: (url: string, init: RequestInit) => {
        seen.push({ url, dpop: new Headers(init.headers).get('dpop') });
        return fetchWithCert(url, init as never);
      },
    };
    const issuer = new URL(s.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, recording));
    const client: oauth.Client = { client_id: clientId, use_mtls_endpoint_aliases: true };
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const tok = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.TlsClientAuth(), refreshToken, { ...recording, DPoP }));
    expect(tok.token_type.toLowerCase()).toBe('dpop');
    const atToken = seen.at(-1)!;
    expect(atToken.url).toBe(`${alias}/oauth/token`);
    expect(JSON.parse(Buffer.from(atToken.dpop!.split('.')[1]!, 'base64url').toString()).htu).toBe(`${alias}/oauth/token`);

    // The same proof again, at the alias or at the main URL of the same endpoint: a replay (§11.1).
    for (const url of [`${alias}/oauth/token`, s.url('/oauth/token')]) {
      const again = await fetchWithCert(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: atToken.dpop! },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tok.refresh_token!, client_id: clientId }).toString(),
      });
      expect(again.status).toBe(400);
      expect(((await again.json()) as { error: string }).error).toBe('invalid_dpop_proof');
    }
    // A proof for the alias of another endpoint is still another URI.
    const wrong = await fetchWithCert(`${alias}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await dpopProofFor(`${alias}/oauth/introspect`) },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tok.refresh_token!, client_id: clientId }).toString(),
    });
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { error_description: string }).error_description).toMatch(/another URI/);

    const info = await oauth.processUserInfoResponse(as, client, sub, await oauth.userInfoRequest(as, client, tok.access_token, { ...recording, DPoP }));
    expect(seen.at(-1)!.url).toBe(`${alias}/oauth/userinfo`);
    expect(info.sub).toBe(sub);
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
