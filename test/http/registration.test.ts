import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createInitialAccessToken, revokeManagementToken } from '../../src/services/management-tokens.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

describe('dynamic client registration (RFC 7591) and management (RFC 7592), open registration', () => {
  let s: TestServer;
  const register = (meta: unknown, headers: Record<string, string> = {}) => call(s.url('/oauth/register'), json(meta, headers));
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
  });
  afterAll(() => s.close());

  it('RFC 8414 §2: discovery lists registration_endpoint when registration is enabled', async () => {
    const d = await (await fetch(s.url('/.well-known/openid-configuration'))).json();
    expect(d.registration_endpoint).toBe(`${s.issuer}/oauth/register`);
  });

  it('openid-client registers a client dynamically and uses the issued credentials', async () => {
    const config = await client.dynamicClientRegistration(
      new URL(s.issuer),
      { client_name: 'DCR app', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' },
      undefined,
      { execute: [client.allowInsecureRequests] },
    );
    const meta = config.clientMetadata();
    expect(meta.client_id).toBeTruthy();
    expect(meta.client_secret).toBeTruthy();
    expect(meta.registration_access_token).toBeTruthy();
    const tok = await client.clientCredentialsGrant(config);
    expect(tok.access_token).toBeTruthy();
  });

  it('RFC 7591 §3.2.1: 201 with every registered value, defaults included, and the issued credentials', async () => {
    const r = await register({ client_name: 'Web app', redirect_uris: ['https://app.example/cb'] });
    expect(r.status).toBe(201);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const b = r.body;
    expect(b).toMatchObject({
      client_name: 'Web app',
      redirect_uris: ['https://app.example/cb'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      application_type: 'web',
      client_secret_expires_at: 0,
      registration_client_uri: `${s.issuer}/oauth/register/${b.client_id}`,
    });
    expect(typeof b.client_id_issued_at).toBe('number');
    expect(Buffer.from(b.client_secret, 'base64url')).toHaveLength(32);
    expect(b.registration_access_token.length).toBeGreaterThanOrEqual(43);
    // The registered secret works.
    const t = await postForm(s.url('/oauth/revoke'), { token: 'nothing' }, { authorization: basic(b.client_id, b.client_secret) });
    expect(t.status).toBe(200);
  });

  it('RFC 7591 §2: a client cannot choose its client_id, its secret, or skip consent; scopes are limited', async () => {
    const r = await register({ client_id: 'mine', client_secret: 'z'.repeat(40), skip_consent: true, redirect_uris: ['https://app.example/cb'] });
    expect(r.status).toBe(201);
    expect(r.body.client_id).not.toBe('mine');
    expect(r.body.client_secret).not.toBe('z'.repeat(40));
    expect(r.body.skip_consent).toBe(false);
    const scoped = await register({ redirect_uris: ['https://app.example/cb'], scope: 'openid admin:everything' });
    expect(scoped.status).toBe(400);
    expect(scoped.body.error).toBe('invalid_client_metadata');
    expect(scoped.body.error_description).toMatch(/admin:everything/);
  });

  it('RFC 7592 §2.1: read with the registration access token; anything else is 401', async () => {
    const { body: reg } = await register({ client_name: 'Readable', redirect_uris: ['https://app.example/cb'] });
    const read = await call(reg.registration_client_uri, { headers: bearer(reg.registration_access_token) });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ client_id: reg.client_id, client_name: 'Readable', registration_access_token: reg.registration_access_token });
    expect(read.body.client_secret).toBeUndefined(); // stored hashed: shown only at registration
    const none = await call(reg.registration_client_uri);
    expect(none.status).toBe(401);
    // RFC 6750 §3.1: a request without authentication information gets the challenge without an error code.
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="latchkey"');
    const wrong = await call(reg.registration_client_uri, { headers: bearer('wrong') });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer realm="latchkey", error="invalid_token", /);
    const { body: other } = await register({ redirect_uris: ['https://app.example/cb'] });
    expect((await call(reg.registration_client_uri, { headers: bearer(other.registration_access_token) })).status).toBe(401);
    expect((await call(`${s.issuer}/oauth/register/no-such-client`, { headers: bearer(reg.registration_access_token) })).status).toBe(401);
  });

  it('RFC 9110 §9.3.2: HEAD on the client configuration endpoint is a GET without a body (200, same headers), never a 500', async () => {
    const { body: reg } = await register({ client_name: 'Headless', redirect_uris: ['https://app.example/cb'] });
    const head = await fetch(reg.registration_client_uri, { method: 'HEAD', headers: bearer(reg.registration_access_token) });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/^application\/json/);
    expect(head.headers.get('cache-control')).toBe('no-store');
    expect(await head.text()).toBe('');
    const wrong = await fetch(reg.registration_client_uri, { method: 'HEAD', headers: bearer('wrong') });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer realm="latchkey", error="invalid_token", /);
    // HEAD reads: the token still works and was not rotated.
    expect((await call(reg.registration_client_uri, { headers: bearer(reg.registration_access_token) })).status).toBe(200);
  });

  it('RFC 7592 §2.2: update replaces the metadata and rotates the registration access token', async () => {
    const { body: reg } = await register({ client_name: 'Before', client_uri: 'https://app.example', redirect_uris: ['https://app.example/cb'] });
    const put = (body: unknown, token = reg.registration_access_token) =>
      call(reg.registration_client_uri, { method: 'PUT', headers: { 'content-type': 'application/json', ...bearer(token) }, body: JSON.stringify(body) });
    const r = await put({ client_id: reg.client_id, client_name: 'After', redirect_uris: ['https://app.example/cb2'] });
    expect(r.status).toBe(200);
    expect(r.body.client_name).toBe('After');
    expect(r.body.client_uri).toBeUndefined(); // omitted = deleted
    expect(r.body.redirect_uris).toEqual(['https://app.example/cb2']);
    expect(r.body.registration_access_token).not.toBe(reg.registration_access_token);
    expect(r.body.client_secret).toBeUndefined(); // kept, not re-issued
    // the old registration access token stopped working; the secret still works
    expect((await call(reg.registration_client_uri, { headers: bearer(reg.registration_access_token) })).status).toBe(401);
    expect((await call(reg.registration_client_uri, { headers: bearer(r.body.registration_access_token) })).status).toBe(200);
    expect((await postForm(s.url('/oauth/revoke'), { token: 'x' }, { authorization: basic(reg.client_id, reg.client_secret) })).status).toBe(200);

    const token = r.body.registration_access_token;
    const bad = async (body: unknown, error: string) => {
      const res = await put(body, token);
      expect([res.status, res.body.error]).toEqual([400, error]);
    };
    await bad({ client_name: 'no id', redirect_uris: ['https://app.example/cb'] }, 'invalid_request');
    await bad({ client_id: reg.client_id, registration_access_token: token, redirect_uris: ['https://app.example/cb'] }, 'invalid_request');
    await bad({ client_id: reg.client_id, client_secret: 'not-the-secret', redirect_uris: ['https://app.example/cb'] }, 'invalid_request');
    await bad({ client_id: reg.client_id, redirect_uris: ['http://app.example/cb'] }, 'invalid_redirect_uri');
    // a matching client_secret is accepted (and the client still cannot change it)
    const same = await put({ client_id: reg.client_id, client_secret: reg.client_secret, redirect_uris: ['https://app.example/cb'] }, token);
    expect(same.status).toBe(200);
  });

  describe('RFC 7592 §2.2: an update is atomic against the registration access token', () => {
    const SECTOR = 'https://rp.example/sector.json';
    const sectorMeta = { redirect_uris: ['https://app.example/cb'], sector_identifier_uri: SECTOR };
    let realFetch: typeof fetch | undefined;
    /** Every sector_identifier_uri fetch waits (the request is parked after its token check) until release(). */
    let parked: Array<() => void> = [];
    let gated = false;
    const arrived = async (n: number) => {
      while (parked.length < n) await new Promise((r) => setTimeout(r, 5));
    };
    const release = () => {
      for (const go of parked.splice(0)) go();
    };
    beforeAll(() => {
      realFetch = s.ctx.clients!.keySet.fetch;
      s.ctx.clients!.keySet.fetch = (async () => {
        if (gated) await new Promise<void>((go) => parked.push(go));
        return new Response(JSON.stringify(['https://app.example/cb']), { headers: { 'content-type': 'application/json' } });
      }) as typeof fetch;
    });
    afterAll(() => {
      s.ctx.clients!.keySet.fetch = realFetch;
    });
    const put = (reg: Record<string, string>, body: Record<string, unknown>, token = reg.registration_access_token!) =>
      call(reg.registration_client_uri!, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...bearer(token) },
        body: JSON.stringify({ client_id: reg.client_id, ...sectorMeta, ...body }),
      });

    it('two updates with the same token: one wins, the other gets 401 invalid_token and changes nothing', async () => {
      const { body: reg } = await register({ client_name: 'Before', ...sectorMeta });
      gated = true;
      parked = [];
      try {
        const first = put(reg, { client_name: 'First' });
        const second = put(reg, { client_name: 'Second' });
        await arrived(2); // both passed the token check with the same token
        release();
        const results = await Promise.all([first, second]);
        expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
        const winner = results.find((r) => r.status === 200)!;
        const loser = results.find((r) => r.status === 401)!;
        expect(loser.body.error).toBe('invalid_token');
        expect(loser.headers.get('www-authenticate')).toMatch(/^Bearer realm="latchkey", error="invalid_token", /);
        // The winner's token and metadata stand; the old token is dead.
        const read = await call(reg.registration_client_uri, { headers: bearer(winner.body.registration_access_token) });
        expect(read.status).toBe(200);
        expect(read.body.client_name).toBe(winner.body.client_name);
        expect((await call(reg.registration_client_uri, { headers: bearer(reg.registration_access_token) })).status).toBe(401);
      } finally {
        gated = false;
        release();
      }
    });

    it('RFC 7592 §2.3: an update racing a delete with the same token gets 401, never a token for a deleted client', async () => {
      const { body: reg } = await register({ client_name: 'Doomed', ...sectorMeta });
      gated = true;
      parked = [];
      try {
        const update = put(reg, { client_name: 'Too late' });
        await arrived(1); // the update passed its token check
        const del = await fetch(reg.registration_client_uri, { method: 'DELETE', headers: bearer(reg.registration_access_token) });
        expect(del.status).toBe(204);
        release();
        const r = await update;
        expect([r.status, r.body.error]).toEqual([401, 'invalid_token']);
        expect(await s.ctx.store.findClient(s.ctx.tenant.id, reg.client_id)).toBeUndefined();
      } finally {
        gated = false;
        release();
      }
    });

    it('RFC 7592 §2.3: a delete with a token an update has just replaced gets 401 and the client stays', async () => {
      const { body: reg } = await register({ client_name: 'Kept', ...sectorMeta });
      const updated = await put(reg, { client_name: 'Updated' });
      expect(updated.status).toBe(200);
      const del = await fetch(reg.registration_client_uri, { method: 'DELETE', headers: bearer(reg.registration_access_token) });
      expect(del.status).toBe(401);
      expect((await call(reg.registration_client_uri, { headers: bearer(updated.body.registration_access_token) })).body.client_name).toBe('Updated');
    });
  });

  it('OIDC Registration §2: initiate_login_uri (https only) is registered, read back (RFC 7592 §2.1), changed and removed by an update (§2.2)', async () => {
    const login = 'https://app.example/login?from=idp';
    const r = await register({ client_name: 'Third-party login', initiate_login_uri: login, redirect_uris: ['https://app.example/cb'] });
    expect([r.status, r.body.error_description]).toEqual([201, undefined]);
    expect(r.body.initiate_login_uri).toBe(login);
    const read = await call(r.body.registration_client_uri, { headers: bearer(r.body.registration_access_token) });
    expect([read.status, read.body.initiate_login_uri]).toEqual([200, login]);
    const put = (body: Record<string, unknown>, token: string) =>
      call(r.body.registration_client_uri, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...bearer(token) },
        body: JSON.stringify({ client_id: r.body.client_id, redirect_uris: ['https://app.example/cb'], ...body }),
      });
    const changed = await put({ initiate_login_uri: 'https://app.example/start' }, r.body.registration_access_token);
    expect([changed.status, changed.body.initiate_login_uri]).toEqual([200, 'https://app.example/start']);
    expect((await call(r.body.registration_client_uri, { headers: bearer(changed.body.registration_access_token) })).body.initiate_login_uri).toBe('https://app.example/start');
    // RFC 7591 §3.2.2: the update is refused whole, and the stored value stays.
    const refused = await put({ initiate_login_uri: 'http://app.example/start' }, changed.body.registration_access_token);
    expect([refused.status, refused.body.error]).toEqual([400, 'invalid_client_metadata']);
    expect(refused.body.error_description).toMatch(/^initiate_login_uri: .*https/);
    expect((await call(r.body.registration_client_uri, { headers: bearer(changed.body.registration_access_token) })).body.initiate_login_uri).toBe('https://app.example/start');
    const removed = await put({}, changed.body.registration_access_token); // omitted = deleted
    expect([removed.status, removed.body.initiate_login_uri]).toEqual([200, undefined]);
    const after = await call(r.body.registration_client_uri, { headers: bearer(removed.body.registration_access_token) });
    expect([after.status, 'initiate_login_uri' in after.body]).toEqual([200, false]);
  });

  it('OIDC Registration §2: an initiate_login_uri that is not an https URI is invalid_client_metadata', async () => {
    for (const value of [
      'http://app.example/login', 'javascript:alert(1)', 'app.example/login', '/login', 'not a uri', 'https://', 'https:app.example/login',
      'https://app.example@evil.example/login', 'https://app.example\\@evil.example/login', 'https://app.example/lo gin', 'https://app.example/login\u0000',
      42, ['https://app.example/login'],
    ]) {
      const r = await register({ initiate_login_uri: value, redirect_uris: ['https://app.example/cb'] });
      expect([r.status, r.body.error], JSON.stringify(value)).toEqual([400, 'invalid_client_metadata']);
      expect(r.body.error_description, JSON.stringify(value)).toContain('initiate_login_uri');
    }
  });

  it('RFC 7592 §2.2: a metadata member sent as null is deleted, as an omitted one is', async () => {
    const { body: reg } = await register({ client_name: 'Logo', logo_uri: 'https://app.example/logo.png', policy_uri: 'https://app.example/policy', redirect_uris: ['https://app.example/cb'] });
    expect(reg.logo_uri).toBe('https://app.example/logo.png');
    const r = await call(reg.registration_client_uri, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...bearer(reg.registration_access_token) },
      body: JSON.stringify({
        client_id: reg.client_id, client_name: 'Logo', logo_uri: null, policy_uri: 'https://app.example/policy', redirect_uris: ['https://app.example/cb'],
        client_secret: null, software_statement: null, jwks_uri: null, default_max_age: null,
      }),
    });
    expect([r.status, r.body.error_description]).toEqual([200, undefined]);
    expect(r.body.logo_uri).toBeUndefined();
    expect(r.body.policy_uri).toBe('https://app.example/policy');
    expect(r.body.client_secret).toBeUndefined(); // null is no secret sent: the current one is kept
    const read = await call(reg.registration_client_uri, { headers: bearer(r.body.registration_access_token) });
    expect(read.body.logo_uri).toBeUndefined();
    expect((await postForm(s.url('/oauth/revoke'), { token: 'x' }, { authorization: basic(reg.client_id, reg.client_secret) })).status).toBe(200);
    // The fields the server issues stay refused, even as null (RFC 7592 §2.2: MUST NOT be sent).
    const issued = await call(reg.registration_client_uri, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...bearer(r.body.registration_access_token) },
      body: JSON.stringify({ client_id: reg.client_id, redirect_uris: ['https://app.example/cb'], registration_client_uri: null }),
    });
    expect([issued.status, issued.body.error]).toEqual([400, 'invalid_request']);
  });

  it('RFC 7592 §2.2 (null is no value): a registration member sent as null is treated as absent (the default applies)', async () => {
    const r = await register({ client_name: null, logo_uri: null, redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: null, grant_types: null, software_statement: null });
    expect([r.status, r.body.error_description]).toEqual([201, undefined]);
    expect(r.body.client_name).toBeUndefined();
    expect(r.body.logo_uri).toBeUndefined();
    expect(r.body.token_endpoint_auth_method).toBe('client_secret_basic');
    expect(r.body.grant_types).toEqual(['authorization_code']);
  });

  it('RFC 7592 §2.2: moving to a public client drops the secret; moving back issues a new one', async () => {
    const { body: reg } = await register({ redirect_uris: ['https://app.example/cb'] });
    const put = async (body: Record<string, unknown>, token: string) =>
      call(reg.registration_client_uri, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...bearer(token) },
        body: JSON.stringify({ client_id: reg.client_id, redirect_uris: ['https://app.example/cb'], ...body }),
      });
    const pub = await put({ token_endpoint_auth_method: 'none' }, reg.registration_access_token);
    expect(pub.status).toBe(200);
    expect(pub.body.client_secret_expires_at).toBeUndefined();
    const back = await put({ token_endpoint_auth_method: 'client_secret_post' }, pub.body.registration_access_token);
    expect(back.status).toBe(200);
    expect(back.body.client_secret).toBeTruthy();
    expect(back.body.client_secret).not.toBe(reg.client_secret);
  });

  it('RFC 7592 §2.3: delete answers 204, revokes the client\'s tokens, and the client is gone', async () => {
    const { body: reg } = await register({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' });
    const tok = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', client_id: reg.client_id, client_secret: reg.client_secret });
    expect(tok.status).toBe(200);
    const rs = await s.client({ grant_types: ['client_credentials'] });
    const del = await fetch(reg.registration_client_uri, { method: 'DELETE', headers: bearer(reg.registration_access_token) });
    expect(del.status).toBe(204);
    expect(await del.text()).toBe('');
    expect((await call(reg.registration_client_uri, { headers: bearer(reg.registration_access_token) })).status).toBe(401);
    const intro = await postForm(s.url('/oauth/introspect'), { token: tok.json.access_token }, { authorization: basic(rs.clientId, rs.clientSecret!) });
    expect(intro.json).toEqual({ active: false });
    const again = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', client_id: reg.client_id, client_secret: reg.client_secret });
    expect(again.status).toBe(401);
  });

  it('RFC 7591 §3.2.2: invalid redirect URIs are invalid_redirect_uri, with a message saying why', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ redirect_uris: ['http://app.example/cb'] }, /https/],
      [{ redirect_uris: ['com.example.app:/cb'] }, /native/],
      [{ redirect_uris: ['https://app.example/cb#frag'] }, /fragment/],
      [{ redirect_uris: ['javascript:alert(1)'] }, /forbidden scheme/],
      [{ redirect_uris: ['/relative'] }, /absolute/],
      [{ application_type: 'native', redirect_uris: ['myapp:/cb'] }, /RFC 8252/],
      [{ application_type: 'native', redirect_uris: ['http://app.example/cb'] }, /loopback/],
      [{ grant_types: ['authorization_code'] }, /at least one/],
    ];
    for (const [meta, why] of cases) {
      const r = await register(meta);
      expect([meta, r.status, r.body.error]).toEqual([meta, 400, 'invalid_redirect_uri']);
      expect(r.body.error_description).toMatch(why);
    }
  });

  it('RFC 8252 §7: native clients register private-use schemes, claimed https and loopback URIs', async () => {
    const r = await register({
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: ['com.example.app:/oauth2redirect', 'https://app.example/native-cb', 'http://127.0.0.1/cb', 'http://[::1]/cb'],
    });
    expect(r.status).toBe(201);
    expect(r.body.client_secret).toBeUndefined();
    expect(r.body.require_pkce).toBe(true);
  });

  it('RFC 8252 §7.3: a native client\'s loopback redirect URI matches on any port at the authorization endpoint', async () => {
    const { body: reg } = await register({ application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/cb'] });
    const url = (redirect: string) =>
      s.url('/oauth/authorize?' + new URLSearchParams({
        response_type: 'code', client_id: reg.client_id, redirect_uri: redirect, scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
      }));
    const ok = await fetch(url('http://127.0.0.1:49152/cb'), { redirect: 'manual' });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toMatch(/\/interaction\//);
    const otherPath = await fetch(url('http://127.0.0.1:49152/other'), { redirect: 'manual' });
    expect(otherPath.status).toBe(400);
    const otherHost = await fetch(url('http://localhost:49152/cb'), { redirect: 'manual' });
    expect(otherHost.status).toBe(400);
  });

  it('RFC 8252 §7.3, RFC 3986 §3.2.3: the any-port loopback match takes only valid ports (1-65535); others get the error page, never a redirect', async () => {
    const { body: reg } = await register({ application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/cb'] });
    // No response_type: an error that would be redirected (here with form_post) once the redirect URI is valid.
    const url = (redirect: string) =>
      s.url('/oauth/authorize?' + new URLSearchParams({ client_id: reg.client_id, redirect_uri: redirect, response_mode: 'form_post', state: 's' }));
    for (const port of ['99999', '65536', '0', '00000']) {
      const r = await fetch(url(`http://127.0.0.1:${port}/cb`), { redirect: 'manual' });
      expect([port, r.status]).toEqual([port, 400]);
      expect(r.headers.get('location')).toBeNull();
      expect(await r.text()).not.toMatch(/<form method="post"/);
    }
    const valid = await fetch(url('http://127.0.0.1:65535/cb'), { redirect: 'manual' });
    expect(valid.status).toBe(200);
    expect(valid.headers.get('content-security-policy')).toMatch(/form-action http:\/\/127\.0\.0\.1:65535;/);
    expect(await valid.text()).toMatch(/<form method="post" action="http:\/\/127\.0\.0\.1:65535\/cb">/);
  });

  it('RFC 7591 §3.2.2: inconsistent or unsupported metadata is invalid_client_metadata naming the field', async () => {
    const { privateKey: _p, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const pub = await exportJWK(publicKey);
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const priv = await exportJWK(privateKey);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [pub] }, jwks_uri: 'https://app.example/jwks' }, /mutually exclusive/],
      [{ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt' }, /jwks or jwks_uri/],
      [{ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [priv] } }, /public keys only/],
      [{ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://app.example/jwks' }, /https/],
      [{ grant_types: ['client_credentials'], token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_san_dns: 'a.example' }, /not enabled/],
      [{ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_jwt', token_endpoint_auth_signing_alg: 'ES256' }, /HMAC/],
      [{ grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' }, /public client/],
      [{ grant_types: ['client_credentials'], response_types: ['code'] }, /response_types/],
      [{ grant_types: ['implicit'], redirect_uris: ['https://app.example/cb'] }, /grant_types/],
      [{ grant_types: ['client_credentials'], token_endpoint_auth_method: 'magic' }, /token_endpoint_auth_method/],
      [{ grant_types: ['client_credentials'], logo_uri: 'javascript:alert(1)' }, /logo_uri/],
      [{ grant_types: ['client_credentials'], tls_client_auth_san_dns: 'a.example' }, /tls_client_auth/],
    ];
    for (const [meta, why] of cases) {
      const r = await register(meta);
      expect([meta, r.status, r.body.error]).toEqual([meta, 400, 'invalid_client_metadata']);
      expect(r.body.error_description).toMatch(why);
    }
  });

  it('RFC 7591 §3.1: the body must be a JSON object sent as application/json', async () => {
    expect((await call(s.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' })).body.error).toBe('invalid_request');
    expect((await call(s.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' })).status).toBe(400);
    expect((await register([1, 2])).body.error).toBe('invalid_client_metadata');
  });

  it('RFC 7591 §3.1.1: without a trusted issuer configured, a software statement is rejected, not ignored', async () => {
    const r = await register({ redirect_uris: ['https://app.example/cb'], software_statement: 'eyJhbGciOiJFUzI1NiJ9.e30.sig' });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_software_statement');
  });
});

describe('dynamic registration gated by initial access tokens, with software statements', () => {
  let s: TestServer;
  let dir: string;
  let issuerKey: CryptoKey;
  let strangerKey: CryptoKey;
  let clock = Date.now();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-ss-'));
    const trusted = await generateKeyPair('ES256', { extractable: true });
    issuerKey = trusted.privateKey;
    strangerKey = (await generateKeyPair('ES256')).privateKey;
    writeFileSync(join(dir, 'trusted.json'), JSON.stringify({ keys: [{ ...(await exportJWK(trusted.publicKey)), kid: 'publisher', alg: 'ES256' }] }));
    s = await startTestServer({ registration: 'token', softwareStatementJwks: join(dir, 'trusted.json') }, { clock: () => clock });
  });
  afterAll(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const register = (meta: unknown, token?: string) =>
    call(s.url('/oauth/register'), json(meta, token ? { authorization: `Bearer ${token}` } : {}));
  const meta = { grant_types: ['client_credentials'] };

  it('RFC 7591 §3, RFC 6750 §3.1: without a valid initial access token, 401 invalid_token (a bare challenge when none was sent)', async () => {
    const none = await register(meta);
    expect(none.status).toBe(401);
    expect(none.body.error).toBe('invalid_token');
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="latchkey"'); // RFC 6750 §3.1: no token, no error code
    const bogus = await register(meta, 'lki_bogus');
    expect(bogus.status).toBe(401);
    expect(bogus.headers.get('www-authenticate')).toMatch(/^Bearer realm="latchkey", error="invalid_token", /);
  });

  it('an initial access token limited to one use registers exactly one client', async () => {
    const { token } = await createInitialAccessToken(s.lk, { tenantId: 'default', uses: 1 });
    expect(token.startsWith('lki_')).toBe(true);
    const results = await Promise.all([register(meta, token), register(meta, token), register(meta, token)]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 401, 401]);
  });

  it('a registration with invalid metadata does not spend a use of the initial access token', async () => {
    const { token } = await createInitialAccessToken(s.lk, { tenantId: 'default', uses: 1 });
    const bad = await register({ grant_types: ['nope'] }, token);
    expect([bad.status, bad.body.error]).toEqual([400, 'invalid_client_metadata']);
    expect((await register(meta, token)).status).toBe(201);
    expect((await register(meta, token)).status).toBe(401);
  });

  it('expired and revoked initial access tokens are refused', async () => {
    const timed = await createInitialAccessToken(s.lk, { tenantId: 'default', expiresIn: 60 });
    expect((await register(meta, timed.token)).status).toBe(201);
    clock += 61_000;
    expect((await register(meta, timed.token)).status).toBe(401);
    const revoked = await createInitialAccessToken(s.lk, { tenantId: 'default' });
    expect((await register(meta, revoked.token)).status).toBe(201);
    await revokeManagementToken(s.lk, 'initial_access', revoked.record.id);
    expect((await register(meta, revoked.token)).status).toBe(401);
  });

  it('RFC 7591 §2.3: a statement from a trusted issuer wins over plain values and is returned unmodified', async () => {
    const { token } = await createInitialAccessToken(s.lk, { tenantId: 'default' });
    const statement = await new SignJWT({ software_id: 'acme-app', client_name: 'From the statement', skip_consent: true })
      .setProtectedHeader({ alg: 'ES256', kid: 'publisher' })
      .setIssuer('https://publisher.example')
      .setIssuedAt(Math.floor(clock / 1000))
      .sign(issuerKey);
    const r = await register({ ...meta, client_name: 'Plain', software_statement: statement }, token);
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ client_name: 'From the statement', software_id: 'acme-app', software_statement: statement, skip_consent: false });
  });

  it('RFC 7591 §3.2.2: a statement by an unknown signer is unapproved; a tampered one is invalid', async () => {
    const { token } = await createInitialAccessToken(s.lk, { tenantId: 'default' });
    const stranger = await new SignJWT({ software_id: 'x' }).setProtectedHeader({ alg: 'ES256', kid: 'someone' }).setIssuer('https://x.example').sign(strangerKey);
    const u = await register({ ...meta, software_statement: stranger }, token);
    expect([u.status, u.body.error]).toEqual([400, 'unapproved_software_statement']);
    const good = await new SignJWT({ software_id: 'y' }).setProtectedHeader({ alg: 'ES256', kid: 'publisher' }).setIssuer('https://p.example').sign(issuerKey);
    const [h, , sig] = good.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ software_id: 'evil', iss: 'https://p.example' })).toString('base64url')}.${sig}`;
    const t = await register({ ...meta, software_statement: tampered }, token);
    expect([t.status, t.body.error]).toEqual([400, 'invalid_software_statement']);
    const noIss = await new SignJWT({ software_id: 'z' }).setProtectedHeader({ alg: 'ES256', kid: 'publisher' }).sign(issuerKey);
    expect((await register({ ...meta, software_statement: noIss }, token)).body.error).toBe('invalid_software_statement');
  });
});

describe('registration turned off (the default)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('RFC 8414 §2: no registration_endpoint in discovery, and no endpoint', async () => {
    const d = await (await fetch(s.url('/.well-known/oauth-authorization-server'))).json();
    expect(d.registration_endpoint).toBeUndefined();
    const r = await fetch(s.url('/oauth/register'), json({ redirect_uris: ['https://app.example/cb'] }));
    expect(r.status).toBe(404);
  });
});
