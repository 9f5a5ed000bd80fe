import { UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { clientNamedBy } from '../../src/engine/client-auth.js';
import { allowedOrigins, checkOriginValue, corsHeaders, corsPreflight, isWebOrigin, originOf, unidentifiedErrorCors, withCorsHeaders, withUnidentifiedErrorCors } from '../../src/engine/cors.js';
import type { EngineContext } from '../../src/engine/context.js';
import type { Result } from '../../src/engine/result.js';
import type { ClientRecord } from '../../src/store/types.js';

const client = (meta: Partial<ClientRecord>): ClientRecord =>
  ({
    tenantId: 'default', clientId: 'c', secretHash: null, createdAt: 0, redirectUris: [], grantTypes: ['authorization_code'], responseTypes: ['code'],
    scope: ['openid'], tokenEndpointAuthMethod: 'none', applicationType: 'web', idTokenSignedResponseAlg: 'RS256', requirePkce: true, skipConsent: false,
    ...meta,
  }) as ClientRecord;

describe('engine/cors.ts: which origins may read a client\'s answers', () => {
  it('RFC 6454 §6.2: an http(s) URI\'s origin is its scheme, host and non-default port; other schemes have none a page can send', () => {
    expect(originOf('https://SPA.example:443/cb?x=1')).toBe('https://spa.example');
    expect(originOf('http://127.0.0.1:5173/cb')).toBe('http://127.0.0.1:5173');
    expect(originOf('com.example.app:/cb')).toBeUndefined();
    expect(originOf('not a uri')).toBeUndefined();
  });

  it('a public web client: its redirect URIs\' origins and its allowed_cors_origins, at every CORS endpoint', () => {
    const c = client({ redirectUris: ['https://spa.example/cb', 'https://spa.example/other', 'http://localhost:3000/cb'], allowedCorsOrigins: ['https://extra.example'] });
    for (const endpoint of ['token', 'revocation', 'par', 'device_authorization', 'userinfo'] as const) {
      expect([...allowedOrigins(c, endpoint)].sort(), endpoint).toEqual(['http://localhost:3000', 'https://extra.example', 'https://spa.example']);
    }
  });

  it('a confidential client: only its allowed_cors_origins at the token endpoint family; its redirect URIs\' origins too at UserInfo', () => {
    const c = client({ tokenEndpointAuthMethod: 'client_secret_basic', redirectUris: ['https://web.example/cb'], allowedCorsOrigins: ['https://console.example'] });
    expect([...allowedOrigins(c, 'token')]).toEqual(['https://console.example']);
    expect([...allowedOrigins(c, 'revocation')]).toEqual(['https://console.example']);
    expect([...allowedOrigins(c, 'userinfo')].sort()).toEqual(['https://console.example', 'https://web.example']);
    expect([...allowedOrigins(client({ tokenEndpointAuthMethod: 'private_key_jwt', redirectUris: ['https://web.example/cb'] }), 'token')]).toEqual([]);
  });

  it('RFC 8252: a native client\'s redirect URIs are not pages that call us: they give no origin', () => {
    const c = client({ applicationType: 'native', redirectUris: ['http://127.0.0.1/cb', 'com.example.app:/cb'] });
    expect([...allowedOrigins(c, 'token')]).toEqual([]);
    expect([...allowedOrigins(c, 'userinfo')]).toEqual([]);
  });

  it('the client a request names: the Basic user name, else a single client_id, else the client assertion\'s issuer; nothing when it is ambiguous', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    expect(clientNamedBy({ parameters: 'client_id=body', authorization: `Basic ${b64('basic%20id:secret')}` })).toBe('basic id');
    expect(clientNamedBy({ parameters: 'grant_type=x&client_id=body' })).toBe('body');
    expect(clientNamedBy({ parameters: 'client_id=a&client_id=b' })).toBeUndefined();
    expect(clientNamedBy({ parameters: 'client_id=' })).toBeUndefined();
    const assertion = new UnsecuredJWT({}).setIssuer('jwt-client').setSubject('jwt-client').encode();
    expect(clientNamedBy({ parameters: `client_assertion=${assertion}` })).toBe('jwt-client');
    expect(clientNamedBy({ parameters: 'client_assertion=garbage' })).toBeUndefined();
    expect(clientNamedBy({ parameters: 'client_id=body', authorization: 'Basic !!!' })).toBe('body');
    expect(clientNamedBy({ parameters: '' })).toBeUndefined();
  });

  it('allowed_cors_origins values: exactly an origin as a browser serializes it; wildcards and "null" never', () => {
    for (const ok of ['https://spa.example', 'https://spa.example:8443', 'http://localhost:5173', 'http://[::1]:8080']) expect(checkOriginValue(ok), ok).toEqual({ ok: true });
    for (const bad of ['https://spa.example/', 'https://Spa.example', 'https://spa.example:443', 'http://spa.example:80', '*', 'https://*.spa.example', 'null', 'file:///x', 'urn:x']) {
      expect(checkOriginValue(bad).ok, bad).toBe(false);
    }
  });

  it('Fetch CORS preflight: answered only when Origin and Access-Control-Request-Method are present, the same for every origin', () => {
    expect(corsPreflight('POST', {})).toBeUndefined();
    expect(corsPreflight('POST', { origin: 'https://a.example' })).toBeUndefined();
    const a = corsPreflight('POST', { origin: 'https://a.example', requestMethod: 'POST' })!;
    const b = corsPreflight('POST', { origin: 'https://b.example', requestMethod: 'PUT' })!;
    expect(a).toEqual(b);
    expect(a.status).toBe(204);
    expect(a.headers).toMatchObject({ 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Methods': 'POST' });
    expect(a.headers!['Access-Control-Allow-Credentials']).toBeUndefined();
  });

  it('RFC 9110 §12.5.5: an answer that already varies on another header keeps it, and adds Origin', async () => {
    const c = client({ redirectUris: ['https://spa.example/cb'] });
    const ctx = { tenant: { id: 'default' }, store: { findClient: async () => c } } as unknown as EngineContext;
    const base: Result = { action: 'OK', resultCode: 'LK2001', resultMessage: '', responseContent: '{}', status: 200 };
    const negotiated = await withCorsHeaders(ctx, 'token', 'https://spa.example', 'c', { ...base, headers: { Vary: 'Accept' } });
    expect(negotiated.headers).toMatchObject({ Vary: 'Accept, Origin', 'Access-Control-Allow-Origin': 'https://spa.example' });
    const plain = await withCorsHeaders(ctx, 'token', 'https://other.example', 'c', { ...base });
    expect(plain.headers).toEqual({ Vary: 'Origin' });
  });

  it('RFC 6454 §6.2: only a web origin as browsers serialize it may be echoed; "null", a path, upper case, a default port, two origins never', () => {
    for (const ok of ['https://spa.example', 'http://127.0.0.1:5173', 'http://[::1]:8080', 'https://xn--bcher-kva.example']) expect(isWebOrigin(ok), ok).toBe(true);
    for (const bad of ['null', '', 'https://spa.example/', 'https://SPA.example', 'https://spa.example:443', 'https://a.example, https://b.example', 'spa.example', 'file://', 'chrome-extension://abc', 'https://user@spa.example']) {
      expect(isWebOrigin(bad), bad).toBe(false);
    }
  });

  it('Keycloak-style: an error for which no client is identified is readable by the asking web origin; a success naming no client by none', async () => {
    const ctx = { tenant: { id: 'default' }, store: { findClient: async () => undefined } } as unknown as EngineContext;
    const expose = 'WWW-Authenticate, DPoP-Nonce, Retry-After';
    expect(await corsHeaders(ctx, 'token', 'https://any.example', 'unknown', true)).toEqual({ 'Access-Control-Allow-Origin': 'https://any.example', 'Access-Control-Expose-Headers': expose, Vary: 'Origin' });
    expect(await corsHeaders(ctx, 'userinfo', 'https://any.example', undefined, true)).toEqual({ 'Access-Control-Allow-Origin': 'https://any.example', 'Access-Control-Expose-Headers': expose, Vary: 'Origin' });
    expect(await corsHeaders(ctx, 'token', 'https://any.example', 'unknown', false)).toEqual({ Vary: 'Origin' });
    expect(await corsHeaders(ctx, 'token', 'null', undefined, true)).toEqual({ Vary: 'Origin' });
    expect(unidentifiedErrorCors('https://any.example')['Access-Control-Allow-Credentials']).toBeUndefined();
  });

  it('a client identified keeps its own origins on errors too: another origin cannot read its refusals', async () => {
    const c = client({ redirectUris: ['https://spa.example/cb'] });
    const ctx = { tenant: { id: 'default' }, store: { findClient: async () => c } } as unknown as EngineContext;
    expect(await corsHeaders(ctx, 'token', 'https://other.example', 'c', true)).toEqual({ Vary: 'Origin' });
    expect((await corsHeaders(ctx, 'token', 'https://spa.example', 'c', true))['Access-Control-Allow-Origin']).toBe('https://spa.example');
  });

  it('when the client cannot be looked up (the database is away), an error answer is as for no client identified, a success gets no Allow-Origin', async () => {
    const ctx = { tenant: { id: 'default' }, store: { findClient: async () => { throw new Error('down'); } } } as unknown as EngineContext;
    const base: Result = { action: 'INTERNAL_SERVER_ERROR', resultCode: 'LK9501', resultMessage: '', responseContent: '{}', status: 503, headers: { 'Retry-After': '1' } };
    const outage = await withCorsHeaders(ctx, 'token', 'https://any.example', 'c', base);
    expect(outage.headers).toMatchObject({ 'Retry-After': '1', 'Access-Control-Allow-Origin': 'https://any.example', Vary: 'Origin' });
    const ok = await withCorsHeaders(ctx, 'token', 'https://any.example', 'c', { ...base, action: 'OK', status: 200 });
    expect(ok.headers).toEqual({ 'Retry-After': '1', Vary: 'Origin' });
  });

  it('errors made before the engine: CORS added only for a request with Origin; an existing Vary is kept', () => {
    expect(withUnidentifiedErrorCors(undefined, { 'Cache-Control': 'no-store' })).toEqual({ 'Cache-Control': 'no-store' });
    expect(withUnidentifiedErrorCors('https://any.example', { Vary: 'Accept' })).toMatchObject({ Vary: 'Accept, Origin', 'Access-Control-Allow-Origin': 'https://any.example' });
    expect(withUnidentifiedErrorCors('null', undefined)).toEqual({ Vary: 'Origin' });
  });
});
