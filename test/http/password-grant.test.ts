import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { Agent } from '../helpers/agent.js';
import { finishedOrWaitingForLock } from '../helpers/database.js';
import { basic, openTestLatchkey, postForm, startTestServer, type TestLatchkey, type TestServer } from '../helpers/server.js';
import { token, tokenFail, tokenIssue } from '../../src/engine/token/index.js';
import { validateClientMetadata } from '../../src/engine/client-metadata.js';
import { OAuthError } from '../../src/engine/errors.js';
import { completePasswordGrant } from '../../src/services/password-grant.js';
import { deleteUser, setDisabled } from '../../src/services/users.js';

type Creds = { clientId: string; clientSecret?: string };
const CB = 'https://rp.example/cb';

describe('resource owner password credentials grant (RFC 6749 §4.3) over HTTP', () => {
  let s: TestServer;
  let pw: Creds; // opted in
  let pub: Creds; // public client, opted in
  let plain: Creds; // did not opt in
  let daveSub: string;

  beforeAll(async () => {
    s = await startTestServer({ loginRateLimit: 3 });
    pw = await s.client({
      grant_types: ['password', 'refresh_token'], insecure_password_grant: true, scope: 'openid profile offline_access api:read',
    });
    pub = await s.client({ grant_types: ['password'], insecure_password_grant: true, token_endpoint_auth_method: 'none', scope: 'api:read' });
    plain = await s.client({ grant_types: ['client_credentials'], scope: 'api:read' });
    daveSub = await s.user('dave', 'dave-password', { name: 'Dave' });
    await s.user('erin', 'erin-password');
    await s.user('frank', 'frank-password');
  });
  afterAll(() => s.close());

  const token = (c: Creds, body: Record<string, string>) =>
    c.clientSecret ? postForm(s.url('/oauth/token'), body, { authorization: basic(c.clientId, c.clientSecret) }) : postForm(s.url('/oauth/token'), { ...body, client_id: c.clientId });

  it('RFC 8414 §2: discovery lists the password grant (a client must opt in to use it)', async () => {
    const d = await (await fetch(s.url('/.well-known/oauth-authorization-server'))).json();
    expect(d.grant_types_supported).toContain('password');
  });

  it('RFC 9700 §2.4: the grant is off unless the client opts in with insecure_password_grant', async () => {
    expect(() => validateClientMetadata({ grant_types: ['password'] })).toThrow(OAuthError);
    expect(() => validateClientMetadata({ grant_types: ['password'], insecure_password_grant: true })).not.toThrow();
    const r = await token(plain, { grant_type: 'password', username: 'dave', password: 'dave-password' });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('unauthorized_client');
  });

  it('RFC 6749 §4.3.3: right credentials get an access token, a refresh token and an ID token (amr pwd); oauth4webapi accepts the response', async () => {
    const issuer = new URL(s.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true }));
    const c: oauth.Client = { client_id: pw.clientId };
    const res = await oauth.genericTokenEndpointRequest(as, c, oauth.ClientSecretBasic(pw.clientSecret!), 'password', { username: 'dave', password: 'dave-password', scope: 'openid profile offline_access' }, { [oauth.allowInsecureRequests]: true });
    const body = await oauth.processGenericTokenEndpointResponse(as, c, res);
    expect(body.token_type).toBe('bearer');
    expect(body.refresh_token).toBeTruthy();
    const idt = decodeJwt(body.id_token!);
    expect(idt).toMatchObject({ sub: daveSub, aud: pw.clientId, amr: ['pwd'] });
    const info = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${body.access_token}` } });
    expect(await info.json()).toMatchObject({ sub: daveSub, name: 'Dave' });
    const refreshed = await token(pw, { grant_type: 'refresh_token', refresh_token: body.refresh_token! });
    expect(refreshed.status).toBe(200);
  });

  it('OIDC Core §2: a password-grant ID token carries acr (defaultAcr, a password sign-in), as every other path\'s does, and keeps it on refresh', async () => {
    const issuer = new URL(s.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true }));
    const c: oauth.Client = { client_id: pw.clientId };
    const res = await oauth.genericTokenEndpointRequest(as, c, oauth.ClientSecretBasic(pw.clientSecret!), 'password', { username: 'dave', password: 'dave-password', scope: 'openid offline_access' }, { [oauth.allowInsecureRequests]: true });
    const body = await oauth.processGenericTokenEndpointResponse(as, c, res);
    expect(as.acr_values_supported).toEqual(['urn:latchkey:acr:password', 'urn:latchkey:acr:mfa']);
    expect(decodeJwt(body.id_token!).acr).toBe('urn:latchkey:acr:password');
    const refreshed = await oauth.processRefreshTokenResponse(as, c, await oauth.refreshTokenGrantRequest(as, c, oauth.ClientSecretBasic(pw.clientSecret!), body.refresh_token!, { [oauth.allowInsecureRequests]: true }));
    expect(decodeJwt(refreshed.id_token!).acr).toBe('urn:latchkey:acr:password');
  });

  it('RFC 9449 §5: a password grant with a DPoP proof gets DPoP-bound tokens (the binding survives the two steps)', async () => {
    const issuer = new URL(s.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true }));
    const c: oauth.Client = { client_id: pw.clientId };
    const keys = await oauth.generateKeyPair('ES256');
    const res = await oauth.genericTokenEndpointRequest(as, c, oauth.ClientSecretBasic(pw.clientSecret!), 'password', { username: 'dave', password: 'dave-password', scope: 'api:read' }, {
      [oauth.allowInsecureRequests]: true, DPoP: oauth.DPoP(c, keys),
    });
    const body = await oauth.processGenericTokenEndpointResponse(as, c, res);
    expect(body.token_type).toBe('dpop');
    const intro = await postForm(s.url('/oauth/introspect'), { token: body.access_token }, { authorization: basic(pw.clientId, pw.clientSecret!) });
    expect(intro.json).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: expect.any(String) } });
  });

  it('RFC 6749 §4.3.2: a public client uses the grant without a secret; scope beyond the client\'s is invalid_scope', async () => {
    const r = await token(pub, { grant_type: 'password', username: 'dave', password: 'dave-password' });
    expect(r.status).toBe(200);
    expect(r.json.scope).toBe('api:read');
    expect((await token(pub, { grant_type: 'password', username: 'dave', password: 'dave-password', scope: 'openid' })).json.error).toBe('invalid_scope');
  });

  it('RFC 6749 §5.2: a wrong password or an unknown user is invalid_grant, the same answer either way', async () => {
    const wrong = await token(pw, { grant_type: 'password', username: 'erin', password: 'nope-nope' });
    const unknown = await token(pw, { grant_type: 'password', username: 'nobody-here', password: 'nope-nope' });
    expect(wrong.status).toBe(400);
    expect(wrong.json).toEqual({ error: 'invalid_grant', error_description: 'invalid username or password' });
    expect(unknown.json).toEqual(wrong.json);
    expect(wrong.headers.get('cache-control')).toBe('no-store');
  });

  it('RFC 6749 §4.3.2: username and password are required, and bounded in length (invalid_request)', async () => {
    expect((await token(pw, { grant_type: 'password', username: 'dave' })).json.error).toBe('invalid_request');
    expect((await token(pw, { grant_type: 'password', password: 'x' })).json.error).toBe('invalid_request');
    const long = await token(pw, { grant_type: 'password', username: 'dave', password: 'x'.repeat(1025) });
    expect(long.json).toEqual({ error: 'invalid_request', error_description: 'username or password is too long' });
  });

  it('brute-force protection is shared with the login page: failed grants lock the account there, and the right password is refused too', async () => {
    for (let i = 0; i < 3; i++) expect((await token(pw, { grant_type: 'password', username: 'frank', password: `wrong-${i}` })).json.error).toBe('invalid_grant');
    const locked = await token(pw, { grant_type: 'password', username: 'frank', password: 'frank-password' });
    expect(locked.status).toBe(400);
    expect(locked.json.error).toBe('invalid_grant');
    expect(locked.json.error_description).toMatch(/too many/);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    // The login page refuses the same account for the same window.
    const client = await s.client({ redirect_uris: [CB], skip_consent: true });
    const agent = new Agent(s.issuer);
    const page = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: client.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's' }));
    const r = await agent.login(page, 'frank', 'frank-password');
    expect(r.status).toBe(429);
  });
});

describe('password grant through the engine (Core API callers verify credentials themselves)', () => {
  let t: TestLatchkey;
  let pw: Creds;

  let monitor: pg.Client | undefined;

  beforeAll(async () => {
    t = await openTestLatchkey();
    pw = await t.client({ grant_types: ['password'], insecure_password_grant: true, scope: 'openid api:read' });
    if (t.lk.config.databaseUrl?.startsWith('postgres')) {
      monitor = new pg.Client({ connectionString: t.lk.config.databaseUrl });
      await monitor.connect();
    }
  });
  afterAll(async () => {
    await monitor?.end();
    await t.close();
  });

  const start = async () => {
    const r = await token({ parameters: 'grant_type=password&username=zoe%40example.com&password=s3cret&scope=openid', clientId: pw.clientId, clientSecret: pw.clientSecret }, t.ctx);
    expect(r.action).toBe('PASSWORD');
    return r;
  };

  it('RFC 6749 §4.3: token() answers PASSWORD with the credentials and a ticket; tokenIssue issues for the caller\'s subject, once', async () => {
    const r = await start();
    expect(r).toMatchObject({ resultCode: 'LK6010', username: 'zoe@example.com', password: 's3cret', clientId: pw.clientId, scopes: ['openid'] });
    expect(r.ticket).toBeTruthy();
    // The password is not kept anywhere the ticket is.
    const row = await t.ctx.store.findTicket(t.ctx.tenant.id, t.ctx.hasher.hash(`password-grant:${r.ticket}`));
    expect(JSON.stringify(row)).not.toContain('s3cret');
    const ok = await tokenIssue({ ticket: r.ticket!, subject: 'external-user-1' }, t.ctx);
    expect(ok.action).toBe('OK');
    const body = JSON.parse(ok.responseContent);
    expect(decodeJwt(body.id_token).sub).toBe('external-user-1');
    const again = await tokenIssue({ ticket: r.ticket!, subject: 'external-user-1' }, t.ctx);
    expect(again.action).toBe('BAD_REQUEST');
    expect(again.resultCode).toBe('LK6013');
    expect(JSON.parse(again.responseContent).error).toBe('invalid_grant');
  });

  it('RFC 6749 §5.2: tokenFail answers invalid_grant; an unknown reason is refused', async () => {
    const r = await start();
    const fail = await tokenFail({ ticket: r.ticket!, reason: 'INVALID_CREDENTIALS' }, t.ctx);
    expect(fail).toMatchObject({ action: 'BAD_REQUEST', status: 400, resultCode: 'LK6011' });
    expect(JSON.parse(fail.responseContent).error).toBe('invalid_grant');
    // The ticket is spent by the failure too.
    expect((await tokenIssue({ ticket: r.ticket!, subject: 'x' }, t.ctx)).resultCode).toBe('LK6013');
    const r2 = await start();
    expect((await tokenFail({ ticket: r2.ticket!, reason: 'NOPE' as never }, t.ctx)).status).toBe(400);
    const limited = await tokenFail({ ticket: r2.ticket!, reason: 'RATE_LIMITED', retryAfter: 42 }, t.ctx);
    expect(limited).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK6012' });
    expect(limited.headers?.['Retry-After']).toBe('42');
    const r3 = await start();
    const broken = await tokenFail({ ticket: r3.ticket!, reason: 'SERVER_ERROR' }, t.ctx);
    expect(broken).toMatchObject({ action: 'INTERNAL_SERVER_ERROR', status: 500, resultCode: 'LK6015' });
    expect(JSON.parse(broken.responseContent).error).toBe('server_error');
  });

  it('an authorization ticket is not a password ticket, nor the other way round', async () => {
    const r = await start();
    const { authorizationIssue } = await import('../../src/engine/authorization/index.js');
    const a = await authorizationIssue({ ticket: r.ticket!, subject: 'x', authTime: 1 }, t.ctx);
    expect(a.action).toBe('BAD_REQUEST');
    expect((await tokenIssue({ ticket: r.ticket!, subject: 'x' }, t.ctx)).action).toBe('OK');
  });
});

describe('password grant racing a disabled or deleted built-in user', () => {
  let t: TestLatchkey;
  let pw: Creds;

  let monitor: pg.Client | undefined;

  beforeAll(async () => {
    t = await openTestLatchkey();
    pw = await t.client({ grant_types: ['password'], insecure_password_grant: true, scope: 'openid api:read' });
    if (t.lk.config.databaseUrl?.startsWith('postgres')) {
      monitor = new pg.Client({ connectionString: t.lk.config.databaseUrl });
      await monitor.connect();
    }
  });
  afterAll(async () => {
    await monitor?.end();
    await t.close();
  });

  const start = async (username: string, password: string) => {
    const r = await token({ parameters: new URLSearchParams({ grant_type: 'password', username, password, scope: 'openid' }).toString(), clientId: pw.clientId, clientSecret: pw.clientSecret }, t.ctx);
    expect(r.action).toBe('PASSWORD');
    return r;
  };

  it('RFC 6749 §4.3.2: a built-in user disabled after the password check and before the tokens are issued gets none (invalid_grant)', async () => {
    const sub = await t.user('gina', 'gina-password');
    // The disable lands between the credentials check and the issuing transaction (where argon2 leaves a gap).
    const store = new Proxy(t.ctx.store, {
      get(target, p) {
        if (p === 'consumeTicket') {
          return async (...args: Parameters<typeof target.consumeTicket>) => {
            await setDisabled(t.ctx, sub, true);
            return target.consumeTicket(...args);
          };
        }
        const v = Reflect.get(target, p, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const ctx = { ...t.ctx, store };
    const r = await start('gina', 'gina-password');
    const res = await completePasswordGrant(ctx, r, '127.0.0.1');
    expect(res).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK6011' });
    expect(JSON.parse(res.responseContent).error).toBe('invalid_grant');
    expect(await t.ctx.store.listGrantsOfSubject(t.ctx.tenant.id, sub)).toEqual([]);
  });

  it('findUserLocked holds the user while tokens are issued: a disable that starts meanwhile revokes them once it runs', async () => {
    const sub = await t.user('ines', 'ines-password');
    const now = Math.floor(Date.now() / 1000);
    const hash = t.ctx.hasher.hash('ines-token');
    let disabling: Promise<unknown> | undefined;
    await t.ctx.store.transaction(async (tx) => {
      expect((await tx.findUserLocked(t.ctx.tenant.id, sub))?.disabled).toBe(false);
      disabling = setDisabled(t.ctx, sub, true); // waits for the row on PostgreSQL (for the store on SQLite)
      // PostgreSQL: let the disable run until it finishes (the row was not held: the test fails) or waits for the
      // row lock. SQLite runs one transaction at a time, so there it can only wait.
      if (monitor) await finishedOrWaitingForLock(monitor, disabling);
      await tx.insertToken({
        tenantId: t.ctx.tenant.id, hash, kind: 'access_token', clientId: pw.clientId, subject: sub, scope: ['openid'], grantId: null,
        issuedAt: now, expiresAt: now + 600, revokedAt: null, consumedAt: null, data: {},
      });
    });
    await disabling;
    expect((await t.ctx.store.findToken(t.ctx.tenant.id, hash))?.revokedAt).not.toBeNull();
  });

  it('RFC 6749 §4.3.2: tokenIssue for a built-in user re-reads the user: disabled or deleted since the ticket, refused; enabled, issued', async () => {
    const sub = await t.user('hank', 'hank-password');
    const issue = async () => tokenIssue({ ticket: (await start('hank', 'hank-password')).ticket!, subject: sub }, t.ctx, { builtInUser: true });
    expect((await issue()).action).toBe('OK');
    const ticket = (await start('hank', 'hank-password')).ticket!;
    await setDisabled(t.ctx, sub, true);
    expect(await tokenIssue({ ticket, subject: sub }, t.ctx, { builtInUser: true })).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK6011' });
    await setDisabled(t.ctx, sub, false);
    const ticket2 = (await start('hank', 'hank-password')).ticket!;
    await deleteUser(t.ctx, sub);
    expect(await tokenIssue({ ticket: ticket2, subject: sub }, t.ctx, { builtInUser: true })).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK6011' });
  });
});
