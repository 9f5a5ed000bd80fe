import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';

describe('session id renewal at sign-in (OWASP Session Management Cheat Sheet: renew the session id after authentication)', () => {
  let s: TestServer;
  let clientId: string;
  let bobSub: string;

  beforeAll(async () => {
    s = await startTestServer();
    clientId = (await s.client({ redirect_uris: [CB], skip_consent: true })).clientId;
    await s.user('alice', 'alice-password');
    bobSub = await s.user('bob', 'bob-password');
  });
  afterAll(() => s.close());

  const authUrl = (extra: Record<string, string> = {}) =>
    `${s.issuer}/oauth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'x', ...extra })}`;
  const session = (cookie: string) => s.lk.store.findSession('default', s.ctx.hasher.hash(cookie));

  /** prompt=none with only this cookie: a code while the session lives, login_required once it does not. */
  async function replay(cookie: string): Promise<URL> {
    const r = await new Agent(s.issuer).request(authUrl({ prompt: 'none' }), { headers: { cookie: `lk_session=${cookie}` } });
    return new URL(r.location!);
  }

  it('OWASP session management: signing in again (prompt=login) issues a new session id; the one presented before stops working, the sid stays', async () => {
    const agent = new Agent(s.issuer);
    expect((await agent.authorize(authUrl(), 'alice', 'alice-password')).searchParams.get('code')).toBeTruthy();
    const before = agent.cookieValue('lk_session')!;
    const sid = (await session(before))!.sid;
    expect((await replay(before)).searchParams.get('code')).toBeTruthy();

    expect((await agent.authorize(authUrl({ prompt: 'login' }), 'alice', 'alice-password')).searchParams.get('code')).toBeTruthy();
    const after = agent.cookieValue('lk_session')!;
    expect(after).not.toBe(before);
    expect(await session(before)).toBeUndefined();
    // The same OIDC session (its clients stay in it, and a logout still ends all of them), under a new id.
    expect((await session(after))!.sid).toBe(sid);
    expect((await replay(before)).searchParams.get('error')).toBe('login_required');
    expect((await replay(after)).searchParams.get('code')).toBeTruthy();
  });

  it('OWASP session management: another user signing in ends the session the browser held (a logout, audited)', async () => {
    const agent = new Agent(s.issuer);
    await agent.authorize(authUrl(), 'alice', 'alice-password');
    const alice = agent.cookieValue('lk_session')!;
    const aliceSid = (await session(alice))!.sid;

    await agent.authorize(authUrl({ prompt: 'login' }), 'bob', 'bob-password');
    const bob = agent.cookieValue('lk_session')!;
    expect((await session(bob))!.subject).toBe(bobSub);
    expect((await session(alice))!.endedAt).not.toBeNull();
    expect((await replay(alice)).searchParams.get('error')).toBe('login_required');
    await s.lk.audit.flush();
    const events = await s.lk.store.listAuditEvents('default', { type: 'logout', limit: 10 });
    expect(events.some((e) => e.detail.method === 'signed_in_again' && e.detail.sid === aliceSid)).toBe(true);
  });

  it('OWASP session management: a cookie value the browser was given before signing in is never made a session', async () => {
    const agent = new Agent(s.issuer);
    const planted = 'planted-value-0123456789abcdefghijklmnopqrstu';
    let page = await agent.follow(authUrl());
    page = await agent.request(Agent.formAction(page.html, '/login'), {
      form: { csrf: Agent.formValue(page.html, 'csrf')!, username: 'alice', password: 'alice-password' },
      headers: { cookie: `${agent.cookies().map((n) => `${n}=${agent.cookieValue(n)}`).join('; ')}; lk_session=${planted}` },
    });
    expect(page.status).toBe(303);
    expect(agent.cookieValue('lk_session')).not.toBe(planted);
    expect(await session(planted)).toBeUndefined();
  });
});
