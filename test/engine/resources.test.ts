import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { Params } from '../../src/engine/params.js';
import { isResourceIndicator, tokenTarget } from '../../src/engine/resources.js';
import { OAuthError } from '../../src/engine/errors.js';
import { registerResourceServer } from '../../src/services/resources.js';
import { mintAccessToken } from '../../src/tokens/access-token.js';
import { mintIdToken } from '../../src/tokens/id-token.js';
import { verifyOwnIdToken } from '../../src/tokens/verify-own.js';
import { signJwt } from '../../src/tokens/jwt.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';
import type { ClientRecord } from '../../src/store/types.js';

describe('Params: parameters allowed to repeat', () => {
  it('RFC 8707 §2: resource may repeat when allowed, and every value is kept in order; others still may not', () => {
    const p = Params.parse('resource=a&scope=x&resource=b&resource=', { allowRepeated: ['resource'] });
    expect(p.getAll('resource')).toEqual(['a', 'b']);
    expect(p.get('resource')).toBe('a');
    expect(p.getAll('scope')).toEqual(['x']);
    expect(p.getAll('nothing')).toEqual([]);
    expect(() => Params.parse('resource=a&resource=b')).toThrow(OAuthError);
    expect(() => Params.parse('scope=a&scope=b', { allowRepeated: ['resource'] })).toThrow(OAuthError);
  });
});

describe('resource indicators and token targets (engine)', () => {
  let t: TestLatchkey;
  let client: ClientRecord;
  const now = Date.UTC(2033, 0, 1);

  beforeAll(async () => {
    t = await openTestLatchkey({}, { clock: () => now });
    await registerResourceServer(t.ctx, { identifier: 'https://a.example/', scope: 'a1 a2', access_token_format: 'jwt', access_token_lifetime: 900 });
    await registerResourceServer(t.ctx, { identifier: 'https://b.example/', scope: 'b1', access_token_format: 'opaque', access_token_lifetime: 300 });
    await registerResourceServer(t.ctx, { identifier: 'urn:example:c', scope: 'c1' });
    const { clientId } = await t.client({ grant_types: ['client_credentials'], scope: 'a1 a2 b1 c1 x', access_token_lifetime: 600 });
    client = (await t.ctx.store.findClient(t.ctx.tenant.id, clientId))!;
  });
  afterAll(() => t.close());

  const rs = async (...ids: string[]) => Promise.all(ids.map(async (id) => (await t.ctx.store.findResourceServer(t.ctx.tenant.id, id))!));

  it('RFC 8707 §2: absolute URIs without a fragment (query allowed); anything else is not a resource indicator', () => {
    for (const ok of ['https://api.example/', 'https://api.example/app?tenant=1', 'urn:example:api', 'http://127.0.0.1:8080/x', 'https://a.example/%20x']) {
      expect(isResourceIndicator(ok), ok).toBe(true);
    }
    for (const bad of ['', 'api', '/api', '//api.example', 'https://a.example/#', 'https://a.example/#f', 'https://a b', 'https://a.example/\u00e9', '1http://x', 'https://a.example/%zz', 'x'.repeat(2001)]) {
      expect(isResourceIndicator(bad), bad).toBe(false);
    }
  });

  it('RFC 8707 §2.2: named resources are the audience; the scope is down-scoped to what they understand', async () => {
    const target = await tokenTarget(t.ctx, client, { resources: await rs('https://a.example/'), scope: ['a1', 'b1', 'x'], scopeRequested: false });
    expect(target).toMatchObject({ audience: ['https://a.example/'], scope: ['a1'], format: 'jwt', lifetime: 900 });
  });

  it('RFC 8707 §2: a requested scope that no named resource understands is invalid_target', async () => {
    await expect(tokenTarget(t.ctx, client, { resources: await rs('https://a.example/'), scope: ['a1', 'b1'], scopeRequested: true })).rejects.toMatchObject({ code: 'invalid_target', resultCode: 'LK6005' });
  });

  it('RFC 9068 §2.2.3: OpenID scopes stay only when openid is granted, and then the issuer joins the audience', async () => {
    const withOpenid = await tokenTarget(t.ctx, client, { resources: await rs('urn:example:c'), scope: ['openid', 'profile', 'c1'], scopeRequested: false });
    expect(withOpenid).toMatchObject({ audience: ['urn:example:c', t.ctx.tenant.issuer], scope: ['openid', 'profile', 'c1'] });
    const without = await tokenTarget(t.ctx, client, { resources: await rs('urn:example:c'), scope: ['profile', 'c1'], scopeRequested: false });
    expect(without).toMatchObject({ audience: ['urn:example:c'], scope: ['c1'] });
  });

  it('RFC 9068 §3: with no resource, the one resource server owning every API scope is inferred; none owning them means the issuer', async () => {
    expect(await tokenTarget(t.ctx, client, { resources: [], scope: ['a2', 'a1'], scopeRequested: true })).toMatchObject({ audience: ['https://a.example/'] });
    expect(await tokenTarget(t.ctx, client, { resources: [], scope: ['x'], scopeRequested: true })).toMatchObject({ audience: [t.ctx.tenant.issuer], scope: ['x'] });
    expect(await tokenTarget(t.ctx, client, { resources: [], scope: ['openid'], scopeRequested: true })).toMatchObject({ audience: [t.ctx.tenant.issuer] });
    await expect(tokenTarget(t.ctx, client, { resources: [], scope: ['a1', 'b1'], scopeRequested: true })).rejects.toMatchObject({ code: 'invalid_scope', resultCode: 'LK6006' });
    await expect(tokenTarget(t.ctx, client, { resources: [], scope: ['a1', 'x'], scopeRequested: true })).rejects.toMatchObject({ code: 'invalid_scope' });
  });

  it('several resources: JWT when any of them wants JWTs; the shortest lifetime, and never longer than the client\'s', async () => {
    const target = await tokenTarget(t.ctx, client, { resources: await rs('https://a.example/', 'https://b.example/'), scope: ['a1', 'b1'], scopeRequested: true });
    expect(target).toMatchObject({ format: 'jwt', lifetime: 300 });
    const at = await mintAccessToken(t.ctx, { client, subject: null, scope: target.scope, audience: target.audience, format: target.format, lifetime: 900, grantId: null });
    expect(at.expiresIn).toBe(600); // the client's access_token_lifetime is shorter than 900
    expect(decodeJwt(at.token).aud).toEqual(['https://a.example/', 'https://b.example/']);
    const capped = await mintAccessToken(t.ctx, { client, subject: null, scope: [], grantId: null, notAfter: now / 1000 + 42 });
    expect(capped.expiresIn).toBe(42);
  });
});

describe('verifyOwnIdToken: one verifier for id_token_hint and token exchange', () => {
  let t: TestLatchkey;
  let client: ClientRecord;
  let now = Date.UTC(2033, 0, 1);

  beforeAll(async () => {
    t = await openTestLatchkey({}, { clock: () => now });
    const { clientId } = await t.client({ redirect_uris: ['https://rp.example/cb'], access_token_format: 'jwt' });
    client = (await t.ctx.store.findClient(t.ctx.tenant.id, clientId))!;
  });
  afterAll(() => t.close());

  it('OIDC Core §3.1.2.1, RFC 8725 §3.11: our ID tokens verify; our access tokens (at+jwt), even with the client as aud, do not', async () => {
    const idt = await mintIdToken(t.ctx, { client, subject: 'u1' });
    expect((await verifyOwnIdToken(t.ctx, idt, { audience: client.clientId, allowExpired: false }))!.sub).toBe('u1');
    expect(await verifyOwnIdToken(t.ctx, idt, { audience: 'someone-else', allowExpired: false })).toBeUndefined();
    const at = await mintAccessToken(t.ctx, { client, subject: 'u1', scope: [], grantId: null, audience: [client.clientId] });
    expect(await verifyOwnIdToken(t.ctx, at.token, { audience: client.clientId, allowExpired: true })).toBeUndefined();
    // Untyped, but shaped like an access token (client_id): refused too.
    const keys = await t.ctx.keys();
    const forged = signJwt(keys.signingKey('RS256'), { iss: t.ctx.tenant.issuer, sub: 'u1', aud: client.clientId, client_id: client.clientId, exp: now / 1000 + 60, iat: now / 1000 });
    expect(await verifyOwnIdToken(t.ctx, forged, { audience: client.clientId, allowExpired: false })).toBeUndefined();
  });

  it('an expired ID token is a valid hint, but not an exchangeable subject token', async () => {
    const idt = await mintIdToken(t.ctx, { client, subject: 'u2' });
    now += 2 * 3600 * 1000;
    expect((await verifyOwnIdToken(t.ctx, idt, { audience: client.clientId, allowExpired: true }))!.sub).toBe('u2');
    expect(await verifyOwnIdToken(t.ctx, idt, { audience: client.clientId, allowExpired: false })).toBeUndefined();
  });
});
