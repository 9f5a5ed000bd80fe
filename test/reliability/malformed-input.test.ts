import { connect } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCommon } from '../../src/http/app.js';
import { createAdminToken } from '../../src/services/management-tokens.js';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { createTenant } from '../../src/services/tenants.js';
import { basic, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Malformed input on every route (docs/endpoints.md): bad percent-encoding, NUL and control characters, huge and
 * repeated parameters, wrong or missing content types, JSON where a form goes and back, wrong JSON types, odd
 * methods, broken Authorization/DPoP/Host/Cookie headers, traversal in path parameters. Every answer must be the
 * endpoint's own error (the OAuth JSON shape, the admin or Core API shape, or an HTML error page for the browser
 * pages), never a 5xx, never Node's or Fastify's own text. fuzz.test.ts throws random parameters at a few
 * endpoints through fetch; this file sends raw bytes (fetch refuses most of these) to all of them.
 */

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One HTTP/1.1 request as raw bytes over a fresh connection; the answer as the server wrote it. */
function raw(port: number, head: string, body: Buffer | string = ''): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return resolve({ status: 0, headers: {}, body: all.toString('latin1') });
      const lines = all.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0]!.split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        const k = l.slice(0, i).trim().toLowerCase();
        headers[k] = headers[k] === undefined ? l.slice(i + 1).trim() : `${headers[k]}, ${l.slice(i + 1).trim()}`;
      }
      let rest = all.subarray(end + 4);
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        const out: Buffer[] = [];
        for (;;) {
          const nl = rest.indexOf('\r\n');
          const n = parseInt(rest.subarray(0, nl).toString(), 16);
          if (!n) break;
          out.push(rest.subarray(nl + 2, nl + 2 + n));
          rest = rest.subarray(nl + 2 + n + 2);
        }
        rest = Buffer.concat(out);
      }
      resolve({ status, headers, body: rest.toString('utf8') });
    });
    sock.write(Buffer.concat([Buffer.from(head, 'latin1'), typeof body === 'string' ? Buffer.from(body, 'utf8') : body]));
    sock.setTimeout(10_000, () => sock.destroy(new Error(`no answer to ${JSON.stringify(head.slice(0, 400))} ${JSON.stringify(body.slice(0, 100).toString())}`)));
  });
}

interface Req {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Leave out the Content-Length header (it is added for any body, and for an empty POST/PUT/PATCH). */
  noLength?: boolean;
}

/** What an endpoint answers errors with. */
type Kind = 'oauth' | 'admin' | 'core' | 'html' | 'doc';

interface Route {
  method: string;
  path: string;
  kind: Kind;
  /** Token-ish: its errors must carry Cache-Control: no-store. */
  noStore: boolean;
}

const TICKET = 'x'.repeat(43);
function routes(): Route[] {
  const r: Route[] = [];
  const add = (methods: string, path: string, kind: Kind, noStore = kind !== 'html' && kind !== 'doc') => {
    for (const method of methods.split(',')) r.push({ method, path, kind, noStore });
  };
  for (const base of ['', '/t/acme']) {
    add('GET', `${base}/.well-known/openid-configuration`, 'doc');
    add('GET', `${base}/.well-known/jwks.json`, 'doc');
    add('GET,POST', `${base}/oauth/authorize`, 'html');
    for (const p of ['token', 'introspect', 'revoke', 'par', 'device_authorization', 'register']) add('POST', `${base}/oauth/${p}`, 'oauth');
    add('GET,PUT,DELETE', `${base}/oauth/register/some-client`, 'oauth');
    add('GET,POST', `${base}/oauth/userinfo`, 'oauth');
    add('GET,POST', `${base}/oauth/logout`, 'html');
    add('GET', `${base}/interaction/${TICKET}`, 'html');
    for (const p of ['login', 'consent', 'create', 'mfa']) add('POST', `${base}/interaction/${TICKET}/${p}`, 'html');
    add('GET,POST', `${base}/mfa`, 'html');
    add('POST', `${base}/mfa/login`, 'html');
    add('GET,POST', `${base}/ciba`, 'html');
    add('POST', `${base}/ciba/login`, 'html');
    add('GET,POST', `${base}/account`, 'html');
    add('POST', `${base}/account/login`, 'html');
    add('GET,POST', `${base}/device`, 'html');
    add('POST', `${base}/device/login`, 'html');
    add('POST', `${base}/device/confirm`, 'html');
    add('POST', `${base}/logout/${TICKET}`, 'html');
    add('GET', `${base}/assets/latchkey.css`, 'html');
    add('GET', `${base}/assets/form-post.js`, 'html');
  }
  add('GET', '/.well-known/oauth-authorization-server', 'doc');
  add('GET', '/.well-known/oauth-authorization-server/t/acme', 'doc');
  add('GET', '/healthz', 'doc');
  add('GET', '/readyz', 'doc');
  add('GET', '/metrics', 'doc');
  add('GET', '/admin/openapi.json', 'doc');
  add('GET,POST', '/admin/tenants', 'admin');
  add('GET', '/admin/tenants/acme', 'admin');
  add('GET,POST', '/admin/tenants/acme/clients', 'admin');
  add('GET,PUT,DELETE', '/admin/tenants/acme/clients/some-client', 'admin');
  add('POST', '/admin/tenants/acme/clients/some-client/secret', 'admin');
  add('GET,POST', '/admin/tenants/acme/users', 'admin');
  add('GET,PATCH,DELETE', '/admin/tenants/acme/users/someone', 'admin');
  add('POST', '/admin/tenants/acme/users/someone/password', 'admin');
  add('DELETE', '/admin/tenants/acme/users/someone/grants/g1', 'admin');
  add('POST', '/admin/tenants/acme/keys/rotate', 'admin');
  add('GET,POST', '/admin/tenants/acme/resource-servers', 'admin');
  add('GET,PUT,DELETE', '/admin/tenants/acme/resource-servers/https%3A%2F%2Fapi.example', 'admin');
  add('GET', '/admin/tenants/acme/audit-events', 'admin');
  add('GET', '/api/openapi.json', 'doc');
  for (const p of ['auth/authorization', 'auth/authorization/issue', 'auth/token', 'auth/introspection', 'auth/revocation', 'auth/userinfo', 'device/verification', 'pushed_auth_req', 'client/registration/get', 'service/configuration']) {
    add('POST', `/api/acme/${p}`, 'core');
  }
  add('GET', '/api/acme/service/configuration', 'core');
  return r;
}

/** Text that is Node's, Fastify's or the runtime's, not ours: none of it may reach a client. */
const INTERNAL =
  /\bat [\w.<>$]+ \(|node_modules|\/work\/|[\w-]+\.[tj]s:\d+|\bFST_|\bERR_[A-Z_]+|Unexpected token|Unexpected end of JSON|Unexpected non-whitespace|Bad control character|Expected property name|, "[^"]*" is not valid JSON|Invalid character in|SyntaxError|TypeError|RangeError|Cannot read prop|undefined is not|Client Error|"statusCode"|Internal Server Error|Body cannot be empty|Unsupported Media Type: /;

describe('malformed input on every route gets the endpoint\'s own error, never a 5xx or internal text', () => {
  let s: TestServer;
  let port: number;
  let admin: string;
  let service: string;
  let secret: string;
  const all = routes();
  // The tenant routes (/t/acme/…) are the same route plugins registered again: the sweeps below take the default
  // tenant's; the method sweep and the property take every route.
  const main = all.filter((r) => !r.path.startsWith('/t/'));

  beforeAll(async () => {
    s = await startTestServer({ registration: 'open', metrics: true });
    port = Number(new URL(s.issuer).port);
    await createTenant(s.lk, { id: 'acme' });
    admin = (await createAdminToken(s.lk, { name: 'robust' })).token;
    service = (await createServiceToken(s.lk, {})).token;
    const c = await s.client({ client_id: 'robust-client', redirect_uris: ['https://rp.example/cb'], grant_types: ['authorization_code', 'client_credentials'] });
    secret = c.clientSecret!;
  }, 30_000);
  afterAll(() => s?.close());

  /** Credentials that get a request past authentication, so that the malformed part is what is judged. */
  function authFor(route: Route): Record<string, string> {
    if (route.kind === 'admin') return { authorization: `Bearer ${admin}` };
    if (route.kind === 'core') return { authorization: `Bearer ${service}` };
    if (/\/oauth\/(token|introspect|revoke|par|device_authorization)$/.test(route.path)) return { authorization: basic('robust-client', secret) };
    return {};
  }

  function send(req: Req): Promise<Answer> {
    const body = req.body ?? '';
    const headers: Record<string, string> = { host: `127.0.0.1:${port}`, connection: 'close', ...req.headers };
    const len = Buffer.byteLength(body);
    if (!req.noLength && (len > 0 || ['POST', 'PUT', 'PATCH'].includes(req.method)) && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) {
      headers['content-length'] = String(len);
    }
    const head = `${req.method} ${req.path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
    return raw(port, head, body);
  }

  /** Every way the answer breaks the rule, as text (empty: it is fine). */
  function problems(route: Route | undefined, req: Req, a: Answer): string[] {
    const out: string[] = [];
    const what = `${req.method} ${req.path.slice(0, 120)}`;
    if (!(a.status >= 200 && a.status < 500)) out.push(`${what}: status ${a.status}: ${a.body.slice(0, 200)}`);
    const m = INTERNAL.exec(a.body);
    if (m) out.push(`${what}: internal text ${JSON.stringify(m[0])} in ${JSON.stringify(a.body.slice(0, 300))}`);
    // RFC 9110 §15.5.2: every 401 names its challenge, on every route and whatever the client sent (RFC 6750 §3 for
    // bearer tokens; RFC 6749 §5.2 invalid_client, however the client authenticated, names Basic).
    if (a.status === 401 && !a.headers['www-authenticate']) out.push(`${what}: 401 without WWW-Authenticate`);
    if (req.method === 'HEAD' || a.status < 400) return out;
    const type = a.headers['content-type'] ?? '';
    const kind: Kind | undefined = req.path.startsWith('/api/') ? 'core' : route && route.method === req.method ? route.kind : kindOfPath(req.path);
    if (kind === 'html' && a.status !== 404 && a.status !== 405 && a.status !== 413 && a.status !== 415) {
      if (!type.startsWith('text/html')) out.push(`${what}: ${a.status} from a browser page is ${type || 'untyped'}, not an HTML error page: ${a.body.slice(0, 200)}`);
      return out;
    }
    if (kind === 'html' || kind === 'doc' || kind === undefined || kind === 'oauth' || kind === 'admin') {
      // JSON error shape: the OAuth one (the admin API and the 404/405 answers use it too).
      if (type.startsWith('text/html') && kind === 'html') return out;
      let json: unknown;
      try {
        json = JSON.parse(a.body);
      } catch {
        out.push(`${what}: ${a.status} body is not JSON (${type}): ${a.body.slice(0, 200)}`);
        return out;
      }
      const j = json as Record<string, unknown>;
      if (typeof j.error !== 'string' || (j.error_description !== undefined && typeof j.error_description !== 'string')) {
        out.push(`${what}: ${a.status} body is not the OAuth error shape: ${a.body.slice(0, 200)}`);
      }
    }
    if (kind === 'core') {
      let j: Record<string, unknown> = {};
      try {
        j = JSON.parse(a.body);
      } catch {
        /* reported below */
      }
      if (typeof j.action !== 'string' || typeof j.resultCode !== 'string') out.push(`${what}: ${a.status} body is not the Core API shape: ${a.body.slice(0, 200)}`);
    }
    if (route?.noStore && kind && !/no-store/.test(a.headers['cache-control'] ?? '')) out.push(`${what}: ${a.status} error without Cache-Control: no-store`);
    return out;
  }

  /** The answer shape of a path requested with a method it is not routed for (or outside the route table). */
  function kindOfPath(path: string): Kind | undefined {
    if (path.startsWith('/api/')) return 'core';
    // The browser pages answer a request they cannot trust with an HTML page; an unrouted method gets the JSON 404.
    if (/^(\/t\/[^/]+)?\/(oauth\/authorize|oauth\/logout|interaction\/|device|logout\/|mfa|ciba|account|assets\/)/.test(path)) return 'html';
    return undefined;
  }

  async function sweep(cases: { route?: Route; req: Req }[]): Promise<string[]> {
    const out: string[] = [];
    for (const c of cases) {
      const a = await send(c.req);
      if (process.env.ROBUST_SHOW) console.log(c.req.method, c.req.path.slice(0, 60), String(c.req.body ?? "").slice(0, 50), "=>", a.status, a.body.slice(0, 90));
      out.push(...problems(c.route, c.req, a));
    }
    return out;
  }

  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const json = { 'content-type': 'application/json' };
  /** A body of the route's natural type holding `pairs` (form) or the same as a JSON object. */
  function natural(route: Route, pairs: string): { headers: Record<string, string>; body: string } {
    if (route.kind === 'admin' || route.kind === 'core' || /\/oauth\/register/.test(route.path)) {
      const o: Record<string, string> = {};
      for (const p of pairs.split('&')) {
        const i = p.indexOf('=');
        o[p.slice(0, i)] = p.slice(i + 1);
      }
      return { headers: json, body: JSON.stringify(o) };
    }
    return { headers: form, body: pairs };
  }

  const MALFORMED = ['%', 'client_id=%zz', 'client_id=%C3%28', 'scope=%E2%82', 'client_id=a%00b', 'state=%01%1f%7f', '=&&=', 'a[b]=c&a[]=d'];

  it('malformed percent-encoding, NUL and control characters in the query string and the body', async () => {
    const cases: { route: Route; req: Req }[] = [];
    for (const route of main) {
      const h = authFor(route);
      for (const q of MALFORMED) {
        // The query of a POST-only endpoint is not read: two malformed ones are enough there.
        if (route.method === 'GET' || q === '%' || q === 'client_id=%C3%28') cases.push({ route, req: { method: route.method, path: `${route.path}?${q}`, headers: h } });
        if (route.method !== 'GET' && route.method !== 'DELETE') {
          const n = natural(route, q);
          cases.push({ route, req: { method: route.method, path: route.path, headers: { ...h, ...n.headers }, body: n.body } });
        }
      }
      if (route.method !== 'GET' && route.method !== 'DELETE') {
        // Raw control bytes and invalid UTF-8 in the body itself.
        cases.push({ route, req: { method: route.method, path: route.path, headers: { ...h, ...form }, body: Buffer.from([0x63, 0x3d, 0x00, 0x01, 0xc3, 0x28, 0xff, 0xfe]) } });
        cases.push({ route, req: { method: route.method, path: route.path, headers: { ...h, ...json }, body: Buffer.from('{"client_id":"\u0000\u0001\ud800"}') } });
      }
    }
    expect(await sweep(cases)).toEqual([]);
  }, 60_000);

  it('very long values, many parameters and repeated parameters', async () => {
    const cases: { route: Route; req: Req }[] = [];
    const many = Array.from({ length: 3000 }, (_, i) => `p${i}=${i}`).join('&');
    const long = `client_id=${'a'.repeat(60_000)}`;
    const dup = 'client_id=a&client_id=b&grant_type=client_credentials&grant_type=x&scope=a&scope=b&redirect_uri=https%3A%2F%2Frp.example%2Fcb&redirect_uri=x';
    for (const route of main) {
      const h = authFor(route);
      for (const q of [many, dup, `state=${'b'.repeat(6000)}`]) cases.push({ route, req: { method: route.method, path: `${route.path}?${q}`, headers: h } });
      if (route.method !== 'GET' && route.method !== 'DELETE') {
        for (const b of [many, long, dup]) {
          const n = natural(route, b);
          cases.push({ route, req: { method: route.method, path: route.path, headers: { ...h, ...n.headers }, body: n.body } });
        }
        cases.push({ route, req: { method: route.method, path: route.path, headers: { ...h, ...form }, body: `x=${'c'.repeat(2_000_000)}` } });
      }
    }
    expect(await sweep(cases)).toEqual([]);
  }, 60_000);

  it('wrong, missing and odd content types; JSON for a form and a form for JSON; invalid JSON and JSON of the wrong types; empty bodies', async () => {
    const cases: { route: Route; req: Req }[] = [];
    const bodies: { headers: Record<string, string>; body: string; noLength?: boolean }[] = [
      { headers: {}, body: 'grant_type=client_credentials' },
      { headers: { 'content-type': 'text/plain' }, body: 'grant_type=client_credentials' },
      { headers: { 'content-type': 'application/x-www-form-urlencoded; charset=latin1' }, body: 'grant_type=client_credentials' },
      { headers: { 'content-type': ';;;' }, body: 'a=b' },
      { headers: { 'content-type': 'application/json; charset=utf-7' }, body: '{}' },
      { headers: { 'content-type': 'multipart/form-data' }, body: 'a=b' },
      { headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--\r\n' },
      { headers: json, body: '{"grant_type":"client_credentials","client_id":"robust-client"}' },
      { headers: form, body: '{"grant_type":"client_credentials"}' },
      { headers: json, body: '{"a":' },
      { headers: json, body: '{"a":1}}' },
      { headers: json, body: "{'a':1}" },
      { headers: json, body: '[1,2,3]' },
      { headers: json, body: '"a string"' },
      { headers: json, body: 'null' },
      { headers: json, body: '12' },
      { headers: json, body: '\ufeff{}' },
      { headers: json, body: '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}},"redirect_uris":{"__proto__":[]},"client_id":["a"],"scope":{"a":1},"grant_types":"client_credentials","id":7,"username":[],"password":{},"ticket":123,"subject":null,"claims":[[]],"params":"x"}' },
      { headers: json, body: '{"parameters":{"toString":1},"redirect_uris":[1,{},null],"client_name":{"valueOf":0}}' },
      { headers: json, body: '' },
      { headers: form, body: '' },
      { headers: {}, body: '' },
      { headers: { 'content-type': 'application/json', 'content-length': '0' }, body: '', noLength: true },
      { headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: '{}' },
      { headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'br' }, body: 'a=b' },
    ];
    for (const route of main) {
      if (route.method === 'GET' || route.method === 'DELETE') {
        // A body on a GET/DELETE.
        cases.push({ route, req: { method: route.method, path: route.path, headers: { ...authFor(route), ...json }, body: '{"a":' } });
        continue;
      }
      for (const b of bodies) cases.push({ route, req: { method: route.method, path: route.path, headers: { ...authFor(route), ...b.headers }, body: b.body, noLength: b.noLength } });
    }
    expect(await sweep(cases)).toEqual([]);
  }, 60_000);

  it('HEAD, OPTIONS, other and unknown methods on every path', async () => {
    const cases: { route: Route; req: Req }[] = [];
    const paths = [...new Set(all.map((r) => r.path))];
    for (const path of paths) {
      const route = all.find((r) => r.path === path)!;
      for (const method of ['HEAD', 'OPTIONS', 'PATCH', 'PUT', 'DELETE', 'PROPFIND', 'TRACE', 'SEARCH']) {
        cases.push({ route: { ...route, method: '' }, req: { method, path, headers: authFor(route) } });
      }
    }
    expect(await sweep(cases)).toEqual([]);
  }, 60_000);

  it('malformed Authorization and DPoP headers', async () => {
    const auths = [
      'Basic', 'Basic ', 'Basic Zm9v', 'Basic !!!!', 'Basic ' + Buffer.from(':').toString('base64'), 'Basic ' + Buffer.from('%zz:%C3%28').toString('base64'),
      'Basic ' + Buffer.from('a\u0000:b').toString('base64'), 'Basic ' + Buffer.from([0xc3, 0x28, 0x3a, 0xff]).toString('base64'), 'Basic ' + 'QUJD'.repeat(3000),
      'Bearer', 'Bearer ', 'Bearer a b c', 'Bearer  two-spaces', 'bearer x', 'DPoP', 'DPoP a.b.c', 'Negotiate abc', 'Basic a, Bearer b', '\u00e9\u00e8',
    ];
    const dpops = ['garbage', 'a.b.c', 'e30.e30.', `${Buffer.from('{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":1}}').toString('base64url')}.e30.AAAA`, 'x'.repeat(9000)];
    const cases: { route: Route; req: Req }[] = [];
    for (const route of main.filter((r) => r.kind !== 'doc')) {
      const n = natural(route, 'grant_type=client_credentials&token=abc&client_id=robust-client');
      const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : n.body;
      for (const a of auths) cases.push({ route, req: { method: route.method, path: route.path, headers: { ...(body ? n.headers : {}), authorization: a }, body } });
      for (const d of dpops) cases.push({ route, req: { method: route.method, path: route.path, headers: { ...(body ? n.headers : {}), ...authFor(route), dpop: d }, body } });
      cases.push({ route, req: { method: route.method, path: route.path, headers: { ...(body ? n.headers : {}), authorization: 'DPoP abc', dpop: 'a.b.c' }, body } });
    }
    expect(await sweep(cases)).toEqual([]);
  }, 60_000);

  it('odd Host and X-Forwarded-* headers, and cookies with garbage values', async () => {
    const headerSets: Record<string, string>[] = [
      { host: 'evil.example' },
      { host: '' },
      { host: '[::1' },
      { host: 'a b' },
      { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'gopher', 'x-forwarded-for': 'not-an-ip, , ::zz', 'x-forwarded-port': 'abc', forwarded: 'for=";', 'x-request-id': '../../etc/passwd\u00e9' },
      { cookie: '%; =;=;;' },
      { cookie: 'latchkey_session=%zz; latchkey_bind=%C3%28; latchkey_csrf=\u00e9\u00ff' },
      { cookie: `latchkey_session=${'s'.repeat(8000)}` },
      { cookie: 'a=1; a=2; __proto__=x; constructor=y; toString=z' },
      { accept: 'application/token-introspection+jwt;q=abc, */*;;;', 'accept-language': '\u00e9;q=x', 'if-none-match': '*', 'if-modified-since': 'not a date', range: 'bytes=9-1' },
    ];
    const cases: { route: Route; req: Req }[] = [];
    for (const route of main) {
      const n = natural(route, 'client_id=robust-client&grant_type=client_credentials&response_type=code&redirect_uri=https%3A%2F%2Frp.example%2Fcb');
      const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : n.body;
      for (const h of headerSets) {
        cases.push({ route, req: { method: route.method, path: route.path, headers: { ...(body ? n.headers : {}), ...authFor(route), ...h }, body } });
      }
    }
    expect(await sweep(cases)).toEqual([]);
  }, 60_000);

  it('path traversal, encoded slashes, bad encoding and NUL in path parameters and paths', async () => {
    const ids = ['..%2F..%2Fadmin', '%2e%2e', '..', '%2F', '%', '%zz', '%C3%28', '%00', 'a%00b', '%01', `${'i'.repeat(400)}`, '%E2%80%AE', 'a;b', '%20', '%2F%2F%2F'];
    const templates: { method: string; path: (id: string) => string; kind: Kind }[] = [
      { method: 'GET', path: (id) => `/oauth/register/${id}`, kind: 'oauth' },
      { method: 'PUT', path: (id) => `/oauth/register/${id}`, kind: 'oauth' },
      { method: 'DELETE', path: (id) => `/oauth/register/${id}`, kind: 'oauth' },
      { method: 'GET', path: (id) => `/interaction/${id}`, kind: 'html' },
      { method: 'POST', path: (id) => `/interaction/${id}/login`, kind: 'html' },
      { method: 'POST', path: (id) => `/logout/${id}`, kind: 'html' },
      { method: 'GET', path: (id) => `/t/${id}/.well-known/openid-configuration`, kind: 'doc' },
      { method: 'GET', path: (id) => `/t/${id}/oauth/authorize?client_id=x`, kind: 'html' },
      { method: 'GET', path: (id) => `/.well-known/oauth-authorization-server/t/${id}`, kind: 'doc' },
      { method: 'GET', path: (id) => `/admin/tenants/${id}`, kind: 'admin' },
      { method: 'GET', path: (id) => `/admin/tenants/acme/clients/${id}`, kind: 'admin' },
      { method: 'DELETE', path: (id) => `/admin/tenants/acme/users/${id}`, kind: 'admin' },
      { method: 'GET', path: (id) => `/admin/tenants/acme/resource-servers/${id}`, kind: 'admin' },
      { method: 'DELETE', path: (id) => `/admin/tenants/${id}/initial-access-tokens/${id}`, kind: 'admin' },
      { method: 'POST', path: (id) => `/api/${id}/auth/token`, kind: 'core' },
    ];
    const cases: { route: Route; req: Req }[] = [];
    for (const t of templates) {
      for (const id of ids) {
        const route: Route = { method: t.method, path: t.path(id), kind: t.kind, noStore: t.kind === 'oauth' || t.kind === 'admin' || t.kind === 'core' };
        const h: Record<string, string> = t.kind === 'admin' ? { authorization: `Bearer ${admin}` } : t.kind === 'core' ? { authorization: `Bearer ${service}` } : t.kind === 'oauth' ? { authorization: 'Bearer abc' } : {};
        cases.push({ route, req: { method: t.method, path: route.path, headers: { ...h, ...(t.method === 'PUT' || t.method === 'POST' ? json : {}) }, body: t.method === 'PUT' || t.method === 'POST' ? '{}' : undefined } });
      }
    }
    // Query parameters the admin API reads itself: repeated, out of range, of the wrong form.
    const audit: Route = { method: 'GET', path: '/admin/tenants/acme/audit-events', kind: 'admin', noStore: true };
    for (const q of ['since=999999999999&limit=1000', 'since=-271821-04-20T00:00:00Z', 'since=%2B275760-09-13T00:00:00.001Z', 'since=1e3', 'since=2026-13-45', 'since=1&since=2', 'limit=1&limit=2', 'limit=0001', 'limit=99999', 'type=__proto__', 'type=a&type=b', 'type[]=x', 'since=%00', 'limit=%zz']) {
      cases.push({ route: audit, req: { method: 'GET', path: `${audit.path}?${q}`, headers: { authorization: `Bearer ${admin}` } } });
    }
    // Paths Node's parser or the router may refuse outright.
    for (const path of ['/oauth/token%', '/%zz', '/oauth/%2e%2e/admin/tenants', '/oauth//token', '/./oauth/token', '/oauth/token/', `/${'p'.repeat(9000)}`, '/oauth/authorize?%', '//evil.example/oauth/authorize', '/oauth/authorize#frag', '*']) {
      for (const method of ['GET', 'POST']) cases.push({ route: undefined as unknown as Route, req: { method, path, headers: form, body: method === 'POST' ? 'a=b' : undefined } });
    }
    expect(await sweep(cases)).toEqual([]);
  }, 60_000);

  it('requests Node\'s HTTP parser refuses (NUL or raw control bytes in the path or a header, bad framing) get the OAuth error shape (an HTML error page for the browser pages), not Fastify\'s', async () => {
    const bad = [
      'GET /oauth/authorize?a=\u0000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET /interaction/\u0001abc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'POST /oauth/token HTTP/1.1\r\nHost: x\r\nAuthorization: Basic a\u0000b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
      'POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\nConnection: close\r\n\r\nabcdef',
      'POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n',
      'POST /oauth/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n',
      'GET /oauth/userinfo HTTP/1.1\r\nHost: x\r\nBad Header: y\r\nConnection: close\r\n\r\n',
      'FOO /oauth/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET /oauth/token HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n',
      // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400.
      'POST /oauth/token HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=b',
      'GET /interaction/abc HTTP/1.1\r\nConnection: close\r\n\r\n',
    ];
    const out: string[] = [];
    for (const head of bad) {
      const a = await raw(port, head);
      const what = JSON.stringify(head.split('\r\n')[0]);
      if (a.status === 0 && a.body === '') continue; // the connection was closed without an answer: acceptable
      if (!(a.status >= 400 && a.status < 500)) out.push(`${what}: status ${a.status}`);
      if (/^\w+ \/[^ ]* HTTP\/1\.1\r\n/.test(head) && !/\r\nhost:/i.test(head) && a.status !== 400) out.push(`${what}: no Host, but ${a.status}`);
      if (INTERNAL.test(a.body)) out.push(`${what}: internal text in ${JSON.stringify(a.body)}`);
      // The browser pages answer with an HTML error page, everything else with the OAuth error shape.
      if (/^[A-Z]+ \/(oauth\/authorize|interaction\/)/.test(head)) {
        if (!/^text\/html/.test(a.headers['content-type'] ?? '') || !/<title>Invalid request<\/title>/.test(a.body)) out.push(`${what}: not an HTML error page: ${JSON.stringify(a.body.slice(0, 200))}`);
        continue;
      }
      let j: Record<string, unknown> = {};
      try {
        j = JSON.parse(a.body);
      } catch {
        /* below */
      }
      if (!/no-store/.test(a.headers['cache-control'] ?? '')) out.push(`${what}: no Cache-Control: no-store`);
      if (typeof j.error !== 'string' || !/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/.test(j.error) || typeof j.error_description !== 'string') out.push(`${what}: not the OAuth error shape: ${JSON.stringify(a.body)}`);
    }
    expect(out).toEqual([]);
  }, 30_000);

  it('with real state behind them (a live sign-in ticket and its CSRF token, a registered client and its token, admin resources), malformed forms and JSON still get the endpoint\'s error', async () => {
    const cases: { route: Route; req: Req }[] = [];
    const adminAuth = { authorization: `Bearer ${admin}`, ...json };
    const post = async (path: string, body: unknown, headers: Record<string, string>) => {
      const a = await send({ method: 'POST', path, headers: { ...json, ...headers }, body: JSON.stringify(body) });
      expect(a.status, a.body).toBeLessThan(300);
      return JSON.parse(a.body) as Record<string, unknown>;
    };
    const jsonBodies = [
      '{"redirect_uris":"https://rp.example/cb"}', '{"redirect_uris":[1,null,{}],"grant_types":{"__proto__":{}}}', '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}',
      '{"client_name":["a"],"scope":7,"jwks":"x","contacts":[{}],"token_endpoint_auth_method":null}', '{"username":[],"password":{},"claims":"x","sub":1}', '{"password":123}', '{"password":"\u0000"}',
      '{"claims":{"__proto__":{"email":"x"},"email":{"a":1}}}', `{"client_name":"${'n'.repeat(100_000)}"}`, '[]', '{"a":', '',
    ];
    // Admin resources that exist, so that the bodies reach validation and the services.
    await post('/admin/tenants/acme/clients', { client_id: 'deep-client', redirect_uris: ['https://rp.example/cb'] }, adminAuth);
    const user = await post('/admin/tenants/acme/users', { username: 'deep-user', password: 'a long enough password 1' }, adminAuth);
    for (const [method, path] of [['PUT', '/admin/tenants/acme/clients/deep-client'], ['PATCH', `/admin/tenants/acme/users/${String(user.sub ?? user.id)}`], ['POST', `/admin/tenants/acme/users/${String(user.sub ?? user.id)}/password`], ['POST', '/admin/tenants/acme/clients']] as const) {
      const route: Route = { method, path, kind: 'admin', noStore: true };
      for (const body of jsonBodies) cases.push({ route, req: { method, path, headers: adminAuth, body } });
    }
    // A dynamically registered client and its registration access token (RFC 7592).
    const reg = await post('/oauth/register', { redirect_uris: ['https://rp.example/cb'] }, {});
    const manage: Route = { method: 'PUT', path: `/oauth/register/${String(reg.client_id)}`, kind: 'oauth', noStore: true };
    for (const body of jsonBodies) cases.push({ route: manage, req: { method: 'PUT', path: manage.path, headers: { ...json, authorization: `Bearer ${String(reg.registration_access_token)}` }, body } });
    // With client_id, as RFC 7592 §2.2 wants it, so that the metadata itself is judged.
    for (const body of jsonBodies.filter((b) => b.startsWith('{"'))) {
      const withId = `{"client_id":${JSON.stringify(reg.client_id)},${body.slice(1)}`;
      cases.push({ route: manage, req: { method: 'PUT', path: manage.path, headers: { ...json, authorization: `Bearer ${String(reg.registration_access_token)}` }, body: withId } });
    }
    for (const a of [`Bearer ${String(reg.registration_access_token)} x`, `Bearer ${String(reg.registration_access_token)}%00`, `bearer  ${String(reg.registration_access_token)}`]) {
      cases.push({ route: { ...manage, method: 'GET' }, req: { method: 'GET', path: manage.path, headers: { authorization: a } } });
    }
    // A live sign-in: the ticket, its browser binding cookie and the page's CSRF token.
    const pub = await s.client({ client_id: 'deep-public', redirect_uris: ['https://rp.example/cb'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'] });
    const q = new URLSearchParams({ client_id: pub.clientId, redirect_uri: 'https://rp.example/cb', response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
    const start = await send({ method: 'GET', path: `/oauth/authorize?${q}` });
    expect(start.status).toBe(303);
    const page = start.headers.location!;
    const cookie = start.headers['set-cookie']!.split(';')[0]!;
    const shown = await send({ method: 'GET', path: page, headers: { cookie } });
    const csrf = /name="csrf" value="([^"]+)"/.exec(shown.body)![1]!;
    const forms = [
      `csrf=${csrf}&username=a&username=b&password=x&password=y`, `csrf=${csrf}&username[]=a&password[a]=b`, `csrf=${csrf}&username=%zz&password=%C3%28`,
      `csrf=${csrf}&username=${'u'.repeat(100_000)}&password=p`, `csrf=${csrf}&decision=%E2%82&decision=approve`, `csrf=${csrf}&csrf=other&username=a&password=b`,
      `csrf=${csrf}&username=a%01b&password=%7f`, `csrf=${csrf}&given_name=${'g'.repeat(5000)}&email=not-an-email&password=x&username=`, `csrf=${csrf}`,
    ];
    for (const step of ['login', 'create', 'consent']) {
      const route: Route = { method: 'POST', path: `${page}/${step}`, kind: 'html', noStore: false };
      for (const body of forms) cases.push({ route, req: { method: 'POST', path: route.path, headers: { ...form, cookie }, body } });
      cases.push({ route, req: { method: 'POST', path: route.path, headers: { ...json, cookie }, body: JSON.stringify({ csrf, username: ['a'], password: {} }) } });
    }
    // A pending device authorization: its user code on the verification page.
    const device = await send({ method: 'POST', path: '/oauth/device_authorization', headers: form, body: `client_id=${pub.clientId}&scope=openid` });
    const userCode = device.status === 200 ? String(JSON.parse(device.body).user_code) : 'WDJB-MJHT';
    for (const qs of [`user_code=${userCode}&user_code=${userCode}`, `user_code=${encodeURIComponent(userCode)}%00`, `user_code=${'W'.repeat(5000)}`, 'user_code=%C3%28', `user_code[]=${userCode}`]) {
      cases.push({ route: { method: 'GET', path: '/device', kind: 'html', noStore: false }, req: { method: 'GET', path: `/device?${qs}` } });
      cases.push({ route: { method: 'POST', path: '/device', kind: 'html', noStore: false }, req: { method: 'POST', path: '/device', headers: form, body: qs } });
    }
    expect(await sweep(cases)).toEqual([]);
  }, 60_000);

  it('property: any route, any method, any mix of malformed query, body, content type and headers answers well', async () => {
    const piece = fc.oneof(
      fc.constantFrom('%', '%zz', '%C3%28', '%00', '%0d%0a', '%E2%82', '+', '=', '&', '%25', '%ff', '\u00e9', '[', '{', '"', '\\'),
      fc.string({ maxLength: 20 }).map(encodeURIComponent),
      fc.constantFrom('client_id', 'robust-client', 'grant_type', 'client_credentials', 'redirect_uri', 'https%3A%2F%2Frp.example%2Fcb', 'response_type', 'code', 'token', 'scope', 'openid', 'user_code', 'csrf', '__proto__', 'constructor'),
    );
    const query = fc.array(fc.tuple(piece, piece).map(([k, v]) => `${k}=${v}`), { maxLength: 8 }).map((a) => a.join('&'));
    const jsonValue = fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? 'null');
    const objectBody = fc.dictionary(fc.constantFrom('client_id', 'redirect_uris', 'parameters', 'ticket', 'subject', 'token', '__proto__', 'constructor', 'id', 'username', 'grant_types', 'scope'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }).map((o) => JSON.stringify(o));
    const body = fc.oneof(query, jsonValue, objectBody, fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('latin1')));
    const ctype = fc.constantFrom(undefined, 'application/x-www-form-urlencoded', 'application/json', 'text/plain', 'application/jwt', 'application/x-www-form-urlencoded; charset=utf-8', 'application/json;charset=utf-8', '*/*', 'x');
    const headerValue = fc.oneof(fc.constantFrom('Basic', 'Basic Zm9v', 'Bearer a b', 'DPoP x', 'a.b.c', '%zz', '\u00e9\u00ff'), fc.string({ maxLength: 30 }).map((s) => s.replace(/[\x00-\x1f\x7f]/g, '')));
    const extra = fc.dictionary(fc.constantFrom('authorization', 'dpop', 'cookie', 'x-forwarded-for', 'x-forwarded-host', 'accept', 'x-request-id'), headerValue, { maxKeys: 3 });
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS');
    const out: string[] = [];
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: all.length - 1 }), fc.option(method), query, fc.option(body), ctype, extra, fc.boolean(), async (i, m, q, b, ct, hs, authed) => {
        const route = all[i]!;
        const req: Req = {
          method: m ?? route.method,
          path: q ? `${route.path}?${q}` : route.path,
          headers: { ...(authed ? authFor(route) : {}), ...(ct ? { 'content-type': ct } : {}), ...hs },
          body: b ?? undefined,
        };
        if (req.method === 'GET' || req.method === 'HEAD') req.body = undefined;
        const p = problems(route, req, await send(req));
        out.push(...p);
        return p.length === 0;
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 100), seed: Number(process.env.FUZZ_SEED ?? 20261130) },
    ).catch((e: unknown) => {
      if (!out.length) throw e; // a request that failed outright (no answer): fast-check's report says which
    });
    expect(out).toEqual([]);
  }, 60_000);
});

describe('a reply that cannot be written', () => {
  let s: TestServer;
  let app: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    s = await startTestServer();
    // An app with Latchkey's common handling (as buildApp and createLatchkey install it) and routes whose replies
    // Node refuses to write: a header value with a raw non-ASCII or control character.
    app = Fastify({ logger: false });
    installCommon(app, s.lk);
    app.get('/bad-location', (_req, reply) => reply.code(303).header('Location', 'https://rp.example/cb/\u00e9\u0000').send());
    app.get('/bad-cookie', (_req, reply) => reply.header('Set-Cookie', 'a=\r\nb').type('application/json').send('{}'));
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await app?.close();
    await s?.close();
  });

  it('a header Node refuses to write gets the generic server_error answer, not Fastify\'s fallback with Node\'s message', async () => {
    for (const path of ['/bad-location', '/bad-cookie']) {
      const r = await fetch(base + path, { redirect: 'manual' });
      const text = await r.text();
      expect(r.status).toBe(500);
      expect(text).not.toMatch(INTERNAL);
      expect(JSON.parse(text)).toEqual({ error: 'server_error', error_description: 'internal server error' });
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.headers.get('location')).toBeNull();
      expect(r.headers.get('set-cookie')).toBeNull();
    }
  });
});

describe('behind a trusted proxy, garbage forwarded headers are the client\'s problem, not a 5xx', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ trustedProxies: ['127.0.0.1'], clientCertificateHeader: 'x-client-cert' });
  });
  afterAll(() => s?.close());

  it('X-Forwarded-For/-Proto/-Host and a forwarded client certificate that do not parse', async () => {
    const port = Number(new URL(s.issuer).port);
    const sets = [
      { 'x-forwarded-for': 'not-an-ip, , ::zz, 999.1.1.1', 'x-forwarded-proto': 'gopher', 'x-forwarded-host': 'evil.example:99999' },
      { 'x-forwarded-for': `${'1.2.3.4, '.repeat(500)}\u00e9`, 'x-forwarded-host': '' },
      { 'x-client-cert': '%zz' },
      { 'x-client-cert': '-----BEGIN CERTIFICATE-----%0Agarbage%0A-----END CERTIFICATE-----' },
      { 'x-client-cert': 'x'.repeat(6000) },
    ];
    const requests = [
      { method: 'POST', path: '/oauth/token', body: 'grant_type=client_credentials&client_id=nobody' },
      { method: 'POST', path: '/oauth/introspect', body: 'token=abc&client_id=nobody' },
      { method: 'GET', path: '/oauth/authorize?client_id=nobody&response_type=code' },
      { method: 'GET', path: '/oauth/userinfo' },
      { method: 'POST', path: '/oauth/par', body: 'client_id=nobody' },
    ];
    const out: string[] = [];
    for (const h of sets) {
      for (const r of requests) {
        const headers = { host: `127.0.0.1:${port}`, connection: 'close', ...h, ...(r.body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(r.body.length) } : {}) };
        const head = `${r.method} ${r.path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
        const a = await raw(port, head, r.body ?? '');
        if (!(a.status >= 200 && a.status < 500)) out.push(`${r.method} ${r.path} ${JSON.stringify(h).slice(0, 80)}: ${a.status} ${a.body.slice(0, 200)}`);
        if (INTERNAL.test(a.body)) out.push(`${r.method} ${r.path}: internal text ${a.body.slice(0, 200)}`);
      }
    }
    expect(out).toEqual([]);
  });
});
