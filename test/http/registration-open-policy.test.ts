import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestInstances, startTestServer, type TestInstance, type TestServer } from '../helpers/server.js';

/**
 * Open registration policies over HTTP (RFC 7591 §3, RFC 7592 §2): the quota of openly registered clients per tenant
 * (registrationMaxClients) and the trusted hosts of their URIs (registrationTrustedHosts).
 */

type Json = Record<string, any>;

async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Json) : undefined };
}

const post = (url: string, meta: Json) => call(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(meta) });
const withToken = (reg: Json, method: string, body?: Json) =>
  call(reg.registration_client_uri, {
    method,
    headers: { authorization: `Bearer ${reg.registration_access_token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body && JSON.stringify(body),
  });

describe('registrationMaxClients over HTTP', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ registration: 'open', registrationMaxClients: 2 });
  });
  afterAll(() => s.close());

  it('RFC 7591 §3.2.2, RFC 9110 §15.5.4: past the limit, 403 with a JSON access_denied body, not cached; an RFC 7592 DELETE frees the slot', async () => {
    const first = await post(s.url('/oauth/register'), { redirect_uris: ['https://app.example/cb'] });
    expect(first.status).toBe(201);
    expect((await post(s.url('/oauth/register'), { redirect_uris: ['https://app.example/cb'] })).status).toBe(201);
    const refused = await post(s.url('/oauth/register'), { redirect_uris: ['https://app.example/cb'] });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
    expect(refused.headers.get('cache-control')).toBe('no-store');
    expect(refused.body).toEqual({ error: 'access_denied', error_description: expect.stringMatching(/limit of 2/) });
    expect((await withToken(first.body!, 'DELETE')).status).toBe(204);
    expect((await post(s.url('/oauth/register'), { redirect_uris: ['https://app.example/cb'] })).status).toBe(201);
    expect((await post(s.url('/oauth/register'), { redirect_uris: ['https://app.example/cb'] })).status).toBe(403);
  });
});

describe('registrationMaxClients across instances sharing one database (run on PostgreSQL too)', () => {
  let cluster: Awaited<ReturnType<typeof startTestInstances>>;
  let instances: TestInstance[];
  beforeAll(async () => {
    cluster = await startTestInstances(2, { registration: 'open', registrationMaxClients: 4 });
    instances = cluster.instances;
  });
  afterAll(() => cluster.close());

  it('registrations racing at two instances never take the tenant past the limit: 4 of 32 are 201, the rest 403', async () => {
    const answers = await Promise.all(
      Array.from({ length: 32 }, (_, i) => post(instances[i % 2]!.url('/oauth/register'), { grant_types: ['client_credentials'] })),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((x) => x === 201)).toHaveLength(4);
    expect(statuses.filter((x) => x === 403)).toHaveLength(28);
    expect((await instances[0]!.ctx.store.listClients('default')).length).toBe(4);
  });
});

describe('registrationTrustedHosts over HTTP', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ registration: 'open', registrationTrustedHosts: ['app.example.com', '.example.org'] });
  });
  afterAll(() => s.close());

  it('RFC 7591 §3.2.2: a redirect URI off the trusted hosts is 400 invalid_redirect_uri, another URI 400 invalid_client_metadata', async () => {
    const redirect = await post(s.url('/oauth/register'), { redirect_uris: ['https://evil.example.net/cb'] });
    expect([redirect.status, redirect.body!.error]).toEqual([400, 'invalid_redirect_uri']);
    expect(redirect.headers.get('cache-control')).toBe('no-store');
    const logo = await post(s.url('/oauth/register'), { redirect_uris: ['https://app.example.com/cb'], logo_uri: 'https://evil.example.net/logo.png' });
    expect([logo.status, logo.body!.error]).toEqual([400, 'invalid_client_metadata']);
    expect(logo.body!.error_description).toMatch(/^logo_uri: /);
    const ok = await post(s.url('/oauth/register'), { redirect_uris: ['https://app.example.com/cb', 'https://a.example.org/cb'], logo_uri: 'https://cdn.example.org/l.png' });
    expect(ok.status).toBe(201);
  });

  it('RFC 7592 §2.2: an update moving a redirect URI or jwks_uri off the trusted hosts is refused; the client and its token are as before', async () => {
    const reg = (await post(s.url('/oauth/register'), { redirect_uris: ['https://app.example.com/cb'] })).body!;
    const moved = await withToken(reg, 'PUT', { client_id: reg.client_id, redirect_uris: ['https://evil.example.net/cb'] });
    expect([moved.status, moved.body!.error]).toEqual([400, 'invalid_redirect_uri']);
    const keys = await withToken(reg, 'PUT', { client_id: reg.client_id, redirect_uris: ['https://app.example.com/cb'], jwks_uri: 'https://evil.example.net/jwks' });
    expect([keys.status, keys.body!.error]).toEqual([400, 'invalid_client_metadata']);
    const read = await withToken(reg, 'GET');
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ redirect_uris: ['https://app.example.com/cb'] });
    expect(read.body!.jwks_uri).toBeUndefined();
  });
});
