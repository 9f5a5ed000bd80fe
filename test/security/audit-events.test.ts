import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_EVENT_TYPES } from '../../src/audit/audit.js';
import { loadConfig } from '../../src/config/load.js';
import { Latchkey } from '../../src/server/latchkey.js';
import { createSession } from '../../src/ui/session.js';
import { createAdminToken } from '../../src/services/management-tokens.js';
import { Agent } from '../helpers/agent.js';
import { core, testService } from '../helpers/core-api.js';
import { adminDatabaseUrl, dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const BIN = resolve('bin/latchkey.js');
const CB = 'https://rp.example/cb';
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * The audit trail beyond the built-in back channel (docs/audit.md): CLI writes, device decisions, logout,
 * dynamic registration and Core API results, in the same JSON shape, stored and logged, read through the admin API.
 */
describe('audit events of the CLI, device flow, logout, dynamic registration and the Core API', () => {
  let s: TestServer;
  let admin: string;
  let aliceSub: string;
  const logged: Record<string, unknown>[] = [];

  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
    s.lk.setLogger({
      info: (o) => {
        const a = (o as { audit?: Record<string, unknown> }).audit;
        if (a) logged.push(a);
      },
      warn: () => {},
      error: () => {},
    });
    admin = (await createAdminToken(s.lk, { name: 'audit-events' })).token;
    aliceSub = await s.user('alice', 'alice-password');
  });
  afterAll(() => s.close());

  async function events(query: Record<string, string>, tenant = 'default'): Promise<any[]> {
    const res = await fetch(s.url(`/admin/tenants/${tenant}/audit-events?${new URLSearchParams(query)}`), { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as any[];
  }
  /** Stored (admin API) and logged in the same shape. */
  function expectLogged(e: Record<string, unknown>) {
    expect(logged.find((l) => l.id === e.id)).toEqual(e);
  }

  it('the new event types are catalogued', () => {
    for (const t of ['device.approved', 'device.denied', 'logout', 'client.registered', 'client.updated', 'client.deleted']) expect(AUDIT_EVENT_TYPES).toContain(t);
  });

  it('RFC 8628 §3.3: device approvals and denials are recorded with the client and the user', async () => {
    const tv = await s.client({ grant_types: [DEVICE], token_endpoint_auth_method: 'none', scope: 'openid' });
    const decide = async (decision: 'approve' | 'deny') => {
      const d = (await postForm(s.url('/oauth/device_authorization'), { client_id: tv.clientId, scope: 'openid' })).json;
      const agent = new Agent(s.issuer);
      const login = await agent.follow(`/device?user_code=${encodeURIComponent(d.user_code)}`);
      const codePage = await agent.follow(Agent.formAction(login.html, '/device/login'), {
        form: { csrf: Agent.formValue(login.html, 'csrf')!, user_code: Agent.formValue(login.html, 'user_code')!, username: 'alice', password: 'alice-password' },
      });
      const confirm = await agent.follow('/device', { form: { csrf: Agent.formValue(codePage.html, 'csrf')!, user_code: d.user_code } });
      const done = await agent.follow('/device/confirm', { form: { csrf: Agent.formValue(confirm.html, 'csrf')!, binding: Agent.formValue(confirm.html, 'binding')!, user_code: d.user_code, decision } });
      expect(done.status).toBe(200);
      return d.user_code as string;
    };
    const approvedCode = await decide('approve');
    const deniedCode = await decide('deny');
    const approved = (await events({ type: 'device.approved' }))[0];
    const denied = (await events({ type: 'device.denied' }))[0];
    expect(approved).toMatchObject({ client_id: tv.clientId, subject: aliceSub, ip: '127.0.0.1', result_code: 'LK7025' });
    expect(denied).toMatchObject({ client_id: tv.clientId, subject: aliceSub, result_code: 'LK7025' });
    // The user code is a credential while it lives: it is not recorded.
    expect(JSON.stringify([approved, denied])).not.toContain(approvedCode);
    expect(JSON.stringify([approved, denied])).not.toContain(deniedCode);
    expectLogged(approved);
    expectLogged(denied);
  });

  it('OIDC RP-Initiated Logout §2 and session end (admin API) are recorded as logout with the user and the session', async () => {
    const rp = await s.client({ redirect_uris: [CB], skip_consent: true });
    const bobSub = await s.user('bob', 'bob-password');
    const agent = new Agent(s.issuer);
    await agent.authorize(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: rp.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid' }), 'bob', 'bob-password');
    const ask = await agent.follow(`${s.issuer}/oauth/logout?client_id=${rp.clientId}`);
    await agent.follow(Agent.formAction(ask.html, '/logout/'), { form: { csrf: Agent.formValue(ask.html, 'csrf') ?? '', decision: 'logout' } });
    const rpLogout = (await events({ type: 'logout' }))[0];
    expect(rpLogout).toMatchObject({ client_id: rp.clientId, subject: bobSub, ip: '127.0.0.1', detail: { method: 'rp_initiated' } });
    expect(rpLogout.detail.sid).toMatch(/\S/);
    expectLogged(rpLogout);

    // A second session, ended by an operator.
    const other = new Agent(s.issuer);
    await other.authorize(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: rp.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid' }), 'bob', 'bob-password');
    const auth = { authorization: `Bearer ${admin}` };
    const sessions = (await (await fetch(s.url(`/admin/tenants/default/users/${bobSub}/sessions`), { headers: auth })).json()) as { sid: string }[];
    expect(sessions.length).toBe(1);
    const sid = sessions[0]!.sid;
    expect((await fetch(s.url(`/admin/tenants/default/users/${bobSub}/sessions/${sid}`), { method: 'DELETE', headers: auth })).status).toBe(204);
    const ended = (await events({ type: 'logout' }))[0];
    expect(ended).toMatchObject({ subject: bobSub, detail: { method: 'session_end', sid, source: 'admin_api' } });
  });

  it('RFC 7591 §3, RFC 7592 §2: dynamic registration, update and deletion are recorded, without the registration access token or secret', async () => {
    const created = await fetch(s.url('/oauth/register'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [CB], client_name: 'Dyn' }),
    });
    expect(created.status).toBe(201);
    const c = (await created.json()) as Record<string, any>;
    const manage = { authorization: `Bearer ${c.registration_access_token}`, 'content-type': 'application/json' };
    const updated = await fetch(c.registration_client_uri, { method: 'PUT', headers: manage, body: JSON.stringify({ client_id: c.client_id, redirect_uris: [CB], client_name: 'Dyn 2' }) });
    expect(updated.status).toBe(200);
    const token2 = ((await updated.json()) as Record<string, any>).registration_access_token ?? c.registration_access_token;
    expect((await fetch(c.registration_client_uri, { method: 'DELETE', headers: { authorization: `Bearer ${token2}` } })).status).toBe(204);

    const reg = (await events({ type: 'client.registered' }))[0];
    const upd = (await events({ type: 'client.updated' }))[0];
    const del = (await events({ type: 'client.deleted' }))[0];
    expect(reg).toMatchObject({ client_id: c.client_id, ip: '127.0.0.1', result_code: 'LK8020', detail: { endpoint: 'registration' } });
    expect(upd).toMatchObject({ client_id: c.client_id, result_code: 'LK8022' });
    expect(del).toMatchObject({ client_id: c.client_id, result_code: 'LK8023' });
    const text = JSON.stringify([reg, upd, del]);
    expect(text).not.toContain(c.registration_access_token);
    if (c.client_secret) expect(text).not.toContain(c.client_secret);
    for (const e of [reg, upd, del]) expectLogged(e);
  });

  it('Core API results go through the same table: tokens issued and client authentication failures, marked core_api', async () => {
    const svc = await testService(s, 'audited');
    const cc = await svc.client({ grant_types: ['client_credentials'] });
    const ok = await core(s, 'audited', 'auth/token', { parameters: 'grant_type=client_credentials', clientId: cc.clientId, clientSecret: cc.clientSecret }, svc.token);
    expect(ok.json.action).toBe('OK');
    const bad = await core(s, 'audited', 'auth/token', { parameters: 'grant_type=client_credentials', clientId: cc.clientId, clientSecret: 'wrong-secret-wrong-secret-wrong-secret' }, svc.token);
    expect(bad.json.action).toBe('INVALID_CLIENT');
    const issued = (await events({ type: 'token.issued' }, 'audited'))[0];
    const failed = (await events({ type: 'client.auth_failed' }, 'audited'))[0];
    expect(issued).toMatchObject({ tenant_id: 'audited', client_id: cc.clientId, result_code: 'LK2001', detail: { endpoint: 'auth/token', via: 'core_api', grant_type: 'client_credentials' } });
    expect(failed).toMatchObject({ tenant_id: 'audited', client_id: cc.clientId, detail: { endpoint: 'auth/token', via: 'core_api' } });
    expect(JSON.stringify([issued, failed])).not.toContain(cc.clientSecret!);
    expect(JSON.stringify([issued, failed])).not.toContain(ok.json.responseContent ? JSON.parse(ok.json.responseContent).access_token : 'x');
    expectLogged(issued);
  });

  it('RFC 7591 §3: a registration through the Core API is recorded with the client it created (the Result names it)', async () => {
    const svc = await testService(s, 'audited-reg');
    const r = await core(s, 'audited-reg', 'client/registration', { body: JSON.stringify({ redirect_uris: [CB], client_name: 'Core Dyn' }) }, svc.token);
    expect(r.json).toMatchObject({ action: 'CREATED', resultCode: 'LK8020' });
    const c = JSON.parse(r.json.responseContent) as Record<string, any>;
    const reg = (await events({ type: 'client.registered' }, 'audited-reg'))[0];
    expect(reg).toMatchObject({ client_id: c.client_id, result_code: 'LK8020', detail: { endpoint: 'client/registration', via: 'core_api' } });
    expect(JSON.stringify(reg)).not.toContain(c.registration_access_token);
  });

  it('a failed JWT client authentication (RFC 7523 §3) is recorded under the client its assertion names (its iss)', async () => {
    const id = `assertion-${randomBytes(4).toString('hex')}`; // no such client: the record says who the request claimed to be
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const assertion = `${b64({ alg: 'ES256' })}.${b64({ iss: id, sub: id, aud: s.issuer, exp: Math.floor(Date.now() / 1000) + 60, jti: randomBytes(8).toString('hex') })}.${'A'.repeat(86)}`;
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });
    expect(r.status).toBe(401);
    expect((await events({ type: 'client.auth_failed' })).find((e) => e.client_id === id), JSON.stringify(await events({ type: 'client.auth_failed' }))).toBeDefined();
  });

  it('one rule for an event\'s detail: the same outcome through the token endpoint and through the Core API differs only in endpoint and via', async () => {
    const http = await s.client({ grant_types: ['client_credentials'] });
    const svc = await testService(s, 'audited-same');
    const cc = await svc.client({ grant_types: ['client_credentials'] });
    const wrong = 'wrong-secret-wrong-secret-wrong-secret';
    expect((await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(http.clientId, wrong) })).status).toBe(401);
    expect((await core(s, 'audited-same', 'auth/token', { parameters: 'grant_type=client_credentials', clientId: cc.clientId, clientSecret: wrong }, svc.token)).json.action).toBe('INVALID_CLIENT');
    const viaHttp = (await events({ type: 'client.auth_failed' })).find((e) => e.client_id === http.clientId);
    const viaCore = (await events({ type: 'client.auth_failed' }, 'audited-same'))[0];
    expect(viaHttp.detail).toEqual({ endpoint: 'token', grant_type: 'client_credentials', message: 'Client authentication failed: wrong or missing secret. wrong secret' });
    expect(viaCore.detail).toEqual({ ...viaHttp.detail, endpoint: 'auth/token', via: 'core_api' });
    expect([viaHttp.client_id, viaCore.client_id]).toEqual([http.clientId, cc.clientId]);
  });
});

describe('audit events of CLI writes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-audit-cli-'));
  let databaseUrl: string | undefined;
  const cli = (args: string[], input?: string) => {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd: dir,
      input,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, LATCHKEY_LOG_LEVEL: 'silent', LATCHKEY_DEMO: 'false', ...(databaseUrl ? { LATCHKEY_DATABASE_URL: databaseUrl } : {}) },
    });
    expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  beforeAll(async () => {
    databaseUrl = adminDatabaseUrl() ? await testDatabaseUrl(dir) : undefined;
  });
  afterAll(async () => {
    if (databaseUrl) await dropTestDatabase(databaseUrl);
  });

  it('client, user, key and service-token create / rotate / delete by the CLI are admin.action events with source cli, ids only', () => {
    const secret = randomBytes(24).toString('base64url');
    cli(['client', 'create', '--client-id', 'cli-app', '--secret', secret, '--json']);
    const rotated = JSON.parse(cli(['client', 'rotate-secret', 'cli-app', '--json'])).client_secret as string;
    cli(['client', 'delete', 'cli-app']);
    const user = JSON.parse(cli(['user', 'create', '--username', 'erin', '--password', 'erin-password-1', '--json']));
    cli(['user', 'delete', user.sub]);
    const keys = JSON.parse(cli(['keys', 'rotate', '--alg', 'ES256', '--json'])) as { kid: string }[];
    const st = JSON.parse(cli(['service-token', 'create', '--name', 'ci', '--json']));
    cli(['service-token', 'revoke', st.id]);
    cli(['client', 'list']); // a read: not an event

    const all = JSON.parse(cli(['audit', 'list', '--type', 'admin.action', '--json'])) as any[];
    const by = (command: string) => all.filter((e) => e.detail.command === command);
    expect(all.every((e) => e.detail.source === 'cli' && e.type === 'admin.action' && e.tenant_id === 'default')).toBe(true);
    expect(by('client create')[0]).toMatchObject({ client_id: 'cli-app', detail: { target: 'cli-app' } });
    expect(by('client rotate-secret')[0]).toMatchObject({ client_id: 'cli-app' });
    expect(by('client delete')[0]).toMatchObject({ client_id: 'cli-app' });
    expect(by('user create')[0]).toMatchObject({ subject: user.sub });
    expect(by('user delete')[0]).toMatchObject({ subject: user.sub });
    expect(by('keys rotate')[0].detail.kids).toEqual(keys.map((k) => k.kid));
    expect(by('service-token create')[0]).toMatchObject({ detail: { target: st.id } });
    expect(by('service-token revoke')[0]).toMatchObject({ detail: { target: st.id } });
    expect(by('client list')).toEqual([]);
    const text = JSON.stringify(all);
    for (const s of [secret, rotated, st.token, 'erin-password-1']) expect(text).not.toContain(s);
  });

  it('a create printed for people (no --json) is recorded with the id the operation reported', () => {
    cli(['registration-token', 'create', '--name', 'plain']);
    const made = (JSON.parse(cli(['registration-token', 'list', '--json'])) as { id: string; name: string }[]).find((t) => t.name === 'plain')!;
    const all = JSON.parse(cli(['audit', 'list', '--type', 'admin.action', '--json'])) as any[];
    expect(all.find((e) => e.detail.command === 'registration-token create')).toMatchObject({ detail: { source: 'cli', target: made.id } });
  });

  it('`latchkey session end SID` is a logout event with source cli (the same function as the admin API\'s session end), and an ended session is an error', async () => {
    const user = JSON.parse(cli(['user', 'create', '--username', 'ivan', '--password', 'ivan-password-1', '--json']));
    // A browser session, as the sign-in page creates it, in the database the CLI uses.
    const config = loadConfig({ env: {}, overrides: { dataDir: join(dir, 'data'), logLevel: 'silent', demo: false, ...(databaseUrl ? { databaseUrl } : {}) } });
    const lk = await Latchkey.open({ config });
    const { session } = await createSession(await lk.context('default'), user.sub);
    await lk.close();
    cli(['session', 'end', session.sid]);
    const again = spawnSync(process.execPath, [BIN, 'session', 'end', session.sid], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, LATCHKEY_LOG_LEVEL: 'silent', LATCHKEY_DEMO: 'false', ...(databaseUrl ? { LATCHKEY_DATABASE_URL: databaseUrl } : {}) } });
    expect(again.status).not.toBe(0);
    expect(again.stderr).toMatch(/no live session/);
    const logouts = JSON.parse(cli(['audit', 'list', '--type', 'logout', '--json'])) as any[];
    expect(logouts).toHaveLength(1);
    expect(logouts[0]).toMatchObject({ tenant_id: 'default', subject: user.sub, client_id: null, detail: { method: 'session_end', sid: session.sid, source: 'cli' } });
  });
});
