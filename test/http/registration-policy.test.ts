import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replaceClient } from '../../src/services/clients.js';
import { registerResourceServer } from '../../src/services/resources.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * What a dynamically registered client may register and change (RFC 7591, RFC 7592, OIDC Registration §2, the
 * logout specs), as against what only an operator (admin API, CLI: services/clients.ts) decides.
 */

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
/** RFC 7592 §2.2: the client MUST NOT send these back. */
const SERVER_ISSUED = ['registration_access_token', 'registration_client_uri', 'client_secret_expires_at', 'client_id_issued_at'];

async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('RFC 7592 §2.2: a client\'s own update keeps what the operator set', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
  });
  afterAll(() => s.close());

  const register = async (meta: Record<string, unknown>) => {
    const r = await call(s.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(meta) });
    expect(r.status).toBe(201);
    return r.body as Record<string, any>;
  };
  /** The client's RFC 7592 configuration endpoint, following the registration access token as it rotates. */
  const manage = (reg: Record<string, any>) => {
    let token = reg.registration_access_token as string;
    return {
      async read() {
        const r = await call(reg.registration_client_uri, { headers: { authorization: `Bearer ${token}` } });
        expect(r.status).toBe(200);
        return r.body as Record<string, any>;
      },
      async put(body: Record<string, unknown>) {
        const r = await call(reg.registration_client_uri, {
          method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body),
        });
        if (r.status === 200) token = r.body.registration_access_token;
        return r;
      },
    };
  };
  /** What the client read, as it may send it back (§2.2: without the fields the server issues). */
  const asUpdate = (read: Record<string, any>) => Object.fromEntries(Object.entries(read).filter(([k]) => !SERVER_ISSUED.includes(k)));

  it('RFC 7592 §2.2: GET then PUT of the same body keeps the operator\'s lifetimes, rotation, consent and scopes; values the client sends for them are ignored and the answer shows the stored ones', async () => {
    const reg = await register({ client_name: 'Svc', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' });
    const operator = {
      access_token_lifetime: 120, id_token_lifetime: 300, refresh_token_lifetime: 7200, refresh_token_idle_lifetime: 600,
      refresh_token_rotation: false, refresh_token_reuse_interval: 5, skip_consent: true,
    };
    // The operator (admin API / CLI) raises the client's limits and gives it a scope registration does not allow.
    await replaceClient(s.ctx, reg.client_id, { client_name: 'Svc', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post', scope: 'api:admin', ...operator });
    const m = manage(reg);
    const read = await m.read();
    expect(read).toMatchObject({ ...operator, scope: 'api:admin' });

    const same = await m.put(asUpdate(read));
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ ...operator, scope: 'api:admin' });

    // Sent values for operator-only fields (or their absence) change nothing: §2.2 MAY ignore, MUST answer what is stored.
    const tampered = await m.put({
      ...asUpdate(read), client_name: 'Svc 2', access_token_lifetime: 86400, refresh_token_rotation: true, skip_consent: false, insecure_password_grant: true,
    });
    expect(tampered.status).toBe(200);
    expect(tampered.body).toMatchObject({ ...operator, client_name: 'Svc 2' });
    expect(tampered.body.insecure_password_grant).toBeUndefined();
    const omitted = await m.put({ client_id: reg.client_id, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' });
    expect(omitted.status).toBe(200);
    expect(omitted.body).toMatchObject(operator);
    expect(omitted.body.client_name).toBeUndefined(); // the client's own metadata: omitted = deleted (§2.2)
    expect(await m.read()).toMatchObject(operator);

    // And the stored lifetime is the one in force.
    const tok = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', client_id: reg.client_id, client_secret: reg.client_secret });
    expect([tok.status, tok.json.expires_in]).toEqual([200, 120]);
  });

  it('RFC 7592 §2.2: a client can narrow its scope but not add one registration does not allow', async () => {
    const reg = await register({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' });
    await replaceClient(s.ctx, reg.client_id, { grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post', scope: 'api:admin api:read' });
    const m = manage(reg);
    const narrowed = await m.put({ ...asUpdate(await m.read()), scope: 'api:read' });
    expect([narrowed.status, narrowed.body.scope]).toEqual([200, 'api:read']);
    const widened = await m.put({ ...asUpdate(await m.read()), scope: 'api:read api:admin' });
    expect([widened.status, widened.body.error]).toEqual([400, 'invalid_client_metadata']);
    expect(widened.body.error_description).toMatch(/api:admin/);
  });

  it('RFC 7592 §2.2: a client the operator gave the password grant can update its client_name and keeps the grant', async () => {
    const reg = await register({ client_name: 'Legacy', redirect_uris: ['https://app.example/cb'] });
    await replaceClient(s.ctx, reg.client_id, {
      client_name: 'Legacy', redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code', 'password'], insecure_password_grant: true,
    });
    await s.user('pat', 'pat-password');
    const m = manage(reg);
    const r = await m.put({ ...asUpdate(await m.read()), client_name: 'Legacy v2' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ client_name: 'Legacy v2', grant_types: ['authorization_code', 'password'], insecure_password_grant: true });
    const tok = await postForm(s.url('/oauth/token'), { grant_type: 'password', username: 'pat', password: 'pat-password' }, { authorization: basic(reg.client_id, reg.client_secret) });
    expect(tok.status).toBe(200);

    // It may drop the grant; once dropped it cannot take it back.
    const dropped = await m.put({ ...asUpdate(await m.read()), grant_types: ['authorization_code'] });
    expect([dropped.status, dropped.body.grant_types]).toEqual([200, ['authorization_code']]);
    const again = await m.put({ ...asUpdate(await m.read()), grant_types: ['authorization_code', 'password'] });
    expect([again.status, again.body.error]).toEqual([400, 'invalid_client_metadata']);
  });

  it('RFC 7592 §2.2: a client cannot add the password grant by an update, even sending insecure_password_grant', async () => {
    const reg = await register({ redirect_uris: ['https://app.example/cb'] });
    const m = manage(reg);
    const r = await m.put({ ...asUpdate(await m.read()), grant_types: ['authorization_code', 'password'], insecure_password_grant: true });
    expect([r.status, r.body.error]).toEqual([400, 'invalid_client_metadata']);
    expect(r.body.error_description).toMatch(/password/);
    expect((await m.read()).grant_types).toEqual(['authorization_code']);
  });

  it('RFC 7592 §2.2: token exchange set up by the operator survives the client\'s update with its policy, goes when the client drops the grant, and cannot be re-added', async () => {
    const reg = await register({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' });
    const policy = { subject_token_types: [AT], actor_token_types: [AT], subject_token_audiences: ['https://api.example'], delegation: true, impersonation: true };
    await replaceClient(s.ctx, reg.client_id, { grant_types: ['client_credentials', EXCHANGE], token_endpoint_auth_method: 'client_secret_post', token_exchange: policy });
    const m = manage(reg);
    const kept = await m.put({ ...asUpdate(await m.read()), client_name: 'Exchanger', token_exchange: { delegation: false, impersonation: true } });
    expect(kept.status).toBe(200);
    expect(kept.body).toMatchObject({ client_name: 'Exchanger', grant_types: ['client_credentials', EXCHANGE], token_exchange: policy });
    const dropped = await m.put({ ...asUpdate(await m.read()), grant_types: ['client_credentials'] });
    expect(dropped.status).toBe(200);
    expect(dropped.body.token_exchange).toBeUndefined();
    const again = await m.put({ ...asUpdate(await m.read()), grant_types: ['client_credentials', EXCHANGE] });
    expect([again.status, again.body.error]).toEqual([400, 'invalid_client_metadata']);
  });

  it('RFC 8707 allow-list: a client narrows its resources list but never widens it; an update that omits the list keeps the one the operator set', async () => {
    await registerResourceServer(s.ctx, { identifier: 'https://api-a.example', scope: 'a' });
    await registerResourceServer(s.ctx, { identifier: 'https://api-b.example', scope: 'b' });
    const reg = await register({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', resources: ['https://api-a.example', 'https://api-b.example'] });
    expect(reg.resources).toEqual(['https://api-a.example', 'https://api-b.example']); // narrowing itself is the client's business
    // The operator gives it the two APIs' scopes but only API A as a target.
    await replaceClient(s.ctx, reg.client_id, { grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'a b', resources: ['https://api-a.example'] });
    const m = manage(reg);
    const updated = await m.put({ client_id: reg.client_id, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'a b' });
    expect(updated.status).toBe(200);
    expect(updated.body.resources).toEqual(['https://api-a.example']);
    // Sending both back does not widen it again.
    const widened = await m.put({ client_id: reg.client_id, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'a b', resources: ['https://api-a.example', 'https://api-b.example'] });
    expect(widened.status).toBe(200);
    expect(widened.body.resources).toEqual(['https://api-a.example']);
    const token = (resource: string) => postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', resource }, { authorization: basic(reg.client_id, reg.client_secret) });
    expect((await token('https://api-a.example')).status).toBe(200);
    const refused = await token('https://api-b.example');
    expect(refused.status).toBe(400);
    expect(refused.json.error).toBe('invalid_target');
  });

  it('RFC 7662 §4: a client that registered itself introspects only its own tokens, however it registers or updates', async () => {
    const reg = await register({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', introspection_own_tokens_only: false });
    expect(reg.introspection_own_tokens_only).toBe(true);
    const other = await s.client({ grant_types: ['client_credentials'] });
    const theirs = (await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(other.clientId, other.clientSecret!) })).json.access_token;
    const mine = (await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(reg.client_id, reg.client_secret) })).json.access_token;
    const introspect = (t: string) => postForm(s.url('/oauth/introspect'), { token: t }, { authorization: basic(reg.client_id, reg.client_secret) });
    expect((await introspect(theirs)).json).toEqual({ active: false });
    expect((await introspect(mine)).json).toMatchObject({ active: true, client_id: reg.client_id });
    const updated = await manage(reg).put({ client_id: reg.client_id, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', introspection_own_tokens_only: false });
    expect(updated.body.introspection_own_tokens_only).toBe(true);
    expect((await introspect(theirs)).json).toEqual({ active: false });
  });

  it('RFC 8705 §3.4: a server no client certificate can reach refuses tls_client_certificate_bound_access_tokens (invalid_client_metadata), as its discovery leaves the capability out', async () => {
    const d = await (await fetch(s.url('/.well-known/openid-configuration'))).json();
    expect(d.tls_client_certificate_bound_access_tokens).toBeUndefined();
    const r = await call(s.url('/oauth/register'), {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_types: ['client_credentials'], tls_client_certificate_bound_access_tokens: true }),
    });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_client_metadata');
    expect(r.body.error_description).toContain('tls_client_certificate_bound_access_tokens');
  });

  it('RFC 9449 §5.2: a client asking for DPoP-bound access tokens cannot register a response type that returns an unbound access token from the authorization endpoint', async () => {
    const meta = { redirect_uris: ['https://rp.example/cb'], grant_types: ['authorization_code', 'implicit'], response_types: ['code', 'code token'], dpop_bound_access_tokens: true };
    const r = await call(s.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(meta) });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_client_metadata');
    // Without the token response types (code id_token returns no access token), it registers.
    const ok = await call(s.url('/oauth/register'), {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...meta, response_types: ['code', 'code id_token'] }),
    });
    expect(ok.status).toBe(201);
  });

  it('operators (admin API, CLI) still set, change and clear operator-only fields on a dynamically registered client', async () => {
    const reg = await register({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' });
    const base = { grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' };
    expect((await replaceClient(s.ctx, reg.client_id, { ...base, access_token_lifetime: 120 })).json.access_token_lifetime).toBe(120);
    expect((await replaceClient(s.ctx, reg.client_id, { ...base, access_token_lifetime: 60 })).json.access_token_lifetime).toBe(60);
    expect((await replaceClient(s.ctx, reg.client_id, base)).json.access_token_lifetime).toBeUndefined();
  });
});

describe('redirect and logout URIs by client type', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
  });
  afterAll(() => s.close());

  const register = (meta: Record<string, unknown>) =>
    call(s.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(meta) });
  const implicitWeb = (uri: string) => ({ redirect_uris: [uri], grant_types: ['implicit'], response_types: ['id_token'] });

  it('OIDC Registration §2: a web client using the implicit grant registers https redirect URIs only, never on localhost or a loopback address', async () => {
    for (const uri of ['http://127.0.0.1/cb', 'http://localhost:8080/cb', 'https://localhost/cb', 'https://app.localhost/cb', 'https://127.0.0.1/cb', 'https://127.1/cb', 'https://[::1]/cb', 'http://app.example/cb']) {
      const r = await register(implicitWeb(uri));
      expect([uri, r.status, r.body.error]).toEqual([uri, 400, 'invalid_redirect_uri']);
      expect(r.body.error_description).toMatch(/OIDC Registration §2|https/);
    }
    // Hybrid response types use the implicit grant too.
    const hybrid = await register({ redirect_uris: ['http://127.0.0.1/cb'], grant_types: ['authorization_code', 'implicit'], response_types: ['code id_token'] });
    expect([hybrid.status, hybrid.body.error]).toEqual([400, 'invalid_redirect_uri']);
    expect((await register(implicitWeb('https://app.example/cb'))).status).toBe(201);
  });

  it('OIDC Registration §2: the rule is the implicit grant\'s: a web code-flow client keeps http on loopback, a native client keeps its loopback redirects (RFC 8252 §7.3)', async () => {
    expect((await register({ redirect_uris: ['http://127.0.0.1/cb'] })).status).toBe(201);
    expect((await register({ application_type: 'native', token_endpoint_auth_method: 'none', ...implicitWeb('http://127.0.0.1/cb') })).status).toBe(201);
  });

  it('OIDC Registration §2: a client cannot move to the implicit grant by an update while keeping a loopback redirect URI', async () => {
    const { body: reg } = await register({ redirect_uris: ['http://127.0.0.1/cb'] });
    const r = await call(reg.registration_client_uri, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${reg.registration_access_token}` },
      body: JSON.stringify({ client_id: reg.client_id, redirect_uris: ['http://127.0.0.1/cb'], grant_types: ['authorization_code', 'implicit'], response_types: ['code', 'code token'] }),
    });
    expect([r.status, r.body.error]).toEqual([400, 'invalid_redirect_uri']);
  });

  it('OIDC Registration §2: operator-created clients follow the same rule', async () => {
    await expect(s.client(implicitWeb('http://localhost:3000/cb'))).rejects.toThrow(/OIDC Registration §2/);
    await expect(s.client({ application_type: 'native', ...implicitWeb('http://127.0.0.1/cb') })).resolves.toBeTruthy();
  });

  it('Back-Channel Logout §2.2, Front-Channel Logout §2: http logout URIs only for confidential clients; public clients use https', async () => {
    const pub = { application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['com.example.app:/cb', 'https://rp.example/cb'] };
    for (const field of ['backchannel_logout_uri', 'frontchannel_logout_uri']) {
      const r = await register({ ...pub, [field]: 'http://rp.example/logout' });
      expect([field, r.status, r.body.error]).toEqual([field, 400, 'invalid_client_metadata']);
      expect(r.body.error_description).toMatch(new RegExp(`${field}.*https`));
      expect((await register({ ...pub, [field]: 'https://rp.example/logout' })).status).toBe(201);
      // A confidential client may use http (as the loopback test fixtures do); a front-channel one on the origin of a
      // registered redirect URI (Front-Channel Logout §2).
      expect((await register({ redirect_uris: ['https://rp.example/cb', 'http://127.0.0.1:8080/cb'], [field]: 'http://127.0.0.1:8080/logout' })).status).toBe(201);
      await expect(s.client({ ...pub, [field]: 'http://rp.example/logout' })).rejects.toThrow(/confidential/);
    }
  });
});
