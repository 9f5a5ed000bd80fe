import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLatchkey, type LatchkeyInstance } from '../../src/index.js';
import { dropTestDatabase, freePort, testDatabaseUrl } from '../helpers/server.js';

const secret = () => randomBytes(32).toString('base64url');

/** A host app (node:http) with Latchkey's handler first and its own pages behind `next`. */
async function host(auth: LatchkeyInstance, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    auth.handler(req, res, () => {
      // The host reads the body itself: nothing of Latchkey's may have consumed it.
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        res.setHeader('content-type', 'text/plain');
        res.end(`host ${req.method} ${req.url}${body ? ` body=${body}` : ''}`);
      });
    });
  });
  await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
  return server;
}

describe('createLatchkey handler: an issuer at the root of the host', () => {
  let dir: string;
  let databaseUrl: string;
  let auth: LatchkeyInstance;
  let server: Server;
  let origin: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-root-handler-'));
    databaseUrl = await testDatabaseUrl(dir);
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    auth = await createLatchkey({ config: { issuer: origin, dataDir: dir, databaseUrl, keyEncryptionKey: secret(), logLevel: 'silent' }, backgroundJobs: false });
    server = await host(auth, port);
  });
  afterAll(async () => {
    if (server) await new Promise((ok) => server.close(ok));
    await auth?.close();
    await dropTestDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a path none of Latchkey\'s routes serves falls through to the host\'s next, body untouched; Latchkey\'s own paths are Latchkey\'s', async () => {
    expect(auth.mountPath).toBe('');
    expect(await (await fetch(`${origin}/hello?x=1`)).text()).toBe('host GET /hello?x=1');
    const posted = await fetch(`${origin}/api/things`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&b=2' });
    expect(await posted.text()).toBe('host POST /api/things body=a=1&b=2');
    const json = await fetch(`${origin}/api/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"k":true}' });
    expect(await json.text()).toBe('host POST /api/json body={"k":true}');
    const d = (await (await fetch(`${origin}/.well-known/openid-configuration`)).json()) as Record<string, string>;
    expect(d.issuer).toBe(origin);
    expect((await fetch(`${origin}/.well-known/jwks.json`)).status).toBe(200);
    // A Latchkey endpoint still answers its own errors (RFC 6749 §5.2), not the host.
    const token = await fetch(`${origin}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=nope' });
    expect(token.status).toBe(401);
    expect(((await token.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('without a next, a path Latchkey does not serve is Latchkey\'s 404', async () => {
    const port = await freePort();
    const bare = createServer((req, res) => auth.handler(req, res));
    await new Promise<void>((ok) => bare.listen(port, '127.0.0.1', ok));
    try {
      const res = await fetch(`http://127.0.0.1:${port}/hello`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: string }).error).toBe('not_found');
    } finally {
      await new Promise((ok) => bare.close(ok));
    }
  });
});

describe('createLatchkey handler: a failure to build the routes is not remembered', () => {
  let dir: string;
  let databaseUrl: string;
  let auth: LatchkeyInstance;
  let server: Server;
  let origin: string;
  const logged: unknown[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-handler-retry-'));
    databaseUrl = await testDatabaseUrl(dir);
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    const log = { error: (o: unknown) => logged.push(o), warn: () => {}, info: () => {} };
    auth = await createLatchkey({ config: { issuer: `${origin}/auth`, dataDir: dir, databaseUrl, keyEncryptionKey: secret(), logLevel: 'silent' }, backgroundJobs: false, log });
    server = await host(auth, port);
  });
  afterAll(async () => {
    if (server) await new Promise((ok) => server.close(ok));
    await auth?.close();
    await dropTestDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the request that failed gets a clean 503 (database away) or 500 without a stack trace; the next request builds again and is served', async () => {
    const lk = auth.latchkey;
    const context = lk.context.bind(lk);
    const failures = [
      Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432 at Socket.connect (secret/path.js:1:1)'), { code: 'ECONNREFUSED' }),
      new Error('boom at build (secret/path.js:2:2)'),
    ];
    // Building the routes reads the default tenant's context: make the first two builds fail there.
    lk.context = async (id?: string) => {
      const e = failures.shift();
      if (e) throw e;
      return context(id);
    };
    const url = `${origin}/auth/.well-known/openid-configuration`;
    const first = await fetch(url);
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('1');
    const firstBody = await first.text();
    expect(JSON.parse(firstBody)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(firstBody).not.toMatch(/ECONNREFUSED|secret\/path|at /);

    const second = await fetch(url);
    expect(second.status).toBe(500);
    const secondBody = await second.text();
    expect(JSON.parse(secondBody)).toEqual({ error: 'server_error', error_description: 'internal server error' });
    expect(secondBody).not.toMatch(/boom|secret\/path/);

    const third = await fetch(url);
    expect(third.status).toBe(200);
    expect(((await third.json()) as { issuer: string }).issuer).toBe(`${origin}/auth`);
    expect(logged.length).toBeGreaterThanOrEqual(2);
    // The host's own pages were never affected.
    expect(await (await fetch(`${origin}/elsewhere`)).text()).toBe('host GET /elsewhere');
  });
});
