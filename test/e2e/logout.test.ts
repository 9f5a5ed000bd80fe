import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { core } from '../helpers/core-api.js';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { DEFAULT_TENANT } from '../../src/store/types.js';
import { startLogoutRp, waitFor } from '../helpers/logout-rp.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

describe('RP-Initiated and Back-Channel Logout over HTTP', () => {
  let s: TestServer;
  let rp: Awaited<ReturnType<typeof startLogoutRp>>;
  let clock = Date.now();
  let app: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    rp = await startLogoutRp();
    s = await startTestServer({}, { clock: () => clock });
    app = await s.client({
      redirect_uris: [`${rp.base}/cb`], post_logout_redirect_uris: [`${rp.base}/bye`], backchannel_logout_uri: `${rp.base}/bc`,
      grant_types: ['authorization_code', 'refresh_token'], skip_consent: true, session_refresh_tokens: true,
    });
    await s.user('carol', 'carol-password');
  });
  afterAll(async () => {
    await s.close();
    await rp.close();
  });

  async function signIn(agent: Agent, scope = 'openid') {
    const cb = await agent.authorize(
      `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: app.clientId, redirect_uri: `${rp.base}/cb`, response_type: 'code', scope }),
      'carol', 'carol-password',
    );
    return (await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: `${rp.base}/cb` }, { authorization: basic(app.clientId, app.clientSecret!) })).json;
  }
  const logoutUrl = (p: Record<string, string>) => `${s.issuer}/oauth/logout?${new URLSearchParams(p)}`;

  it('discovery advertises the logout endpoints and capabilities', async () => {
    const d = await (await fetch(s.url('/.well-known/openid-configuration'))).json();
    expect(d.end_session_endpoint).toBe(`${s.issuer}/oauth/logout`);
    expect(d).toMatchObject({ frontchannel_logout_supported: true, frontchannel_logout_session_supported: true, backchannel_logout_supported: true, backchannel_logout_session_supported: true });
  });

  it('RP-Initiated Logout §3: an unregistered post_logout_redirect_uri is not followed', async () => {
    const agent = new Agent(s.issuer);
    const t = await signIn(agent);
    const r = await agent.request(logoutUrl({ id_token_hint: t.id_token, post_logout_redirect_uri: 'https://evil.example/bye' }));
    expect(r.status).toBe(400);
    expect(r.location).toBeUndefined();
    // Without a way to identify the client, even a registered URI cannot be trusted.
    const r2 = await agent.request(logoutUrl({ post_logout_redirect_uri: `${rp.base}/bye` }));
    expect(r2.status).toBe(400);
    // The session is untouched.
    const again = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: app.clientId, redirect_uri: `${rp.base}/cb`, response_type: 'code', scope: 'openid', prompt: 'none' }));
    expect(again.location).toMatch(/code=/);
  });

  it('RP-Initiated Logout §2: an id_token_hint that is not ours is rejected; an expired one is accepted', async () => {
    const agent = new Agent(s.issuer);
    const t = await signIn(agent);
    expect((await agent.request(logoutUrl({ id_token_hint: t.id_token.slice(0, -3) + 'abc' }))).status).toBe(400);
    clock += 2 * 3600_000; // past the ID token's exp (1 h), still within the session's idle lifetime (1 day)
    const r = await agent.request(logoutUrl({ id_token_hint: t.id_token, post_logout_redirect_uri: `${rp.base}/bye`, state: 's1' }));
    expect(r.status).toBe(303);
    expect(r.location).toBe(`${rp.base}/bye?state=s1`);
  });

  it('RFC 6749 §3.1.2, RP-Initiated Logout §3: responses go to the registered URI as registered (its case, port and query kept), parameters appended', async () => {
    const cb = 'https://RP.Example:443/cb?x=a%20b';
    const bye = 'https://RP.Example:443/bye?x=a%20b';
    const odd = await s.client({ redirect_uris: [cb], post_logout_redirect_uris: [bye, 'https://rp.example'], grant_types: ['authorization_code'], skip_consent: true });
    const agent = new Agent(s.issuer);
    const page = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: odd.clientId, redirect_uri: cb, response_type: 'code', scope: 'openid', state: 'st' }));
    const back = await agent.login(page, 'carol', 'carol-password');
    expect(back.rawLocation!.startsWith(`${cb}&code=`)).toBe(true);
    expect(new URL(back.location!).searchParams.get('state')).toBe('st');
    const code = new URL(back.location!).searchParams.get('code')!;
    const t = (await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code, redirect_uri: cb }, { authorization: basic(odd.clientId, odd.clientSecret!) })).json;
    const r = await agent.request(logoutUrl({ id_token_hint: t.id_token, post_logout_redirect_uri: bye, state: 's 1' }));
    expect(r.rawLocation).toBe(`${bye}&state=s+1`);
    // A registered URI with no path gets none added.
    const r2 = await new Agent(s.issuer).request(logoutUrl({ client_id: odd.clientId, post_logout_redirect_uri: 'https://rp.example', state: 's2' }));
    expect(r2.rawLocation).toBe('https://rp.example?state=s2');
  });

  it('a logout confirmation ticket is no authorization ticket: the Core API issue step refuses it (BAD_REQUEST LK3006, not a 500) and the user can still sign out', async () => {
    const agent = new Agent(s.issuer);
    await signIn(agent);
    const page = await agent.request(logoutUrl({ client_id: app.clientId }));
    const action = Agent.formAction(page.html, '/logout/');
    const ticket = action.split('/logout/')[1]!;
    const { token } = await createServiceToken(s.lk, { name: 'logout ticket test' });
    for (const [path, body] of [['auth/authorization/issue', { ticket, subject: 'carol', authTime: Math.floor(clock / 1000) }], ['auth/authorization/fail', { ticket, reason: 'ACCESS_DENIED' }]] as const) {
      const r = await core(s, DEFAULT_TENANT, path, body, token);
      // The Core API answers 200 with the engine's Result; the Result is the 400 the host would send.
      expect(r.json, r.text).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK3006' });
    }
    const ok = await agent.request(action, { form: { decision: 'logout', csrf: Agent.formValue(page.html, 'csrf')! } });
    expect(ok.html).toContain('You are signed out');
  });

  it('the confirmation form requires its CSRF token', async () => {
    const agent = new Agent(s.issuer);
    await signIn(agent);
    const page = await agent.request(logoutUrl({ client_id: app.clientId }));
    expect(page.html).toContain('Sign out?');
    const action = Agent.formAction(page.html, '/logout/');
    expect((await agent.request(action, { form: { decision: 'logout' } })).status).toBe(403);
    const ok = await agent.request(action, { form: { decision: 'logout', csrf: Agent.formValue(page.html, 'csrf')! } });
    expect(ok.status).toBe(200);
    expect(ok.html).toContain('You are signed out');
    // A ticket is single use.
    expect((await agent.request(action, { form: { decision: 'logout', csrf: Agent.formValue(page.html, 'csrf')! } })).status).toBe(400);
  });

  it('OIDC Core §11: an offline_access grant outlives the session; a session-bound one does not', async () => {
    const agent = new Agent(s.issuer);
    const offline = await signIn(agent, 'openid offline_access');
    const bound = await signIn(agent, 'openid');
    await agent.request(logoutUrl({ id_token_hint: bound.id_token }));
    const refresh = (rt: string) => postForm(s.url('/oauth/token'), { grant_type: 'refresh_token', refresh_token: rt }, { authorization: basic(app.clientId, app.clientSecret!) });
    expect((await refresh(offline.refresh_token)).status).toBe(200);
    expect((await refresh(bound.refresh_token)).json.error).toBe('invalid_grant');
  });

  it('Back-Channel Logout §2.5: a receiver that is down is recorded and retried until it answers', async () => {
    rp.state.down = true;
    const before = rp.backchannel.length;
    const agent = new Agent(s.issuer);
    const t = await signIn(agent);
    await agent.request(logoutUrl({ id_token_hint: t.id_token }));
    const failed = (await s.ctx.store.listDeliveries(s.ctx.tenant.id, app.clientId)).filter((d) => d.deliveredAt === null);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ attempts: 1, lastError: 'HTTP 503' });
    expect(failed[0]!.nextAttemptAt).toBeGreaterThan(Math.floor(clock / 1000));
    // Not due yet: the sweep leaves it alone.
    expect(await s.lk.backchannel.runOnce()).toBe(0);
    rp.state.down = false;
    clock += 11_000;
    expect(await s.lk.backchannel.runOnce()).toBe(1);
    await waitFor(() => rp.backchannel.length === before + 1);
    const done = (await s.ctx.store.listDeliveries(s.ctx.tenant.id, app.clientId)).find((d) => d.id === failed[0]!.id)!;
    expect(done).toMatchObject({ attempts: 2, lastError: null, nextAttemptAt: null });
    expect(done.deliveredAt).not.toBeNull();
  });
});
