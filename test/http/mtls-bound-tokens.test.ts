import { createHash, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import { decodeJwt } from 'jose';
import { makeTestPki, type Pem, type TestPki } from '../helpers/certs.js';
import { tlsFetch } from '../helpers/https-fetch.js';
import { basic, startTestServer, type TestServer } from '../helpers/server.js';
import { insertRefreshFamily } from '../helpers/tokens.js';
import { tokenKey } from '../../src/tokens/handles.js';
import { authorization, authorizationIssue } from '../../src/engine/authorization/index.js';

const x5t = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');

describe('RFC 8705 §3: certificate-bound access tokens over the HTTPS listener', () => {
  let pki: TestPki;
  let s: TestServer;
  let as: oauth.AuthorizationServer;
  let good: Pem;
  let other: Pem;
  let boundClient: string;
  let sub: string;

  beforeAll(async () => {
    pki = makeTestPki();
    s = await startTestServer({ tlsCert: pki.server.certFile, tlsKey: pki.server.keyFile, tlsClientCa: pki.ca.certFile });
    good = pki.client('bound-good', '/O=Example/CN=bound-service');
    other = pki.client('bound-other', '/O=Example/CN=other-service');
    boundClient = (
      await s.client({
        grant_types: ['client_credentials'], scope: 'api:read', token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_subject_dn: 'CN=bound-service,O=Example', tls_client_certificate_bound_access_tokens: true, access_token_format: 'jwt',
      })
    ).clientId;
    sub = await s.user('bob', 'bob-password');
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { [oauth.customFetch]: tlsFetch({ ca: pki.ca.cert }) }));
  });
  afterAll(async () => {
    await s.close();
    pki.cleanup();
  });

  it('RFC 8705 §3.3: discovery says tls_client_certificate_bound_access_tokens', () => {
    expect((as as Record<string, unknown>).tls_client_certificate_bound_access_tokens).toBe(true);
  });

  it('RFC 8705 §3.1: the access token carries cnf.x5t#S256 of the client certificate (JWT, record, introspection)', async () => {
    const res = await oauth.clientCredentialsGrantRequest(as, { client_id: boundClient }, oauth.TlsClientAuth(), { scope: 'api:read' }, {
      [oauth.customFetch]: tlsFetch({ ca: pki.ca.cert, cert: good.cert, key: good.key }),
    });
    const tok = await oauth.processClientCredentialsResponse(as, { client_id: boundClient }, res);
    expect(tok.token_type).toBe('bearer'); // RFC 8705 §3: still a Bearer token type
    expect(decodeJwt(tok.access_token).cnf).toEqual({ 'x5t#S256': x5t(good.cert) });
    const introspector = await s.client({ grant_types: ['client_credentials'] });
    const r = await tlsFetch({ ca: pki.ca.cert })(s.url('/oauth/introspect'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(introspector.clientId, introspector.clientSecret!) },
      body: new URLSearchParams({ token: tok.access_token }).toString(),
    });
    expect(await r.json()).toMatchObject({ active: true, cnf: { 'x5t#S256': x5t(good.cert) } });
  });

  it('RFC 8705 §3: UserInfo accepts a certificate-bound token only with the same certificate', async () => {
    const { accessToken } = await insertRefreshFamily(s.ctx, { clientId: boundClient, subject: sub, scope: ['openid'], cnf: { 'x5t#S256': x5t(good.cert) } });
    const ui = (tls: { cert?: string; key?: string }) =>
      tlsFetch({ ca: pki.ca.cert, ...tls })(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${accessToken}` } });
    const ok = await ui({ cert: good.cert, key: good.key });
    expect(ok.status).toBe(200);
    expect((await ok.json()).sub).toBe(sub);
    for (const r of [await ui({ cert: other.cert, key: other.key }), await ui({})]) {
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    }
  });
});

describe('RFC 8705 §4: a public client\'s refresh token is bound to its certificate', () => {
  const CB = 'https://app.example/cb';
  let pki: TestPki;
  let s: TestServer;
  let as: oauth.AuthorizationServer;
  let certA: Pem;
  let certB: Pem;
  let pub: string;
  let sub: string;

  beforeAll(async () => {
    pki = makeTestPki();
    s = await startTestServer({ tlsCert: pki.server.certFile, tlsKey: pki.server.keyFile, tlsClientCa: pki.ca.certFile });
    // Self-signed: a public client's certificate authenticates nobody, it only holds the key the tokens are bound to.
    certA = pki.selfSigned('public-a', '/CN=public-app-a');
    certB = pki.selfSigned('public-b', '/CN=public-app-b');
    pub = (
      await s.client({
        redirect_uris: [CB], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'],
        scope: 'openid offline_access', tls_client_certificate_bound_access_tokens: true,
      })
    ).clientId;
    sub = await s.user('pat', 'pat-password');
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { [oauth.customFetch]: tlsFetch({ ca: pki.ca.cert }) }));
  });
  afterAll(async () => {
    await s.close();
    pki.cleanup();
  });

  /** Pat signs in (the authorization endpoint's two steps, as the built-in pages call them); the code is redeemed with certA. */
  async function codeFlow(): Promise<oauth.TokenEndpointResponse> {
    const verifier = oauth.generateRandomCodeVerifier();
    const p = new URLSearchParams({
      response_type: 'code', client_id: pub, redirect_uri: CB, scope: 'openid offline_access', nonce: 'n',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const a = await authorization({ parameters: p.toString() }, s.ctx);
    expect(a.ticket, a.resultMessage).toBeTruthy();
    const issued = await authorizationIssue({ ticket: a.ticket!, subject: sub, authTime: Math.floor(Date.now() / 1000) }, s.ctx);
    const cb = new URL(issued.responseContent as string);
    const params = oauth.validateAuthResponse(as, { client_id: pub }, cb, oauth.expectNoState);
    const res = await oauth.authorizationCodeGrantRequest(as, { client_id: pub }, oauth.None(), params, CB, verifier, {
      [oauth.customFetch]: tlsFetch({ ca: pki.ca.cert, cert: certA.cert, key: certA.key }),
    });
    return oauth.processAuthorizationCodeResponse(as, { client_id: pub }, res, { expectedNonce: 'n' });
  }
  const refresh = (rt: string, tls: { cert?: string; key?: string }) =>
    tlsFetch({ ca: pki.ca.cert, ...tls })(s.url('/oauth/token'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt, client_id: pub }).toString(),
    });

  it('RFC 8705 §4: the refresh token records cnf.x5t#S256 and is refused (invalid_grant) with another certificate', async () => {
    const tok = await codeFlow();
    const rec = await s.ctx.store.findToken(s.ctx.tenant.id, tokenKey(s.ctx.hasher, tok.refresh_token!));
    expect(rec!.data.cnf).toEqual({ 'x5t#S256': x5t(certA.cert) });
    const wrong = await refresh(tok.refresh_token!, { cert: certB.cert, key: certB.key });
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ error: 'invalid_grant' });
    // Refused before anything was spent: the holder of certA still refreshes, and its new tokens are bound to certA.
    const ok = await refresh(tok.refresh_token!, { cert: certA.cert, key: certA.key });
    expect(ok.status).toBe(200);
    const next = (await ok.json()) as { access_token: string; refresh_token: string };
    const at = await s.ctx.store.findToken(s.ctx.tenant.id, tokenKey(s.ctx.hasher, next.access_token));
    expect(at!.data.cnf).toEqual({ 'x5t#S256': x5t(certA.cert) });
    const rt = await s.ctx.store.findToken(s.ctx.tenant.id, tokenKey(s.ctx.hasher, next.refresh_token));
    expect(rt!.data.cnf).toEqual({ 'x5t#S256': x5t(certA.cert) });
  });

  it('RFC 8705 §4: a certificate-bound refresh token presented without a certificate is refused', async () => {
    const tok = await codeFlow();
    const none = await refresh(tok.refresh_token!, {});
    expect(none.status).toBe(400);
    // The client registered certificate-bound tokens: no certificate is invalid_request (RFC 8705 §3) before the grant is looked at.
    expect(await none.json()).toMatchObject({ error: 'invalid_request' });
  });
});

describe('RFC 8705 §3: certificate-bound access tokens behind a TLS-terminating proxy', () => {
  let pki: TestPki;
  let s: TestServer;
  let cert: Pem;
  let other: Pem;
  let client: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    pki = makeTestPki();
    s = await startTestServer({ tlsClientCa: pki.ca.certFile, clientCertificateHeader: 'X-SSL-Client-Cert', trustedProxies: ['127.0.0.1'] });
    cert = pki.client('proxied-bound', '/CN=proxied-bound');
    other = pki.client('proxied-other', '/CN=proxied-other');
    // The binding does not depend on how the client authenticates (RFC 8705 §3): here with a secret.
    client = await s.client({ grant_types: ['client_credentials'], scope: 'openid', tls_client_certificate_bound_access_tokens: true });
  });
  afterAll(async () => {
    await s.close();
    pki.cleanup();
  });

  const call = (path: string, pem: string | undefined, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    tlsFetch({ localAddress: '127.0.0.1' })(s.url(path), {
      ...init,
      headers: { ...init.headers, ...(pem !== undefined ? { 'x-ssl-client-cert': encodeURIComponent(pem) } : {}) },
    });

  it('RFC 8705 §3: a client registered for bound tokens gets cnf.x5t#S256 from the proxied certificate; none is invalid_request', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.clientId, client.clientSecret!) };
    const body = new URLSearchParams({ grant_type: 'client_credentials' }).toString();
    const res = await call('/oauth/token', cert.cert, { method: 'POST', headers: form, body });
    expect(res.status).toBe(200);
    const tok = (await res.json()) as { access_token: string };
    const rec = await s.ctx.store.findToken(s.ctx.tenant.id, tokenKey(s.ctx.hasher, tok.access_token));
    expect(rec!.data.cnf).toEqual({ 'x5t#S256': x5t(cert.cert) });
    const none = await call('/oauth/token', undefined, { method: 'POST', headers: form, body });
    expect(none.status).toBe(400);
    expect(await none.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('RFC 8705 §3: a token bound to one certificate presented with another is refused at UserInfo', async () => {
    const sub = await s.user('carol', 'carol-password');
    const { accessToken } = await insertRefreshFamily(s.ctx, { clientId: client.clientId, subject: sub, scope: ['openid'], cnf: { 'x5t#S256': x5t(cert.cert) } });
    const headers = { authorization: `Bearer ${accessToken}` };
    expect((await call('/oauth/userinfo', cert.cert, { headers })).status).toBe(200);
    const wrong = await call('/oauth/userinfo', other.cert, { headers });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });
});
