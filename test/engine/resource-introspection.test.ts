import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nowSeconds } from '../../src/engine/context.js';
import { accessTokenHash } from '../../src/engine/dpop.js';
import { resourceIntrospection } from '../../src/engine/resource-introspection.js';
import { userinfo, userinfoIssue, userinfoRequest } from '../../src/engine/userinfo.js';
import { newHandle, secureRandom } from '../../src/tokens/handles.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

const certA = readFileSync('test/fixtures/client-a.cert.pem', 'utf8');
const certB = readFileSync('test/fixtures/client-b.cert.pem', 'utf8');
const x5t = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');
const URL_ = 'https://api.example/things';

describe('resource-server introspection and token binding (engine)', () => {
  let t: TestLatchkey;
  let clock = Date.now();
  let key: { privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK; jkt: string };
  let otherKey: typeof key;

  async function dpopKey() {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    return { privateKey, publicKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
  }

  beforeAll(async () => {
    t = await openTestLatchkey({}, { clock: () => clock });
    // The client the token rows below are issued to: a token whose client is gone is inactive (RFC 7592 §2.3).
    await t.client({ client_id: 'rs-client', grant_types: ['client_credentials'] });
    key = await dpopKey();
    otherKey = await dpopKey();
  });
  afterAll(() => t.close());

  /** An access token row as the token endpoint writes it, with an optional confirmation. */
  async function accessToken(opts: { scope?: string[]; subject?: string | null; cnf?: Record<string, string> } = {}): Promise<string> {
    const token = newHandle(secureRandom);
    const now = nowSeconds(t.ctx);
    const data: Record<string, unknown> = { format: 'opaque', aud: ['rs-client'], auth_time: now - 5, acr: 'urn:pwd' };
    if (opts.cnf) data.cnf = opts.cnf;
    await t.ctx.store.insertToken({
      tenantId: t.ctx.tenant.id, hash: t.ctx.hasher.hash(token), kind: 'access_token', clientId: 'rs-client',
      subject: opts.subject === undefined ? 'alice' : opts.subject, scope: opts.scope ?? ['openid', 'profile', 'read'], grantId: null,
      issuedAt: now, expiresAt: now + 600, revokedAt: null, consumedAt: null, data,
    });
    return token;
  }

  async function proof(k: typeof key, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    return new SignJWT({ jti: randomUUID(), htm: 'GET', htu: URL_, iat: Math.floor(clock / 1000), ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: k.jwk, ...header })
      .sign(k.privateKey);
  }

  it('OK for a bearer token with the required scopes; the answer says who, for whom, until when', async () => {
    const token = await accessToken();
    const r = await resourceIntrospection({ token, scopes: ['read'], subject: 'alice' }, t.ctx);
    expect(r).toMatchObject({ action: 'OK', subject: 'alice', clientId: 'rs-client', scopes: ['openid', 'profile', 'read'], tokenType: 'Bearer', acr: 'urn:pwd', audience: ['rs-client'] });
    expect(r.cnf).toBeUndefined();
  });

  describe('RFC 9449 §7.1: a DPoP-bound token needs a proof by its key, for this request and this token', () => {
    let token: string;
    beforeAll(async () => {
      token = await accessToken({ cnf: { jkt: key.jkt } });
    });
    const check = (dpop: string | undefined, extra: Record<string, unknown> = {}) =>
      resourceIntrospection({ token, scopes: [], dpop, htm: 'GET', htu: URL_ + '?page=2', ...extra }, t.ctx);

    it('a valid proof is accepted (query and fragment ignored, RFC 9449 §4.3); the answer says DPoP and jkt', async () => {
      const r = await check(await proof(key, { ath: accessTokenHash(token) }));
      expect(r).toMatchObject({ action: 'OK', tokenType: 'DPoP', cnf: { jkt: key.jkt } });
    });

    it('no proof: 401 invalid_token with a DPoP challenge', async () => {
      const r = await check(undefined);
      expect(r).toMatchObject({ action: 'UNAUTHORIZED', resultCode: 'LK11014', status: 401 });
      expect(r.responseContent).toMatch(/^DPoP realm="latchkey", algs="ES256 [^"]*", error="invalid_token"/);
    });

    it('a proof by another key: invalid_token (key binding)', async () => {
      const r = await check(await proof(otherKey, { ath: accessTokenHash(token) }));
      expect(r).toMatchObject({ action: 'UNAUTHORIZED', resultCode: 'LK11016' });
    });

    it.each([
      ['without ath', { ath: undefined }, {}],
      ['with the ath of another token', { ath: accessTokenHash('another') }, {}],
      ['for another method', { htm: 'POST' }, {}],
      ['for another URI', { htu: 'https://api.example/other' }, {}],
      ['too old', { iat: Math.floor(Date.now() / 1000) - 3600 }, {}],
      ['from the future', { iat: Math.floor(Date.now() / 1000) + 3600 }, {}],
      ['without jti', { jti: undefined }, {}],
      ['with the wrong typ', {}, { typ: 'JWT' }],
    ])('a proof %s is invalid_dpop_proof', async (_name, claims, header) => {
      const c: Record<string, unknown> = { ath: accessTokenHash(token), ...claims };
      const r = await check(await proof(key, c, header));
      expect(r).toMatchObject({ action: 'UNAUTHORIZED', resultCode: 'LK11015' });
      expect(r.responseContent).toMatch(/^DPoP .*error="invalid_dpop_proof"/);
    });

    it('a proof signed with HS256 or carrying a private key is refused (RFC 9449 §4.3 steps 5, 7)', async () => {
      const hs = await new SignJWT({ jti: 'x', htm: 'GET', htu: URL_, iat: Math.floor(clock / 1000), ath: accessTokenHash(token) })
        .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: key.jwk })
        .sign(new Uint8Array(32));
      expect((await check(hs)).resultCode).toBe('LK11015');
      const priv = await exportJWK(key.privateKey);
      expect((await check(await proof(key, { ath: accessTokenHash(token) }, { jwk: priv }))).resultCode).toBe('LK11015');
      expect((await check('not-a-jwt')).resultCode).toBe('LK11015');
    });

    it('RFC 9449 §11.1: a proof is accepted once', async () => {
      const p = await proof(key, { ath: accessTokenHash(token) });
      expect((await check(p)).action).toBe('OK');
      const again = await check(p);
      expect(again).toMatchObject({ action: 'UNAUTHORIZED', resultCode: 'LK11015' });
      expect(again.resultMessage).toMatch(/used before/);
    });

    it('UserInfo step one checks the binding too; the built-in endpoint, which receives no proof, refuses the token', async () => {
      const bound = await accessToken({ cnf: { jkt: key.jkt } });
      expect((await userinfoRequest({ token: bound }, t.ctx)).resultCode).toBe('LK11014');
      const ok = await userinfoRequest({ token: bound, dpop: await proof(key, { ath: accessTokenHash(bound) }), htm: 'GET', htu: URL_ }, t.ctx);
      expect(ok.action).toBe('OK');
      expect((await userinfo({ accessToken: bound }, t.ctx)).action).toBe('UNAUTHORIZED');
    });
  });

  describe('RFC 8705 §3: a certificate-bound token needs the same certificate', () => {
    it('the bound certificate passes; none or another is 401 invalid_token', async () => {
      const token = await accessToken({ cnf: { 'x5t#S256': x5t(certA) } });
      const ok = await resourceIntrospection({ token, scopes: [], clientCertificate: certA }, t.ctx);
      expect(ok).toMatchObject({ action: 'OK', cnf: { 'x5t#S256': x5t(certA) } });
      for (const clientCertificate of [undefined, certB, 'not a certificate']) {
        const r = await resourceIntrospection({ token, scopes: [], clientCertificate }, t.ctx);
        expect(r).toMatchObject({ action: 'UNAUTHORIZED', resultCode: 'LK11017', status: 401 });
        expect(r.responseContent).toMatch(/^Bearer .*error="invalid_token"/);
      }
    });
  });

  describe('UserInfo in two steps is the built-in endpoint', () => {
    it('step one + step two with the stored claims give exactly the built-in answer', async () => {
      const sub = await t.user(`u-${randomUUID().slice(0, 8)}`, 'a-long-password', { name: 'Ann', email: 'ann@example.com', email_verified: true, phone_number: '+1 555' });
      const user = (await t.ctx.store.findUserById(t.ctx.tenant.id, sub))!;
      const token = await accessToken({ subject: sub, scope: ['openid', 'profile', 'email'] });
      const builtIn = await userinfo({ authorization: `Bearer ${token}` }, t.ctx);
      const one = await userinfoRequest({ token }, t.ctx);
      expect(one).toMatchObject({ action: 'OK', subject: sub });
      const two = await userinfoIssue({ token, claims: user.claims }, t.ctx);
      expect(two.action).toBe('OK');
      expect(JSON.parse(two.responseContent)).toEqual(JSON.parse(builtIn.responseContent));
      expect(JSON.parse(two.responseContent)).toEqual({ sub, name: 'Ann', email: 'ann@example.com', email_verified: true, preferred_username: user.username });
    });

    it('step two re-checks the token: one revoked in between is refused', async () => {
      const token = await accessToken();
      expect((await userinfoRequest({ token }, t.ctx)).action).toBe('OK');
      await t.ctx.store.revokeToken(t.ctx.tenant.id, t.ctx.hasher.hash(token), nowSeconds(t.ctx));
      expect((await userinfoIssue({ token, claims: {} }, t.ctx)).action).toBe('UNAUTHORIZED');
    });
  });

  it('an expired token is UNAUTHORIZED', async () => {
    const token = await accessToken();
    clock += 3600_000;
    try {
      expect((await resourceIntrospection({ token, scopes: [] }, t.ctx)).action).toBe('UNAUTHORIZED');
    } finally {
      clock -= 3600_000;
    }
  });
});
