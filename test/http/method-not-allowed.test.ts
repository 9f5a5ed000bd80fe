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

describe('the RFC 7592 client configuration endpoint answers other methods 405 with Allow: GET, PUT, DELETE', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
    await createTenant(s.lk, { id: 'acme' });
  });
  afterAll(() => s.close());

  it('RFC 9110 §15.5.6: POST, PATCH and OPTIONS on /oauth/register/<client_id> are 405 with Allow, not 404, with or without the token, and change nothing', async () => {
    for (const prefix of ['', '/t/acme']) {
      const reg = await fetch(s.url(`${prefix}/oauth/register`), {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['https://app.example/cb'], client_name: 'before' }),
      });
      expect(reg.status).toBe(201);
      const { registration_client_uri: uri, registration_access_token: rat, client_id: clientId } = (await reg.json()) as Record<string, string>;
      expect(new URL(uri!).pathname).toBe(`${prefix}/oauth/register/${clientId}`);
      for (const method of ['POST', 'PATCH', 'OPTIONS']) {
        for (const authorization of [`Bearer ${rat}`, undefined]) {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (authorization) headers.authorization = authorization;
          const r = await fetch(uri!, { method, headers, body: JSON.stringify({ client_id: clientId, redirect_uris: ['https://app.example/cb'], client_name: 'after' }) });
          const what = `${method} ${prefix || '/'} ${authorization ? 'with' : 'without'} token`;
          expect([r.status, r.headers.get('allow'), r.headers.get('cache-control')], what).toEqual([405, 'GET, PUT, DELETE', 'no-store']);
          expect(await r.json(), what).toMatchObject({ error: 'invalid_request' });
        }
      }
      // Nothing was written: the token was not rotated and the metadata is as registered.
      const read = await fetch(uri!, { headers: { authorization: `Bearer ${rat}` } });
      expect(read.status).toBe(200);
      expect(await read.json()).toMatchObject({ client_name: 'before' });
    }
    // An unknown client's URL is the same resource kind: 405 too (the method is refused before any token check).
    const r = await fetch(s.url('/oauth/register/nobody'), { method: 'PATCH' });
    expect([r.status, r.headers.get('allow')]).toEqual([405, 'GET, PUT, DELETE']);
  });
});
