import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationFail, authorizationIssue } from '../../src/engine/authorization/index.js';
import { token, tokenIssue } from '../../src/engine/token/index.js';
import { deleteClient, registerClient } from '../../src/services/clients.js';
import { deleteUser, listUserGrants, revokeUserGrant } from '../../src/services/users.js';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Consent and pending interactions belong to one client record (OIDC Core §3.1.2.4) and one user: deleting the
 * client (admin service, RFC 7592 DELETE) or the user, or revoking the user's grant, takes them along, so a client
 * registered again under the same client_id inherits no consent and cannot finish what was begun for the earlier
 * one (RFC 6749 §3.1.2.2: that ticket's redirect URI was registered for the earlier client only).
 */
describe('consent and pending interactions go with the client, user or grant they belong to', () => {
  let s: TestServer;
  let clock = Date.now();
  const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
  const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGjSstw-cM';
  let n = 0;
  const fresh = () => `app-${++n}`;

  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' }, { clock: () => clock });
    await s.user('alice', 'correct horse battery');
  });
  afterAll(() => s?.close());

  const authorizeUrl = (clientId: string, redirectUri: string) =>
    `/oauth/authorize?${new URLSearchParams({
      response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'openid profile', state: 's',
      code_challenge: CHALLENGE, code_challenge_method: 'S256',
    })}`;
  const register = (clientId: string, redirectUri: string, extra: Record<string, unknown> = {}) =>
    registerClient(s.ctx, { client_id: clientId, client_secret: 'x'.repeat(40), redirect_uris: [redirectUri], ...extra });
  /** Sign in and approve: the first flow, which leaves a consent behind. */
  const consented = async (agent: Agent, clientId: string, redirectUri: string) => {
    const done = await agent.authorize(authorizeUrl(clientId, redirectUri), 'alice', 'correct horse battery');
    expect(done.origin + done.pathname).toBe(redirectUri);
    expect(done.searchParams.get('code')).toBeTruthy();
  };
  /** The page an authorization request of a signed-in user lands on (no redirect to the client). */
  const expectConsentPage = async (agent: Agent, url: string) => {
    const r = await agent.follow(url);
    expect(r.location).toBeUndefined();
    expect(r.status).toBe(200);
    expect(r.html).toContain('/consent');
  };
  const later = () => {
    clock += 10_000; // a client registered again is a later record than the one deleted
  };

  it('OIDC Core §3.1.2.4: a client deleted and registered again under its client_id (admin) has no consent: the user is asked', async () => {
    const id = fresh();
    const agent = new Agent(s.issuer);
    await register(id, 'https://good.example/cb');
    await consented(agent, id, 'https://good.example/cb');
    await deleteClient(s.ctx, id);
    expect(await s.ctx.store.findConsent(s.ctx.tenant.id, (await s.ctx.store.findUserByUsername(s.ctx.tenant.id, 'alice'))!.id, id)).toBeUndefined();
    later();
    await register(id, 'https://evil.example/cb', { client_name: 'Totally different app' });
    await expectConsentPage(agent, authorizeUrl(id, 'https://evil.example/cb'));
  });

  it('RFC 7592 §2.3: deleting a dynamically registered client deletes its users\' consents', async () => {
    const agent = new Agent(s.issuer);
    const res = await fetch(s.url('/oauth/register'), {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['https://good.example/cb'], token_endpoint_auth_method: 'client_secret_basic' }),
    });
    expect(res.status).toBe(201);
    const reg = (await res.json()) as Record<string, string>;
    await consented(agent, reg.client_id!, 'https://good.example/cb');
    const del = await fetch(s.url(new URL(reg.registration_client_uri!).pathname), { method: 'DELETE', headers: { authorization: `Bearer ${reg.registration_access_token}` } });
    expect(del.status).toBe(204);
    later();
    await register(reg.client_id!, 'https://evil.example/cb');
    await expectConsentPage(agent, authorizeUrl(reg.client_id!, 'https://evil.example/cb'));
  });

  it('RFC 6749 §3.1.2.2: a sign-in begun for a deleted client cannot be finished for one registered again under its client_id', async () => {
    const id = fresh();
    const agent = new Agent(s.issuer);
    await register(id, 'https://good.example/cb');
    const started = await agent.request(authorizeUrl(id, 'https://good.example/cb'));
    expect(started.status).toBe(303);
    const interaction = started.location!;
    await deleteClient(s.ctx, id);
    later();
    await register(id, 'https://new.example/cb');
    const page = await agent.follow(interaction);
    expect(page.status).toBe(400);
    expect(page.html).not.toContain('name="password"');
    expect(page.location).toBeUndefined();
  });

  it('a ticket records the client record it was made for: one that outlived its client (written during the deletion) is refused for a new record', async () => {
    const id = fresh();
    const agent = new Agent(s.issuer);
    await register(id, 'https://good.example/cb');
    const started = await agent.request(authorizeUrl(id, 'https://good.example/cb'));
    const ticket = new URL(started.location!).pathname.split('/').pop()!;
    // The client row goes but the ticket stays, as when a request parked it while the deletion committed.
    await s.ctx.store.deleteClient(s.ctx.tenant.id, id);
    later();
    await register(id, 'https://new.example/cb');
    expect((await agent.follow(started.location!)).status).toBe(400);
    const sub = (await s.ctx.store.findUserByUsername(s.ctx.tenant.id, 'alice'))!.id;
    const r = await authorizationIssue({ ticket, subject: sub, authTime: Math.floor(clock / 1000) }, s.ctx);
    expect(r.action).toBe('BAD_REQUEST');
    expect(r.resultCode).toBe('LK3006');
  });

  it('a consent saved for an earlier client record under the same client_id does not cover the new one', async () => {
    const id = fresh();
    const agent = new Agent(s.issuer);
    await register(id, 'https://good.example/cb');
    await consented(agent, id, 'https://good.example/cb');
    // The client row goes but the consent stays, as when a consent page was submitted while the deletion committed.
    await s.ctx.store.deleteClient(s.ctx.tenant.id, id);
    later();
    await register(id, 'https://evil.example/cb');
    await expectConsentPage(agent, authorizeUrl(id, 'https://evil.example/cb'));
  });

  it('RFC 9126: a pushed request of a deleted client cannot be used by one registered again under its client_id', async () => {
    const id = fresh();
    await register(id, 'https://good.example/cb');
    const push = await postForm(s.url('/oauth/par'), {
      response_type: 'code', redirect_uri: 'https://good.example/cb', scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256',
    }, { authorization: basic(id, 'x'.repeat(40)) });
    expect(push.status).toBe(201);
    await deleteClient(s.ctx, id);
    later();
    await register(id, 'https://good.example/cb');
    const agent = new Agent(s.issuer);
    const r = await agent.request(`/oauth/authorize?${new URLSearchParams({ client_id: id, request_uri: push.json.request_uri })}`);
    expect(r.location ?? '').not.toContain('/interaction/');
    expect(r.status).toBe(400);
  });

  it('RFC 8628: a device code approved for a deleted client gives no tokens to one registered again under its client_id', async () => {
    const id = fresh();
    const meta = { client_id: id, grant_types: [GRANT], token_endpoint_auth_method: 'none', scope: 'openid profile' };
    await registerClient(s.ctx, meta);
    const d = await postForm(s.url('/oauth/device_authorization'), { client_id: id, scope: 'openid profile' });
    expect(d.status).toBe(200);
    const agent = new Agent(s.issuer);
    const login = await agent.follow(`/device?user_code=${encodeURIComponent(d.json.user_code)}`);
    const codePage = await agent.follow(Agent.formAction(login.html, '/device/login'), {
      form: { csrf: Agent.formValue(login.html, 'csrf')!, user_code: Agent.formValue(login.html, 'user_code')!, username: 'alice', password: 'correct horse battery' },
    });
    const confirm = await agent.follow('/device', { form: { csrf: Agent.formValue(codePage.html, 'csrf')!, user_code: d.json.user_code } });
    const done = await agent.follow('/device/confirm', {
      form: { csrf: Agent.formValue(confirm.html, 'csrf')!, binding: Agent.formValue(confirm.html, 'binding')!, user_code: d.json.user_code, decision: 'approve' },
    });
    expect(done.status).toBe(200);
    await deleteClient(s.ctx, id);
    later();
    await registerClient(s.ctx, meta);
    const poll = await postForm(s.url('/oauth/token'), { grant_type: GRANT, device_code: d.json.device_code, client_id: id });
    expect(poll.status).toBe(400);
    expect(poll.json.access_token).toBeUndefined();
  });

  it('revoking a user\'s grant forgets their consent to its client: the next authorization asks again', async () => {
    const id = fresh();
    const agent = new Agent(s.issuer);
    await register(id, 'https://good.example/cb');
    await consented(agent, id, 'https://good.example/cb');
    const sub = (await s.ctx.store.findUserByUsername(s.ctx.tenant.id, 'alice'))!.id;
    const grant = (await listUserGrants(s.ctx, sub)).find((g) => g.clientId === id)!;
    // Still consented: a second request goes straight back to the client.
    expect((await agent.follow(authorizeUrl(id, 'https://good.example/cb'))).location).toMatch(/^https:\/\/good\.example\/cb\?code=/);
    await revokeUserGrant(s.ctx, sub, grant.id);
    expect(await s.ctx.store.findConsent(s.ctx.tenant.id, sub, id)).toBeUndefined();
    await expectConsentPage(agent, authorizeUrl(id, 'https://good.example/cb'));
  });

  it('deleting a user forgets every consent they gave', async () => {
    const id = fresh();
    const agent = new Agent(s.issuer);
    const bob = await s.user('bob', 'bob-password-long');
    await register(id, 'https://good.example/cb');
    const done = await agent.authorize(authorizeUrl(id, 'https://good.example/cb'), 'bob', 'bob-password-long');
    expect(done.searchParams.get('code')).toBeTruthy();
    expect(await s.ctx.store.findConsent(s.ctx.tenant.id, bob, id)).toBeDefined();
    await deleteUser(s.ctx, bob);
    expect(await s.ctx.store.findConsent(s.ctx.tenant.id, bob, id)).toBeUndefined();
  });

  it('RFC 6749 §4.3: a password-grant request of a deleted client cannot be finished for one registered again under its client_id', async () => {
    const meta = { client_id: fresh(), client_secret: 'p'.repeat(40), grant_types: ['password'], insecure_password_grant: true, scope: 'openid' };
    const ask = () => token({ parameters: 'grant_type=password&username=zoe&password=pw&scope=openid', clientId: meta.client_id, clientSecret: meta.client_secret }, s.ctx);
    await registerClient(s.ctx, meta);
    const first = await ask();
    expect(first.action).toBe('PASSWORD');
    // Deleting the client deletes the ticket ...
    await deleteClient(s.ctx, meta.client_id);
    later();
    await registerClient(s.ctx, meta);
    expect((await tokenIssue({ ticket: first.ticket!, subject: 'zoe' }, s.ctx)).resultCode).toBe('LK6013');
    // ... and a ticket that outlived its client row (written while it was being deleted) names the earlier record.
    const second = await ask();
    await s.ctx.store.deleteClient(s.ctx.tenant.id, meta.client_id);
    later();
    await registerClient(s.ctx, meta);
    expect((await tokenIssue({ ticket: second.ticket!, subject: 'zoe' }, s.ctx)).resultCode).toBe('LK6013');
  });

  it('the issue and fail steps take only an authorization ticket: another flow\'s ticket presented there is not burned', async () => {
    for (const [prefix, kind] of [['logout:', 'logout'], ['password-grant:', 'password']] as const) {
      const value = `t${kind}${n++}`;
      const hash = s.ctx.hasher.hash(`${prefix}${value}`);
      await s.ctx.store.insertTicket({ tenantId: s.ctx.tenant.id, hash, clientId: 'x', expiresAt: Math.floor(clock / 1000) + 600, consumedAt: null, data: { kind } });
      expect((await authorizationIssue({ ticket: `${prefix}${value}`, subject: 'alice', authTime: Math.floor(clock / 1000) }, s.ctx)).resultCode).toBe('LK3006');
      expect((await authorizationFail({ ticket: `${prefix}${value}`, reason: 'ACCESS_DENIED' }, s.ctx)).resultCode).toBe('LK3006');
      expect((await s.ctx.store.findTicket(s.ctx.tenant.id, hash))!.consumedAt).toBeNull();
    }
  });
});
