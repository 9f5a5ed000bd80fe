import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineContext } from '../../src/engine/context.js';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { DEFAULT_TENANT, type Store } from '../../src/store/types.js';
import { tokenKey } from '../../src/tokens/handles.js';
import { lookupToken } from '../../src/tokens/lookup.js';
import { Agent } from '../helpers/agent.js';
import { core } from '../helpers/core-api.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const BYE = 'https://rp.example/bye';
const insecure = { [oauth.allowInsecureRequests]: true } as const;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const IDT_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

/**
 * OIDC Core §11 (and Keycloak's behaviour): the access and refresh tokens of a grant made in a browser session without
 * offline_access are inactive at introspection and UserInfo once that session has ended, expired (sessionTtl) or gone
 * idle (sessionIdleTtl), not only at the next refresh. Sessions here last 2 hours, go idle after 1, and access tokens
 * live 4 hours, so each token outlives the session it is bound to. Sign-in goes through the built-in UI; introspection,
 * UserInfo and refreshes through oauth4webapi.
 */
describe('OIDC Core §11: the tokens of a session-bound grant die with the session', () => {
  let s: TestServer;
  let clock = Date.UTC(2031, 6, 1);
  let as: oauth.AuthorizationServer;
  let app: { clientId: string; clientSecret?: string };
  let jwtApp: { clientId: string; clientSecret?: string };
  let xApp: { clientId: string; clientSecret?: string };
  let ritaId: string;

  beforeAll(async () => {
    s = await startTestServer({ sessionTtl: 2 * 3600, sessionIdleTtl: 3600, accessTokenTtl: 4 * 3600 }, { clock: () => clock });
    const meta = {
      redirect_uris: [CB], post_logout_redirect_uris: [BYE], skip_consent: true, session_refresh_tokens: true,
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'], scope: 'openid profile offline_access api',
    };
    app = await s.client(meta);
    jwtApp = await s.client({ ...meta, access_token_format: 'jwt' });
    xApp = await s.client({
      ...meta, grant_types: ['authorization_code', 'implicit', 'refresh_token', EXCHANGE], response_types: ['code', 'id_token token'],
      token_exchange: { subject_token_types: [AT_TYPE, IDT_TYPE], impersonation: true },
    });
    ritaId = await s.user('rita', 'rita-password', { name: 'Rita' });
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  });
  afterAll(() => s.close());

  type Tokens = { access_token: string; refresh_token: string; id_token: string };

  /** Sign in through the UI (a fresh browser unless one is given) and redeem the code. */
  async function signIn(scope: string, agent = new Agent(s.issuer), c = app): Promise<{ tokens: Tokens; agent: Agent; sid: string }> {
    const cb = await agent.authorize(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: c.clientId, redirect_uri: CB, response_type: 'code', scope }), 'rita', 'rita-password');
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB }, { authorization: basic(c.clientId, c.clientSecret!) });
    expect(r.status, r.text).toBe(200);
    expect(r.json.refresh_token).toBeTruthy();
    return { tokens: r.json, agent, sid: decodeJwt(r.json.id_token).sid as string };
  }

  /** RFC 7662 through oauth4webapi, by the token's own client. */
  async function active(token: string, c = app): Promise<boolean> {
    const client = { client_id: c.clientId };
    const res = await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic(c.clientSecret!), token, insecure);
    return (await oauth.processIntrospectionResponse(as, client, res)).active;
  }

  /** OIDC Core §5.3 through oauth4webapi: the status, and the error of the challenge when refused. */
  async function userInfo(accessToken: string, c = app): Promise<{ status: number; error?: string }> {
    const res = await oauth.userInfoRequest(as, { client_id: c.clientId }, accessToken, insecure);
    const challenge = res.headers.get('www-authenticate') ?? '';
    return { status: res.status, error: /error="([^"]+)"/.exec(challenge)?.[1] };
  }

  async function refresh(rt: string): Promise<{ refresh_token?: string; access_token?: string; error?: string }> {
    const client = { client_id: app.clientId };
    const res = await oauth.refreshTokenGrantRequest(as, client, oauth.ClientSecretBasic(app.clientSecret!), rt, insecure);
    try {
      return await oauth.processRefreshTokenResponse(as, client, res);
    } catch (e) {
      if (e instanceof oauth.ResponseBodyError) return { error: e.error };
      throw e;
    }
  }

  async function clientCredentials(): Promise<string> {
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', scope: 'api' }, { authorization: basic(app.clientId, app.clientSecret!) });
    expect(r.status, r.text).toBe(200);
    return r.json.access_token;
  }

  async function expectAlive(t: Tokens, c = app) {
    expect(await active(t.access_token, c)).toBe(true);
    expect(await active(t.refresh_token, c)).toBe(true);
    expect((await userInfo(t.access_token, c)).status).toBe(200);
  }

  async function expectDead(t: Tokens, c = app) {
    expect(await active(t.access_token, c)).toBe(false);
    expect(await active(t.refresh_token, c)).toBe(false);
    expect(await userInfo(t.access_token, c)).toEqual({ status: 401, error: 'invalid_token' });
  }

  it('OIDC Core §11: after RP-Initiated Logout the session-bound grant\'s tokens are inactive at introspection and UserInfo; an offline_access grant of the same session stays active', async () => {
    const bound = await signIn('openid profile api');
    const offline = await signIn('openid profile offline_access api', bound.agent); // same browser, same session
    expect(offline.sid).toBe(bound.sid);
    await expectAlive(bound.tokens);
    const out = await bound.agent.request(`${s.issuer}/oauth/logout?` + new URLSearchParams({ id_token_hint: bound.tokens.id_token, post_logout_redirect_uri: BYE }));
    expect(out.status).toBe(303);
    await expectDead(bound.tokens);
    await expectAlive(offline.tokens);
  });

  it('OIDC Core §11: a session that ended without its grants being revoked (a crash between the two writes of a logout) still ends its tokens, opaque and JWT; the next refresh revokes the grant', async () => {
    const opaque = await signIn('openid profile api');
    const jwt = await signIn('openid profile api', opaque.agent, jwtApp);
    expect(jwt.tokens.access_token.split('.')).toHaveLength(3);
    await expectAlive(jwt.tokens, jwtApp);
    expect(await s.ctx.store.endSessionBySid(DEFAULT_TENANT, opaque.sid, Math.floor(clock / 1000))).toBe(true);
    await expectDead(opaque.tokens);
    await expectDead(jwt.tokens, jwtApp);
    expect((await refresh(opaque.tokens.refresh_token)).error).toBe('invalid_grant');
    const record = await s.ctx.store.findToken(DEFAULT_TENANT, tokenKey(s.ctx.hasher, opaque.tokens.access_token));
    expect(record?.revokedAt).not.toBeNull(); // the refresh attempt revoked the grant (LK7080), lookups wrote nothing
  });

  it('OIDC Core §11: once the session has been idle for sessionIdleTtl its grant\'s tokens are inactive, though unexpired; an offline_access grant of it stays active, a client_credentials token is unaffected', async () => {
    const bound = await signIn('openid profile api');
    const offline = await signIn('openid profile offline_access api', bound.agent);
    const cc = await clientCredentials();
    clock += 50 * MINUTE;
    await expectAlive(bound.tokens); // introspection and UserInfo are not activity in the session: it still goes idle
    clock += 11 * MINUTE; // idle for 61 minutes; the access token has 3 hours left
    await expectDead(bound.tokens);
    await expectAlive(offline.tokens);
    expect(await active(cc)).toBe(true);
  });

  it('OIDC Core §11: past the session\'s absolute lifetime (sessionTtl) its grant\'s tokens are inactive, though refreshes kept it from going idle', async () => {
    const { tokens } = await signIn('openid profile api');
    let latest: Tokens = tokens;
    for (let i = 0; i < 2; i++) {
      clock += 50 * MINUTE; // a refresh is activity in the session (refresh-token.ts), so it never idles
      const r = await refresh(latest.refresh_token);
      expect(r.error).toBeUndefined();
      latest = { ...latest, access_token: r.access_token!, refresh_token: r.refresh_token! };
    }
    await expectAlive(latest);
    expect(await active(tokens.access_token)).toBe(true);
    clock += 25 * MINUTE; // 125 minutes: past the 2-hour session, last seen 25 minutes ago
    await expectDead(latest);
    expect(await active(tokens.access_token)).toBe(false); // the first access token too, with 1 h 55 min of its own left
  });

  it('the session row purged after the session expired (cleanup) does not bring its tokens back', async () => {
    const { tokens } = await signIn('openid profile api');
    clock += 3 * HOUR;
    expect(await s.ctx.store.purgeExpired('sessions', Math.floor(clock / 1000) + 1, 1000)).toBeGreaterThan(0);
    await expectDead(tokens);
  });

  it('an embedding host\'s sid (Core API issue; no Latchkey session behind it) is the host\'s to end: its tokens stay active past Latchkey\'s session lifetimes, as its refreshes do', async () => {
    const service = (await createServiceToken(s.lk, { name: 'host' })).token;
    const call = (path: string, body: unknown) => core(s, DEFAULT_TENANT, path, body, service);
    const parameters = new URLSearchParams({ client_id: app.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid profile api', state: 'st' }).toString();
    const a = await call('auth/authorization', { parameters });
    expect(a.json.action, a.json.resultMessage).toBe('INTERACTION');
    const issued = await call('auth/authorization/issue', { ticket: a.json.ticket, subject: ritaId, authTime: Math.floor(clock / 1000), sid: 'host-session-1' });
    const code = new URL(issued.json.responseContent).searchParams.get('code')!;
    const t = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code, redirect_uri: CB }, { authorization: basic(app.clientId, app.clientSecret!) });
    expect(t.status, t.text).toBe(200);
    clock += 3 * HOUR; // past sessionTtl and sessionIdleTtl; the access token still has an hour
    await expectAlive(t.json);
    expect((await refresh(t.json.refresh_token)).error).toBeUndefined();
  });

  it('OIDC Core §11: an implicit access token of a session-bound grant, and tokens exchanged from its tokens (RFC 8693), end with the session too; its ID token is then no subject_token', async () => {
    const { tokens, agent, sid } = await signIn('openid profile api', undefined, xApp);
    const cb = await agent.authorize(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: xApp.clientId, redirect_uri: CB, response_type: 'id_token token', scope: 'openid profile', nonce: 'n1' }), 'rita', 'rita-password');
    const implicit = new URLSearchParams(cb.hash.slice(1)).get('access_token')!;
    expect(implicit).toBeTruthy();
    const exchange = (subject_token: string, subject_token_type: string) =>
      postForm(s.url('/oauth/token'), { grant_type: EXCHANGE, subject_token, subject_token_type, scope: 'api' }, { authorization: basic(xApp.clientId, xApp.clientSecret!) });
    const fromAccess = await exchange(tokens.access_token, AT_TYPE);
    const fromIdToken = await exchange(tokens.id_token, IDT_TYPE);
    expect(fromAccess.status, fromAccess.text).toBe(200);
    expect(fromIdToken.status, fromIdToken.text).toBe(200);
    const all = [implicit, fromAccess.json.access_token, fromIdToken.json.access_token];
    for (const t of all) expect(await active(t, xApp)).toBe(true);
    await s.ctx.store.endSessionBySid(DEFAULT_TENANT, sid, Math.floor(clock / 1000));
    for (const t of all) expect(await active(t, xApp)).toBe(false);
    expect(await userInfo(implicit, xApp)).toEqual({ status: 401, error: 'invalid_token' });
    const refused = await exchange(tokens.id_token, IDT_TYPE);
    expect(refused.status).toBe(400);
    expect(refused.json.error).toBe('invalid_request');
  });

  /** The store, counting the reads lookupToken makes of sessions and grants. */
  function counting(ctx: EngineContext): { ctx: EngineContext; reads: { sessions: number; grants: number } } {
    const reads = { sessions: 0, grants: 0 };
    const store = new Proxy(ctx.store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop === 'findSessionBySid') reads.sessions++;
        if (prop === 'findGrant') reads.grants++;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Store;
    return { ctx: { ...ctx, store }, reads };
  }

  it('a client_credentials token, and one of a grant that is not session-bound (offline_access), cost lookupToken no read of a session or grant; a session-bound one costs one session read', async () => {
    const cc = await clientCredentials();
    const offline = await signIn('openid offline_access api');
    const bound = await signIn('openid api', offline.agent);
    for (const token of [cc, offline.tokens.access_token, offline.tokens.refresh_token]) {
      const c = counting(s.ctx);
      expect((await lookupToken(c.ctx, token)).active).toBe(true);
      expect(c.reads).toEqual({ sessions: 0, grants: 0 });
    }
    const c = counting(s.ctx);
    expect((await lookupToken(c.ctx, bound.tokens.access_token)).active).toBe(true);
    expect(c.reads).toEqual({ sessions: 1, grants: 0 });
  });

  it('a token minted before tokens carried the session marker keeps its former behaviour: active until its own expiry (docs/token-services.md)', async () => {
    const { tokens, sid } = await signIn('openid api');
    const record = (await s.ctx.store.findToken(DEFAULT_TENANT, tokenKey(s.ctx.hasher, tokens.access_token)))!;
    expect(record.data.session_binding).toEqual({ sid, latchkey: true });
    const older = 'older-token-' + 'x'.repeat(40);
    const { session_binding: _marker, ...data } = record.data;
    await s.ctx.store.insertToken({ ...record, hash: tokenKey(s.ctx.hasher, older), data });
    await s.ctx.store.endSessionBySid(DEFAULT_TENANT, sid, Math.floor(clock / 1000));
    expect(await active(tokens.access_token)).toBe(false);
    expect(await active(older)).toBe(true);
  });
});
