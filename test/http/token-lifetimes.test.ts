import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { validateClientMetadata } from '../../src/engine/client-metadata.js';
import { OAuthError } from '../../src/engine/errors.js';
import { CleanupJob } from '../../src/ops/cleanup.js';
import { tokenKey } from '../../src/tokens/handles.js';

type Creds = { clientId: string; clientSecret?: string };

/** User tokens come from the password grant: the quickest real flow to a refresh token. */
const passwordClient = (extra: Record<string, unknown> = {}) => ({
  grant_types: ['password', 'refresh_token'], insecure_password_grant: true, scope: 'openid offline_access api', ...extra,
});

describe('token lifetimes and refresh policies, per tenant and per client', () => {
  let s: TestServer;
  let now = Date.UTC(2031, 0, 1);
  const advance = (seconds: number) => { now += seconds * 1000; };

  beforeAll(async () => {
    s = await startTestServer({ accessTokenTtl: 1000, idTokenTtl: 500, refreshTokenTtl: 10_000 }, { clock: () => now });
    await s.user('gina', 'gina-password');
  });
  afterAll(() => s.close());

  const token = (c: Creds, body: Record<string, string>) =>
    c.clientSecret ? postForm(s.url('/oauth/token'), body, { authorization: basic(c.clientId, c.clientSecret) }) : postForm(s.url('/oauth/token'), { ...body, client_id: c.clientId });
  const login = (c: Creds) => token(c, { grant_type: 'password', username: 'gina', password: 'gina-password' });
  const refresh = (c: Creds, rt: string) => token(c, { grant_type: 'refresh_token', refresh_token: rt });
  const introspect = (c: Creds, tok: string) => postForm(s.url('/oauth/introspect'), { token: tok }, { authorization: basic(c.clientId, c.clientSecret!) });

  it('tenant settings give the lifetimes; a client\'s own lifetimes override them (access, ID and refresh tokens)', async () => {
    const tenant = await s.client(passwordClient());
    const own = await s.client(passwordClient({ access_token_lifetime: 100, id_token_lifetime: 50, refresh_token_lifetime: 1000 }));
    const a = (await login(tenant)).json;
    expect(a.expires_in).toBe(1000);
    const idA = decodeJwt(a.id_token);
    expect(idA.exp! - idA.iat!).toBe(500);
    expect((await introspect(tenant, a.refresh_token)).json.exp - now / 1000).toBe(10_000);
    const b = (await login(own)).json;
    expect(b.expires_in).toBe(100);
    const idB = decodeJwt(b.id_token);
    expect(idB.exp! - idB.iat!).toBe(50);
    expect((await introspect(own, b.refresh_token)).json.exp - now / 1000).toBe(1000);
  });

  it('RFC 7519 §4.1.4 ("on or after" exp: rejected), one rule everywhere: a second before exp introspection, UserInfo and the refresh grant accept the token; at exp they all refuse it', async () => {
    for (const format of ['opaque', 'jwt']) {
      const c = await s.client(passwordClient({ access_token_lifetime: 100, refresh_token_lifetime: 100, access_token_format: format }));
      const t = (await login(c)).json;
      const userinfo = () => fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${t.access_token}` } });
      advance(99);
      expect((await introspect(c, t.access_token)).json.active, format).toBe(true);
      expect((await introspect(c, t.refresh_token)).json.active, format).toBe(true);
      expect((await userinfo()).status, format).toBe(200);
      advance(1);
      expect((await introspect(c, t.access_token)).json.active, format).toBe(false);
      expect((await introspect(c, t.refresh_token)).json.active, format).toBe(false);
      const u = await userinfo();
      expect(u.status, format).toBe(401);
      expect(u.headers.get('www-authenticate'), format).toMatch(/error="invalid_token"/);
      expect((await refresh(c, t.refresh_token)).json.error, format).toBe('invalid_grant');
    }
  });

  it('the absolute refresh lifetime holds for the whole family, across rotations', async () => {
    const c = await s.client(passwordClient({ refresh_token_lifetime: 1000 }));
    let rt = (await login(c)).json.refresh_token;
    advance(600);
    rt = (await refresh(c, rt)).json.refresh_token;
    advance(399);
    const last = await refresh(c, rt);
    expect(last.status).toBe(200);
    advance(2);
    const dead = await refresh(c, last.json.refresh_token);
    expect(dead.status).toBe(400);
    expect(dead.json.error).toBe('invalid_grant');
  });

  it('an idle refresh token expires after refresh_token_idle_lifetime; each use starts the idle time again', async () => {
    const c = await s.client(passwordClient({ refresh_token_idle_lifetime: 100 }));
    let rt = (await login(c)).json.refresh_token;
    for (let i = 0; i < 3; i++) {
      advance(90);
      const r = await refresh(c, rt);
      expect(r.status).toBe(200);
      rt = r.json.refresh_token;
    }
    advance(101);
    expect((await refresh(c, rt)).json.error).toBe('invalid_grant');
  });

  it('rotation off: the same refresh token comes back and stays valid; its idle expiry slides', async () => {
    const c = await s.client(passwordClient({ refresh_token_rotation: false, refresh_token_idle_lifetime: 100 }));
    const rt = (await login(c)).json.refresh_token;
    for (let i = 0; i < 3; i++) {
      advance(90);
      const r = await refresh(c, rt);
      expect(r.status).toBe(200);
      expect(r.json.refresh_token).toBe(rt);
    }
    advance(101);
    expect((await refresh(c, rt)).json.error).toBe('invalid_grant');
  });

  it('RFC 9700 §4.14.2: public clients always rotate; registering one that would not is refused', async () => {
    expect(() => validateClientMetadata({ ...passwordClient({ refresh_token_rotation: false }), token_endpoint_auth_method: 'none' })).toThrow(OAuthError);
  });

  it('RFC 9700 §4.14.2: within the reuse interval a rotated refresh token is accepted once more and the family lives on', async () => {
    const c = await s.client(passwordClient({ refresh_token_reuse_interval: 30 }));
    const rt0 = (await login(c)).json.refresh_token;
    const first = await refresh(c, rt0);
    expect(first.status).toBe(200);
    advance(10);
    const retry = await refresh(c, rt0); // the client never saw `first` and tries again
    expect(retry.status).toBe(200);
    expect(retry.json.refresh_token).not.toBe(first.json.refresh_token);
    // Both successors are alive: the server cannot know which one the client kept.
    expect((await refresh(c, first.json.refresh_token)).status).toBe(200);
    expect((await refresh(c, retry.json.refresh_token)).status).toBe(200);
  });

  it('RFC 9700 §4.14.2: a second replay within the interval, or a replay after it, revokes the family', async () => {
    const c = await s.client(passwordClient({ refresh_token_reuse_interval: 30 }));
    const rt0 = (await login(c)).json.refresh_token;
    const first = await refresh(c, rt0);
    expect((await refresh(c, rt0)).status).toBe(200);
    const third = await refresh(c, rt0);
    expect(third.json.error).toBe('invalid_grant');
    expect((await refresh(c, first.json.refresh_token)).json.error).toBe('invalid_grant'); // family revoked

    const rt1 = (await login(c)).json.refresh_token;
    const next = await refresh(c, rt1);
    advance(31);
    expect((await refresh(c, rt1)).json.error).toBe('invalid_grant');
    expect((await refresh(c, next.json.refresh_token)).json.error).toBe('invalid_grant');
    expect((await introspect(c, next.json.access_token)).json.active).toBe(false);
  });

  it('RFC 9700 §4.14.2: a rotated refresh token past its own idle expiry, after a cleanup sweep, still revokes its live family when replayed', async () => {
    // refreshTokenTtl 10 000 s (the family), idle 2000 s (each token), grace 3600 s: the first token's row is past
    // expiry plus grace long before the family ends.
    const c = await s.client(passwordClient({ refresh_token_idle_lifetime: 2000 }));
    const rt1 = (await login(c)).json.refresh_token;
    advance(10);
    let rt = (await refresh(c, rt1)).json.refresh_token; // rt1 rotated; its own expiry stays login + 2000
    for (let i = 0; i < 2; i++) {
      advance(1900);
      const r = await refresh(c, rt);
      expect(r.status).toBe(200);
      rt = r.json.refresh_token;
    }
    advance(1900); // login + 5710: rt1's row (expired at login + 2000) is older than the grace period
    await new CleanupJob(s.ctx.store, () => now, { intervalS: 300, graceS: 3600, retentionS: 86400 }).sweep();
    expect((await refresh(c, rt1)).json.error).toBe('invalid_grant'); // the stolen copy comes back
    expect((await refresh(c, rt)).json.error).toBe('invalid_grant'); // and the family it was rotated into is revoked
    // Kept no longer than the family could have lived: past its absolute end (login + 10 000) plus the grace, gone.
    advance(10_000 - 5710 + 3600 + 1);
    await new CleanupJob(s.ctx.store, () => now, { intervalS: 300, graceS: 3600, retentionS: 86400 }).sweep();
    expect(await s.ctx.store.findToken(s.ctx.tenant.id, tokenKey(s.ctx.hasher, rt1))).toBeUndefined();
  });

  it('RFC 9700 §4.14.2: with no reuse interval (the default) any replay revokes the family', async () => {
    const c = await s.client(passwordClient());
    const rt0 = (await login(c)).json.refresh_token;
    const first = await refresh(c, rt0);
    expect((await refresh(c, rt0)).json.error).toBe('invalid_grant');
    expect((await refresh(c, first.json.refresh_token)).json.error).toBe('invalid_grant');
  });
});

describe('tenant-wide refresh policy: rotation off for confidential clients', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ refreshTokenRotation: false });
    await s.user('hal', 'hal-password');
  });
  afterAll(() => s.close());

  it('a confidential client keeps its refresh token; a public one still rotates (RFC 9700 §4.14.2)', async () => {
    const conf = await s.client(passwordClient());
    const pub = await s.client({ ...passwordClient(), token_endpoint_auth_method: 'none' });
    const c1 = await postForm(s.url('/oauth/token'), { grant_type: 'password', username: 'hal', password: 'hal-password' }, { authorization: basic(conf.clientId, conf.clientSecret!) });
    const r1 = await postForm(s.url('/oauth/token'), { grant_type: 'refresh_token', refresh_token: c1.json.refresh_token }, { authorization: basic(conf.clientId, conf.clientSecret!) });
    expect(r1.json.refresh_token).toBe(c1.json.refresh_token);
    const p1 = await postForm(s.url('/oauth/token'), { grant_type: 'password', username: 'hal', password: 'hal-password', client_id: pub.clientId });
    const r2 = await postForm(s.url('/oauth/token'), { grant_type: 'refresh_token', refresh_token: p1.json.refresh_token, client_id: pub.clientId });
    expect(r2.status).toBe(200);
    expect(r2.json.refresh_token).not.toBe(p1.json.refresh_token);
  });
});
