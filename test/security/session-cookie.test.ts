import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { registerClient } from '../../src/services/clients.js';
import { createTenant } from '../../src/services/tenants.js';
import { createUser } from '../../src/services/users.js';

const CB = 'https://rp.example/cb';
const ISSUER = 'https://login.example';

/**
 * Behind a TLS-terminating proxy: the issuer is https, the server itself speaks plain HTTP (the test talks to it
 * directly). Cookie attributes follow the issuer, never the request.
 */
describe('the session, binding and CSRF cookies over https (OWASP Session Management Cheat Sheet: cookies)', () => {
  let s: TestServer;
  let clientId: string;
  let local: string;

  beforeAll(async () => {
    const port = await freePort();
    s = await startTestServer({ port, issuer: ISSUER });
    local = `http://127.0.0.1:${port}`;
    clientId = (await s.client({ redirect_uris: [CB], skip_consent: true })).clientId;
    await s.user('kim', 'kim-password');
  });
  afterAll(() => s.close());

  const authPath = (extra: Record<string, string> = {}) =>
    `/oauth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'x', ...extra })}`;
  const local_ = (u: string) => local + new URL(u, ISSUER).pathname + new URL(u, ISSUER).search;

  /** Sign in; the session cookie's Set-Cookie line. */
  async function signIn(): Promise<string> {
    const agent = new Agent(local);
    const start = await agent.request(authPath());
    expect(start.status).toBe(303);
    const page = await agent.request(local_(start.rawLocation!));
    const r = await agent.request(local_(Agent.formAction(page.html, '/login')), {
      form: { csrf: Agent.formValue(page.html, 'csrf')!, username: 'kim', password: 'kim-password' },
    });
    expect(r.status).toBe(303);
    return r.headers.getSetCookie().find((c) => /lk_session=/.test(c))!;
  }

  it('OWASP session management: over https the session cookie is __Host-: Secure, HttpOnly, SameSite=Lax, Path=/, no Domain', async () => {
    const set = await signIn();
    expect(set).toMatch(/^__Host-lk_session=[A-Za-z0-9_-]{43};/);
    const attrs = set.split(';').map((a) => a.trim().toLowerCase());
    expect(attrs).toEqual(expect.arrayContaining(['secure', 'httponly', 'samesite=lax', 'path=/']));
    expect(attrs.some((a) => a.startsWith('domain='))).toBe(false);
  });

  it('OWASP session management: a same-named cookie without the prefix (as a sibling subdomain could set) is not a session', async () => {
    const value = (await signIn()).split(';')[0]!.split('=')[1]!;
    const withPrefix = await fetch(local + authPath({ prompt: 'none' }), { headers: { cookie: `__Host-lk_session=${value}` }, redirect: 'manual' });
    expect(new URL(withPrefix.headers.get('location')!).searchParams.get('code')).toBeTruthy();
    const tossed = await fetch(local + authPath({ prompt: 'none' }), { headers: { cookie: `lk_session=${value}` }, redirect: 'manual' });
    expect(new URL(tossed.headers.get('location')!).searchParams.get('error')).toBe('login_required');
  });

  /** Start an authorization without a session: the interaction path and the binding cookie's Set-Cookie line. */
  async function startSignIn(base = ''): Promise<{ path: string; set: string }> {
    const r = await fetch(local + base + authPath(), { redirect: 'manual' });
    expect(r.status).toBe(303);
    return { path: r.headers.get('location')!, set: r.headers.getSetCookie().find((c) => /lk_ix/.test(c))! };
  }

  it('RFC 6265bis §4.1.3.2: over https the sign-in binding cookie is __Host-lk_ix_<per sign-in>: Secure, HttpOnly, Path=/, no Domain', async () => {
    const { set } = await startSignIn();
    expect(set).toMatch(/^__Host-lk_ix_[A-Za-z0-9_-]{16}=[A-Za-z0-9_-]{43};/);
    const attrs = set.split(';').map((a) => a.trim().toLowerCase());
    expect(attrs).toEqual(expect.arrayContaining(['secure', 'httponly', 'path=/']));
    expect(attrs.some((a) => a.startsWith('domain='))).toBe(false);
    expect((await startSignIn()).set.split('=')[0]).not.toBe(set.split('=')[0]); // each sign-in its own
  });

  it('RFC 6265bis §4.1.3: a binding cookie without the __Host- prefix (as a sibling subdomain could plant, __Secure- included) does not bind the sign-in to the browser', async () => {
    const { path, set } = await startSignIn();
    const [name, value] = set.split(';')[0]!.split('=') as [string, string];
    expect((await fetch(local + path, { headers: { cookie: `${name}=${value}` } })).status).toBe(200);
    for (const planted of [name.replace('__Host-', ''), name.replace('__Host-', '__Secure-'), '__Secure-lk_ix', 'lk_ix']) {
      expect((await fetch(local + path, { headers: { cookie: `${planted}=${value}` } })).status).toBe(403);
    }
  });

  it('RFC 6265bis §4.1.3.2: over https the device page\'s CSRF cookie is __Host-lk_dev (Path=/: a sibling subdomain can set a __Secure- one); one without the prefix is no CSRF cookie', async () => {
    const page = await fetch(local + '/device');
    const set = page.headers.getSetCookie().find((c) => /lk_dev/.test(c))!;
    expect(set).toMatch(/^__Host-lk_dev=[A-Za-z0-9_-]{43}; Path=\/;.*Secure/);
    expect(set).not.toMatch(/domain=/i);
    const value = set.split(';')[0]!.split('=')[1]!;
    const csrf = Agent.formValue(await page.text(), 'csrf')!;
    const post = (cookie: string) =>
      fetch(local + '/device/login', { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, username: 'kim', password: 'wrong', user_code: '' }), redirect: 'manual' });
    expect((await post(`__Host-lk_dev=${value}`)).status).not.toBe(403);
    expect((await post(`lk_dev=${value}`)).status).toBe(403);
    expect((await post(`__Secure-lk_dev=${value}`)).status).toBe(403); // what a sibling subdomain could plant
  });

  it('RFC 6265bis §4.1.3: a tenant\'s binding and device CSRF cookies over https are __Host- too, with its id in the name', async () => {
    await createTenant(s.lk, { id: 'acme' });
    const ctx = await s.lk.context('acme');
    await registerClient(ctx, { client_id: clientId, redirect_uris: [CB], skip_consent: true });
    const { path, set } = await startSignIn('/t/acme');
    expect(path).toMatch(/^\/t\/acme\/interaction\//);
    expect(set).toMatch(/^__Host-lk_ix_acme_[A-Za-z0-9_-]{16}=[A-Za-z0-9_-]{43}; Path=\/;/);
    const dev = (await fetch(local + '/t/acme/device')).headers.getSetCookie().find((c) => /lk_dev/.test(c))!;
    expect(dev).toMatch(/^__Host-lk_dev_acme=[^;]+; Path=\/;/);
  });

  it('RFC 6265bis §4.1.3.2: a tenant\'s session cookie over https is __Host-lk_session_<id> (Path=/): a __Secure- one a sibling subdomain planted is no session', async () => {
    await createUser(await s.lk.context('acme'), { username: 'tess', password: 'tess-password-1' });
    const agent = new Agent(local);
    const start = await agent.request('/t/acme' + authPath());
    const page = await agent.request(local_(start.rawLocation!));
    const r = await agent.request(local_(Agent.formAction(page.html, '/login')), { form: { csrf: Agent.formValue(page.html, 'csrf')!, username: 'tess', password: 'tess-password-1' } });
    const set = r.headers.getSetCookie().find((c) => /lk_session/.test(c))!;
    expect(set).toMatch(/^__Host-lk_session_acme=[A-Za-z0-9_-]{43}; Path=\/;/);
    expect(set).not.toMatch(/domain=/i);
    const value = set.split(';')[0]!.split('=')[1]!;
    const silent = (cookie: string) => fetch(local + '/t/acme' + authPath({ prompt: 'none' }), { headers: { cookie }, redirect: 'manual' });
    expect(new URL((await silent(`__Host-lk_session_acme=${value}`)).headers.get('location')!).searchParams.get('code')).toBeTruthy();
    expect(new URL((await silent(`__Secure-lk_session_acme=${value}`)).headers.get('location')!).searchParams.get('error')).toBe('login_required');
  });
});
