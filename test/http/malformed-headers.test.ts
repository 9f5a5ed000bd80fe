import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unparseableMediaType } from '../../src/http/raw-body.js';
import { createAdminToken, createInitialAccessToken } from '../../src/services/management-tokens.js';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { createTenant } from '../../src/services/tenants.js';
import { rawRequest as raw, type RawAnswer as Answer } from '../helpers/raw-http.js';
import { basic, type TestLatchkey } from '../helpers/server.js';
import { openTwoPaths, type TwoPaths } from '../helpers/two-paths.js';

/*
 * Malformed headers that Node's header map hides or that Fastify refuses before our routes run: repeated or invalid
 * Host, repeated Authorization and Content-Type, Content-Type values that are no media type, and Authorization
 * schemes the registration endpoints did not read as RFC 6750 §3.1 says. Raw bytes over node:net (fetch sends none
 * of these), to one Latchkey served with and without the fast path: whichever path a request takes, the same answer.
 */

const json = (a: Answer): Record<string, unknown> => JSON.parse(a.body) as Record<string, unknown>;
/** What must not differ between two answers to the same request: status, body, and headers but date and request id. */
const comparable = (a: Answer) => {
  const { date: _d, 'x-request-id': _i, ...headers } = a.headers;
  return { status: a.status, headers, body: a.body };
};

describe('malformed headers get the protocol\'s answer, the same on every path', () => {
  let t: TestLatchkey;
  let paths: TwoPaths;
  let fast: number;
  let slow: number;
  let auth: string;
  let service: string;
  let initial: string;
  const ports = () => [fast, slow];

  beforeAll(async () => {
    paths = await openTwoPaths({ registration: 'token' });
    ({ t, fast, slow } = paths);
    await createTenant(t.lk, { id: 'acme' });
    const c = await t.client({ grant_types: ['client_credentials'], scope: 'api:read' });
    auth = basic(c.clientId, c.clientSecret!);
    service = (await createServiceToken(t.lk, {})).token;
    initial = (await createInitialAccessToken(t.lk, { tenantId: 'default' })).token;
  }, 30_000);
  afterAll(async () => {
    await paths?.close();
  });

  const post = (port: number, path: string, headers: string[], body: string) => raw(port, [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...headers], body);

  describe('RFC 9112 §3.2: a repeated or invalid Host is 400, like a missing one', () => {
    const hosts: [string, string[]][] = [
      ['two Host headers', ['Host: a.example', 'Host: b.example']],
      ['a Host with a space', ['Host: a b']],
      ['an empty Host', ['Host:']],
      ['a Host that is not host[:port]', ['Host: a.example:80:80']],
    ];
    for (const [what, lines] of hosts) {
      it(`RFC 9112 §3.2: ${what} is answered 400 on the fast path and through Fastify`, async () => {
        for (const port of ports()) {
          for (const [path, method, extra, body] of [
            ['/oauth/token', 'POST', [`Authorization: ${auth}`, 'Content-Type: application/x-www-form-urlencoded'], 'grant_type=client_credentials'],
            ['/.well-known/openid-configuration', 'GET', [], ''],
            ['/t/acme/oauth/token', 'POST', [`Authorization: ${auth}`, 'Content-Type: application/x-www-form-urlencoded'], 'grant_type=client_credentials'],
          ] as const) {
            const a = await raw(port, [`${method} ${path} HTTP/1.1`, ...lines, ...extra], body);
            expect(a.status, `${what} ${path} on ${port === fast ? 'fast' : 'slow'}`).toBe(400);
            expect(json(a).error).toBe('invalid_request');
          }
        }
      });
    }

    it('RFC 9112 §3.2: one valid Host (a name, an address, with a port, an IPv6 literal) is served', async () => {
      for (const host of ['127.0.0.1', '127.0.0.1:8080', 'a.example', '[::1]:443', '[fe80::1%25eth0]', 'xn--bcher-kva.example']) {
        const a = await raw(fast, ['GET /.well-known/openid-configuration HTTP/1.1', `Host: ${host}`]);
        expect(a.status, host).toBe(200);
      }
    });
  });

  describe('RFC 6749 §5.2: a Content-Type that is no media type is the engine\'s 400, as text/plain is', () => {
    const odd = ['Content-Type:', 'Content-Type: a/b/c', 'Content-Type: application/x-www-form-urlencoded, application/json', 'Content-Type: /', 'Content-Type: undefined'];
    const endpoints = ['/oauth/token', '/oauth/introspect', '/oauth/revoke', '/oauth/par', '/t/acme/oauth/token', '/t/acme/oauth/introspect'];

    it('RFC 6749 §5.2: the token, introspection, revocation and PAR endpoints (and a tenant\'s) answer it as they answer text/plain: 400 invalid_request, no-store', async () => {
      for (const path of endpoints) {
        const baseline = await post(slow, path, [`Authorization: ${auth}`, 'Content-Type: text/plain'], 'grant_type=client_credentials&token=x');
        expect(baseline.status, path).toBe(400);
        expect(json(baseline)).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/x-www-form-urlencoded/) });
        expect(baseline.headers.pragma).toBe('no-cache');
        for (const port of ports()) {
          for (const ct of odd) {
            const a = await post(port, path, [`Authorization: ${auth}`, ct], 'grant_type=client_credentials&token=x');
            expect(comparable(a), `${path} ${ct} on ${port === fast ? 'fast' : 'slow'}`).toEqual({ ...comparable(baseline), headers: { ...comparable(baseline).headers } });
          }
        }
      }
    });

    it('RFC 7591 §3.1: registration answers it with its own 400 (not application/json), not Fastify\'s 415', async () => {
      const a = await post(fast, '/oauth/register', [`Authorization: Bearer ${initial}`, 'Content-Type: a/b/c'], JSON.stringify({ grant_types: ['client_credentials'] }));
      expect(a.status).toBe(400);
      expect(json(a)).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/application\/json/) });
    });

    it('OIDC Core §5.3.1: UserInfo reads a POST body only as a form: an unparseable Content-Type is its 400 invalid_request', async () => {
      const a = await post(fast, '/oauth/userinfo', ['Content-Type: a/b/c'], 'access_token=abc');
      expect(a.status).toBe(400);
      expect(a.headers['www-authenticate']).toMatch(/error="invalid_request"/);
    });

    it('Core API: a body whose Content-Type is no media type is 415 LK11003, as any other non-JSON type (docs/core-api.md)', async () => {
      for (const ct of odd) {
        const a = await post(fast, '/api/default/auth/token', [`Authorization: Bearer ${service}`, ct], JSON.stringify({ parameters: 'grant_type=client_credentials' }));
        expect([a.status, json(a).resultCode], ct).toEqual([415, 'LK11003']);
      }
      const plain = await post(fast, '/api/default/auth/token', [`Authorization: Bearer ${service}`, 'Content-Type: text/plain'], '{}');
      expect([plain.status, json(plain).resultCode]).toEqual([415, 'LK11003']);
    });

    it('raw-body.ts refuses exactly the values Fastify refuses as media types', () => {
      const require = createRequire(import.meta.url);
      const ContentType = require('fastify/lib/content-type.js') as new (v: string) => { isValid: boolean };
      const samples = [
        '', ' ', 'undefined', 'a', 'a/', '/b', '/', 'a/b', ' a/b ', 'a/b;', 'a/b; c=d', 'a /b', 'a/ b', 'a/b c', 'a/b/c', 'a/b, c/d', 'a;b/c', 'a/b;c/d',
        'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded;charset=utf-8', 'Application/JSON', 'text/plain; charset="x"', 'a\u00e9/b', 'a/b\t', '\ta/b',
        'application/x-www-form-urlencoded, application/json', 'a{/b', 'a/b)', 'application/json', 'application/json; charset=utf-8',
      ];
      for (const v of samples) expect(unparseableMediaType(v), JSON.stringify(v)).toBe(!new ContentType(v).isValid);
    });
  });

  describe('RFC 6749 §2.3, RFC 6750 §2: two Authorization headers are ambiguous credentials, 400 invalid_request', () => {
    it('RFC 6749 §2.3: the token endpoint refuses a valid Basic followed by another one, on both paths and a tenant\'s', async () => {
      for (const port of ports()) {
        for (const path of ['/oauth/token', '/oauth/introspect', '/oauth/revoke']) {
          const a = await post(port, path, [`Authorization: ${auth}`, 'Authorization: Basic Ym9ndXM6Ym9ndXM=', 'Content-Type: application/x-www-form-urlencoded'], 'grant_type=client_credentials&token=x');
          expect(a.status, path).toBe(400);
          expect(json(a)).toMatchObject({ error: 'invalid_request', error_description: 'more than one Authorization header' });
        }
        // The order does not matter, nor the case of the name.
        const b = await post(port, '/oauth/token', ['authorization: Basic Ym9ndXM6Ym9ndXM=', `AUTHORIZATION: ${auth}`, 'Content-Type: application/x-www-form-urlencoded'], 'grant_type=client_credentials');
        expect(b.status).toBe(400);
      }
      const tenant = await post(slow, '/t/acme/oauth/token', [`Authorization: ${auth}`, `Authorization: ${auth}`, 'Content-Type: application/x-www-form-urlencoded'], 'grant_type=client_credentials');
      expect(tenant.status).toBe(400);
      // One Authorization header still works on both paths.
      for (const port of ports()) expect((await post(port, '/oauth/token', [`Authorization: ${auth}`, 'Content-Type: application/x-www-form-urlencoded'], 'grant_type=client_credentials')).status).toBe(200);
    });

    it('RFC 9110 §5.3: two Content-Type headers leave the body\'s type unknown: 400 invalid_request on both paths', async () => {
      for (const port of ports()) {
        const a = await post(port, '/oauth/token', [`Authorization: ${auth}`, 'Content-Type: application/x-www-form-urlencoded', 'Content-Type: application/json'], 'grant_type=client_credentials');
        expect(a.status).toBe(400);
        expect(json(a)).toMatchObject({ error: 'invalid_request', error_description: 'more than one Content-Type header' });
      }
    });

    it('RFC 6750 §2: UserInfo refuses two Authorization headers (400 invalid_request), not the first token', async () => {
      const a = await raw(fast, ['GET /oauth/userinfo HTTP/1.1', 'Host: 127.0.0.1', 'Authorization: Bearer aaaa', 'Authorization: Bearer bbbb']);
      expect(a.status).toBe(400);
      expect(a.headers['www-authenticate']).toMatch(/^Bearer realm="latchkey", error="invalid_request"/);
    });
  });

  it('RFC 6750 §2: the Core API and the admin API refuse two Authorization headers (400), not the first token; one is served', async () => {
    const admin = (await createAdminToken(t.lk, { name: 'tests' })).token;
    const body = JSON.stringify({ parameters: 'grant_type=client_credentials' });
    for (const port of ports()) {
      const core = await post(port, '/api/default/auth/token', [`Authorization: Bearer ${service}`, 'Authorization: Bearer other', 'Content-Type: application/json'], body);
      expect([core.status, json(core).resultCode]).toEqual([400, 'LK7310']);
      const adminTwice = await raw(port, ['GET /admin/tenants HTTP/1.1', 'Host: 127.0.0.1', `Authorization: Bearer ${admin}`, 'Authorization: Bearer other']);
      expect([adminTwice.status, json(adminTwice).error]).toEqual([400, 'invalid_request']);
      // One header of each is served as before.
      expect((await post(port, '/api/default/auth/token', [`Authorization: Bearer ${service}`, 'Content-Type: application/json'], body)).status).toBe(200);
      expect((await raw(port, ['GET /admin/tenants HTTP/1.1', 'Host: 127.0.0.1', `Authorization: Bearer ${admin}`])).status).toBe(200);
    }
  });

  describe('RFC 6750 §3.1 at the registration endpoints (RFC 7591 §3, RFC 7592 §2)', () => {
    let clientUri: string;
    beforeAll(async () => {
      const r = await fetch(`http://127.0.0.1:${fast}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${initial}` },
        body: JSON.stringify({ grant_types: ['client_credentials'] }),
      });
      expect(r.status).toBe(201);
      clientUri = new URL(((await r.json()) as { registration_client_uri: string }).registration_client_uri).pathname;
    });

    for (const [where, send] of [
      ['the registration endpoint (registration: token)', (h: string[]) => post(fast, '/oauth/register', [...h, 'Content-Type: application/json'], '{"grant_types":["client_credentials"]}')],
      ['the client configuration endpoint', (h: string[]) => raw(fast, [`GET ${clientUri} HTTP/1.1`, 'Host: 127.0.0.1', ...h])],
    ] as const) {
      it(`RFC 6750 §3.1: ${where}: another scheme is no authentication information (a challenge without an error code)`, async () => {
        for (const h of ['Authorization: Basic abc', 'Authorization: Negotiate abc']) {
          const a = await send([h]);
          expect([a.status, a.headers['www-authenticate']], h).toEqual([401, 'Bearer realm="latchkey"']);
        }
      });

      it(`RFC 6750 §3.1: ${where}: a malformed Bearer header is 400 invalid_request`, async () => {
        for (const h of ['Authorization: Bearer a b', 'Authorization: Bearer ', 'Authorization: Bearer', 'Authorization: Bearer a,b']) {
          const a = await send([h]);
          expect(a.status, h).toBe(400);
          expect(json(a).error).toBe('invalid_request');
          expect(a.headers['www-authenticate']).toMatch(/^Bearer realm="latchkey", error="invalid_request"/);
        }
      });

      it(`RFC 6750 §2: ${where}: two Authorization headers are 400 invalid_request`, async () => {
        const a = await send([`Authorization: Bearer ${initial}`, 'Authorization: Bearer other']);
        expect(a.status).toBe(400);
        expect(json(a).error).toBe('invalid_request');
      });

      it(`RFC 6750 §3.1: ${where}: an unknown bearer token is still 401 invalid_token`, async () => {
        const a = await send(['Authorization: Bearer lki_unknown']);
        expect(a.status).toBe(401);
        expect(a.headers['www-authenticate']).toMatch(/^Bearer realm="latchkey", error="invalid_token"/);
      });
    }
  });

  it('OIDC Core §5.3, RFC 6750 §3.1: a valid client_credentials token (no openid scope, no user) at UserInfo is 403 insufficient_scope', async () => {
    const r = await post(fast, '/oauth/token', [`Authorization: ${auth}`, 'Content-Type: application/x-www-form-urlencoded'], 'grant_type=client_credentials');
    const token = json(r).access_token as string;
    const a = await raw(fast, ['GET /oauth/userinfo HTTP/1.1', 'Host: 127.0.0.1', `Authorization: Bearer ${token}`]);
    expect(a.status).toBe(403);
    expect(a.headers['www-authenticate']).toMatch(/error="insufficient_scope"/);
    expect(a.headers['www-authenticate']).toMatch(/scope="openid"/);
  });
});
