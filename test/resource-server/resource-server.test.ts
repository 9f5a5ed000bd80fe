import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest, createServer as createHttpsServer } from 'node:https';
import { randomUUID, X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nowSeconds } from '../../src/engine/context.js';
import {
  certificateThumbprint,
  createTokenVerifier,
  latchkeyResourceServer,
  requireToken,
  type RequestWithToken,
  type ResourceServerOptions,
} from '../../src/resource-server/index.js';
import { signJwt } from '../../src/tokens/jwt.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { insertRefreshFamily } from '../helpers/tokens.js';
import { dpopKey, listen } from './helpers.js';

type Creds = { clientId: string; clientSecret?: string };

/** Parse `WWW-Authenticate: Scheme a="b", c="d"` (one challenge) into its scheme and parameters. */
function challenge(h: string | null): { scheme: string; params: Record<string, string> } {
  const m = /^(\S+)\s*(.*)$/.exec(h ?? '')!;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) params[p[1]!] = p[2]!.replace(/\\(.)/g, '$1');
  return { scheme: m[1]!, params };
}

describe('resource-server helpers against a real Latchkey', () => {
  let s: TestServer;
  let now = Date.now();
  let rsCreds: Creds; // the resource server's own confidential client, for introspection
  let app: Creds; // opaque tokens
  let jwtApp: Creds; // RFC 9068 JWT access tokens
  const servers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    s = await startTestServer({}, { clock: () => now });
    rsCreds = await s.client({ client_name: 'items API', grant_types: ['client_credentials'], scope: 'introspect' });
    app = await s.client({ grant_types: ['client_credentials'], scope: 'items:read items:write' });
    jwtApp = await s.client({ grant_types: ['client_credentials'], scope: 'items:read items:write', access_token_format: 'jwt' });
  });
  afterAll(async () => {
    for (const c of servers) await c();
    await s.close();
  });

  /**
   * Audiences this resource server answers to. Latchkey on this branch sets `aud` to the client a token was issued to
   * (resource indicators are not in yet); the issuer is listed too so the tests keep meaning once tokens default to it.
   */
  const audience = () => [s.issuer, app.clientId, jwtApp.clientId];
  const options = (o: Partial<ResourceServerOptions> = {}): ResourceServerOptions => ({
    issuer: s.issuer,
    audience: audience(),
    realm: 'items',
    introspection: { clientId: rsCreds.clientId, clientSecret: rsCreds.clientSecret!, cacheTtl: 0 },
    clock: () => now,
    ...o,
  });

  const issue = async (c: Creds, scope = 'items:read') => {
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', scope }, { authorization: basic(c.clientId, c.clientSecret!) });
    expect(r.status).toBe(200);
    return r.json.access_token as string;
  };
  const revoke = (tok: string, c: Creds) => postForm(s.url('/oauth/revoke'), { token: tok }, { authorization: basic(c.clientId, c.clientSecret!) });

  /** A node:http resource server guarded by requireToken: GET /items needs items:read, POST /items items:write. */
  async function nodeResourceServer(o: Partial<ResourceServerOptions> = {}): Promise<string> {
    const verifier = createTokenVerifier(options(o));
    const read = requireToken(verifier, { scopes: ['items:read'] });
    const write = requireToken(verifier, { scopes: ['items:write'] });
    const server = createServer((req, res) => {
      const guard = req.method === 'POST' ? write : read;
      guard(req, res, (err) => {
        if (err) return void res.writeHead(500).end();
        const t = (req as RequestWithToken).accessToken!;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sub: t.subject, client_id: t.clientId, format: t.format, scheme: t.scheme, bindings: t.bindings }));
      });
    });
    const l = await listen(server);
    servers.push(l.close);
    return l.url;
  }

  const call = (url: string, token?: string, init: { method?: string; scheme?: string; headers?: Record<string, string> } = {}) =>
    fetch(url, {
      method: init.method ?? 'GET',
      headers: { ...(token !== undefined ? { authorization: `${init.scheme ?? 'Bearer'} ${token}` } : {}), ...init.headers },
    });

  describe('node:http middleware (RFC 6750, RFC 7662, RFC 9068)', () => {
    let rs: string;
    beforeAll(async () => {
      rs = await nodeResourceServer();
    });

    it('RFC 7662: an opaque client_credentials token is accepted after introspection, with its subject and client', async () => {
      const at = await issue(app);
      const r = await call(`${rs}/items`, at);
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ sub: app.clientId, client_id: app.clientId, format: 'opaque', scheme: 'Bearer', bindings: [] });
    });

    it('RFC 9068 §4: a JWT access token is verified locally against the JWKS', async () => {
      const at = await issue(jwtApp);
      expect(at.split('.')).toHaveLength(3);
      const r = await call(`${rs}/items`, at);
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ client_id: jwtApp.clientId, format: 'jwt' });
    });

    it('RFC 6750 §3.1: no token is 401 with a challenge and no error code, offering Bearer and DPoP (RFC 9449 §7.2)', async () => {
      const r = await call(`${rs}/items`);
      expect(r.status).toBe(401);
      const h = r.headers.get('www-authenticate')!;
      expect(h).toMatch(/^Bearer realm="items", DPoP realm="items", algs="[^"]*ES256/);
      expect(h).not.toContain('error=');
      expect(r.headers.get('cache-control')).toBe('no-store');
      // Another scheme is not a token either.
      expect((await call(`${rs}/items`, 'dXNlcjpwYXNz', { scheme: 'Basic' })).status).toBe(401);
    });

    it('RFC 6750 §3.1: a malformed Authorization header is 400 invalid_request', async () => {
      for (const authorization of ['Bearer', 'Bearer a b', 'Bearer tok@n;x', 'Bearer  ']) {
        const r = await fetch(`${rs}/items`, { headers: { authorization } });
        expect(r.status, authorization).toBe(400);
        expect(challenge(r.headers.get('www-authenticate')).params.error).toBe('invalid_request');
      }
    });

    it('RFC 6750 §3.1: a token in the header and in the query is "more than one method": 400 invalid_request', async () => {
      const at = await issue(app);
      const r = await call(`${rs}/items?access_token=${at}`, at);
      expect(r.status).toBe(400);
      expect(challenge(r.headers.get('www-authenticate')).params.error).toBe('invalid_request');
    });

    it('RFC 6750 §3.1: an unknown token is 401 invalid_token with realm and description', async () => {
      const r = await call(`${rs}/items`, 'no-such-token-' + randomUUID());
      expect(r.status).toBe(401);
      const c = challenge(r.headers.get('www-authenticate'));
      expect(c.scheme).toBe('Bearer');
      expect(c.params).toMatchObject({ realm: 'items', error: 'invalid_token' });
      expect(c.params.error_description).toBeTruthy();
      expect(await r.json()).toMatchObject({ error: 'invalid_token' });
    });

    it('RFC 7009 + RFC 7662: a revoked opaque token is refused', async () => {
      const at = await issue(app);
      expect((await call(`${rs}/items`, at)).status).toBe(200);
      expect((await revoke(at, app)).status).toBe(200);
      const r = await call(`${rs}/items`, at);
      expect(r.status).toBe(401);
      expect(challenge(r.headers.get('www-authenticate')).params.error).toBe('invalid_token');
    });

    it('RFC 6750 §3.1: a token without the route\'s scope is 403 insufficient_scope naming the scope', async () => {
      for (const c of [app, jwtApp]) {
        const at = await issue(c, 'items:read');
        const r = await call(`${rs}/items`, at, { method: 'POST' });
        expect(r.status).toBe(403);
        const ch = challenge(r.headers.get('www-authenticate'));
        expect(ch.params).toMatchObject({ realm: 'items', error: 'insufficient_scope', scope: 'items:write' });
        expect((await call(`${rs}/items`, await issue(c, 'items:read items:write'), { method: 'POST' })).status).toBe(200);
      }
    });

    it('RFC 9068 §4: an expired JWT access token is refused (exp checked with the resource server\'s clock)', async () => {
      const at = await issue(jwtApp);
      const saved = now;
      now += 2 * 3600 * 1000;
      try {
        const r = await call(`${rs}/items`, at);
        expect(r.status).toBe(401);
        expect(challenge(r.headers.get('www-authenticate')).params.error).toBe('invalid_token');
      } finally {
        now = saved;
      }
    });

    it('RFC 9068 §4: an ID token or any JWT that is not typ at+jwt is refused, even signed by the issuer', async () => {
      const keys = await s.ctx.keys();
      const n = nowSeconds(s.ctx);
      const claims = { iss: s.issuer, sub: 'u1', aud: app.clientId, client_id: app.clientId, iat: n, exp: n + 60, jti: randomUUID(), scope: 'items:read' };
      expect((await call(`${rs}/items`, signJwt(keys.signingKey('ES256'), claims, { typ: 'at+jwt' }))).status).toBe(200);
      expect((await call(`${rs}/items`, signJwt(keys.signingKey('RS256'), claims))).status).toBe(401); // ID-token shaped
      expect((await call(`${rs}/items`, signJwt(keys.signingKey('ES256'), claims, { typ: 'JWT' }))).status).toBe(401);
      expect((await call(`${rs}/items`, signJwt(keys.signingKey('ES256'), { ...claims, iss: 'https://evil.example' }, { typ: 'at+jwt' }))).status).toBe(401);
    });

    it('RFC 9068 §4: a token for another audience is refused, JWT or introspected', async () => {
      const other = await nodeResourceServer({ audience: 'https://other-api.example' });
      for (const c of [app, jwtApp]) {
        const r = await call(`${other}/items`, await issue(c));
        expect(r.status).toBe(401);
        expect(challenge(r.headers.get('www-authenticate')).params.error).toBe('invalid_token');
      }
    });

    it('RFC 9068 §5: a revoked JWT is accepted locally until it expires, and refused with introspectJwts', async () => {
      const strict = await nodeResourceServer({ introspectJwts: true });
      const at = await issue(jwtApp);
      expect((await call(`${strict}/items`, at)).status).toBe(200);
      expect((await revoke(at, jwtApp)).status).toBe(200);
      expect((await call(`${rs}/items`, at)).status).toBe(200);
      expect((await call(`${strict}/items`, at)).status).toBe(401);
    });

    it('without introspection credentials, opaque tokens are refused and JWTs still work', async () => {
      const jwtOnly = await nodeResourceServer({ introspection: undefined });
      expect((await call(`${jwtOnly}/items`, await issue(app))).status).toBe(401);
      expect((await call(`${jwtOnly}/items`, await issue(jwtApp))).status).toBe(200);
    });

    it('an unreachable authorization server is 503 temporarily_unavailable, not invalid_token', async () => {
      const dead = await listen(createServer((_q, r) => r.writeHead(500).end()));
      await dead.close();
      const down = await nodeResourceServer({ issuer: dead.url });
      const r = await call(`${down}/items`, await issue(app));
      expect(r.status).toBe(503);
      expect(await r.json()).toMatchObject({ error: 'temporarily_unavailable' });
      expect(r.headers.get('www-authenticate')).toBeNull();
    });
  });

  describe('Fastify plugin', () => {
    let url: string;
    beforeAll(async () => {
      const f = Fastify();
      await f.register(latchkeyResourceServer, options());
      f.get('/items', { preHandler: f.requireToken({ scopes: ['items:read'] }) }, async (req) => ({ sub: req.accessToken!.subject, scope: req.accessToken!.scope }));
      f.post('/items', { preHandler: f.requireToken({ scopes: ['items:write'] }) }, async () => ({ ok: true }));
      f.get('/public', async () => ({ ok: true }));
      await f.listen({ host: '127.0.0.1', port: 0 });
      url = `http://127.0.0.1:${(f.server.address() as { port: number }).port}`;
      servers.push(() => f.close());
    });

    it('protects only the routes that ask, with the token on request.accessToken', async () => {
      expect((await call(`${url}/public`)).status).toBe(200);
      expect((await call(`${url}/items`)).status).toBe(401);
      for (const c of [app, jwtApp]) {
        const r = await call(`${url}/items`, await issue(c, 'items:read'));
        expect(r.status).toBe(200);
        expect(await r.json()).toEqual({ sub: c.clientId, scope: ['items:read'] });
      }
    });

    it('RFC 6750 §3.1: insufficient_scope is 403 with the scope, invalid_token 401, both with WWW-Authenticate', async () => {
      const r = await call(`${url}/items`, await issue(app, 'items:read'), { method: 'POST' });
      expect(r.status).toBe(403);
      expect(challenge(r.headers.get('www-authenticate')).params).toMatchObject({ error: 'insufficient_scope', scope: 'items:write', realm: 'items' });
      const at = await issue(app);
      await revoke(at, app);
      const r2 = await call(`${url}/items`, at);
      expect(r2.status).toBe(401);
      expect(challenge(r2.headers.get('www-authenticate')).params.error).toBe('invalid_token');
    });
  });

  describe('RFC 9449 DPoP-bound tokens (constructed here: Latchkey does not issue them yet)', () => {
    let rs: string;
    beforeAll(async () => {
      rs = await nodeResourceServer();
    });

    /** A JWT access token signed by Latchkey's own key, bound to `cnf`. */
    async function boundJwt(cnf: Record<string, unknown>, scope = 'items:read') {
      const n = nowSeconds(s.ctx);
      const keys = await s.ctx.keys();
      return signJwt(
        keys.signingKey('ES256'),
        { iss: s.issuer, sub: 'alice', aud: app.clientId, client_id: app.clientId, iat: n, exp: n + 300, jti: randomUUID(), scope, cnf },
        { typ: 'at+jwt' },
      );
    }
    const dpopCall = (url: string, token: string, proof?: string, method = 'GET') =>
      call(url, token, { method, scheme: 'DPoP', headers: proof ? { dpop: proof } : {} });

    it('RFC 9449 §7.1: a JWT bound by cnf.jkt is accepted with the DPoP scheme and a matching proof', async () => {
      const k = await dpopKey();
      const at = await boundJwt({ jkt: k.jkt });
      const r = await dpopCall(`${rs}/items?page=2`, at, await k.proof('GET', `${rs}/items`, at, { iat: Math.floor(now / 1000) }));
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ scheme: 'DPoP', bindings: [{ type: 'dpop', jkt: k.jkt }] });
    });

    it('RFC 9449 §7.1 via introspection: an opaque token whose answer carries cnf.jkt needs the proof too', async () => {
      const k = await dpopKey('EdDSA');
      const { accessToken } = await insertRefreshFamily(s.ctx, { clientId: app.clientId, subject: 'alice', scope: ['items:read'], cnf: { jkt: k.jkt } });
      expect((await call(`${rs}/items`, accessToken)).status).toBe(401);
      const r = await dpopCall(`${rs}/items`, accessToken, await k.proof('GET', `${rs}/items`, accessToken, { iat: Math.floor(now / 1000) }));
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ format: 'opaque', scheme: 'DPoP' });
    });

    it('RFC 9449 §7.2: a DPoP-bound token presented as a Bearer token is refused (no downgrade)', async () => {
      const k = await dpopKey();
      const at = await boundJwt({ jkt: k.jkt });
      const r = await call(`${rs}/items`, at, { headers: { dpop: await k.proof('GET', `${rs}/items`, at, { iat: Math.floor(now / 1000) }) } });
      expect(r.status).toBe(401);
      const c = challenge(r.headers.get('www-authenticate'));
      expect(c.scheme).toBe('DPoP');
      expect(c.params.error).toBe('invalid_token');
    });

    it('RFC 9449 §7.1: an unbound token with the DPoP scheme is refused', async () => {
      const at = await issue(jwtApp);
      const k = await dpopKey();
      const r = await dpopCall(`${rs}/items`, at, await k.proof('GET', `${rs}/items`, at, { iat: Math.floor(now / 1000) }));
      expect(r.status).toBe(401);
    });

    it('RFC 9449 §7.1: a proof signed by another key is invalid_token ("invalid DPoP key binding")', async () => {
      const k = await dpopKey();
      const other = await dpopKey();
      const at = await boundJwt({ jkt: k.jkt });
      const r = await dpopCall(`${rs}/items`, at, await other.proof('GET', `${rs}/items`, at, { iat: Math.floor(now / 1000) }));
      expect(r.status).toBe(401);
      expect(challenge(r.headers.get('www-authenticate'))).toMatchObject({ scheme: 'DPoP', params: { error: 'invalid_token' } });
    });

    it('RFC 9449 §4.3: a missing, malformed, mis-targeted, stale, future, replayed or ath-less proof is invalid_dpop_proof', async () => {
      const k = await dpopKey();
      const at = await boundJwt({ jkt: k.jkt });
      const iat = Math.floor(now / 1000);
      const u = `${rs}/items`;
      const cases: Array<[string, string | undefined]> = [
        ['missing', undefined],
        ['not a JWT', 'not-a-jwt'],
        ['two proofs', `${await k.proof('GET', u, at, { iat })}, ${await k.proof('GET', u, at, { iat })}`],
        ['wrong typ', await k.proof('GET', u, at, { iat, typ: 'JWT' })],
        ['wrong htm', await k.proof('POST', u, at, { iat })],
        ['wrong htu path', await k.proof('GET', `${rs}/other`, at, { iat })],
        ['wrong htu origin', await k.proof('GET', `https://elsewhere.example/items`, at, { iat })],
        ['too old', await k.proof('GET', u, at, { iat: iat - 300 })],
        ['in the future', await k.proof('GET', u, at, { iat: iat + 300 })],
        ['no ath', await k.proof('GET', u, at, { iat, ath: null })],
        ['ath of another token', await k.proof('GET', u, at, { iat, ath: 'x'.repeat(43) })],
        ['no jti', await k.proof('GET', u, at, { iat, omit: ['jti'] })],
      ];
      for (const [name, proof] of cases) {
        const r = await dpopCall(u, at, proof);
        expect(r.status, name).toBe(401);
        const c = challenge(r.headers.get('www-authenticate'));
        expect(c.scheme, name).toBe('DPoP');
        expect(c.params.error, name).toBe('invalid_dpop_proof');
        expect(c.params.algs, name).toContain('ES256');
      }
      // §11.1: a proof is good once.
      const once = await k.proof('GET', u, at, { iat });
      expect((await dpopCall(u, at, once)).status).toBe(200);
      const replay = await dpopCall(u, at, once);
      expect(replay.status).toBe(401);
      expect(challenge(replay.headers.get('www-authenticate')).params.error).toBe('invalid_dpop_proof');
    });

    it('RFC 9449 §4.3: htu is compared without query, with a configured public origin when behind a proxy', async () => {
      const proxied = await nodeResourceServer({ origin: 'https://api.example.com' });
      const k = await dpopKey();
      const at = await boundJwt({ jkt: k.jkt });
      const iat = Math.floor(now / 1000);
      expect((await dpopCall(`${proxied}/items?x=1`, at, await k.proof('GET', `${proxied}/items`, at, { iat }))).status).toBe(401);
      expect((await dpopCall(`${proxied}/items?x=1`, at, await k.proof('GET', 'https://API.example.com:443/items', at, { iat }))).status).toBe(200);
    });

    it('RFC 6750 §3.1 with DPoP: insufficient_scope is still 403, in the DPoP scheme', async () => {
      const k = await dpopKey();
      const at = await boundJwt({ jkt: k.jkt }, 'items:read');
      const r = await dpopCall(`${rs}/items`, at, await k.proof('POST', `${rs}/items`, at, { iat: Math.floor(now / 1000) }), 'POST');
      expect(r.status).toBe(403);
      expect(challenge(r.headers.get('www-authenticate'))).toMatchObject({ scheme: 'DPoP', params: { error: 'insufficient_scope', scope: 'items:write' } });
    });
  });

  describe('RFC 8705 certificate-bound tokens (constructed here)', () => {
    let dir: string;
    let url: string;
    const pem = (name: string) => readFileSync(join(dir, name), 'utf8');
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'latchkey-mtls-'));
      for (const name of ['server', 'client', 'other']) {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
          '-subj', `/CN=${name}`, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)], { stdio: 'ignore' });
      }
      const verifier = createTokenVerifier(options());
      const guard = requireToken(verifier, { scopes: ['items:read'] });
      // RFC 8705 §2.2: self-signed client certificates, so the TLS layer asks for one but does not judge it.
      const server = createHttpsServer({ key: pem('server.key'), cert: pem('server.crt'), requestCert: true, rejectUnauthorized: false }, (req, res) => {
        guard(req, res, () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify((req as RequestWithToken).accessToken!.bindings)));
      });
      const l = await listen(server as unknown as Server);
      url = l.url;
      servers.push(l.close);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const get = (token: string, cert?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpsRequest(`${url}/items`, {
          headers: { authorization: `Bearer ${token}` },
          rejectUnauthorized: false,
          ...(cert ? { cert: pem(`${cert}.crt`), key: pem(`${cert}.key`) } : {}),
        }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.end();
      });

    it('RFC 8705 §3: a token bound by cnf.x5t#S256 is accepted only over TLS with that client certificate', async () => {
      const x5t = certificateThumbprint(new X509Certificate(pem('client.crt')).raw);
      const n = nowSeconds(s.ctx);
      const keys = await s.ctx.keys();
      const at = signJwt(keys.signingKey('ES256'),
        { iss: s.issuer, sub: 'svc', aud: app.clientId, client_id: app.clientId, iat: n, exp: n + 300, jti: randomUUID(), scope: 'items:read', cnf: { 'x5t#S256': x5t } },
        { typ: 'at+jwt' });
      const ok = await get(at, 'client');
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body)).toEqual([{ type: 'mtls', x5tS256: x5t }]);
      expect((await get(at, 'other')).status).toBe(401);
      expect((await get(at)).status).toBe(401);
      // An unbound token works over the same connection with or without a certificate.
      expect((await get(await issue(app), 'other')).status).toBe(200);
    });
  });
});
