import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** RFC 9700 recommendations that no other test file covers on its own (SECURITY.md maps each to its proof). */
describe('RFC 9700 odds and ends', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
  });
  afterAll(() => s.close());

  const register = (meta: Record<string, unknown>) =>
    fetch(s.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(meta) });

  it('RFC 9700 §2.6: the authorization endpoint does not support CORS', async () => {
    const { clientId } = await s.client({ redirect_uris: ['https://rp.example/cb'] });
    const q = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://rp.example/cb', response_type: 'code', scope: 'openid' });
    for (const method of ['GET', 'OPTIONS']) {
      const r = await fetch(s.url(`/oauth/authorize?${q}`), { method, redirect: 'manual', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
      expect(r.headers.get('access-control-allow-origin'), method).toBeNull();
      expect(r.headers.get('access-control-allow-credentials'), method).toBeNull();
    }
  });

  it('RFC 9700 §2.6: an http redirect URI is refused unless it is on the loopback interface', async () => {
    const bad = await register({ redirect_uris: ['http://rp.example/cb'] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe('invalid_redirect_uri');
    expect((await register({ redirect_uris: ['http://127.0.0.1:8123/cb'], application_type: 'native', token_endpoint_auth_method: 'none' })).status).toBe(201);
  });

  it('RFC 9700 §4.15.1: a dynamically registered client cannot choose its client_id (it could pose as a user\'s sub)', async () => {
    const sub = await s.user('posed', 'posed-password');
    const r = await register({ client_id: sub, redirect_uris: ['https://rp.example/cb'], grant_types: ['authorization_code'] });
    expect(r.status).toBe(201);
    const body = (await r.json()) as { client_id: string };
    expect(body.client_id).not.toBe(sub);
    expect(body.client_id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
  });
});
