import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { createAdminToken, revokeManagementToken } from '../../src/services/management-tokens.js';
import { createSession } from '../../src/ui/session.js';
import { acceptOtp, newRecoveryCodes, startOtpSetup } from '../../src/services/mfa.js';
import { base32Decode, hotp, TOTP_STEP } from '../../src/services/totp.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { insertRefreshFamily } from '../helpers/tokens.js';

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { operationId: string; requestBody?: unknown; responses: Record<string, { content?: { 'application/json': { schema: unknown } } }> }>>;
  components: { schemas: Record<string, unknown> };
};

/**
 * The admin API, driven through its own OpenAPI document: every call names an operation as `METHOD /path`,
 * which must exist in /admin/openapi.json, and every answer is validated against the schema declared there
 * for its status. At the end, every documented operation must have been exercised.
 */
describe('admin API (through /admin/openapi.json)', () => {
  let s: TestServer;
  let doc: Doc;
  let token: string;
  const called = new Set<string>();
  const ajv = new (Ajv2020 as unknown as typeof Ajv2020.default)({ strict: false, allErrors: true });
  (addFormats as unknown as typeof addFormats.default)(ajv);

  beforeAll(async () => {
    s = await startTestServer();
    token = (await createAdminToken(s.lk, { name: 'test' })).token;
    const res = await fetch(s.url('/admin/openapi.json'));
    expect(res.status).toBe(200);
    doc = (await res.json()) as Doc;
    ajv.addSchema(doc as object, 'openapi');
  });
  afterAll(() => s.close());

  async function api(operation: string, params: Record<string, string> = {}, body?: unknown, auth: string | null = token) {
    const [method, path] = operation.split(' ') as [string, string];
    const spec = doc.paths[path]?.[method.toLowerCase()];
    expect(spec, `${operation} is in the OpenAPI document`).toBeDefined();
    called.add(operation);
    const url = path.replace(/\{([^}]+)\}/g, (_m, name: string) => encodeURIComponent(params[name]!)) + (params['?'] ? `?${params['?']}` : ''); // '?': a query string
    const res = await fetch(s.url(url), {
      method,
      headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : undefined;
    const declared = spec!.responses[String(res.status)];
    expect(declared, `${operation} declares status ${res.status} (${text.slice(0, 200)})`).toBeDefined();
    const schema = declared!.content?.['application/json']?.schema;
    if (schema) {
      const validate = ajv.compile(rebase(schema));
      expect(validate(json), `${operation} ${res.status} matches its schema: ${ajv.errorsText(validate.errors)}`).toBe(true);
    } else {
      expect(text).toBe('');
    }
    return { status: res.status, body: json, headers: res.headers };
  }
  /** Point the document's local references at the schema added as 'openapi'. */
  const rebase = (schema: unknown): object => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/'));

  it('the document is OpenAPI 3.1 and names the admin token scheme', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(JSON.stringify(doc)).toContain('"scheme":"bearer"');
  });

  it('every operation needs a live admin token', async () => {
    expect((await api('GET /admin/tenants', {}, undefined, null)).status).toBe(401);
    expect((await api('GET /admin/tenants', {}, undefined, 'lka_' + 'x'.repeat(43))).status).toBe(401);
    const other = await createAdminToken(s.lk, { name: 'short-lived' });
    expect((await api('GET /admin/tenants', {}, undefined, other.token)).status).toBe(200);
    await revokeManagementToken(s.lk, 'admin', other.record.id);
    expect((await api('GET /admin/tenants', {}, undefined, other.token)).status).toBe(401);
  });

  it('RFC 6750 §3: the admin token is checked before the body is parsed: without one a malformed or non-JSON body is 401, not 400/415', async () => {
    const send = (body: string, headers: Record<string, string>) => fetch(s.url('/admin/tenants'), { method: 'POST', headers, body });
    for (const [body, type] of [['{bad', 'application/json'], ['<x/>', 'application/xml'], ['{"id":"x"}', 'application/json']] as const) {
      // No token presented: a challenge without an error code (§3).
      const anonymous = await send(body, { 'content-type': type });
      expect(anonymous.status, `${type} ${body}`).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="latchkey-admin"');
      expect(await anonymous.json()).toMatchObject({ error: 'unauthorized' });
      // A token that is not a live admin token: error="invalid_token" (§3.1).
      const forged = await send(body, { 'content-type': type, authorization: `Bearer lka_${'x'.repeat(43)}` });
      expect(forged.status, `${type} ${body}`).toBe(401);
      expect(forged.headers.get('www-authenticate')).toBe('Bearer realm="latchkey-admin", error="invalid_token"');
    }
    // With a valid token the body is judged as before.
    const bad = await send('{bad', { 'content-type': 'application/json', authorization: `Bearer ${token}` });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_request' });
    expect((await send('<x/>', { 'content-type': 'application/xml', authorization: `Bearer ${token}` })).status).toBe(415);
  });

  it('tenants: list, create (issuer <issuer>/t/<id>, own keys), read, conflicts and bad input', async () => {
    const list = await api('GET /admin/tenants');
    expect(list.body.map((t: any) => t.id)).toContain('default');
    const created = await api('POST /admin/tenants', {}, { id: 'acme', settings: { accessTokenTtl: 600 } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'acme', issuer: `${s.issuer}/t/acme`, settings: { accessTokenTtl: 600 } });
    expect((await api('GET /admin/tenants/{tenant_id}', { tenant_id: 'acme' })).body.id).toBe('acme');
    expect((await api('POST /admin/tenants', {}, { id: 'acme' })).status).toBe(409);
    expect((await api('POST /admin/tenants', {}, { id: 'Not Valid' })).status).toBe(400);
    expect((await api('POST /admin/tenants', {}, { id: 'x', settings: { accessTokenTtl: -1 } })).status).toBe(400);
    expect((await api('GET /admin/tenants/{tenant_id}', { tenant_id: 'nope' })).status).toBe(404);
    const keys = await api('GET /admin/tenants/{tenant_id}/keys', { tenant_id: 'acme' });
    expect(keys.body.filter((k: any) => k.status === 'active').length).toBeGreaterThanOrEqual(2);
    const acmeClient = await api('POST /admin/tenants/{tenant_id}/clients', { tenant_id: 'acme' }, { grant_types: ['client_credentials'] });
    expect(acmeClient.status).toBe(201);
    const defaultClients = await api('GET /admin/tenants/{tenant_id}/clients', { tenant_id: 'default' });
    expect(defaultClients.body.map((c: any) => c.client_id)).not.toContain(acmeClient.body.client_id);
  });

  it('clients: create, read, list, replace, delete; invalid metadata is a 400 naming the rule', async () => {
    const t = { tenant_id: 'default' };
    const c = await api('POST /admin/tenants/{tenant_id}/clients', t, { client_id: 'svc-admin', client_name: 'Service', grant_types: ['client_credentials'], scope: 'api:read', skip_consent: true });
    expect(c.status).toBe(201);
    expect(c.body.client_secret).toBeTruthy();
    expect(c.body.skip_consent).toBe(true); // operators may set it; dynamic registration may not
    const read = await api('GET /admin/tenants/{tenant_id}/clients/{client_id}', { ...t, client_id: 'svc-admin' });
    expect(read.body.client_secret).toBeUndefined();
    expect((await api('GET /admin/tenants/{tenant_id}/clients', t)).body.map((x: any) => x.client_id)).toContain('svc-admin');
    const put = await api('PUT /admin/tenants/{tenant_id}/clients/{client_id}', { ...t, client_id: 'svc-admin' }, { client_name: 'Renamed', grant_types: ['client_credentials'], scope: 'api:read api:write' });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ client_name: 'Renamed', scope: 'api:read api:write', skip_consent: false });
    const tok = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic('svc-admin', c.body.client_secret) });
    expect(tok.status).toBe(200); // the secret survived the replacement
    const bad = await api('POST /admin/tenants/{tenant_id}/clients', t, { redirect_uris: ['http://app.example/cb'] });
    expect([bad.status, bad.body.error]).toEqual([400, 'invalid_redirect_uri']);
    // OIDC Registration §2: an operator sets initiate_login_uri as a client would, https only.
    const login = await api('PUT /admin/tenants/{tenant_id}/clients/{client_id}', { ...t, client_id: 'svc-admin' }, { grant_types: ['client_credentials'], initiate_login_uri: 'https://svc.example/login' });
    expect([login.status, login.body.initiate_login_uri]).toEqual([200, 'https://svc.example/login']);
    expect((await api('GET /admin/tenants/{tenant_id}/clients/{client_id}', { ...t, client_id: 'svc-admin' })).body.initiate_login_uri).toBe('https://svc.example/login');
    const httpLogin = await api('PUT /admin/tenants/{tenant_id}/clients/{client_id}', { ...t, client_id: 'svc-admin' }, { grant_types: ['client_credentials'], initiate_login_uri: 'http://svc.example/login' });
    expect([httpLogin.status, httpLogin.body.error]).toEqual([400, 'invalid_client_metadata']);
    expect((await api('POST /admin/tenants/{tenant_id}/clients', t, { client_id: 'svc-admin', grant_types: ['client_credentials'] })).status).toBe(409);
    expect((await api('DELETE /admin/tenants/{tenant_id}/clients/{client_id}', { ...t, client_id: 'svc-admin' })).status).toBe(204);
    expect((await api('GET /admin/tenants/{tenant_id}/clients/{client_id}', { ...t, client_id: 'svc-admin' })).status).toBe(404);
    // the deleted client's tokens were revoked with it
    const rs = await s.client({ grant_types: ['client_credentials'] });
    const intro = await postForm(s.url('/oauth/introspect'), { token: tok.json.access_token }, { authorization: basic(rs.clientId, rs.clientSecret!) });
    expect(intro.json).toEqual({ active: false });
  });

  it('client secret rotation: the old secret keeps working only for the grace period', async () => {
    const t = { tenant_id: 'default' };
    const c = await api('POST /admin/tenants/{tenant_id}/clients', t, { grant_types: ['client_credentials'] });
    const id = c.body.client_id as string;
    const rotated = await api('POST /admin/tenants/{tenant_id}/clients/{client_id}/secret', { ...t, client_id: id }, { grace_seconds: 3600 });
    expect(rotated.status).toBe(200);
    expect(rotated.body.client_secret).not.toBe(c.body.client_secret);
    expect(rotated.body.previous_secret_expires_at).toBeGreaterThan(Date.now() / 1000);
    const use = (secret: string) => postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(id, secret) });
    expect((await use(c.body.client_secret)).status).toBe(200);
    expect((await use(rotated.body.client_secret)).status).toBe(200);
    const again = await api('POST /admin/tenants/{tenant_id}/clients/{client_id}/secret', { ...t, client_id: id }, {});
    expect((await use(rotated.body.client_secret)).status).toBe(401); // grace 0 by default
    expect((await use(again.body.client_secret)).status).toBe(200);
    expect((await api('POST /admin/tenants/{tenant_id}/clients/{client_id}/secret', { ...t, client_id: id }, { grace_seconds: -5 })).status).toBe(400);
  });

  it('users: create, read, list, update, password reset, disable (revokes refresh tokens), enable, delete', async () => {
    const t = { tenant_id: 'default' };
    const u = await api('POST /admin/tenants/{tenant_id}/users', t, { username: 'mallory', password: 'first-password', claims: { email: 'm@example.com' } });
    expect(u.status).toBe(201);
    const sub = u.body.sub as string;
    expect(JSON.stringify(u.body)).not.toContain('argon2');
    expect((await api('POST /admin/tenants/{tenant_id}/users', t, { username: 'mallory', password: 'another-one' })).status).toBe(409);
    expect((await api('POST /admin/tenants/{tenant_id}/users', t, { username: 'short', password: 'x' })).status).toBe(400);
    expect((await api('GET /admin/tenants/{tenant_id}/users/{sub}', { ...t, sub })).body.username).toBe('mallory');
    expect((await api('GET /admin/tenants/{tenant_id}/users', t)).body.map((x: any) => x.sub)).toContain(sub);
    const patched = await api('PATCH /admin/tenants/{tenant_id}/users/{sub}', { ...t, sub }, { claims: { name: 'Mallory' } });
    expect(patched.body.claims).toMatchObject({ name: 'Mallory', preferred_username: 'mallory' });
    expect((await api('PATCH /admin/tenants/{tenant_id}/users/{sub}', { ...t, sub }, { claims: { email: 'nope' } })).status).toBe(400);
    expect((await api('POST /admin/tenants/{tenant_id}/users/{sub}/password', { ...t, sub }, { password: 'second-password' })).status).toBe(204);

    // A refresh-token family and a browser session for the user.
    const app = await s.client({ redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code', 'refresh_token'] });
    const fam = await insertRefreshFamily(s.ctx, { clientId: app.clientId, subject: sub });
    await createSession(s.ctx, sub);
    const grants = await api('GET /admin/tenants/{tenant_id}/users/{sub}/grants', { ...t, sub });
    expect(grants.body.map((g: any) => g.id)).toContain(fam.grantId);
    const sessions = await api('GET /admin/tenants/{tenant_id}/users/{sub}/sessions', { ...t, sub });
    expect(sessions.body).toHaveLength(1);

    const disabled = await api('POST /admin/tenants/{tenant_id}/users/{sub}/disable', { ...t, sub });
    expect(disabled.body.disabled).toBe(true);
    const refresh = await postForm(s.url('/oauth/token'), { grant_type: 'refresh_token', refresh_token: fam.refreshToken }, { authorization: basic(app.clientId, app.clientSecret!) });
    expect([refresh.status, refresh.json.error]).toEqual([400, 'invalid_grant']);
    expect((await api('GET /admin/tenants/{tenant_id}/users/{sub}/sessions', { ...t, sub })).body).toHaveLength(0);
    expect((await api('GET /admin/tenants/{tenant_id}/users/{sub}/grants', { ...t, sub })).body[0].revoked_at).not.toBeNull();
    expect((await api('POST /admin/tenants/{tenant_id}/users/{sub}/enable', { ...t, sub })).body.disabled).toBe(false);

    expect((await api('DELETE /admin/tenants/{tenant_id}/users/{sub}', { ...t, sub })).status).toBe(204);
    expect((await api('GET /admin/tenants/{tenant_id}/users/{sub}', { ...t, sub })).status).toBe(404);
  });

  it('grants and sessions: revoke one grant (its tokens go with it), end one session', async () => {
    const t = { tenant_id: 'default' };
    const u = await api('POST /admin/tenants/{tenant_id}/users', t, { username: 'grace', password: 'grace-password' });
    const sub = u.body.sub as string;
    const app = await s.client({ redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code', 'refresh_token'] });
    const keep = await insertRefreshFamily(s.ctx, { clientId: app.clientId, subject: sub });
    const drop = await insertRefreshFamily(s.ctx, { clientId: app.clientId, subject: sub });
    expect((await api('DELETE /admin/tenants/{tenant_id}/users/{sub}/grants/{grant_id}', { ...t, sub, grant_id: drop.grantId })).status).toBe(204);
    expect((await api('DELETE /admin/tenants/{tenant_id}/users/{sub}/grants/{grant_id}', { ...t, sub, grant_id: 'nope' })).status).toBe(404);
    const refresh = (rt: string) => postForm(s.url('/oauth/token'), { grant_type: 'refresh_token', refresh_token: rt }, { authorization: basic(app.clientId, app.clientSecret!) });
    expect((await refresh(drop.refreshToken)).status).toBe(400);
    expect((await refresh(keep.refreshToken)).status).toBe(200);

    const { session } = await createSession(s.ctx, sub);
    await createSession(s.ctx, sub);
    expect((await api('DELETE /admin/tenants/{tenant_id}/users/{sub}/sessions/{sid}', { ...t, sub, sid: session.sid })).status).toBe(204);
    const left = await api('GET /admin/tenants/{tenant_id}/users/{sub}/sessions', { ...t, sub });
    expect(left.body.map((x: any) => x.sid)).not.toContain(session.sid);
    expect(left.body).toHaveLength(1);
    expect((await api('DELETE /admin/tenants/{tenant_id}/users/{sub}/sessions/{sid}', { ...t, sub, sid: session.sid })).status).toBe(404);
  });

  it('keys: rotate (pending, then immediate), then retire the rotated-out key: it leaves the JWKS; an active or pending key cannot be retired', async () => {
    const t = { tenant_id: 'default' };
    const before = await api('GET /admin/tenants/{tenant_id}/keys', t);
    const oldEs = before.body.find((k: any) => k.alg === 'ES256' && k.status === 'active');
    const staged = await api('POST /admin/tenants/{tenant_id}/keys/rotate', t, { algs: ['ES256'] });
    expect(staged.status).toBe(201);
    expect(staged.body[0]).toMatchObject({ status: 'pending', activates_at: staged.body[0].created_at + 360 });
    expect((await api('POST /admin/tenants/{tenant_id}/keys/{kid}/retire', { ...t, kid: staged.body[0].kid })).status).toBe(409);
    expect((await api('POST /admin/tenants/{tenant_id}/keys/{kid}/retire', { ...t, kid: oldEs.kid })).status).toBe(409); // still signing
    const rotated = await api('POST /admin/tenants/{tenant_id}/keys/rotate', t, { algs: ['ES256'], immediate: true });
    expect(rotated.status).toBe(201);
    expect(rotated.body).toHaveLength(1);
    expect(rotated.body[0].status).toBe('active');
    const jwks = async () => ((await (await fetch(s.url('/.well-known/jwks.json'))).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    expect(await jwks()).toEqual(expect.arrayContaining([oldEs.kid, staged.body[0].kid, rotated.body[0].kid]));
    expect((await api('POST /admin/tenants/{tenant_id}/keys/{kid}/retire', { ...t, kid: rotated.body[0].kid })).status).toBe(409);
    // DESIGN.md "Keys and tokens": tokens it signed until a moment ago are still valid; force overrides (compromised key).
    const early = await api('POST /admin/tenants/{tenant_id}/keys/{kid}/retire', { ...t, kid: oldEs.kid });
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ error: 'conflict', error_description: expect.stringMatching(/still valid until .*force/) });
    const retired = await api('POST /admin/tenants/{tenant_id}/keys/{kid}/retire', { ...t, kid: oldEs.kid, '?': 'force=true' });
    expect(retired.body.status).toBe('retired');
    expect(await jwks()).not.toContain(oldEs.kid);
    expect(await jwks()).toContain(rotated.body[0].kid);
    expect((await api('POST /admin/tenants/{tenant_id}/keys/{kid}/retire', { ...t, kid: 'no-such-kid' })).status).toBe(404);
    expect((await api('POST /admin/tenants/{tenant_id}/keys/rotate', t, { algs: ['HS256'] })).status).toBe(400);
  });

  it('initial access tokens: create (shown once), list, revoke', async () => {
    const t = { tenant_id: 'default' };
    const created = await api('POST /admin/tenants/{tenant_id}/initial-access-tokens', t, { name: 'partner', uses: 5, expires_in: 3600 });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^lki_/);
    expect(created.body.remaining_uses).toBe(5);
    const list = await api('GET /admin/tenants/{tenant_id}/initial-access-tokens', t);
    const listed = list.body.find((x: any) => x.id === created.body.id);
    expect(listed).toBeDefined();
    expect(listed.token).toBeUndefined();
    expect((await api('DELETE /admin/tenants/{tenant_id}/initial-access-tokens/{token_id}', { ...t, token_id: created.body.id })).status).toBe(204);
    expect((await api('DELETE /admin/tenants/{tenant_id}/initial-access-tokens/{token_id}', { ...t, token_id: created.body.id })).status).toBe(404);
    expect((await api('GET /admin/tenants/{tenant_id}/initial-access-tokens', { tenant_id: 'acme' })).body.map((x: any) => x.id)).not.toContain(created.body.id);
  });

  it('users: unlock an account locked by failed sign-ins, two-step sign-in shown (with security keys, one removable) and reset; an unknown user is 404', async () => {
    const u = await api('POST /admin/tenants/{tenant_id}/users', { tenant_id: 'default' }, { username: 'locked-out', password: 'locked-out-password' });
    expect((await api('POST /admin/tenants/{tenant_id}/users/{sub}/unlock', { tenant_id: 'default', sub: u.body.sub })).status).toBe(200);
    expect((await api('POST /admin/tenants/{tenant_id}/users/{sub}/unlock', { tenant_id: 'default', sub: 'nobody' })).status).toBe(404);
    // Whether two-step sign-in is on, and how many recovery codes are left: on the user's own page, not in lists.
    const user = { tenant_id: 'default', sub: u.body.sub };
    expect((await api('GET /admin/tenants/{tenant_id}/users/{sub}', user)).body.mfa).toEqual({ otp: false });
    const setup = await startOtpSetup(s.ctx, { id: u.body.sub, username: 'locked-out' });
    expect(await acceptOtp(s.ctx, u.body.sub, hotp(base32Decode(setup.secret)!, Math.floor(Date.now() / 1000 / TOTP_STEP)), true)).toBe(true);
    await newRecoveryCodes(s.ctx, u.body.sub);
    expect((await api('GET /admin/tenants/{tenant_id}/users/{sub}', user)).body.mfa).toEqual({ otp: true, recovery_codes_left: 10, security_keys: [] });
    // Security keys (services/webauthn.ts): listed with their ids; one removed by id (a lost key), the other kept.
    for (const [id, name] of [['a2V5LW9uZQ', 'Blue'], ['a2V5LXR3bw', 'Phone']]) {
      await s.lk.store.addWebauthnCredential({ tenantId: 'default', userId: u.body.sub, credentialId: id!, publicKey: 'pQ', counter: 0, transports: [], name: name!, createdAt: 1000, lastUsedAt: null });
    }
    expect((await api('GET /admin/tenants/{tenant_id}/users/{sub}', user)).body.mfa.security_keys).toEqual([
      { id: 'a2V5LW9uZQ', name: 'Blue', created_at: 1000, last_used_at: null }, { id: 'a2V5LXR3bw', name: 'Phone', created_at: 1000, last_used_at: null },
    ]);
    const removed = await api('DELETE /admin/tenants/{tenant_id}/users/{sub}/security-keys/{key_id}', { ...user, key_id: 'a2V5LW9uZQ' });
    expect(removed.status).toBe(200);
    expect(removed.body.mfa.security_keys.map((k: any) => k.name)).toEqual(['Phone']);
    expect((await api('DELETE /admin/tenants/{tenant_id}/users/{sub}/security-keys/{key_id}', { ...user, key_id: 'a2V5LW9uZQ' })).status).toBe(404);
    expect((await api('DELETE /admin/tenants/{tenant_id}/users/{sub}/security-keys/{key_id}', { tenant_id: 'default', sub: 'nobody', key_id: 'a2V5LXR3bw' })).status).toBe(404);
    const reset = await api('POST /admin/tenants/{tenant_id}/users/{sub}/mfa/reset', user);
    expect(reset.status).toBe(200);
    expect(reset.body.mfa).toEqual({ otp: false });
    expect((await api('POST /admin/tenants/{tenant_id}/users/{sub}/mfa/reset', { tenant_id: 'default', sub: 'nobody' })).status).toBe(404);
  });

  it('audit events: the admin writes above are listed, newest first (docs/audit.md)', async () => {
    const list = await api('GET /admin/tenants/{tenant_id}/audit-events', { tenant_id: 'default' });
    expect(list.status).toBe(200);
    expect(list.body.some((e: any) => e.type === 'admin.action' && e.detail.operation === 'createInitialAccessToken')).toBe(true);
  });

  it('resource servers (RFC 8707): create with introspection_clients (RFC 7662 §4), read, list, delete; bad input is a 400, a duplicate a 409', async () => {
    const t = { tenant_id: 'default' };
    const rs = await s.client({ grant_types: ['client_credentials'] });
    const id = 'https://admin-rs.example/api';
    const created = await api('POST /admin/tenants/{tenant_id}/resource-servers', t, { identifier: id, scope: 'orders:read', access_token_format: 'jwt', introspection_clients: [rs.clientId] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ identifier: id, scope: 'orders:read', access_token_format: 'jwt', introspection_clients: [rs.clientId] });
    const read = await api('GET /admin/tenants/{tenant_id}/resource-servers/{identifier}', { ...t, identifier: id });
    expect(read.body).toEqual(created.body);
    expect((await api('GET /admin/tenants/{tenant_id}/resource-servers', t)).body.find((r: any) => r.identifier === id)).toEqual(created.body);
    expect((await api('POST /admin/tenants/{tenant_id}/resource-servers', t, { identifier: id })).status).toBe(409);
    const put = await api('PUT /admin/tenants/{tenant_id}/resource-servers/{identifier}', { ...t, identifier: id }, { scope: 'orders:read orders:write', introspection_clients: [] });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ identifier: id, scope: 'orders:read orders:write', introspection_clients: [], created_at: created.body.created_at });
    expect((await api('PUT /admin/tenants/{tenant_id}/resource-servers/{identifier}', { ...t, identifier: id }, { identifier: 'https://other.example/' })).status).toBe(400);
    expect((await api('PUT /admin/tenants/{tenant_id}/resource-servers/{identifier}', { ...t, identifier: 'https://nowhere.example/' }, {})).status).toBe(404);
    expect((await api('PUT /admin/tenants/{tenant_id}/resource-servers/{identifier}', { ...t, identifier: id }, { introspection_clients: [rs.clientId] })).body.introspection_clients).toEqual([rs.clientId]);
    for (const bad of [
      { identifier: 'https://x.example/', introspection_clients: 'not-a-list' }, // schema
      { identifier: 'https://x.example/', introspection_clients: ['no-such-client'] }, // not a client of the tenant
      { identifier: 'https://x.example/#frag' },
      { identifier: 'https://x.example/', unknown_field: 1 },
    ]) {
      const r = await api('POST /admin/tenants/{tenant_id}/resource-servers', t, bad);
      expect([r.status, r.body.error], JSON.stringify(bad)).toEqual([400, 'invalid_request']);
    }
    expect((await api('DELETE /admin/tenants/{tenant_id}/resource-servers/{identifier}', { ...t, identifier: id })).status).toBe(204);
    expect((await api('GET /admin/tenants/{tenant_id}/resource-servers/{identifier}', { ...t, identifier: id })).status).toBe(404);
    expect((await api('DELETE /admin/tenants/{tenant_id}/resource-servers/{identifier}', { ...t, identifier: id })).status).toBe(404);
  });

  it('every operation in the document was exercised by this test', () => {
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(documented.filter((o) => !called.has(o))).toEqual([]);
  });
});
