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
