import { replaceClient } from '../../src/services/clients.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** Attacks on dynamic registration (RFC 7591) and its management (RFC 7592) found by the registration audit. */

async function call(url: string, method: string, body?: unknown, token?: string) {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('dynamic registration attacks, open registration', () => {
  let s: TestServer;
  const register = (meta: unknown) => call(s.url('/oauth/register'), 'POST', meta);
  const base = { redirect_uris: ['https://app.example/cb'] };

  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
  });
  afterAll(() => s.close());

  it('control characters anywhere in the metadata are invalid_client_metadata naming the member (a NUL stored would leave the client unmanageable on PostgreSQL)', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ client_name: 'a\u0000b' }, 'client_name'],
      [{ client_name: 'line\nbreak' }, 'client_name'],
      [{ client_name: 'c1\u0085' }, 'client_name'],
      [{ contacts: ['ops@app.example', 'x\u0000'] }, 'contacts.1'],
      [{ software_id: 'id\u0007' }, 'software_id'],
      [{ jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k\u0000' }] } }, 'jwks.keys.0.kid'],
      [{ jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', 'n\u0000': 1 }] } }, 'jwks.keys.0'],
    ];
    for (const [meta, field] of cases) {
      const r = await register({ ...base, ...meta });
      expect([r.status, r.body.error], JSON.stringify(meta)).toEqual([400, 'invalid_client_metadata']);
      expect(r.body.error_description).toContain(field);
    }
  });

  it('client_name: bidirectional overrides and isolates, which reorder the consent page around the name, are invalid_client_metadata', async () => {
    for (const name of ['Good\u202eliveE', 'a\u2066b\u2069', 'a\u202ab\u202c']) {
      const r = await register({ ...base, client_name: name });
      expect([r.status, r.body.error]).toEqual([400, 'invalid_client_metadata']);
    }
    // Scripts written right to left, and the marks that only hint direction, are names like any other.
    const ok = await register({ ...base, client_name: 'تطبيق\u200f App 日本' });
    expect(ok.status).toBe(201);
    expect(ok.body.client_name).toBe('تطبيق\u200f App 日本');
  });

  it('RFC 7592 §2.2, §2.3: a client with a name in any script reads, updates and deletes itself (on either store)', async () => {
    const r = await register({ ...base, client_name: 'Ünïcødé ✓ 名前', contacts: ['ö@app.example'] });
    expect(r.status).toBe(201);
    const uri = r.body.registration_client_uri as string;
    const u = await call(uri, 'PUT', { client_id: r.body.client_id, ...base, client_name: 'Ünïcødé 2' }, r.body.registration_access_token);
    expect([u.status, u.body.client_name]).toEqual([200, 'Ünïcødé 2']);
    expect((await call(uri, 'DELETE', undefined, u.body.registration_access_token)).status).toBe(204);
  });

  it('RFC 9110 §4.2.4, §4.2.2: an http(s) redirect URI with userinfo, without an authority, or with a backslash is invalid_redirect_uri', async () => {
    const bad = [
      'https://good.example@evil.example/cb', // userinfo obscuring the authority
      'https://user:pw@app.example/cb',
      'https://app.example:@evil.example/cb',
      'https:evil.example/cb', // no "//": URL parsers disagree on its host
      'https:///cb',
      'https://good.example\\@evil.example/cb', // "\\" is no URI character (RFC 3986 §2); WHATWG reads it as "/"
      'https://good.example\\.evil.example/cb',
    ];
    for (const uri of bad) {
      const r = await register({ redirect_uris: [uri] });
      expect([r.status, r.body.error], uri).toEqual([400, 'invalid_redirect_uri']);
    }
    for (const field of ['post_logout_redirect_uris']) {
      const r = await register({ ...base, [field]: ['https://app.example@evil.example/bye'] });
      expect([r.status, r.body.error], field).toEqual([400, 'invalid_redirect_uri']);
    }
    for (const field of ['backchannel_logout_uri', 'frontchannel_logout_uri']) {
      const r = await register({ ...base, [field]: 'https://app.example@app.example/logout' });
      expect([r.status, r.body.error], field).toEqual([400, 'invalid_client_metadata']);
    }
    // Nor the URIs the server itself calls (a fetch refuses credentials in the URL: every call would fail).
    for (const [field, value] of [
      ['jwks_uri', 'https://user:pw@keys.example/jwks'], ['sector_identifier_uri', 'https://app.example@keys.example/s'],
      ['request_uris', ['https://app.example@keys.example/r']],
    ] as const) {
      const r = await register({ ...base, [field]: value, ...(field === 'jwks_uri' ? { token_endpoint_auth_method: 'private_key_jwt' } : {}) });
      expect([r.status, r.body.error], field).toEqual([400, 'invalid_client_metadata']);
      expect(r.body.error_description).toContain(field);
    }
    // Nor the links and logo the sign-in and consent pages show (a link reading "Privacy policy" would lead elsewhere).
    for (const field of ['logo_uri', 'client_uri', 'policy_uri', 'tos_uri', 'initiate_login_uri']) {
      const r = await register({ ...base, [field]: 'https://app.example@evil.example/policy' });
      expect([r.status, r.body.error], field).toEqual([400, 'invalid_client_metadata']);
      expect(r.body.error_description).toContain(field);
    }
    // An "@" in the path or query is no userinfo.
    const ok = await register({ redirect_uris: ['https://app.example/cb/@team?u=a@b'] });
    expect(ok.status).toBe(201);
  });

  it('OIDC Core §8.1: a pairwise client with the device grant names its sector by sector_identifier_uri, not by redirect URIs nothing is sent to', async () => {
    const device = 'urn:ietf:params:oauth:grant-type:device_code';
    // Someone else's redirect URI would put the registrant in victim.example's sector: the same pairwise subs.
    const r = await register({ subject_type: 'pairwise', redirect_uris: ['https://victim.example/cb'], grant_types: ['authorization_code', device] });
    expect([r.status, r.body.error]).toEqual([400, 'invalid_client_metadata']);
    expect(r.body.error_description).toContain('sector_identifier_uri');
    // Nor by an update that adds the grant to a pairwise client.
    const ok = await register({ subject_type: 'pairwise', redirect_uris: ['https://victim.example/cb'] });
    expect(ok.status).toBe(201);
    const u = await call(ok.body.registration_client_uri, 'PUT', { client_id: ok.body.client_id, subject_type: 'pairwise', redirect_uris: ['https://victim.example/cb'], grant_types: ['authorization_code', device] }, ok.body.registration_access_token);
    expect([u.status, u.body.error]).toEqual([400, 'invalid_client_metadata']);
    // Without pairwise subjects, or through the code flow alone, the redirect URIs are as before.
    expect((await register({ redirect_uris: ['https://victim.example/cb'], grant_types: ['authorization_code', device] })).status).toBe(201);
  });

  it('OIDC Core §8.1: a client with the device grant cannot become pairwise in a redirect URI host\'s sector by an update (RFC 7592)', async () => {
    const device = 'urn:ietf:params:oauth:grant-type:device_code';
    // Public subjects, device grant, someone else's redirect URI: allowed (no sector is taken from it).
    const r = await register({ redirect_uris: ['https://victim.example/cb'], grant_types: ['authorization_code', device] });
    expect(r.status).toBe(201);
    const u = await call(r.body.registration_client_uri, 'PUT', { client_id: r.body.client_id, subject_type: 'pairwise', redirect_uris: ['https://victim.example/cb'], grant_types: ['authorization_code', device] }, r.body.registration_access_token);
    expect([u.status, u.body.error]).toEqual([400, 'invalid_client_metadata']);
    expect(u.body.error_description).toContain('sector_identifier_uri');
    // Nor a pairwise device client moving its redirect URIs (and so its sector) to another host.
    const own = await register({ subject_type: 'pairwise', redirect_uris: ['https://app.example/cb'] });
    expect(own.status).toBe(201);
    const moved = await call(own.body.registration_client_uri, 'PUT', { client_id: own.body.client_id, subject_type: 'pairwise', redirect_uris: ['https://victim.example/cb'], grant_types: ['authorization_code'] }, own.body.registration_access_token);
    expect(moved.status).toBe(200);
    const withDevice = await call(own.body.registration_client_uri, 'PUT', { client_id: own.body.client_id, subject_type: 'pairwise', redirect_uris: ['https://victim.example/cb'], grant_types: ['authorization_code', device] }, moved.body.registration_access_token);
    expect([withDevice.status, withDevice.body.error]).toEqual([400, 'invalid_client_metadata']);
  });

  it('OIDC Core §8.1: a pairwise device client an operator set up keeps its sector through the client\'s own updates, and only that sector', async () => {
    const device = 'urn:ietf:params:oauth:grant-type:device_code';
    const r = await register({ subject_type: 'pairwise', redirect_uris: ['https://app.example/cb'] });
    await replaceClient(s.ctx, r.body.client_id, { subject_type: 'pairwise', redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code', device] });
    const meta = { client_id: r.body.client_id, subject_type: 'pairwise', grant_types: ['authorization_code', device] };
    const same = await call(r.body.registration_client_uri, 'PUT', { ...meta, redirect_uris: ['https://app.example/cb2'] }, r.body.registration_access_token);
    expect(same.status).toBe(200);
    const moved = await call(r.body.registration_client_uri, 'PUT', { ...meta, redirect_uris: ['https://victim.example/cb'] }, same.body.registration_access_token);
    expect([moved.status, moved.body.error]).toEqual([400, 'invalid_client_metadata']);
  });

  it('RFC 6749 §3.1.2.2, RFC 7592 §2.2: an authorization begun before an update that unregistered its redirect URI (or its response type) is not answered there', async () => {
    await s.user('rita', 'rita-password');
    const old = 'https://old.example/cb';
    const r = await register({ redirect_uris: [old, 'https://new.example/cb'], grant_types: ['authorization_code', 'implicit'], response_types: ['code', 'code id_token'], scope: 'openid' });
    expect(r.status).toBe(201);
    const start = (redirectUri: string, responseType: string) => {
      const agent = new Agent(s.issuer);
      const q = new URLSearchParams({ client_id: r.body.client_id, redirect_uri: redirectUri, response_type: responseType, scope: 'openid', nonce: 'n', state: 's' });
      return { agent, page: agent.follow(`/oauth/authorize?${q}`) };
    };
    const byUri = start(old, 'code');
    const byType = start('https://new.example/cb', 'code id_token');
    const untouched = start('https://new.example/cb', 'code');
    const pages = await Promise.all([byUri.page, byType.page, untouched.page]);
    for (const p of pages) expect(p.html).toContain('name="password"');
    // The client drops the old redirect URI (say its domain lapsed) and the hybrid response type.
    const u = await call(r.body.registration_client_uri, 'PUT', { client_id: r.body.client_id, redirect_uris: ['https://new.example/cb'], scope: 'openid' }, r.body.registration_access_token);
    expect(u.status).toBe(200);
    for (const [agent, page] of [[byUri.agent, pages[0]!], [byType.agent, pages[1]!]] as const) {
      let next = await agent.login(page, 'rita', 'rita-password');
      if (next.html.includes('/consent')) next = await agent.consent(next, 'approve');
      expect(next.location ?? '').not.toContain('old.example');
      expect(next.location ?? '').not.toContain('id_token=');
      expect(next.status).toBe(400);
    }
    // A request the client still registers completes as before.
    let next = await untouched.agent.login(pages[2]!, 'rita', 'rita-password');
    if (next.html.includes('/consent')) next = await untouched.agent.consent(next, 'approve');
    expect(next.location).toMatch(/^https:\/\/new\.example\/cb\?code=/);
  });
});
