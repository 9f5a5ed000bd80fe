import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { createRemoteJWKSet } from 'jose';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

describe('foundation over HTTP', () => {
  let s: TestServer;
  let cc: { clientId: string; clientSecret?: string };
  let ccPost: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer();
    cc = await s.client({ grant_types: ['client_credentials'], scope: 'api:read api:write' });
    ccPost = await s.client({ grant_types: ['client_credentials'], scope: 'api:read', token_endpoint_auth_method: 'client_secret_post' });
  });
  afterAll(() => s.close());

  it('RFC 8414: oauth4webapi reads the authorization server metadata and runs client_credentials (basic)', async () => {
    const issuer = new URL(s.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }));
    expect(as.token_endpoint).toBe(s.url('/oauth/token'));
    const c: oauth.Client = { client_id: cc.clientId };
    const res = await oauth.clientCredentialsGrantRequest(as, c, oauth.ClientSecretBasic(cc.clientSecret!), new URLSearchParams({ scope: 'api:read' }), {
      [oauth.allowInsecureRequests]: true,
    });
    const tok = await oauth.processClientCredentialsResponse(as, c, res);
    expect(tok.token_type).toBe('bearer'); // oauth4webapi lower-cases
    expect(tok.access_token.length).toBeGreaterThanOrEqual(22);
    expect(tok.expires_in).toBe(3600);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('OIDC Discovery: openid-client discovers the provider and runs client_credentials (post)', async () => {
    const config = await client.discovery(new URL(s.issuer), ccPost.clientId, ccPost.clientSecret, client.ClientSecretPost(ccPost.clientSecret), {
      execute: [client.allowInsecureRequests],
    });
    expect(config.serverMetadata().issuer).toBe(s.issuer);
    const tok = await client.clientCredentialsGrant(config, { scope: 'api:read' });
    expect(tok.access_token).toBeTruthy();
    expect(tok.scope).toBe('api:read');
  });

  it('discovery lists exactly what is implemented, with URLs from the issuer, not the Host header', async () => {
    const res = await fetch(s.url('/.well-known/openid-configuration'), { headers: { host: 'evil.example' } });
    const d = await res.json();
    expect(d.issuer).toBe(s.issuer);
    expect(d.token_endpoint).toBe(`${s.issuer}/oauth/token`);
    expect(d.jwks_uri).toBe(`${s.issuer}/.well-known/jwks.json`);
    expect(d.grant_types_supported).toContain('client_credentials');
    expect(d.id_token_signing_alg_values_supported).toContain('RS256');
    expect(JSON.stringify(d)).not.toContain('evil.example');
  });

  it('RFC 7517: the JWKS serves public keys only, with Cache-Control, and verifies what we sign', async () => {
    const res = await fetch(s.url('/.well-known/jwks.json'));
    expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const { keys } = await res.json();
    expect(keys.map((k: any) => k.alg)).toEqual(expect.arrayContaining(['ES256', 'RS256']));
    for (const k of keys) {
      expect(Object.keys(k).sort()).toEqual(
        k.kty === 'EC' ? ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'] : k.kty === 'RSA' ? ['alg', 'e', 'kid', 'kty', 'n', 'use'] : ['alg', 'crv', 'kid', 'kty', 'use', 'x'],
      );
    }
    const jwks = createRemoteJWKSet(new URL(s.url('/.well-known/jwks.json')));
    expect(jwks).toBeTypeOf('function');
  });

  describe('token endpoint errors (RFC 6749 §5.2)', () => {
    const url = () => s.url('/oauth/token');

    it('a wrong secret with Basic is 401 invalid_client with WWW-Authenticate: Basic', async () => {
      const r = await postForm(url(), { grant_type: 'client_credentials' }, { authorization: basic(cc.clientId, 'nope') });
      expect(r.status).toBe(401);
      expect(r.json.error).toBe('invalid_client');
      expect(r.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    });

    it('RFC 9110 §15.5.2, RFC 6749 §5.2: an unknown client via the body is 401 invalid_client with the Basic challenge too', async () => {
      const r = await postForm(url(), { grant_type: 'client_credentials', client_id: 'ghost', client_secret: 'x'.repeat(40) });
      expect(r.status).toBe(401);
      expect(r.json.error).toBe('invalid_client');
      expect(r.headers.get('www-authenticate')).toBe('Basic realm="latchkey", charset="UTF-8"');
    });

    it('Basic and client_secret in the body at once is invalid_request', async () => {
      const r = await postForm(url(), { grant_type: 'client_credentials', client_secret: cc.clientSecret! }, { authorization: basic(cc.clientId, cc.clientSecret!) });
      expect(r.status).toBe(400);
      expect(r.json.error).toBe('invalid_request');
    });

    it('unsupported_grant_type, invalid_scope, unauthorized_client', async () => {
      const auth = { authorization: basic(cc.clientId, cc.clientSecret!) };
      expect((await postForm(url(), { grant_type: 'urn:example:magic' }, auth)).json.error).toBe('unsupported_grant_type');
      // The password grant exists, but only for clients that opted in (RFC 9700 §2.4).
      expect((await postForm(url(), { grant_type: 'password', username: 'u', password: 'p' }, auth)).json.error).toBe('unauthorized_client');
      expect((await postForm(url(), { grant_type: 'client_credentials', scope: 'admin' }, auth)).json.error).toBe('invalid_scope');
      const other = await s.client({ redirect_uris: ['https://app.example/cb'] });
      const r = await postForm(url(), { grant_type: 'client_credentials' }, { authorization: basic(other.clientId, other.clientSecret!) });
      expect(r.json.error).toBe('unauthorized_client');
    });

    it('missing and repeated parameters are invalid_request', async () => {
      const auth = { authorization: basic(cc.clientId, cc.clientSecret!) };
      expect((await postForm(url(), '', auth)).json.error).toBe('invalid_request');
      const r = await postForm(url(), 'grant_type=client_credentials&scope=api:read&scope=api:write', auth);
      expect(r.status).toBe(400);
      expect(r.json).toEqual({ error: 'invalid_request', error_description: 'parameter scope is repeated' });
    });

    it('a JSON body is 400 invalid_request, not a 500', async () => {
      const res = await fetch(url(), { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic(cc.clientId, cc.clientSecret!) }, body: '{"grant_type":"client_credentials"}' });
      expect(res.status).toBe(400);
      expect((await res.json()).error).toBe('invalid_request');
    });

    it('an oversized body is 413 with an OAuth-shaped error', async () => {
      const r = await postForm(url(), 'grant_type=client_credentials&x=' + 'a'.repeat(70 * 1024));
      expect(r.status).toBe(413);
      expect(r.json.error).toBe('invalid_request');
    });

    it('malformed percent-encoding and binary junk never produce a 5xx or a stack trace', async () => {
      for (const body of ['grant_type=%zz%', '%%%&&&===', Buffer.from([0xff, 0xfe, 0x00, 0x41]).toString('latin1'), 'grant_type=client_credentials\u0000']) {
        const r = await postForm(url(), body, { authorization: basic(cc.clientId, cc.clientSecret!) });
        expect(r.status).toBeLessThan(500);
        expect(r.text).not.toMatch(/\bat .*\.ts:\d+/);
      }
    });

    it('an unknown path is a 404 JSON error', async () => {
      const res = await fetch(s.url('/nope'));
      expect(res.status).toBe(404);
    });
  });
});
