import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { DEFAULT_TENANT } from '../../src/store/types.js';
import { Agent } from '../helpers/agent.js';
import { core } from '../helpers/core-api.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const insecure = { [oauth.allowInsecureRequests]: true } as const;
const HOUR = 3600_000;
const DAY = 24 * HOUR;

/**
 * OIDC Core §11: a refresh token issued without offline_access (session_refresh_tokens) is bound to the browser
 * session it was issued in, and stops working when that session ends: logged out, past its absolute lifetime
 * (sessionTtl, 14 days) or idle (sessionIdleTtl, 1 day), the same rule as the session cookie. A successful refresh is
 * activity in the session (it restarts the idle clock, as Keycloak's SSO Session Idle); the absolute lifetime still
 * caps it. Sign-in goes through the built-in UI (a real session); the refreshes through oauth4webapi.
 */
describe('OIDC Core §11: session-bound refresh tokens end with the session', () => {
  let s: TestServer;
  let clock = Date.UTC(2031, 5, 1);
  let as: oauth.AuthorizationServer;
  let app: { clientId: string; clientSecret?: string };
  const client = () => ({ client_id: app.clientId });
  const auth = () => oauth.ClientSecretBasic(app.clientSecret!);

  beforeAll(async () => {
    s = await startTestServer({}, { clock: () => clock });
    app = await s.client({
      redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], skip_consent: true, session_refresh_tokens: true,
      scope: 'openid profile offline_access api',
    });
    await s.user('rita', 'rita-password');
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  });
  afterAll(() => s.close());

  /** Sign in through the UI in a fresh browser and redeem the code: tokens bound to that browser's session. */
  async function signIn(scope: string, agent = new Agent(s.issuer)) {
    const cb = await agent.authorize(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: app.clientId, redirect_uri: CB, response_type: 'code', scope }), 'rita', 'rita-password');
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB }, { authorization: basic(app.clientId, app.clientSecret!) });
    expect(r.status, r.text).toBe(200);
    expect(r.json.refresh_token).toBeTruthy();
    return { tokens: r.json as { access_token: string; refresh_token: string }, agent };
  }

  /** One refresh through oauth4webapi: the new tokens, or the OAuth error. */
  async function refresh(rt: string): Promise<{ refresh_token?: string; access_token?: string; error?: string; error_description?: string }> {
    const res = await oauth.refreshTokenGrantRequest(as, client(), auth(), rt, insecure);
    try {
      return await oauth.processRefreshTokenResponse(as, client(), res);
    } catch (e) {
      if (e instanceof oauth.ResponseBodyError) return { error: e.error, error_description: e.error_description };
      throw e;
    }
  }

  const active = async (token: string) =>
    (await postForm(s.url('/oauth/introspect'), { token }, { authorization: basic(app.clientId, app.clientSecret!) })).json.active;

  it('OIDC Core §11: refreshing keeps the session from going idle, but not past its absolute lifetime (sessionTtl); then invalid_grant and the grant revoked', async () => {
    const start = clock;
    const { tokens } = await signIn('openid api');
    let rt = tokens.refresh_token;
    // Every 23 hours, 14 times: each refresh is within a day of the last (sessionIdleTtl), and restarts the idle clock.
    for (let i = 0; i < 14; i++) {
      clock += 23 * HOUR;
      const r = await refresh(rt);
      expect(r.error, `refresh ${i + 1}: ${r.error_description}`).toBeUndefined();
      rt = r.refresh_token!;
    }
    expect(clock - start).toBeLessThan(14 * DAY);
    clock += 23 * HOUR; // past the session's 14 days, though it was never idle
    const last = await refresh(rt);
    expect(last.error).toBe('invalid_grant');
    expect(last.error_description).toMatch(/session/);
    expect(await active(tokens.access_token)).toBe(false); // the grant, and everything it issued, revoked
  });

  it('OIDC Core §11: a session-bound refresh token stops working once the session has been idle for sessionIdleTtl; an offline_access grant of the same session does not', async () => {
    const first = await signIn('openid api');
    const offline = await signIn('openid offline_access api', first.agent); // same browser, same session
    clock += DAY + 2 * 60_000;
    expect((await refresh(first.tokens.refresh_token)).error).toBe('invalid_grant');
    // Refused for good: the grant is revoked, so coming back within the idle time of some other activity changes nothing.
    expect((await refresh(first.tokens.refresh_token)).error).toBe('invalid_grant');
    const r = await refresh(offline.tokens.refresh_token);
    expect(r.error, r.error_description).toBeUndefined();
  });

  it('OIDC Core §11 at the boundary (RFC 7519 §4.1.4 "on or after"): idle one second less than sessionIdleTtl the session is live; idle exactly that long it has ended', async () => {
    const a = await signIn('openid api'); // one browser
    const b = await signIn('openid api'); // another browser: another session, last seen at the same second
    clock += DAY - 1000;
    const r = await refresh(a.tokens.refresh_token);
    expect(r.error, r.error_description).toBeUndefined();
    clock += 1000;
    expect((await refresh(b.tokens.refresh_token)).error).toBe('invalid_grant');
    expect(await active(b.tokens.access_token)).toBe(false);
  });

  it('a plain OAuth grant (no openid) made in the browser session ends with it too, as logout ends it', async () => {
    const { tokens } = await signIn('api');
    clock += DAY + 2 * 60_000;
    expect((await refresh(tokens.refresh_token)).error).toBe('invalid_grant');
  });

  it('OIDC Core §11: the session row purged after it expired (cleanup) does not bring the refresh token back', async () => {
    const { tokens } = await signIn('openid api');
    clock += 15 * DAY;
    const cutoff = Math.floor(clock / 1000) + 1;
    expect(await s.ctx.store.purgeExpired('sessions', cutoff, 1000)).toBeGreaterThan(0);
    const r = await refresh(tokens.refresh_token);
    expect(r.error).toBe('invalid_grant');
    expect(await active(tokens.access_token)).toBe(false);
  });

  it('the cleanup sweeps a session idle past sessionIdleTtl and the grace (not only at its absolute end): its refresh token stays dead, a session in use is kept', async () => {
    const idle = await signIn('openid api');
    clock += 12 * HOUR;
    const used = await signIn('openid api'); // another browser, signed in half a day later
    clock += 12 * HOUR + s.lk.config.cleanupGrace * 1000 + 60_000; // the first: idle for a day and the grace; the second: half a day
    const sidOf = (signedIn: { tokens: object }) => decodeJwt((signedIn.tokens as { id_token: string }).id_token).sid as string; // OIDC Front-Channel Logout §3
    const usedSid = sidOf(used);
    const before = sidOf(idle);
    expect(await s.ctx.store.findSessionBySid(DEFAULT_TENANT, before)).toBeDefined();
    const deleted = await s.lk.cleanup.sweep();
    expect(deleted.sessions).toBeGreaterThanOrEqual(1);
    expect(await s.ctx.store.findSessionBySid(DEFAULT_TENANT, before)).toBeUndefined();
    expect(await s.ctx.store.findSessionBySid(DEFAULT_TENANT, usedSid)).toBeDefined();
    expect((await refresh(idle.tokens.refresh_token)).error).toBe('invalid_grant');
    const r = await refresh(used.tokens.refresh_token);
    expect(r.error, r.error_description).toBeUndefined();
  });

  it('an embedding host\'s sid (Core API issue; no Latchkey session behind it) is the host\'s to end: its refresh tokens keep working', async () => {
    const service = (await createServiceToken(s.lk, { name: 'host' })).token;
    const call = (path: string, body: unknown) => core(s, DEFAULT_TENANT, path, body, service);
    const parameters = new URLSearchParams({ client_id: app.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid api', state: 'st' }).toString();
    const a = await call('auth/authorization', { parameters });
    expect(a.json.action, a.json.resultMessage).toBe('INTERACTION');
    const issued = await call('auth/authorization/issue', { ticket: a.json.ticket, subject: 'host-user-1', authTime: Math.floor(clock / 1000), sid: 'host-session-1' });
    const code = new URL(issued.json.responseContent).searchParams.get('code')!;
    const t = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code, redirect_uri: CB }, { authorization: basic(app.clientId, app.clientSecret!) });
    expect(t.json.refresh_token).toBeTruthy();
    clock += 2 * DAY;
    const r = await refresh(t.json.refresh_token);
    expect(r.error, r.error_description).toBeUndefined();
  });

  it('OIDC Core §11: with no session to bind to (device code, password grant, an issue step without sid) an OpenID grant without offline_access gets no refresh token, session_refresh_tokens or not; with offline_access it does', async () => {
    const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
    const c = await s.client({
      redirect_uris: [CB], grant_types: ['authorization_code', 'password', DEVICE, 'refresh_token'], insecure_password_grant: true, session_refresh_tokens: true,
      scope: 'openid offline_access api',
    });
    const auth = { authorization: basic(c.clientId, c.clientSecret!) };
    const service = (await createServiceToken(s.lk, { name: 'host-2' })).token;
    const call = (path: string, body: unknown) => core(s, DEFAULT_TENANT, path, body, service);
    const now = () => Math.floor(clock / 1000);

    const password = (scope: string) => postForm(s.url('/oauth/token'), { grant_type: 'password', username: 'rita', password: 'rita-password', scope }, auth);
    const device = async (scope: string) => {
      const started = await postForm(s.url('/oauth/device_authorization'), { scope }, auth);
      expect((await call('device/complete', { userCode: started.json.user_code, result: 'AUTHORIZED', subject: 'rita-device', authTime: now() })).json.action).toBe('SUCCESS');
      return postForm(s.url('/oauth/token'), { grant_type: DEVICE, device_code: started.json.device_code }, auth);
    };
    const noSid = async (scope: string) => {
      const parameters = new URLSearchParams({ client_id: c.clientId, redirect_uri: CB, response_type: 'code', scope, state: 'st' }).toString();
      const a = await call('auth/authorization', { parameters });
      const issued = await call('auth/authorization/issue', { ticket: a.json.ticket, subject: 'host-user-2', authTime: now() });
      const code = new URL(issued.json.responseContent).searchParams.get('code')!;
      return postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code, redirect_uri: CB }, auth);
    };
    for (const flow of [password, device, noSid]) {
      const bare = await flow('openid api');
      expect(bare.status, bare.text).toBe(200);
      expect(bare.json.access_token).toBeTruthy();
      expect(bare.json.refresh_token, flow.name).toBeUndefined();
      const offline = await flow('openid offline_access api');
      expect(offline.json.refresh_token, flow.name).toBeTruthy();
    }
  });
});
