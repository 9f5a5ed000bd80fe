import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCorsEndpointPath } from '../../src/http/cors-errors.js';
import { Agent } from '../helpers/agent.js';
import { basic, type TestLatchkey } from '../helpers/server.js';
import { openTwoPaths, type HttpAnswer as Raw, sendTo as send, type TwoPaths } from '../helpers/two-paths.js';

/*
 * CORS on error answers (engine/cors.ts unidentifiedErrorCors): an error at a CORS endpoint (token, revocation, PAR,
 * device authorization, UserInfo) for which no client could be identified (no client or an unknown one named, a token
 * we hold no record of, a failure before the endpoint ran) is readable by the page that asked, whatever its origin;
 * once a client is identified its own origins decide, on errors and success alike. One Latchkey is served twice,
 * with and without the fast path: every answer must be the same both ways.
 */

/** A request written to the socket as is (what Node's parser refuses), and the status line and headers of the answer. */
function sendRaw(port: number, request: string): Promise<{ status: number; headers: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head] = text.split('\r\n\r\n');
      const [statusLine, ...lines] = head!.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine!.split(' ')[1]), headers });
    });
  });
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const SPA = 'https://spa.example';
const SPA_CB = `${SPA}/callback`;
const EVIL = 'https://evil.example';
const EXPOSE = 'WWW-Authenticate, DPoP-Nonce, Retry-After';
const BODY_LIMIT = 4096;

const cors = (r: { headers: Record<string, string | string[] | undefined> }) => ({
  allowOrigin: r.headers['access-control-allow-origin'],
  allowCredentials: r.headers['access-control-allow-credentials'],
  expose: r.headers['access-control-expose-headers'],
  vary: r.headers.vary,
});
const readableBy = (origin: string) => ({ allowOrigin: origin, allowCredentials: undefined, expose: EXPOSE, vary: 'Origin' });
const UNREADABLE = { allowOrigin: undefined, allowCredentials: undefined, expose: undefined, vary: 'Origin' };
const NO_CORS = { allowOrigin: undefined, allowCredentials: undefined, expose: undefined, vary: undefined };

/** The CORS endpoints with a request to each that names no known client (or presents a token we do not hold). */
const UNIDENTIFIED: { name: string; method: string; path: string; headers: Record<string, string>; body?: string; status: number; error: string }[] = [
  { name: 'token, unknown client', method: 'POST', path: '/oauth/token', headers: FORM, body: 'grant_type=client_credentials&client_id=nobody', status: 401, error: 'invalid_client' },
  { name: 'token, unknown client (Basic)', method: 'POST', path: '/oauth/token', headers: { ...FORM, authorization: basic('nobody', 'secret') }, body: 'grant_type=client_credentials', status: 401, error: 'invalid_client' },
  { name: 'token, no client named', method: 'POST', path: '/oauth/token', headers: FORM, body: 'grant_type=authorization_code&code=x', status: 401, error: 'invalid_client' },
  { name: 'revocation, unknown client', method: 'POST', path: '/oauth/revoke', headers: FORM, body: 'token=x&client_id=nobody', status: 401, error: 'invalid_client' },
  { name: 'PAR, unknown client', method: 'POST', path: '/oauth/par', headers: FORM, body: 'client_id=nobody&response_type=code&redirect_uri=https%3A%2F%2Fspa.example%2Fcallback', status: 401, error: 'invalid_client' },
  { name: 'device authorization, unknown client', method: 'POST', path: '/oauth/device_authorization', headers: FORM, body: 'client_id=nobody', status: 401, error: 'invalid_client' },
  { name: 'UserInfo GET, unknown token', method: 'GET', path: '/oauth/userinfo', headers: { authorization: 'Bearer not-a-token-we-issued' }, status: 401, error: 'invalid_token' },
  { name: 'UserInfo POST, unknown token', method: 'POST', path: '/oauth/userinfo', headers: FORM, body: 'access_token=not-a-token-we-issued', status: 401, error: 'invalid_token' },
  { name: 'UserInfo, no token', method: 'GET', path: '/oauth/userinfo', headers: {}, status: 401, error: '' },
];

const CORS_POST_PATHS = ['/oauth/token', '/oauth/revoke', '/oauth/par', '/oauth/device_authorization', '/oauth/userinfo'];

describe('CORS on error answers: an error for which no client is identified is readable by the page that asked', () => {
  let t: TestLatchkey;
  let paths: TwoPaths;
  let fast: number;
  let slow: number;
  let spa: { clientId: string };
  let conf: { clientId: string; clientSecret?: string };

  /** The same request to both servers; their answers must agree (status, CORS headers). */
  async function both(method: string, path: string, headers: Record<string, string | string[]>, body?: string): Promise<Raw> {
    const [a, b] = await Promise.all([send(fast, method, path, headers, body), send(slow, method, path, headers, body)]);
    expect([b.status, cors(b)], `${method} ${path}: the fast path and the routes agree`).toEqual([a.status, cors(a)]);
    return a;
  }

  /** Access and refresh tokens of the public client `spa` (code flow with PKCE, signed in as ann). */
  async function spaTokens(): Promise<{ access_token: string; refresh_token?: string }> {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const agent = new Agent(t.lk.config.issuer);
    const cb = await agent.authorize(
      `${t.lk.config.issuer}/oauth/authorize?` +
        new URLSearchParams({ client_id: spa.clientId, redirect_uri: SPA_CB, response_type: 'code', scope: 'openid profile', code_challenge: challenge, code_challenge_method: 'S256', state: 's' }),
      'ann',
      'ann-password',
    );
    const r = await send(fast, 'POST', '/oauth/token', FORM, new URLSearchParams({ grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: SPA_CB, client_id: spa.clientId, code_verifier: verifier }).toString());
    expect(r.status, r.body).toBe(200);
    return JSON.parse(r.body);
  }

  beforeAll(async () => {
    paths = await openTwoPaths({ bodyLimit: BODY_LIMIT });
    ({ t, fast, slow } = paths);
    await t.user('ann', 'ann-password', { name: 'Ann' });
    // A public client: its pages are at its redirect URI's origin (SPA), not EVIL.
    spa = await t.client({ redirect_uris: [SPA_CB], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], skip_consent: true });
    // A confidential client that listed SPA only.
    conf = await t.client({ grant_types: ['client_credentials'], scope: 'api', allowed_cors_origins: [SPA] });
  }, 60_000);
  afterAll(async () => {
    await paths?.close();
  });

  it('Fetch CORS: at every CORS endpoint, an error naming no known client (or a token we hold no record of) echoes the Origin, with Vary and Expose-Headers, never Allow-Credentials', async () => {
    for (const c of UNIDENTIFIED) {
      for (const origin of [EVIL, SPA]) {
        const r = await both(c.method, c.path, { ...c.headers, origin }, c.body);
        expect(r.status, `${c.name}: ${r.body}`).toBe(c.status);
        if (c.error) expect(JSON.parse(r.body).error, c.name).toBe(c.error);
        expect(cors(r), c.name).toEqual(readableBy(origin));
      }
    }
  });

  it('RFC 6750 §3: a page reads the UserInfo challenge of a token we do not hold (oauth4webapi sees the WWW-Authenticate error)', async () => {
    const r = await both('GET', '/oauth/userinfo', { authorization: 'Bearer bogus', origin: EVIL });
    expect(r.headers['www-authenticate']).toMatch(/^Bearer .*error="invalid_token"/);
    expect(r.headers['access-control-expose-headers']).toContain('WWW-Authenticate');
    const issuer = new URL(t.lk.config.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true }));
    const res = await oauth.userInfoRequest(as, { client_id: spa.clientId }, 'bogus', { [oauth.allowInsecureRequests]: true, headers: { origin: EVIL } });
    expect(res.headers.get('access-control-allow-origin')).toBe(EVIL);
    const challenge = await oauth.processUserInfoResponse(as, { client_id: spa.clientId }, oauth.skipSubjectCheck, res).catch((e: unknown) => e);
    expect(challenge).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    expect((challenge as oauth.WWWAuthenticateChallengeError).cause[0]!.parameters.error).toBe('invalid_token');
  });

  it('without Origin an unidentified error gets no CORS header at all (no Vary either), through the fast path and the routes', async () => {
    for (const c of UNIDENTIFIED) {
      const r = await both(c.method, c.path, c.headers, c.body);
      expect(r.status, c.name).toBe(c.status);
      expect(cors(r), c.name).toEqual(NO_CORS);
    }
  });

  it('RFC 6454 §6.2: a non-web Origin ("null", a path, no scheme, two origins, upper case) is never echoed, on an unidentified error either', async () => {
    for (const origin of ['null', `${EVIL}/`, 'evil.example', `${EVIL}, ${SPA}`, 'https://EVIL.example', 'https://evil.example:443', 'file://', 'chrome-extension://abc']) {
      for (const c of UNIDENTIFIED) {
        const r = await both(c.method, c.path, { ...c.headers, origin }, c.body);
        expect(cors(r), `${c.name} from ${origin}`).toEqual(UNREADABLE);
      }
    }
  });

  it('once the client is identified its origins decide: its errors are unreadable from an origin it did not list, readable from one it did', async () => {
    const tokens = await spaTokens();
    // Another origin, the client named (and known): no ACAO, at every endpoint.
    const identified: [string, string, Record<string, string>, string | undefined, number][] = [
      ['POST', '/oauth/token', FORM, `grant_type=authorization_code&code=nope&redirect_uri=${encodeURIComponent(SPA_CB)}&client_id=${spa.clientId}&code_verifier=${'a'.repeat(43)}`, 400],
      ['POST', '/oauth/token', { ...FORM, authorization: basic(conf.clientId, 'not-the-secret') }, 'grant_type=client_credentials', 401],
      ['POST', '/oauth/revoke', FORM, `client_id=${spa.clientId}`, 400],
      ['POST', '/oauth/par', FORM, `client_id=${spa.clientId}&response_type=code`, 400],
      ['POST', '/oauth/device_authorization', FORM, `client_id=${spa.clientId}`, 400],
    ];
    for (const [method, path, headers, body, status] of identified) {
      const evil = await both(method, path, { ...headers, origin: EVIL }, body);
      expect(evil.status, `${path}: ${evil.body}`).toBe(status);
      expect(cors(evil), path).toEqual(UNREADABLE);
      const own = await both(method, path, { ...headers, origin: SPA }, body);
      expect(own.status, path).toBe(status);
      expect(cors(own), path).toEqual(readableBy(SPA));
    }
    // UserInfo: a token we hold a record of identifies its client, revoked or not.
    await send(fast, 'POST', '/oauth/revoke', FORM, `token=${tokens.access_token}&client_id=${spa.clientId}`);
    const revoked = await both('GET', '/oauth/userinfo', { authorization: `Bearer ${tokens.access_token}`, origin: EVIL });
    expect(revoked.status).toBe(401);
    expect(cors(revoked)).toEqual(UNREADABLE);
    const ownRevoked = await both('GET', '/oauth/userinfo', { authorization: `Bearer ${tokens.access_token}`, origin: SPA });
    expect([ownRevoked.status, cors(ownRevoked)]).toEqual([401, readableBy(SPA)]);
  });

  it('success answers are never widened: a known client\'s success is unreadable from an origin it did not list', async () => {
    const tokens = await spaTokens();
    const info = await both('GET', '/oauth/userinfo', { authorization: `Bearer ${tokens.access_token}`, origin: EVIL });
    expect(info.status).toBe(200);
    expect(cors(info)).toEqual(UNREADABLE);
    const cc = await both('POST', '/oauth/token', { ...FORM, origin: EVIL, authorization: basic(conf.clientId, conf.clientSecret!) }, 'grant_type=client_credentials&scope=api');
    expect(cc.status).toBe(200);
    expect(cors(cc)).toEqual(UNREADABLE);
    // RFC 7009 §2.2: revoking a token we do not hold is a success (200), for a known client: not widened either.
    const revoke = await both('POST', '/oauth/revoke', { ...FORM, origin: EVIL }, `token=unknown&client_id=${spa.clientId}`);
    expect(revoke.status).toBe(200);
    expect(cors(revoke)).toEqual(UNREADABLE);
  });

  it('a body past the limit (413, before any endpoint runs) is readable by the page that asked, at every CORS endpoint; not at introspection', async () => {
    const big = 'grant_type=client_credentials&x=' + 'a'.repeat(BODY_LIMIT);
    for (const path of CORS_POST_PATHS) {
      const r = await both('POST', path, { ...FORM, origin: EVIL }, big);
      expect(r.status, path).toBe(413);
      expect(JSON.parse(r.body).error, path).toBe('invalid_request');
      expect(cors(r), path).toEqual(readableBy(EVIL));
      expect(cors(await both('POST', path, { ...FORM, origin: 'null' }, big)), path).toEqual(UNREADABLE);
      expect(cors(await both('POST', path, FORM, big)), path).toEqual(NO_CORS);
    }
    const i = await both('POST', '/oauth/introspect', { ...FORM, origin: EVIL }, big);
    expect([i.status, cors(i)]).toEqual([413, NO_CORS]);
  });

  it('RFC 6749 §3.2: a body that is not a form (JSON, an unparseable media type) names no client: its error is readable by the page that asked', async () => {
    for (const path of CORS_POST_PATHS) {
      for (const [type, body] of [['application/json', '{"client_id":"x"}'], ['a/b/c', 'x'], ['text/plain', '']] as const) {
        const r = await both('POST', path, { 'content-type': type, origin: EVIL }, body);
        expect(r.status, `${path} ${type}: ${r.body}`).toBeGreaterThanOrEqual(400);
        expect(r.status, path).toBeLessThan(500);
        expect(cors(r), `${path} ${type}`).toEqual(readableBy(EVIL));
      }
    }
  });

  it('RFC 6750 §2: two Authorization headers are refused; the refusal is readable unless the client named is known and did not list the origin', async () => {
    const twice = [basic('nobody', 'a'), basic('nobody', 'b')];
    for (const path of ['/oauth/token', '/oauth/revoke', '/oauth/par', '/oauth/device_authorization']) {
      const r = await both('POST', path, { ...FORM, authorization: twice, origin: EVIL }, 'grant_type=client_credentials&token=x');
      expect(r.status, `${path}: ${r.body}`).toBe(400);
      expect(cors(r), path).toEqual(readableBy(EVIL));
    }
    const ui = await both('GET', '/oauth/userinfo', { authorization: ['Bearer a', 'Bearer b'], origin: EVIL });
    expect(ui.status).toBe(400);
    expect(cors(ui)).toEqual(readableBy(EVIL));
    const known = await both('POST', '/oauth/token', { ...FORM, authorization: [basic(conf.clientId, conf.clientSecret!), basic(conf.clientId, 'x')], origin: EVIL }, 'grant_type=client_credentials');
    expect([known.status, cors(known)]).toEqual([400, UNREADABLE]);
  });

  it('RFC 9110 §15.5.6: a 405 at a CORS endpoint names no client: readable by the page that asked', async () => {
    for (const path of ['/oauth/token', '/oauth/revoke', '/oauth/par', '/oauth/device_authorization']) {
      const r = await both('GET', path, { origin: EVIL });
      expect(r.status, path).toBe(405);
      expect(cors(r), path).toEqual(readableBy(EVIL));
    }
    expect(cors(await both('GET', '/oauth/introspect', { origin: EVIL }))).toEqual(NO_CORS);
  });

  it('a request the router refuses (a tenant path past the parameter limit: 414) or Node\'s parser refuses (400) at a CORS endpoint is readable by the page that asked', async () => {
    const long = `/t/${'a'.repeat(300)}/oauth/token`;
    const r = await both('POST', long, { ...FORM, origin: EVIL }, 'grant_type=client_credentials');
    expect(r.status).toBe(414);
    expect(cors(r)).toEqual(readableBy(EVIL));
    expect(cors(await both('POST', long, FORM, 'grant_type=client_credentials'))).toEqual(NO_CORS);
    for (const port of [fast, slow]) {
      const bad = await sendRaw(port, `POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${EVIL}\r\nX-Bad: a\u0001b\r\nContent-Length: 0\r\n\r\n`);
      expect(bad.status).toBe(400);
      expect(cors(bad)).toEqual(readableBy(EVIL));
      const other = await sendRaw(port, `POST /oauth/introspect HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${EVIL}\r\nX-Bad: a\u0001b\r\nContent-Length: 0\r\n\r\n`);
      expect([other.status, other.headers['access-control-allow-origin']]).toEqual([400, undefined]);
      const noHost = await sendRaw(port, `GET /oauth/userinfo HTTP/1.1\r\nOrigin: ${EVIL}\r\n\r\n`);
      expect(noHost.status).toBe(400);
      expect(cors(noHost)).toEqual(readableBy(EVIL));
    }
  });

  it('an unknown tenant (404 not_found) names no client: readable by the page that asked at a CORS endpoint, not at introspection or without Origin', async () => {
    const r = await both('POST', '/t/no-such-tenant/oauth/token', { ...FORM, origin: EVIL }, 'grant_type=client_credentials');
    expect([r.status, JSON.parse(r.body).error]).toEqual([404, 'not_found']);
    expect(cors(r)).toEqual(readableBy(EVIL));
    expect(cors(await both('POST', '/t/no-such-tenant/oauth/token', FORM, 'grant_type=client_credentials'))).toEqual(NO_CORS);
    expect(cors(await both('POST', '/t/no-such-tenant/oauth/introspect', { ...FORM, origin: EVIL }, 'token=x'))).toEqual(NO_CORS);
    // A CORS endpoint's path under a mount path we do not serve: the router's 404, readable too.
    const unrouted = await both('POST', '/elsewhere/oauth/token', { ...FORM, origin: EVIL }, 'grant_type=client_credentials');
    expect(unrouted.status).toBe(404);
    expect(cors(unrouted)).toEqual(readableBy(EVIL));
  });

  it('a database that is away (503 temporarily_unavailable, Retry-After) identifies no client: the page that asked reads the answer and its Retry-After', async () => {
    const store = t.lk.store as unknown as Record<string, unknown>;
    const down = async () => {
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    };
    const saved = { findClient: store.findClient, findToken: store.findToken };
    store.findClient = down;
    store.findToken = down;
    try {
      for (const [method, path, headers, body] of [
        ['POST', '/oauth/token', FORM, `grant_type=client_credentials&client_id=${conf.clientId}&client_secret=${conf.clientSecret}`],
        ['POST', '/oauth/par', FORM, `client_id=${spa.clientId}&response_type=code`],
        ['GET', '/oauth/userinfo', { authorization: 'Bearer some-token' }, undefined],
      ] as const) {
        const r = await both(method, path, { ...headers, origin: EVIL }, body);
        expect(r.status, `${path}: ${r.body}`).toBe(503);
        expect(r.headers['retry-after'], path).toBe('1');
        expect(cors(r), path).toEqual(readableBy(EVIL));
      }
    } finally {
      Object.assign(store, saved);
    }
    expect((await both('POST', '/oauth/token', { ...FORM, origin: EVIL }, 'grant_type=client_credentials&client_id=nobody')).status).toBe(401);
  });

  it('a failure outside the engine (500 server_error, here the audit trail failing) is readable by the page that asked, on the fast path and through the routes alike', async () => {
    const audit = t.lk.audit as unknown as Record<string, unknown>;
    const saved = audit.record;
    audit.record = () => {
      throw new Error('audit trail broken');
    };
    try {
      const r = await both('POST', '/oauth/token', { ...FORM, origin: EVIL }, 'grant_type=client_credentials&client_id=nobody');
      expect(r.status, r.body).toBe(500);
      expect(JSON.parse(r.body).error).toBe('server_error');
      expect(cors(r)).toEqual(readableBy(EVIL));
      expect(cors(await both('POST', '/oauth/token', FORM, 'grant_type=client_credentials&client_id=nobody'))).toEqual(NO_CORS);
      expect(cors(await both('POST', '/oauth/introspect', { ...FORM, origin: EVIL, authorization: basic('nobody', 'x') }, 'token=x'))).toEqual(NO_CORS);
    } finally {
      audit.record = saved;
    }
  });

  it('the CORS endpoints\' paths, under any tenant or mount path, never the Core API', () => {
    for (const p of ['/oauth/token', '/oauth/revoke?x=1', '/t/acme/oauth/par', '/auth/oauth/device_authorization', '/oauth/userinfo']) expect(isCorsEndpointPath(p), p).toBe(true);
    for (const p of ['/oauth/introspect', '/oauth/register', '/oauth/token/x', '/oauth/tokens', '/api/oauth/token', '/oauth/authorize', '/.well-known/jwks.json']) expect(isCorsEndpointPath(p), p).toBe(false);
  });
});
