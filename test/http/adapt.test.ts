import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonResult, NO_STORE, type Result } from '../../src/engine/result.js';
import { sendResult, toHttp } from '../../src/http/adapt.js';
import { createLatchkey, type LatchkeyInstance } from '../../src/index.js';
import { dropTestDatabase, testDatabaseUrl } from '../helpers/server.js';

/*
 * One mapping from an engine Result to an HTTP answer (toHttp). The Fastify routes (sendResult), the fast path and
 * the library's respond() (on a Fastify reply or a node:http response) all write it, so the same Result is the
 * same answer whichever way it leaves.
 */

const results: Record<string, Result> = {
  'a redirect (LOCATION)': {
    action: 'LOCATION', resultCode: 'LK0001', resultMessage: '', responseContent: 'https://rp.example/cb?code=x', status: 303,
    headers: { ...NO_STORE, Location: 'https://rp.example/cb?code=x' },
  },
  'a JSON body': jsonResult('OK', 200, 'LK0001', { active: true }),
  'a JSON error with WWW-Authenticate': jsonResult('UNAUTHORIZED', 401, 'LK0001', { error: 'invalid_token' }, { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } }),
  'the empty 200 of RFC 7009 §2.2 (no type)': { action: 'OK', resultCode: 'LK0001', resultMessage: '', responseContent: '', status: 200, headers: { ...NO_STORE } },
  'an HTML page (FORM)': { action: 'FORM', resultCode: 'LK0001', resultMessage: '', responseContent: '<!doctype html><p>é</p>', status: 200, contentType: 'text/html', headers: { ...NO_STORE } },
  'a JWT (application/jwt)': { action: 'OK', resultCode: 'LK0001', resultMessage: '', responseContent: 'a.b.c', status: 200, contentType: 'application/jwt', headers: { ...NO_STORE } },
  'a body the engine gave no type': { action: 'OK', resultCode: 'LK0001', resultMessage: '', responseContent: 'plain', status: 200 },
};

describe('toHttp: the one Result -> HTTP mapping', () => {
  it('a redirect is its Location and no body; the empty 200 has neither body nor Content-Type', () => {
    expect(toHttp(results['a redirect (LOCATION)']!)).toEqual({ status: 303, headers: { ...NO_STORE, Location: 'https://rp.example/cb?code=x' }, body: undefined });
    expect(toHttp(results['the empty 200 of RFC 7009 §2.2 (no type)']!)).toEqual({ status: 200, headers: { ...NO_STORE }, body: undefined });
  });

  it('text is typed as Fastify types a string: a charset for HTML and JSON types, text/plain when untyped, other types as given', () => {
    expect(toHttp(results['a JSON body']!).headers['content-type']).toBe('application/json; charset=utf-8');
    expect(toHttp(results['an HTML page (FORM)']!).headers['content-type']).toBe('text/html; charset=utf-8');
    expect(toHttp(results['a JWT (application/jwt)']!).headers['content-type']).toBe('application/jwt');
    expect(toHttp(results['a body the engine gave no type']!).headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(toHttp({ ...results['a JSON body']!, contentType: 'application/jwk-set+json' }).headers['content-type']).toBe('application/jwk-set+json; charset=utf-8');
  });

  it('the engine\'s headers pass unchanged (WWW-Authenticate, Cache-Control)', () => {
    const a = toHttp(results['a JSON error with WWW-Authenticate']!);
    expect(a.status).toBe(401);
    expect(a.headers).toMatchObject({ 'WWW-Authenticate': 'Bearer error="invalid_token"', 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    expect(a.body).toBe('{"error":"invalid_token"}');
  });
});

describe('sendResult and the library\'s respond() (Fastify reply and node:http response) send the same answer', () => {
  let dir: string;
  let databaseUrl: string;
  let auth: LatchkeyInstance;
  const fastifyApps: FastifyInstance[] = [];
  let nodeServer: Server;
  const origins: Record<string, string> = {};

  async function listenFastify(name: string, send: (reply: import('fastify').FastifyReply, r: Result) => unknown) {
    const app = Fastify();
    app.get('/:name', async (req, reply) => send(reply, results[decodeURIComponent((req.params as { name: string }).name)]!));
    await app.listen({ port: 0, host: '127.0.0.1' });
    fastifyApps.push(app);
    origins[name] = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-adapt-'));
    databaseUrl = await testDatabaseUrl(dir);
    auth = await createLatchkey({
      config: { issuer: 'http://127.0.0.1/sso', dataDir: dir, databaseUrl, keyEncryptionKey: randomBytes(32).toString('base64url'), logLevel: 'silent' },
      backgroundJobs: false,
    });
    await listenFastify('sendResult', (reply, r) => sendResult(reply, r));
    await listenFastify('respond (Fastify)', (reply, r) => {
      auth.respond(reply, r);
      return reply;
    });
    nodeServer = createServer((req, res) => auth.respond(res, results[decodeURIComponent(req.url!.slice(1))]!));
    await new Promise<void>((ok) => nodeServer.listen(0, '127.0.0.1', ok));
    origins['respond (node:http)'] = `http://127.0.0.1:${(nodeServer.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    for (const app of fastifyApps) await app.close();
    if (nodeServer) await new Promise((ok) => nodeServer.close(ok));
    await auth?.close();
    await dropTestDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(Object.keys(results))('%s', async (name) => {
    const answers = await Promise.all(
      Object.entries(origins).map(async ([via, origin]) => {
        const res = await fetch(`${origin}/${encodeURIComponent(name)}`, { redirect: 'manual' });
        const pick = (h: string) => res.headers.get(h);
        return { via, status: res.status, type: pick('content-type'), location: pick('location'), cache: pick('cache-control'), pragma: pick('pragma'), auth: pick('www-authenticate'), body: await res.text() };
      }),
    );
    const expected = toHttp(results[name]!);
    for (const a of answers) {
      expect({ ...a, via: '' }, a.via).toEqual({
        via: '',
        status: expected.status,
        type: expected.headers['content-type'] ?? null,
        location: expected.headers.Location ?? null,
        cache: expected.headers['Cache-Control'] ?? null,
        pragma: expected.headers.Pragma ?? null,
        auth: expected.headers['WWW-Authenticate'] ?? null,
        body: expected.body ?? '',
      });
    }
  });
});
