import fc from 'fast-check';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAddressOf } from '../../src/http/fast-path.js';
import { basic, type TestLatchkey } from '../helpers/server.js';
import { openTwoPaths, type HttpAnswer as Raw, sendTo as send, type TwoPaths } from '../helpers/two-paths.js';

/*
 * The fast path (src/http/fast-path.ts) answers the hot endpoints before Fastify routes them. Its promise: the
 * same answer as the Fastify routes for every request. One Latchkey is served twice, with and without the fast
 * path, and the same requests go to both.
 */

/** Headers that differ between any two responses (time, request id) are left out of comparisons. */
function comparable(r: Raw): { status: number; headers: Record<string, unknown> } {
  const { date: _d, 'x-request-id': _id, ...headers } = r.headers;
  return { status: r.status, headers };
}

/** Token responses carry fresh values; everything else about them must be the same. */
function shape(body: string): unknown {
  try {
    const json = JSON.parse(body) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, ['access_token', 'refresh_token', 'id_token'].includes(k) ? typeof v : v]));
  } catch {
    return body;
  }
}

describe('the fast path answers exactly as the Fastify routes do', () => {
  let t: TestLatchkey;
  let paths: TwoPaths;
  let fast: number;
  let slow: number;
  let auth: string;
  const both = async (method: string, path: string, headers: Record<string, string>, body?: string | Buffer) =>
    Promise.all([send(fast, method, path, headers, body), send(slow, method, path, headers, body)]);

  beforeAll(async () => {
    paths = await openTwoPaths({ bodyLimit: 4096 });
    ({ t, fast, slow } = paths);
    const c = await t.client({ grant_types: ['client_credentials'], scope: 'api:read api:write' });
    auth = basic(c.clientId, c.clientSecret!);
  });
  afterAll(async () => {
    await paths?.close();
  });

  it('a failure outside the engine (here: the audit sink throws) is answered alike: 500 server_error, or 503 with Retry-After when the database is away', async () => {
    const record = t.lk.audit.record;
    const body = 'grant_type=client_credentials&scope=api:read';
    const headers = { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' };
    try {
      for (const [err, status] of [[new Error('a bug'), 500], [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 503]] as const) {
        t.lk.audit.record = () => {
          throw err;
        };
        const [a, b] = await both('POST', '/oauth/token', headers, body);
        expect(a.status).toBe(status);
        expect(b.status).toBe(status);
        expect(JSON.parse(a.body)).toEqual(JSON.parse(b.body));
        expect(a.body).not.toContain('a bug');
        expect(a.headers['retry-after']).toBe(b.headers['retry-after']);
      }
    } finally {
      t.lk.audit.record = record;
    }
  });

  it('discovery, OAuth metadata and JWKS: identical status, headers and body', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/.well-known/jwks.json', '/.well-known/jwks.json?x=1']) {
      const [a, b] = await both('GET', path, {});
      expect(a.status).toBe(200);
      expect(comparable(a)).toEqual(comparable(b));
      expect(a.body).toBe(b.body);
      expect(a.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('RFC 6749 §4.4: a client_credentials token response has the same headers and fields', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: auth };
    const [a, b] = await both('POST', '/oauth/token', form, 'grant_type=client_credentials&scope=api%3Aread');
    expect(a.status).toBe(200);
    expect(comparable(a)).toEqual({ ...comparable(b), headers: { ...comparable(b).headers, 'content-length': a.headers['content-length'] } });
    expect(shape(a.body)).toEqual(shape(b.body));
    expect(a.headers['cache-control']).toBe('no-store');

    // RFC 7662 §2.2 / RFC 7009 §2.2 on the token just issued: the same answers both ways.
    const token = (JSON.parse(a.body) as { access_token: string }).access_token;
    const [ia, ib] = await both('POST', '/oauth/introspect', form, `token=${token}`);
    expect(ia.status).toBe(200);
    expect(JSON.parse(ia.body)).toMatchObject({ active: true, scope: 'api:read' });
    expect(comparable(ia)).toEqual(comparable(ib));
    expect(ia.body).toBe(ib.body);
    const [ra, rb] = await both('POST', '/oauth/revoke', form, `token=${token}`);
    expect(ra.status).toBe(200);
    expect(comparable(ra)).toEqual(comparable(rb));
    const [after] = await both('POST', '/oauth/introspect', form, `token=${token}`);
    expect(JSON.parse(after.body)).toEqual({ active: false });
  });

  it('errors (RFC 6749 §5.2, RFC 6750 §3): same status, WWW-Authenticate and body', async () => {
    const cases: [string, Record<string, string>, string | undefined][] = [
      ['/oauth/token', { 'content-type': 'application/x-www-form-urlencoded', authorization: auth }, 'grant_type=nope'],
      ['/oauth/token', { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('nobody', 'x') }, 'grant_type=client_credentials'],
      ['/oauth/token', { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic !!!' }, 'grant_type=client_credentials'],
      ['/oauth/token', { 'content-type': 'application/x-www-form-urlencoded', authorization: auth }, 'grant_type=client_credentials&grant_type=client_credentials'],
      ['/oauth/token', { 'content-type': 'application/x-www-form-urlencoded', authorization: auth }, 'grant_type=%zz'],
      ['/oauth/token', { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8', authorization: auth }, 'grant_type=client_credentials&scope=other'],
      ['/oauth/token', { 'content-type': 'application/json', authorization: auth }, '{"grant_type":"client_credentials"}'],
      ['/oauth/token', { authorization: auth }, undefined],
      ['/oauth/token?grant_type=client_credentials', { 'content-type': 'application/x-www-form-urlencoded', authorization: auth }, ''],
      ['/oauth/token', { 'content-type': 'application/x-www-form-urlencoded', authorization: auth }, 'a'.repeat(5000)],
      ['/oauth/introspect', { 'content-type': 'application/x-www-form-urlencoded' }, 'token=abc'],
      // NUL bytes (PostgreSQL text cannot hold them): in a form value, and inside HTTP Basic credentials.
      ['/oauth/token', { 'content-type': 'application/x-www-form-urlencoded' }, 'grant_type=client_credentials&client_id=%00'],
      ['/oauth/token', { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('a\u0000b', 'x') }, 'grant_type=client_credentials'],
      ['/oauth/introspect', { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('a\u0000b', 'x') }, 'token=abc'],
      // RFC 7009 §2.2: an unknown token answers 200 even with a hint the server does not know.
      ['/oauth/revoke', { 'content-type': 'application/x-www-form-urlencoded', authorization: auth }, 'token=abc&token_type_hint=bogus'],
    ];
    for (const [path, headers, body] of cases) {
      const [a, b] = await both('POST', path, headers, body);
      expect(comparable(a), `${path} ${body?.slice(0, 40)}`).toEqual(comparable(b));
      expect(a.body).toBe(b.body);
      expect(a.status).toBeLessThan(500);
    }
  });

  it('an incoming X-Request-Id of safe characters is echoed, as by the Fastify routes', async () => {
    const [a, b] = await both('GET', '/.well-known/jwks.json', { 'x-request-id': 'trace-123' });
    expect(a.headers['x-request-id']).toBe('trace-123');
    expect(b.headers['x-request-id']).toBe('trace-123');
  });

  it('property: random form bodies and content types get the same answer both ways (fixed seed)', async () => {
    const field = fc.constantFrom('grant_type', 'scope', 'client_id', 'client_secret', 'token', 'token_type_hint', 'resource', 'x');
    const value = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('client_credentials', 'api:read', '%', '%e0%a4', '\u0000', 'a+b', ''));
    const body = fc.array(fc.tuple(field, value), { maxLength: 6 }).map((pairs) => pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&'));
    const raw = fc.oneof(body, fc.string({ unit: 'binary', maxLength: 60 }));
    const type = fc.constantFrom('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'APPLICATION/X-WWW-FORM-URLENCODED', 'text/plain', 'multipart/form-data');
    const path = fc.constantFrom('/oauth/token', '/oauth/introspect', '/oauth/revoke');
    const who = fc.constantFrom('none', 'bad', 'garbage');
    await fc.assert(
      fc.asyncProperty(path, type, raw, who, async (p, ct, b, w) => {
        const headers: Record<string, string> = { 'content-type': ct };
        if (w === 'bad') headers.authorization = basic('nobody', 'secret');
        if (w === 'garbage') headers.authorization = 'Basic %%%';
        const [a, s] = await both('POST', p, headers, b);
        expect(comparable(a)).toEqual(comparable(s));
        expect(a.body).toBe(s.body);
        expect(a.status).toBeLessThan(500);
      }),
      { seed: 20261130, numRuns: 150 },
    );
  });

  it('requests answered on the fast path are counted in /metrics under their route', async () => {
    await send(fast, 'POST', '/oauth/token', { 'content-type': 'application/x-www-form-urlencoded', authorization: auth }, 'grant_type=client_credentials');
    const metrics = await send(fast, 'GET', '/metrics', {});
    expect(metrics.body).toMatch(/latchkey_http_requests_total\{[^}]*route="\/oauth\/token"[^}]*\} [1-9]/);
    expect(metrics.body).toMatch(/latchkey_tokens_issued_total\{grant_type="client_credentials"\} [1-9]/);
  });

  it('RFC 6749 §5.2: malformed Basic headers get the same 401 invalid_client with WWW-Authenticate: Basic both ways', async () => {
    const form = 'application/x-www-form-urlencoded';
    const headers = ['Basic !!!', 'Basic', 'Basic ' + Buffer.from('nocolon').toString('base64'), 'Basic ' + Buffer.from('a%zz:b').toString('base64')];
    for (const path of ['/oauth/token', '/oauth/introspect', '/oauth/revoke']) {
      for (const authorization of headers) {
        const [a, b] = await both('POST', path, { 'content-type': form, authorization }, path === '/oauth/token' ? 'grant_type=client_credentials' : 'token=abc');
        expect(a.status, `${path} ${authorization}`).toBe(401);
        expect(a.headers['www-authenticate']).toMatch(/^Basic realm=/);
        expect(comparable(a)).toEqual(comparable(b));
        expect(a.body).toBe(b.body);
      }
    }
  });

  it('a failed client authentication on the fast path is an audit event with the client address', async () => {
    await send(fast, 'POST', '/oauth/token', { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('audited-nobody', 'x') }, 'grant_type=client_credentials');
    await t.lk.audit.flush();
    const events = await t.lk.store.listAuditEvents(t.ctx.tenant.id, { type: 'client.auth_failed', limit: 50 });
    expect(events.some((e) => e.clientId === 'audited-nobody' && e.ip === '127.0.0.1')).toBe(true);
  });
});

describe("the fast path's client address is Fastify's trustProxy address", () => {
  it('property: for random X-Forwarded-For chains and trusted lists, the same address as request.ip', async () => {
    const addr = fc.constantFrom('127.0.0.1', '10.0.0.1', '10.0.0.2', '192.168.1.5', '203.0.113.7', '2001:db8::1', 'junk', '::1');
    const lists = [['127.0.0.1'], ['127.0.0.1', '10.0.0.0/8'], ['127.0.0.0/8', '10.0.0.1', '2001:db8::/32']];
    for (const trusted of lists) {
      const app = Fastify({ trustProxy: trusted });
      app.get('/', (req, reply) => reply.send(req.ip));
      await app.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.server.address() as { port: number }).port;
      const ours = clientAddressOf(trusted);
      let seen = '';
      const probe = Fastify();
      probe.addHook('onRequest', (req, _reply, done) => {
        seen = ours(req.raw);
        done();
      });
      probe.get('/', (_req, reply) => reply.send('ok'));
      await probe.listen({ host: '127.0.0.1', port: 0 });
      const probePort = (probe.server.address() as { port: number }).port;
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(addr, { maxLength: 4 }), async (chain) => {
            const headers: Record<string, string> = chain.length ? { 'x-forwarded-for': chain.join(', ') } : {};
            const fastifyIp = (await send(port, 'GET', '/', headers)).body;
            await send(probePort, 'GET', '/', headers);
            expect(seen).toBe(fastifyIp);
          }),
          { seed: 7, numRuns: 60 },
        );
      } finally {
        await app.close();
        await probe.close();
      }
    }
  });
});
