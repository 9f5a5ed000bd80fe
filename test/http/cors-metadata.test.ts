import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerClient } from '../../src/services/clients.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://spa.example/cb';

/**
 * allowed_cors_origins: the web origins of a browser-based client (engine/cors.ts), registrable like any other
 * metadata (RFC 7591 registration, RFC 7592 update, the operator's admin API and CLI), each value an origin exactly as
 * a browser sends it in the Origin header.
 */
describe('client metadata allowed_cors_origins', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
  });
  afterAll(() => s.close());

  const register = async (meta: Record<string, unknown>) => {
    const r = await fetch(s.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(meta) });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };

  it('RFC 7591 §3.2.1: dynamic registration keeps allowed_cors_origins (duplicates dropped) and returns it; RFC 7592 reads it back', async () => {
    const r = await register({ redirect_uris: [CB], token_endpoint_auth_method: 'none', allowed_cors_origins: ['https://spa.example', 'https://app.example:8443', 'http://localhost:5173', 'http://127.0.0.1:8080', 'https://spa.example'] });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    expect(r.json.allowed_cors_origins).toEqual(['https://spa.example', 'https://app.example:8443', 'http://localhost:5173', 'http://127.0.0.1:8080']);
    const read = await fetch(r.json.registration_client_uri as string, { headers: { authorization: `Bearer ${r.json.registration_access_token as string}` } });
    expect(((await read.json()) as Record<string, unknown>).allowed_cors_origins).toEqual(r.json.allowed_cors_origins);
  });

  it('RFC 7591 §3.2.2: a value that is not an origin as browsers send it is invalid_client_metadata (LK7200), naming the field', async () => {
    for (const bad of [
      'https://spa.example/', // a trailing slash is a path
      'https://spa.example/app',
      'https://spa.example?x=1',
      'https://spa.example#f',
      'https://user@spa.example',
      'HTTPS://SPA.EXAMPLE', // browsers send lower case
      'https://spa.example:443', // and no default port
      '*',
      'https://*.example.com',
      'null',
      'spa.example',
      'capacitor://localhost', // an opaque origin
      'ftp://spa.example',
      'http://spa.example', // http only on the loopback interface
    ]) {
      const r = await register({ redirect_uris: [CB], allowed_cors_origins: [bad] });
      expect(r.status, bad).toBe(400);
      expect(r.json.error, bad).toBe('invalid_client_metadata');
      expect(r.json.error_description, bad).toMatch(/^allowed_cors_origins/);
    }
    const notArray = await register({ redirect_uris: [CB], allowed_cors_origins: 'https://spa.example' });
    expect([notArray.status, notArray.json.error]).toEqual([400, 'invalid_client_metadata']);
  });

  it('the canonical form is suggested for a URL that has one', async () => {
    const r = await register({ redirect_uris: [CB], allowed_cors_origins: ['https://SPA.example:443/app/'] });
    expect(r.json.error_description).toContain('use https://spa.example (');
  });

  it('the operator registers it through the same validation (admin API, CLI: services/clients.ts)', async () => {
    const { json } = await registerClient(s.ctx, { grant_types: ['client_credentials'], allowed_cors_origins: ['https://console.example'] });
    expect(json.allowed_cors_origins).toEqual(['https://console.example']);
    await expect(registerClient(s.ctx, { grant_types: ['client_credentials'], allowed_cors_origins: ['https://console.example/'] })).rejects.toThrow(/allowed_cors_origins/);
  });
});
