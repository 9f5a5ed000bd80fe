import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

describe('abuse limits on the token, introspection and registration endpoints (docs/security.md)', () => {
  let s: TestServer;
  let clock = Date.now();
  let a: { clientId: string; clientSecret?: string };
  let b: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer({ rateLimitPerClient: 3, rateLimitPerIp: 6, rateLimitWindow: 60, registration: 'open' }, { clock: () => clock });
    a = await s.client({ grant_types: ['client_credentials'], scope: 'api' });
    b = await s.client({ grant_types: ['client_credentials'], scope: 'api' });
  });
  afterAll(() => s.close());

  const tokenFor = (c: { clientId: string; clientSecret?: string }, secret = c.clientSecret!) =>
    postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(c.clientId, secret) });
  const nextWindow = () => {
    clock = (Math.floor(clock / 60_000) + 1) * 60_000 + 1000;
  };

  it('RFC 6585 §4: past rateLimitPerClient a client gets 429, Retry-After and an OAuth JSON error; the next window it is served again', async () => {
    nextWindow();
    // Failed authentications do not spend the client's budget (only the address's).
    expect((await tokenFor(a, 'wrong-secret')).status).toBe(401);
    for (let i = 0; i < 3; i++) expect((await tokenFor(a)).status).toBe(200);
    const limited = await tokenFor(a);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(limited.headers.get('cache-control')).toBe('no-store');
    expect(limited.json).toMatchObject({ error: 'temporarily_unavailable' });
    // Another client from the same address still has its own budget (the address limit is higher).
    expect((await tokenFor(b)).status).toBe(200);
    nextWindow();
    expect((await tokenFor(a)).status).toBe(200);
  });

  it('past rateLimitPerIp an address gets 429 whatever client it names, before client authentication', async () => {
    nextWindow();
    for (let i = 0; i < 6; i++) expect((await tokenFor(i % 2 ? a : b, 'wrong-secret')).status).toBe(401);
    const limited = await tokenFor(a);
    expect(limited.status).toBe(429);
    expect(limited.json).toMatchObject({ error: 'temporarily_unavailable' });
    await s.lk.audit.flush();
    const events = await s.lk.store.listAuditEvents('default', { type: 'rate_limited', limit: 10 });
    expect(events[0]).toMatchObject({ resultCode: 'LK14001', ip: '127.0.0.1' });
  });

  it('the introspection endpoint is limited per client the same way', async () => {
    nextWindow();
    const introspect = () => postForm(s.url('/oauth/introspect'), { token: 'x' }, { authorization: basic(b.clientId, b.clientSecret!) });
    for (let i = 0; i < 3; i++) expect((await introspect()).status).toBe(200);
    const limited = await introspect();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBeTruthy();
  });

  it('PAR (RFC 9126), device authorization (RFC 8628), CIBA and revocation (RFC 7009) are limited per client and per address too', async () => {
    const web = await s.client({ redirect_uris: ['https://rp.example/cb'], grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'], scope: 'openid' });
    const auth = { authorization: basic(web.clientId, web.clientSecret!) };
    const ciba = await s.client({ grant_types: ['urn:openid:params:grant-type:ciba'], backchannel_token_delivery_mode: 'poll', scope: 'openid' });
    await s.user('limited', 'limited-password');
    const calls: [string, () => Promise<{ status: number; json: any; headers: Headers }>][] = [
      ['par', () => postForm(s.url('/oauth/par'), { response_type: 'code', redirect_uri: 'https://rp.example/cb', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }, auth)],
      ['device', () => postForm(s.url('/oauth/device_authorization'), { scope: 'openid' }, auth)],
      ['ciba', () => postForm(s.url('/oauth/bc-authorize'), { scope: 'openid', login_hint: 'limited' }, { authorization: basic(ciba.clientId, ciba.clientSecret!) })],
      ['revocation', () => postForm(s.url('/oauth/revoke'), { token: 'unknown' }, auth)],
    ];
    for (const [name, call] of calls) {
      nextWindow();
      for (let i = 0; i < 3; i++) expect((await call()).status, name).toBeLessThan(300);
      const limited = await call();
      expect(limited.status, name).toBe(429);
      expect(limited.headers.get('retry-after'), name).toBeTruthy();
      expect(limited.json, name).toMatchObject({ error: 'temporarily_unavailable' });
    }
    // Per address, before authentication: failed authentications spend the address's budget.
    nextWindow();
    const bad = () => postForm(s.url('/oauth/device_authorization'), { scope: 'openid' }, { authorization: basic(web.clientId, 'wrong') });
    for (let i = 0; i < 6; i++) expect((await bad()).status).toBe(401);
    expect((await calls[1]![1]()).status).toBe(429);
  });

  it('dynamic registration (RFC 7591) is limited per address', async () => {
    nextWindow();
    const register = () =>
      fetch(s.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['https://rp.example/cb'] }) });
    for (let i = 0; i < 6; i++) expect((await register()).status).toBe(201);
    const limited = await register();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBeTruthy();
    expect(await limited.json()).toMatchObject({ error: 'temporarily_unavailable' });
  });
});

describe('abuse limits for public clients (RFC 6749 §2.3: a client_id alone authenticates nothing)', () => {
  let s: TestServer;
  let clock = Date.now();
  let pub: { clientId: string };

  beforeAll(async () => {
    s = await startTestServer({ rateLimitPerClient: 3, rateLimitPerIp: 100, rateLimitWindow: 60, trustedProxies: ['127.0.0.1'] }, { clock: () => clock });
    pub = await s.client({
      redirect_uris: ['https://rp.example/cb'], token_endpoint_auth_method: 'none', scope: 'openid',
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    });
  });
  afterAll(() => s.close());

  const from = (ip: string) => ({ 'x-forwarded-for': ip });
  const nextWindow = () => {
    clock = (Math.floor(clock / 60_000) + 1) * 60_000 + 1000;
  };

  it('requests from other addresses naming a public client\'s client_id do not spend its genuine user\'s budget at the token, revocation, PAR and device endpoints', async () => {
    const calls: [string, (ip: string) => Promise<{ status: number; json: any }>][] = [
      ['token', (ip) => postForm(s.url('/oauth/token'), { grant_type: 'refresh_token', refresh_token: 'not-a-token', client_id: pub.clientId }, from(ip))],
      ['revocation', (ip) => postForm(s.url('/oauth/revoke'), { token: 'unknown', client_id: pub.clientId }, from(ip))],
      ['par', (ip) => postForm(s.url('/oauth/par'), {
        client_id: pub.clientId, response_type: 'code', redirect_uri: 'https://rp.example/cb', scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
      }, from(ip))],
      ['device', (ip) => postForm(s.url('/oauth/device_authorization'), { client_id: pub.clientId, scope: 'openid' }, from(ip))],
    ];
    for (const [name, call] of calls) {
      nextWindow();
      for (let n = 1; n <= 5; n++) for (let i = 0; i < 3; i++) expect((await call(`203.0.113.${n}`)).status, name).not.toBe(429);
      // The genuine user, from their own address, still has the whole per-client budget ...
      for (let i = 0; i < 3; i++) expect((await call('198.51.100.7')).status, name).not.toBe(429);
      // ... which still binds them (and each attacking address) at that address.
      const limited = await call('198.51.100.7');
      expect(limited.status, name).toBe(429);
      expect(limited.json, name).toMatchObject({ error: 'temporarily_unavailable' });
      expect((await call('203.0.113.1')).status, name).toBe(429);
    }
  });

  it('RFC 7662 §2.1: a public client is refused at introspection before it is counted', async () => {
    nextWindow();
    for (let i = 0; i < 5; i++) {
      const r = await postForm(s.url('/oauth/introspect'), { token: 'x', client_id: pub.clientId }, from('203.0.113.9'));
      expect(r.status).toBe(401);
      expect(r.json.error).toBe('invalid_client');
    }
  });
});

describe('per-address limits and IPv6 (RFC 4291 §2.5.4: a host has a whole /64)', () => {
  let s: TestServer;
  let clock = Date.now();
  let c: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer({ rateLimitPerIp: 3, rateLimitWindow: 60, trustedProxies: ['127.0.0.1'] }, { clock: () => clock });
    c = await s.client({ grant_types: ['client_credentials'], scope: 'api' });
  });
  afterAll(() => s.close());

  const tokenFrom = (ip: string) => postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(c.clientId, c.clientSecret!), 'x-forwarded-for': ip });
  const nextWindow = () => {
    clock = (Math.floor(clock / 60_000) + 1) * 60_000 + 1000;
  };

  it('addresses rotated within one IPv6 /64 share one budget; another /64 has its own', async () => {
    nextWindow();
    for (let i = 1; i <= 3; i++) expect((await tokenFrom(`2001:db8:aa:bb::${i}`)).status).toBe(200);
    const limited = await tokenFrom('2001:db8:aa:bb:1234:5678:9abc:def0');
    expect(limited.status).toBe(429);
    expect(limited.json).toMatchObject({ error: 'temporarily_unavailable' });
    expect((await tokenFrom('2001:db8:aa:bc::1')).status).toBe(200);
  });

  it('an IPv4-mapped IPv6 address counts as its IPv4 address', async () => {
    nextWindow();
    for (let i = 0; i < 3; i++) expect((await tokenFrom(i % 2 ? '192.0.2.55' : '::ffff:192.0.2.55')).status).toBe(200);
    expect((await tokenFrom('::ffff:192.0.2.55')).status).toBe(429);
    expect((await tokenFrom('192.0.2.55')).status).toBe(429);
  });
});
