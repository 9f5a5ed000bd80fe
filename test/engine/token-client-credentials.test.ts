import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { token } from '../../src/engine/token/index.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';
import { tokenKey } from '../../src/tokens/handles.js';

describe('token endpoint: client_credentials (engine, injected clock and randomness)', () => {
  let t: TestLatchkey;
  let client: { clientId: string; clientSecret?: string };
  const fixedNow = Date.UTC(2030, 0, 1);
  let counter = 0;

  beforeAll(async () => {
    t = await openTestLatchkey({}, { clock: () => fixedNow, random: (n) => Buffer.alloc(n, ++counter) });
    client = await t.client({ grant_types: ['client_credentials'], scope: 'api:read api:write openid' });
  });
  afterAll(() => t.close());

  const call = (parameters: string, creds = true) =>
    token({ parameters, ...(creds ? { clientId: client.clientId, clientSecret: client.clientSecret } : {}) }, t.ctx);

  it('RFC 6749 §4.4.3: issues a Bearer token with expires_in, stored only as a hash', async () => {
    const r = await call('grant_type=client_credentials&scope=api:read');
    expect(r.action).toBe('OK');
    expect(r.resultCode).toBe('LK2001');
    expect(r.headers?.['Cache-Control']).toBe('no-store');
    const body = JSON.parse(r.responseContent);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'api:read' });
    expect(Buffer.from(body.access_token, 'base64url').length).toBeGreaterThanOrEqual(16);
    const rec = await t.ctx.store.findToken(t.ctx.tenant.id, tokenKey(t.ctx.hasher, body.access_token));
    expect(rec).toMatchObject({ kind: 'access_token', clientId: client.clientId, scope: ['api:read'] });
    expect(rec!.expiresAt).toBe(fixedNow / 1000 + 3600);
    expect(await t.ctx.store.findToken(t.ctx.tenant.id, body.access_token)).toBeUndefined();
  });

  it('RFC 6749 §3.3: with no scope requested, the allowed non-user scopes are granted', async () => {
    const r = await call('grant_type=client_credentials');
    expect(JSON.parse(r.responseContent).scope).toBe('api:read api:write');
  });

  it('RFC 6749 §5.2: a scope the client may not use is invalid_scope', async () => {
    const r = await call('grant_type=client_credentials&scope=api:admin');
    expect(r.action).toBe('BAD_REQUEST');
    expect(JSON.parse(r.responseContent).error).toBe('invalid_scope');
    const o = await call('grant_type=client_credentials&scope=openid');
    expect(JSON.parse(o.responseContent).error).toBe('invalid_scope');
  });

  it('RFC 6749 §5.2: an unknown grant type is unsupported_grant_type', async () => {
    const r = await call('grant_type=urn:example:magic');
    expect(JSON.parse(r.responseContent).error).toBe('unsupported_grant_type');
  });

  it('RFC 6749 §5.2: a grant the client is not registered for is unauthorized_client', async () => {
    const other = await t.client({ redirect_uris: ['https://a.example/cb'] });
    const r = await token({ parameters: 'grant_type=client_credentials', clientId: other.clientId, clientSecret: other.clientSecret }, t.ctx);
    expect(JSON.parse(r.responseContent).error).toBe('unauthorized_client');
  });

  it('missing grant_type is invalid_request; a repeated parameter is invalid_request', async () => {
    expect(JSON.parse((await call('scope=a')).responseContent).error).toBe('invalid_request');
    expect(JSON.parse((await call('grant_type=client_credentials&grant_type=client_credentials')).responseContent).error).toBe('invalid_request');
  });

  it('no credentials at all is INVALID_CLIENT (401)', async () => {
    const r = await call('grant_type=client_credentials', false);
    expect(r.action).toBe('INVALID_CLIENT');
    expect(r.status).toBe(401);
  });

  it('an unexpected failure is INTERNAL_SERVER_ERROR with a generic body', async () => {
    const broken = { ...t.ctx, store: Object.assign(Object.create(t.ctx.store), { findClient: async () => { throw new Error('disk on fire'); } }) } as typeof t.ctx;
    const r = await token({ parameters: 'grant_type=client_credentials', clientId: client.clientId, clientSecret: client.clientSecret }, broken);
    expect(r.action).toBe('INTERNAL_SERVER_ERROR');
    expect(r.status).toBe(500);
    expect(r.responseContent).not.toMatch(/disk on fire|at /);
  });
});
