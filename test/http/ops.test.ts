import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import { buildApp } from '../../src/http/app.js';
import { Agent } from '../helpers/agent.js';
import { basic, freePort, openTestLatchkey, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';

/** Parse Prometheus text into { 'name{labels}': value }. */
function samples(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

describe('operations endpoints', () => {
  let s: TestServer;
  let svc: { clientId: string; clientSecret?: string };
  let web: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer();
    svc = await s.client({ grant_types: ['client_credentials'], scope: 'api:read' });
    web = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code'], skip_consent: true });
    await s.user('carol', 'carol-password');
  });
  afterAll(() => s.close());

  it('GET /healthz: liveness answers 200 without touching the database', async () => {
    const ping = s.lk.store.ping;
    s.lk.store.ping = async () => {
      throw new Error('database down');
    };
    try {
      const r = await fetch(s.url('/healthz'));
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ status: 'ok' });
      expect(r.headers.get('cache-control')).toBe('no-store');
    } finally {
      s.lk.store.ping = ping;
    }
  });

  it('GET /readyz: 200 when the database answers and keys are loaded; 503 when the database fails or the process drains', async () => {
    const ok = await fetch(s.url('/readyz'));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'ready', checks: { database: 'ok', keys: 'ok' } });

    const ping = s.lk.store.ping;
    s.lk.store.ping = async () => {
      throw new Error('connection refused');
    };
    try {
      const down = await fetch(s.url('/readyz'));
      expect(down.status).toBe(503);
      const body = await down.json();
      expect(body.checks.database).toBe('failed');
      expect(JSON.stringify(body)).not.toContain('connection refused'); // no internals to the caller
    } finally {
      s.lk.store.ping = ping;
    }

    s.lk.draining = true;
    try {
      const draining = await fetch(s.url('/readyz'));
      expect(draining.status).toBe(503);
      expect((await draining.json()).checks.lifecycle).toBe('draining');
    } finally {
      s.lk.draining = false;
    }
  });

  it('GET /metrics: request counts by route and status class, tokens by grant type, engine result codes, login failures', async () => {
    const good = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', scope: 'api:read' }, { authorization: basic(svc.clientId, svc.clientSecret!) });
    expect(good.status).toBe(200);
    const bad = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(svc.clientId, 'x'.repeat(43)) });
    expect(bad.status).toBe(401);

    // One real authorization code flow through oauth4webapi, with one failed sign-in on the way.
    const as = { issuer: s.issuer, token_endpoint: s.url('/oauth/token') } as oauth.AuthorizationServer;
    const verifier = oauth.generateRandomCodeVerifier();
    const url = new URL(s.url('/oauth/authorize'));
    url.search = new URLSearchParams({
      client_id: web.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).toString();
    const agent = new Agent(s.issuer);
    const page = await agent.follow(url.href);
    const failed = await agent.login(page, 'carol', 'wrong-password');
    expect(failed.status).toBe(400);
    const done = await agent.login(failed, 'carol', 'carol-password');
    const cb = new URL(done.location!);
    const params = oauth.validateAuthResponse(as, { client_id: web.clientId }, cb, 'st');
    const res = await oauth.authorizationCodeGrantRequest(as, { client_id: web.clientId }, oauth.ClientSecretBasic(web.clientSecret!), params, CB, verifier, {
      [oauth.allowInsecureRequests]: true,
    });
    expect(res.status).toBe(200);

    expect((await fetch(s.url('/no/such/path'))).status).toBe(404);
    const m = await fetch(s.url('/metrics'));
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const v = samples(await m.text());
    expect(v['latchkey_tokens_issued_total{grant_type="client_credentials"}']).toBe(1);
    expect(v['latchkey_tokens_issued_total{grant_type="authorization_code"}']).toBe(1);
    expect(v['latchkey_http_requests_total{method="POST",route="/oauth/token",status_class="2xx"}']).toBe(2);
    expect(v['latchkey_http_requests_total{method="POST",route="/oauth/token",status_class="4xx"}']).toBe(1);
    expect(v['latchkey_http_request_duration_seconds_count{method="POST",route="/oauth/token",status_class="2xx"}']).toBe(2);
    expect(v['latchkey_http_request_duration_seconds_bucket{method="POST",route="/oauth/token",status_class="2xx",le="+Inf"}']).toBe(2);
    expect(v['latchkey_engine_results_total{code="LK2001"}']).toBe(2);
    expect(v['latchkey_engine_results_total{code="LK1002"}']).toBe(1);
    expect(v['latchkey_engine_results_total{code="LK3007"}']).toBe(1); // authorization issued
    expect(v['latchkey_login_failures_total']).toBe(1);
    // Unknown paths share one series: a scanner cannot grow the registry.
    expect(v['latchkey_http_requests_total{method="GET",route="unmatched",status_class="4xx"}']).toBe(1);
    // Path parameters never become label values (one series per route, not per ticket).
    expect(Object.keys(v).some((k) => k.includes('route="/interaction/:ticket/login"'))).toBe(true);
    expect(Object.keys(v).every((k) => !/route="\/interaction\/[^:]/.test(k))).toBe(true);
  });

  it('every response carries X-Request-Id: the caller\'s when it is a short safe token, a fresh one otherwise', async () => {
    const mine = await fetch(s.url('/healthz'), { headers: { 'x-request-id': 'edge-42.a_b' } });
    expect(mine.headers.get('x-request-id')).toBe('edge-42.a_b');
    const unsafe = await fetch(s.url('/healthz'), { headers: { 'x-request-id': 'a b "c"' } });
    expect(unsafe.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const none = await fetch(s.url('/.well-known/openid-configuration'));
    expect(none.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('logs', () => {
  it('accessLog: one JSON line per request with request id, route and status; no secret, code, ticket or password in any line', async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const t = await openTestLatchkey({ issuer, port, accessLog: true, logLevel: 'info', demo: true });
    const lines: string[] = [];
    const app = await buildApp(t.lk, { logStream: { write: (l: string) => void lines.push(l) } });
    t.lk.setLogger(app.log);
    await app.listen({ host: '127.0.0.1', port });
    try {
      const svc = await t.client({ grant_types: ['client_credentials'], scope: 'api:read' });
      const web = await t.client({ redirect_uris: [CB], grant_types: ['authorization_code'], skip_consent: true });
      const password = 'pw-' + randomBytes(8).toString('hex');
      await t.user('dave', password);
      const tok = await postForm(`${issuer}/oauth/token`, { grant_type: 'client_credentials' }, { authorization: basic(svc.clientId, svc.clientSecret!), 'x-request-id': 'trace-1' });
      expect(tok.status).toBe(200);
      const verifier = 'v'.repeat(43);
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const agent = new Agent(issuer);
      const authUrl = `${issuer}/oauth/authorize?${new URLSearchParams({ client_id: web.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st', code_challenge: challenge, code_challenge_method: 'S256', login_hint: 'dave@example.com' })}`;
      const page = await agent.follow(authUrl);
      const ticket = /\/interaction\/([^/"]+)\/login/.exec(page.html)![1]!;
      await agent.login(page, 'dave', 'wrong-' + password);
      const cb = new URL((await agent.login((await agent.follow(authUrl)), 'dave', password)).location!);
      const code = cb.searchParams.get('code')!;
      // The code in a URL we serve (the demo callback page) must not reach the log either.
      await fetch(`${issuer}/demo/callback?code=${code}&state=st`);
      const redeemed = await postForm(`${issuer}/oauth/token`, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }, { authorization: basic(web.clientId, web.clientSecret!) });
      expect(redeemed.status).toBe(200);
      await new Promise((r) => setImmediate(r));

      const records = lines.map((l) => JSON.parse(l));
      const access = records.filter((r) => r.event === 'access');
      expect(access.length).toBeGreaterThanOrEqual(6);
      for (const a of access) {
        expect(a.level).toBe(30);
        expect(typeof a.reqId).toBe('string');
        expect(typeof a.status).toBe('number');
        expect(typeof a.ms).toBe('number');
        expect(a.route).toBeTruthy();
      }
      const first = access.find((a) => a.reqId === 'trace-1');
      expect(first).toMatchObject({ method: 'POST', url: '/oauth/token', route: '/oauth/token', status: 200, resultCode: 'LK2001' });
      expect(access.some((a) => a.url === '/interaction/:ticket/login' && a.status === 400)).toBe(true);
      expect(records.some((r) => r.event === 'login_failure')).toBe(true);

      const all = lines.join('\n');
      const secrets = [svc.clientSecret!, web.clientSecret!, password, ticket, code, tok.json.access_token, redeemed.json.access_token, redeemed.json.id_token, 'dave@example.com'];
      for (const secret of secrets) expect(all).not.toContain(secret);
      expect(all).not.toContain(basic(svc.clientId, svc.clientSecret!).slice(6));
    } finally {
      await app.close();
      await t.close();
    }
  });

  it('single sign-on: an authorization answered from the session is one reply, with no "already sent" warning', async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const t = await openTestLatchkey({ issuer, port, logLevel: 'warn' });
    const lines: string[] = [];
    const app = await buildApp(t.lk, { logStream: { write: (l: string) => void lines.push(l) } });
    t.lk.setLogger(app.log);
    await app.listen({ host: '127.0.0.1', port });
    try {
      const web = await t.client({ redirect_uris: [CB], grant_types: ['authorization_code'], skip_consent: true });
      const password = 'pw-' + randomBytes(8).toString('hex');
      await t.user('erin', password);
      const challenge = createHash('sha256').update('v'.repeat(43)).digest('base64url');
      const authUrl = (state: string) =>
        `${issuer}/oauth/authorize?${new URLSearchParams({ client_id: web.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state, code_challenge: challenge, code_challenge_method: 'S256' })}`;
      const agent = new Agent(issuer);
      await agent.login(await agent.follow(authUrl('one')), 'erin', password);
      // Signed in: the next authorization is answered at once, straight to the client.
      const again = await agent.request(authUrl('two'));
      expect(again.status).toBe(303);
      const cb = new URL(again.location!);
      expect(cb.origin + cb.pathname).toBe(CB);
      expect(cb.searchParams.get('state')).toBe('two');
      expect(cb.searchParams.get('code')).toBeTruthy();
      await new Promise((r) => setTimeout(r, 20));
      const warnings = lines.map((l) => JSON.parse(l)).filter((r) => r.level >= 40);
      expect(warnings).toEqual([]);
    } finally {
      await app.close();
      await t.close();
    }
  });

  it('without accessLog, a request writes no log line at info level', async () => {
    const port = await freePort();
    const t = await openTestLatchkey({ issuer: `http://127.0.0.1:${port}`, port, logLevel: 'info' });
    const lines: string[] = [];
    const app = await buildApp(t.lk, { logStream: { write: (l: string) => void lines.push(l) } });
    await app.listen({ host: '127.0.0.1', port });
    try {
      const before = lines.length;
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      expect(lines.length).toBe(before);
    } finally {
      await app.close();
      await t.close();
    }
  });

  it('X-Forwarded-For is believed only from a configured proxy (trustedProxies): the log and the login limits see that address', async () => {
    for (const trustedProxies of [undefined, '127.0.0.1']) {
      const port = await freePort();
      const t = await openTestLatchkey({ issuer: `http://127.0.0.1:${port}`, port, logLevel: 'info', accessLog: true, ...(trustedProxies ? { trustedProxies } : {}) });
      const lines: string[] = [];
      const app = await buildApp(t.lk, { logStream: { write: (l: string) => void lines.push(l) } });
      await app.listen({ host: '127.0.0.1', port });
      try {
        await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
        await new Promise((r) => setImmediate(r));
        const access = lines.map((l) => JSON.parse(l)).find((r) => r.event === 'access');
        expect(access.ip).toBe(trustedProxies ? '203.0.113.7' : '127.0.0.1');
      } finally {
        await app.close();
        await t.close();
      }
    }
  });

  it('metrics: false removes GET /metrics', async () => {
    const s = await startTestServer({ metrics: false });
    try {
      expect((await fetch(s.url('/metrics'))).status).toBe(404);
    } finally {
      await s.close();
    }
  });
});
