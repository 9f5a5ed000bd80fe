import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerClient } from '../../src/services/clients.js';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { DEFAULT_TENANT } from '../../src/store/types.js';
import { Agent } from '../helpers/agent.js';
import { core } from '../helpers/core-api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';

/**
 * OIDC Registration §2: default_max_age is the max_age of the client's requests that send none (a max_age sent
 * overrides it); require_auth_time asks for auth_time in ID tokens, which Latchkey always sends, so it is kept and
 * returned with the client's metadata. Both are accepted at dynamic registration and from the operator.
 */
describe('OIDC Registration §2: default_max_age and require_auth_time', () => {
  let s: TestServer;
  let clock = Date.UTC(2031, 2, 1);
  const now = () => Math.floor(clock / 1000);

  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' }, { clock: () => clock });
    await s.user('max', 'max-password');
  });
  afterAll(() => s.close());

  it('OIDC Registration §2: dynamic registration (openid-client) keeps default_max_age and require_auth_time and returns them', async () => {
    const config = await client.dynamicClientRegistration(
      new URL(s.issuer),
      { redirect_uris: [CB], default_max_age: 300, require_auth_time: true },
      undefined,
      { execute: [client.allowInsecureRequests] },
    );
    expect(config.clientMetadata()).toMatchObject({ default_max_age: 300, require_auth_time: true });
    const stored = await s.ctx.store.findClient(s.ctx.tenant.id, config.clientMetadata().client_id);
    expect(stored).toMatchObject({ defaultMaxAge: 300, requireAuthTime: true });
  });

  it('the operator (admin API / CLI service) registers them too; a negative or fractional default_max_age is refused', async () => {
    const { json } = await registerClient(s.ctx, { redirect_uris: [CB], default_max_age: 0, require_auth_time: false });
    expect(json).toMatchObject({ default_max_age: 0, require_auth_time: false });
    await expect(registerClient(s.ctx, { redirect_uris: [CB], default_max_age: -1 })).rejects.toThrow(/default_max_age/);
    await expect(registerClient(s.ctx, { redirect_uris: [CB], default_max_age: 1.5 })).rejects.toThrow(/default_max_age/);
  });

  it('OIDC Registration §2: a request without max_age gets the client\'s default_max_age; max_age sent overrides it (Core API)', async () => {
    const { json: app } = await registerClient(s.ctx, { redirect_uris: [CB], default_max_age: 300, skip_consent: true });
    const service = (await createServiceToken(s.lk, { name: 'host' })).token;
    const call = (path: string, body: unknown) => core(s, DEFAULT_TENANT, path, body, service);
    const request = (extra: Record<string, string> = {}) =>
      call('auth/authorization', { parameters: new URLSearchParams({ client_id: app.client_id as string, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st', ...extra }).toString() });

    const a = await request();
    expect(a.json.maxAge).toBe(300);
    // OIDC Core §3.1.2.1: an authentication older than max_age is login_required (LK7029).
    const old = await call('auth/authorization/issue', { ticket: a.json.ticket, subject: 'user-1', authTime: now() - 400 });
    expect(new URL(old.json.responseContent).searchParams.get('error')).toBe('login_required');
    const b = await request();
    const fresh = await call('auth/authorization/issue', { ticket: b.json.ticket, subject: 'user-1', authTime: now() - 100 });
    expect(new URL(fresh.json.responseContent).searchParams.get('code')).toBeTruthy();

    const c = await request({ max_age: '1000' });
    expect(c.json.maxAge).toBe(1000);
    const older = await call('auth/authorization/issue', { ticket: c.json.ticket, subject: 'user-1', authTime: now() - 400 });
    expect(new URL(older.json.responseContent).searchParams.get('code')).toBeTruthy();
  });

  it('OIDC Registration §2: the built-in UI asks a signed-in user to sign in again once default_max_age has passed', async () => {
    const { json: app } = await registerClient(s.ctx, { redirect_uris: [CB], default_max_age: 60, skip_consent: true });
    const url = (extra: Record<string, string> = {}) =>
      `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: app.client_id as string, redirect_uri: CB, response_type: 'code', scope: 'openid', ...extra });
    const agent = new Agent(s.issuer);
    expect((await agent.authorize(url(), 'max', 'max-password')).searchParams.get('code')).toBeTruthy();
    // Within the minute the session's sign-in is recent enough.
    clock += 30_000;
    expect((await agent.follow(url())).location).toMatch(/code=/);
    clock += 60_000;
    const none = await agent.follow(url({ prompt: 'none' }));
    expect(new URL(none.location!).searchParams.get('error')).toBe('login_required');
    const again = await agent.follow(url());
    expect(again.html).toContain('name="password"');
  });
});
