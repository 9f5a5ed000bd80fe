import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revocation } from '../../src/engine/revocation.js';
import { token } from '../../src/engine/token/index.js';
import { lookupToken } from '../../src/tokens/lookup.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';
import { insertRefreshFamily } from '../helpers/tokens.js';
import { tokenKey } from '../../src/tokens/handles.js';

describe('revocation endpoint (engine, injected clock)', () => {
  let t: TestLatchkey;
  let now = Date.UTC(2030, 0, 1);
  let app: { clientId: string; clientSecret?: string };
  let other: { clientId: string; clientSecret?: string };
  let jwtApp: { clientId: string; clientSecret?: string };
  let pub: { clientId: string };
  let alice: string;

  beforeAll(async () => {
    t = await openTestLatchkey({}, { clock: () => now });
    app = await t.client({ grant_types: ['client_credentials'], scope: 'api:read' });
    other = await t.client({ grant_types: ['client_credentials'], scope: 'api:read' });
    jwtApp = await t.client({ grant_types: ['client_credentials'], scope: 'api:read', access_token_format: 'jwt' });
    pub = await t.client({ redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none' });
    alice = await t.user('alice', 'correct horse battery staple');
  });
  afterAll(() => t.close());

  const issue = async (c: { clientId: string; clientSecret?: string }) => {
    const r = await token({ parameters: 'grant_type=client_credentials', clientId: c.clientId, clientSecret: c.clientSecret }, t.ctx);
    return JSON.parse(r.responseContent).access_token as string;
  };
  const revoke = (tok: string, c: { clientId: string; clientSecret?: string } = app, extra = '') =>
    revocation({ parameters: `token=${encodeURIComponent(tok)}${extra}`, clientId: c.clientId, clientSecret: c.clientSecret }, t.ctx);
  const active = async (tok: string) => (await lookupToken(t.ctx, tok)).active;

  it('RFC 7009 §2.2: revoking an access token answers 200 with no-store, and the token is dead', async () => {
    const at = await issue(app);
    const r = await revoke(at);
    expect(r).toMatchObject({ action: 'OK', status: 200, resultCode: 'LK5004', responseContent: '' });
    expect(r.headers?.['Cache-Control']).toBe('no-store');
    expect(await active(at)).toBe(false);
    const rec = await t.ctx.store.findToken(t.ctx.tenant.id, tokenKey(t.ctx.hasher, at));
    expect(rec!.revokedAt).toBe(Math.floor(now / 1000));
    expect((await revoke(at)).status).toBe(200); // idempotent
  });

  it('RFC 7009 §2.1: a JWT access token is revoked through its stored row', async () => {
    const at = await issue(jwtApp);
    expect(await active(at)).toBe(true);
    expect((await revoke(at, jwtApp)).resultCode).toBe('LK5004');
    expect(await active(at)).toBe(false);
  });

  it('RFC 7009 §2.1: revoking a refresh token revokes its grant and every access token issued from it', async () => {
    const fam = await insertRefreshFamily(t.ctx, { clientId: app.clientId, subject: alice });
    const unrelated = await insertRefreshFamily(t.ctx, { clientId: app.clientId, subject: alice });
    const r = await revoke(fam.refreshToken, app, '&token_type_hint=refresh_token');
    expect(r.resultCode).toBe('LK5005');
    expect(await active(fam.refreshToken)).toBe(false);
    expect(await active(fam.accessToken)).toBe(false);
    expect((await t.ctx.store.findGrant(t.ctx.tenant.id, fam.grantId))!.revokedAt).not.toBeNull();
    expect(await active(unrelated.accessToken)).toBe(true);
    expect(await active(unrelated.refreshToken)).toBe(true);
  });

  it('RFC 7009 §2.1: revoking an access token leaves the refresh token of its grant alone (MAY, not done)', async () => {
    const fam = await insertRefreshFamily(t.ctx, { clientId: app.clientId, subject: alice });
    await revoke(fam.accessToken);
    expect(await active(fam.accessToken)).toBe(false);
    expect(await active(fam.refreshToken)).toBe(true);
  });

  it('RFC 7009 §2.1: a wrong or unknown token_type_hint does not stop the search', async () => {
    const at = await issue(app);
    expect((await revoke(at, app, '&token_type_hint=refresh_token')).resultCode).toBe('LK5004');
    const at2 = await issue(app);
    expect((await revoke(at2, app, '&token_type_hint=urn:example:unknown')).resultCode).toBe('LK5004');
    expect(await active(at2)).toBe(false);
  });

  it('RFC 7009 §2.1: a token issued to another client is not revoked, and the request is refused with invalid_request', async () => {
    const at = await issue(other);
    const fam = await insertRefreshFamily(t.ctx, { clientId: other.clientId, subject: alice });
    for (const tok of [at, fam.refreshToken]) {
      const r = await revoke(tok, app);
      expect(r).toMatchObject({ action: 'BAD_REQUEST', status: 400, resultCode: 'LK5007' });
      expect(JSON.parse(r.responseContent)).toMatchObject({ error: 'invalid_request' });
      expect(await active(tok)).toBe(true);
    }
    expect(await active(fam.accessToken)).toBe(true);
  });

  it('RFC 7009 §2.2: an unknown, malformed or expired token answers 200', async () => {
    for (const tok of ['nope', 'a.b.c', 'x'.repeat(9000), 'eyJhbGciOiJub25lIn0.' + 'e30.' + 'x'.repeat(120)]) {
      const r = await revoke(tok);
      expect(r.status).toBe(200);
      expect(r.resultCode).toBe('LK5006');
    }
    const jwt = await issue(jwtApp);
    const saved = now;
    now += 7200 * 1000;
    try {
      expect((await revoke(jwt, jwtApp)).status).toBe(200);
    } finally {
      now = saved;
    }
  });

  it('RFC 7009 §2.1: a public client identifies with client_id alone and revokes its own refresh token', async () => {
    const fam = await insertRefreshFamily(t.ctx, { clientId: pub.clientId, subject: alice });
    const r = await revocation({ parameters: `token=${fam.refreshToken}&client_id=${pub.clientId}` }, t.ctx);
    expect(r.action).toBe('OK');
    expect(r.resultCode).toBe('LK5005');
    expect(await active(fam.accessToken)).toBe(false);
  });

  it('RFC 7009 §2.1: a public client cannot revoke a confidential client\'s token', async () => {
    const at = await issue(app);
    const r = await revocation({ parameters: `token=${at}&client_id=${pub.clientId}` }, t.ctx);
    expect(r.status).toBe(400);
    expect(r.resultCode).toBe('LK5007');
    expect(await active(at)).toBe(true);
  });

  it('RFC 7009 §2.2.1: wrong client credentials are 401 invalid_client; nothing is revoked', async () => {
    const at = await issue(app);
    const r = await revocation({ parameters: `token=${at}`, clientId: app.clientId, clientSecret: 'wrong' }, t.ctx);
    expect(r.action).toBe('INVALID_CLIENT');
    expect(r.status).toBe(401);
    expect(JSON.parse(r.responseContent).error).toBe('invalid_client');
    expect(await active(at)).toBe(true);
    const anon = await revocation({ parameters: `token=${at}` }, t.ctx);
    expect(anon.status).toBe(401);
  });

  it('RFC 7009 §2.2.1: a missing token is invalid_request (RFC 6749 §5.2)', async () => {
    const r = await revocation({ parameters: 'token_type_hint=access_token', clientId: app.clientId, clientSecret: app.clientSecret }, t.ctx);
    expect(r.action).toBe('BAD_REQUEST');
    expect(JSON.parse(r.responseContent).error).toBe('invalid_request');
    expect(r.headers?.['Cache-Control']).toBe('no-store');
  });

  it('an unexpected failure is INTERNAL_SERVER_ERROR with a generic body', async () => {
    const at = await issue(app);
    const broken = { ...t.ctx, store: Object.assign(Object.create(t.ctx.store), { revokeToken: async () => { throw new Error('disk on fire'); } }) } as typeof t.ctx;
    const r = await revocation({ parameters: `token=${at}`, clientId: app.clientId, clientSecret: app.clientSecret }, broken);
    expect(r.action).toBe('INTERNAL_SERVER_ERROR');
    expect(r.status).toBe(500);
    expect(r.responseContent).not.toMatch(/disk on fire|at /);
  });
});
