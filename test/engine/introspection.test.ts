import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { introspection, wantsJwt } from '../../src/engine/introspection.js';
import { token } from '../../src/engine/token/index.js';
import { registerClient } from '../../src/services/clients.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';
import { insertRefreshFamily } from '../helpers/tokens.js';
import { tokenKey } from '../../src/tokens/handles.js';

describe('introspection endpoint (engine, injected clock)', () => {
  let t: TestLatchkey;
  let now = Date.UTC(2030, 0, 1);
  let rs: { clientId: string; clientSecret?: string };
  let app: { clientId: string; clientSecret?: string };
  let jwtApp: { clientId: string; clientSecret?: string };
  let ownOnly: { clientId: string; clientSecret?: string };
  let pub: { clientId: string };

  beforeAll(async () => {
    t = await openTestLatchkey({}, { clock: () => now });
    rs = await t.client({ grant_types: ['client_credentials'], scope: 'introspect' });
    app = await t.client({ grant_types: ['client_credentials'], scope: 'api:read api:write' });
    jwtApp = await t.client({ grant_types: ['client_credentials'], scope: 'api:read', access_token_format: 'jwt' });
    ownOnly = await t.client({ grant_types: ['client_credentials'], scope: 'api:read', introspection_own_tokens_only: true });
    pub = await t.client({ redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none' });
  });
  afterAll(() => t.close());

  const issue = async (c: { clientId: string; clientSecret?: string }, scope = 'api:read') => {
    const r = await token({ parameters: `grant_type=client_credentials&scope=${scope}`, clientId: c.clientId, clientSecret: c.clientSecret }, t.ctx);
    return JSON.parse(r.responseContent).access_token as string;
  };
  const introspect = (tok: string, caller: { clientId: string; clientSecret?: string } = rs, extra = '', accept?: string) =>
    introspection(
      { parameters: `token=${encodeURIComponent(tok)}${extra}`, clientId: caller.clientId, clientSecret: caller.clientSecret, accept },
      t.ctx,
    );

  it('RFC 7662 §2.2: an active opaque token is described with the RFC members and Cache-Control: no-store', async () => {
    const at = await issue(app, 'api:read api:write');
    const r = await introspect(at);
    expect(r.action).toBe('OK');
    expect(r.resultCode).toBe('LK5001');
    expect(r.headers?.['Cache-Control']).toBe('no-store');
    const iat = Math.floor(now / 1000);
    expect(JSON.parse(r.responseContent)).toEqual({
      active: true,
      scope: 'api:read api:write',
      client_id: app.clientId,
      token_type: 'Bearer',
      exp: iat + 3600,
      iat,
      nbf: iat,
      sub: app.clientId,
      aud: t.ctx.tenant.issuer, // RFC 9068 §3: no resource named, none inferred from the scope: the issuer
      iss: t.ctx.tenant.issuer,
    });
  });

  it('RFC 7662 §2.2: a JWT access token is described from its stored row, with its jti', async () => {
    const at = await issue(jwtApp);
    const body = JSON.parse((await introspect(at)).responseContent);
    expect(body).toMatchObject({ active: true, client_id: jwtApp.clientId, token_type: 'Bearer', jti: decodeJwt(at).jti, scope: 'api:read' });
  });

  it('RFC 7662 §2.2: once expired (by the injected clock) the token is {"active":false} and nothing else', async () => {
    const at = await issue(app);
    const jwt = await issue(jwtApp);
    const saved = now;
    now += 3600 * 1000;
    try {
      for (const tok of [at, jwt]) {
        const r = await introspect(tok);
        expect(r.action).toBe('OK');
        expect(r.status).toBe(200);
        expect(r.responseContent).toBe('{"active":false}');
        expect(r.resultCode).toBe('LK5002');
      }
      expect((await introspect(at)).resultMessage).toMatch(/expired/);
    } finally {
      now = saved;
    }
    expect(JSON.parse((await introspect(at)).responseContent).active).toBe(true);
  });

  it('RFC 7662 §2.2: revoked and unknown tokens are inactive, without saying which', async () => {
    const at = await issue(app);
    await t.ctx.store.revokeToken(t.ctx.tenant.id, tokenKey(t.ctx.hasher, at), Math.floor(now / 1000));
    const revoked = await introspect(at);
    const unknown = await introspect('no-such-token-' + 'x'.repeat(30));
    expect(revoked.responseContent).toBe('{"active":false}');
    expect(unknown.responseContent).toBe(revoked.responseContent);
    expect(revoked.resultMessage).toMatch(/revoked/);
    expect(unknown.resultMessage).toMatch(/unknown/);
  });

  it('RFC 7662 §2.2: a user token names the user (username) and its DPoP binding (token_type DPoP, cnf)', async () => {
    const sub = await t.user('alice', 'correct horse battery staple');
    const fam = await insertRefreshFamily(t.ctx, { clientId: app.clientId, subject: sub, cnf: { jkt: 'thumb' }, authTime: 1234, acr: 'urn:mace:incommon:iap:silver' });
    const body = JSON.parse((await introspect(fam.accessToken)).responseContent);
    expect(body).toMatchObject({ active: true, sub, username: 'alice', token_type: 'DPoP', cnf: { jkt: 'thumb' }, auth_time: 1234, acr: 'urn:mace:incommon:iap:silver' });
  });

  it('Latchkey policy (RFC 7662 §4): a refresh token is shown only to its own client; others see it inactive', async () => {
    const sub = await t.user('bob', 'correct horse battery staple');
    const fam = await insertRefreshFamily(t.ctx, { clientId: app.clientId, subject: sub });
    const own = JSON.parse((await introspect(fam.refreshToken, app)).responseContent);
    expect(own).toMatchObject({ active: true, client_id: app.clientId, username: 'bob' });
    expect(own.token_type).toBeUndefined(); // token_type is an access token type (RFC 6749 §7.1)
    expect((await introspect(fam.refreshToken, rs)).responseContent).toBe('{"active":false}');
  });

  it('Latchkey policy (RFC 7662 §4): introspection_own_tokens_only limits a client to its own tokens', async () => {
    const other = await issue(app);
    const mine = await issue(ownOnly);
    expect((await introspect(other, ownOnly)).responseContent).toBe('{"active":false}');
    expect(JSON.parse((await introspect(mine, ownOnly)).responseContent).active).toBe(true);
    expect(JSON.parse((await introspect(other, rs)).responseContent).active).toBe(true);
  });

  it('RFC 7662 §2.1: an unknown token_type_hint is ignored, and a wrong one does not hide the token', async () => {
    const at = await issue(app);
    expect(JSON.parse((await introspect(at, rs, '&token_type_hint=urn:example:whatever')).responseContent).active).toBe(true);
    expect(JSON.parse((await introspect(at, rs, '&token_type_hint=refresh_token')).responseContent).active).toBe(true);
  });

  it('RFC 7662 §2.1: a missing token is invalid_request; a repeated one too (RFC 6749 §3.1)', async () => {
    const r = await introspection({ parameters: 'token_type_hint=access_token', clientId: rs.clientId, clientSecret: rs.clientSecret }, t.ctx);
    expect(r.action).toBe('BAD_REQUEST');
    expect(JSON.parse(r.responseContent).error).toBe('invalid_request');
    expect(r.headers?.['Cache-Control']).toBe('no-store');
    const rep = await introspection({ parameters: 'token=a&token=b', clientId: rs.clientId, clientSecret: rs.clientSecret }, t.ctx);
    expect(JSON.parse(rep.responseContent).error).toBe('invalid_request');
  });

  it('RFC 7662 §2.3: a wrong secret is 401 invalid_client', async () => {
    const r = await introspection({ parameters: 'token=x', clientId: rs.clientId, clientSecret: 'wrong' }, t.ctx);
    expect(r.action).toBe('INVALID_CLIENT');
    expect(r.status).toBe(401);
    expect(r.headers?.['Cache-Control']).toBe('no-store');
  });

  it('RFC 7662 §2.1: a public client (client_id only) is refused with invalid_client', async () => {
    const r = await introspection({ parameters: `token=x&client_id=${pub.clientId}` }, t.ctx);
    expect(r.action).toBe('INVALID_CLIENT');
    expect(r.status).toBe(401);
    expect(r.resultCode).toBe('LK5003');
    expect(JSON.parse(r.responseContent).error).toBe('invalid_client');
  });

  it('RFC 9701 §5: Accept: application/token-introspection+jwt gets a typed JWT with iss, aud, iat and token_introspection', async () => {
    const at = await issue(app);
    const r = await introspect(at, rs, '', 'application/token-introspection+jwt');
    expect(r.action).toBe('OK');
    expect(r.contentType).toBe('application/token-introspection+jwt');
    expect(r.headers?.['Cache-Control']).toBe('no-store');
    expect(decodeProtectedHeader(r.responseContent)).toMatchObject({ alg: 'RS256', typ: 'token-introspection+jwt' });
    const claims = decodeJwt(r.responseContent);
    expect(claims).toMatchObject({ iss: t.ctx.tenant.issuer, aud: rs.clientId, iat: Math.floor(now / 1000) });
    expect(claims.token_introspection).toMatchObject({ active: true, client_id: app.clientId });
    expect(claims.sub).toBeUndefined(); // RFC 9701 §8.1: nothing an access token consumer could take for its own
    expect(claims.exp).toBeUndefined();
  });

  it('RFC 9701 §6: introspection_signed_response_alg picks the signing alg', async () => {
    const es = await t.client({ grant_types: ['client_credentials'], scope: 'x', introspection_signed_response_alg: 'ES256' });
    const r = await introspect('unknown', es, '', 'application/token-introspection+jwt');
    expect(decodeProtectedHeader(r.responseContent).alg).toBe('ES256');
    expect(decodeJwt(r.responseContent).token_introspection).toEqual({ active: false });
  });

  it('RFC 9701 §4: content negotiation follows the Accept header and its q-values', () => {
    expect(wantsJwt(undefined)).toBe(false);
    expect(wantsJwt('application/json')).toBe(false);
    expect(wantsJwt('application/token-introspection+jwt')).toBe(true);
    expect(wantsJwt('Application/Token-Introspection+JWT; charset=utf-8')).toBe(true);
    expect(wantsJwt('application/json, application/token-introspection+jwt')).toBe(true);
    expect(wantsJwt('application/json, application/token-introspection+jwt;q=0.5')).toBe(false);
    expect(wantsJwt('application/token-introspection+jwt;q=0')).toBe(false);
    expect(wantsJwt('*/*')).toBe(false);
    expect(wantsJwt(',;;q=,=,application/token-introspection+jwt;q=2')).toBe(false);
  });

  it('RFC 7662 §2.2: another tenant\'s tokens (opaque or JWT) are inactive here, and ours are inactive there', async () => {
    await t.ctx.store.createTenant({ id: 'acme', issuer: 'https://acme.example', settings: {}, createdAt: Math.floor(now / 1000) });
    await t.lk.keys.ensureKeys('acme');
    const acme = await t.lk.context('acme');
    const reg = async (meta: Record<string, unknown>) => {
      const { json } = await registerClient(acme, { grant_types: ['client_credentials'], scope: 'api:read', ...meta });
      return { clientId: json.client_id as string, clientSecret: json.client_secret as string };
    };
    const acmeRs = await reg({});
    for (const c of [await reg({}), await reg({ access_token_format: 'jwt' })]) {
      const r = await token({ parameters: 'grant_type=client_credentials', ...c }, acme);
      const foreign = JSON.parse(r.responseContent).access_token as string;
      const home = await introspection({ parameters: `token=${foreign}`, ...acmeRs }, acme);
      expect(JSON.parse(home.responseContent).iss).toBe('https://acme.example');
      expect((await introspect(foreign)).responseContent).toBe('{"active":false}');
    }
    for (const ours of [await issue(app), await issue(jwtApp)]) {
      const there = await introspection({ parameters: `token=${ours}`, ...acmeRs }, acme);
      expect(there.responseContent).toBe('{"active":false}');
    }
  });

  it('an unexpected failure is INTERNAL_SERVER_ERROR with a generic body', async () => {
    const broken = { ...t.ctx, store: Object.assign(Object.create(t.ctx.store), { findToken: async () => { throw new Error('disk on fire'); } }) } as typeof t.ctx;
    const r = await introspection({ parameters: 'token=abc', clientId: rs.clientId, clientSecret: rs.clientSecret }, broken);
    expect(r.action).toBe('INTERNAL_SERVER_ERROR');
    expect(r.status).toBe(500);
    expect(r.responseContent).not.toMatch(/disk on fire|at /);
  });

  it('ordered token handles: a new opaque token and JWT id carry their issue time, and the row key starts with it', async () => {
    const at = await issue(app);
    expect(at).toMatch(/^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
    expect(parseInt(at.slice(0, 12), 16)).toBe(now);
    const row = await t.ctx.store.findToken(t.ctx.tenant.id, at.slice(0, 12) + t.ctx.hasher.hash(at));
    expect(row?.kind).toBe('access_token');
    expect(await t.ctx.store.findToken(t.ctx.tenant.id, t.ctx.hasher.hash(at))).toBeUndefined();
    const jwt = await issue(jwtApp);
    expect(decodeJwt(jwt).jti).toMatch(/^[0-9a-f]{12}[A-Za-z0-9_-]{22}$/);
    expect(JSON.parse((await introspect(jwt)).responseContent).active).toBe(true);
  });

  it('RFC 7662 §2.2: a token of a disabled built-in user is inactive (as at UserInfo); a subject the users table does not hold (a Core API host\'s user) is not', async () => {
    const external = await insertRefreshFamily(t.ctx, { clientId: app.clientId, subject: 'host-user', scope: ['api:read'] });
    expect(JSON.parse((await introspect(external.accessToken)).responseContent)).toMatchObject({ active: true, sub: 'host-user' });
    const sub = await t.user('erin', 'correct horse battery staple');
    const fam = await insertRefreshFamily(t.ctx, { clientId: app.clientId, subject: sub, scope: ['api:read'] });
    expect(JSON.parse((await introspect(fam.accessToken)).responseContent)).toMatchObject({ active: true, username: 'erin' });
    // The flag alone, without the revocation setDisabled also does: the token is still refused.
    const u = (await t.ctx.store.findUserById(t.ctx.tenant.id, sub))!;
    await t.ctx.store.updateUser({ ...u, disabled: true });
    expect(JSON.parse((await introspect(fam.accessToken)).responseContent)).toEqual({ active: false });
  });

  it('tokens issued before ordered handles (stored under the plain keyed hash) stay active and revocable', async () => {
    const fam = await insertRefreshFamily(t.ctx, { clientId: app.clientId, subject: 'legacy-user', scope: ['api:read'] });
    expect(fam.accessToken).toHaveLength(43);
    expect(JSON.parse((await introspect(fam.accessToken)).responseContent)).toMatchObject({ active: true, client_id: app.clientId });
    // A 43-character handle never takes the ordered form, even when it happens to start with 12 hex digits.
    const lookalike = '0123456789ab' + fam.accessToken.slice(12);
    expect(JSON.parse((await introspect(lookalike)).responseContent)).toEqual({ active: false });
    await t.ctx.store.revokeToken(t.ctx.tenant.id, t.ctx.hasher.hash(fam.accessToken), Math.floor(now / 1000));
    expect(JSON.parse((await introspect(fam.accessToken)).responseContent)).toEqual({ active: false });
  });
});
