import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant } from '../../src/services/tenants.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const POST_ONLY = ['/oauth/par', '/oauth/token', '/oauth/introspect', '/oauth/revoke', '/oauth/device_authorization', '/oauth/register'];
const OTHER_METHODS = ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

describe('POST-only endpoints answer other methods 405 Method Not Allowed with Allow: POST', () => {
  let s: TestServer;
  let c: { clientId: string; clientSecret?: string };
  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
    await createTenant(s.lk, { id: 'acme' });
    c = await s.client({ grant_types: ['client_credentials'], scope: 'read' });
  });
  afterAll(() => s.close());

  it('RFC 9126 §2.3: a request to the PAR endpoint that is not a POST is 405, with Allow: POST (RFC 9110 §15.5.6), at the root and under /t/<id>', async () => {
    for (const path of ['/oauth/par', '/t/acme/oauth/par']) {
      for (const method of OTHER_METHODS) {
        const r = await fetch(s.url(path), { method });
        expect(r.status, `${method} ${path}`).toBe(405);
        expect(r.headers.get('allow')).toBe('POST');
        expect(r.headers.get('cache-control')).toBe('no-store');
        if (method !== 'HEAD') expect(await r.json()).toMatchObject({ error: 'invalid_request' });
      }
    }
  });

  it('RFC 9110 §15.5.6: token, introspection, revocation, device authorization and registration answer the same way, for every tenant', async () => {
    for (const endpoint of POST_ONLY) {
      for (const path of [endpoint, `/t/acme${endpoint}`]) {
        for (const method of OTHER_METHODS) {
          const r = await fetch(s.url(`${path}?grant_type=client_credentials`), { method });
          expect([r.status, r.headers.get('allow')], `${method} ${path}`).toEqual([405, 'POST']);
        }
      }
    }
  });

  it('POST is unchanged (the fast path still takes the token endpoint); an unknown tenant is still 404; other routes keep their methods', async () => {
    const t = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', scope: 'read' }, { authorization: basic(c.clientId, c.clientSecret!) });
    expect(t.status).toBe(200);
    expect(t.json.access_token).toBeTruthy();
    const i = await postForm(s.url('/oauth/introspect'), { token: t.json.access_token as string }, { authorization: basic(c.clientId, c.clientSecret!) });
    expect(i.json.active).toBe(true);
    expect((await postForm(s.url('/oauth/par'), { response_type: 'code' })).status).toBe(401); // reaches the engine: no client
    expect((await fetch(s.url('/t/nope/oauth/par'))).status).toBe(404);
    expect((await fetch(s.url('/oauth/userinfo'))).status).toBe(401); // GET and POST endpoint: not touched
    expect((await fetch(s.url('/oauth/register/nobody'))).status).toBe(401); // RFC 7592: GET, PUT, DELETE on the client's URL
    expect((await fetch(s.url('/oauth/nothing'))).status).toBe(404);
  });
});

describe('with registration off, /oauth/register is not routed at all', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('GET /oauth/register is 404 while /oauth/par is 405', async () => {
    expect((await fetch(s.url('/oauth/register'))).status).toBe(404);
    expect((await fetch(s.url('/oauth/par'))).status).toBe(405);
  });
});
