import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, createLocalJWKSet, jwtVerify, type JWK } from 'jose';
import { signJwt } from '../../src/tokens/jwt.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

describe('key manager', () => {
  let t: TestLatchkey;
  beforeAll(async () => {
    t = await openTestLatchkey();
  });
  afterAll(() => t.close());

  it('OIDC Core §15.1: a fresh tenant has active RS256 and ES256 keys (and PS256, EdDSA)', async () => {
    const keys = await t.ctx.keys();
    expect(keys.algs.sort()).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256']);
  });

  it('RFC 7517/7638: the JWKS holds public members only, kid is the thumbprint, use and alg set', async () => {
    const { jwks } = await t.ctx.keys();
    for (const k of jwks.keys) {
      expect(k.kid).toBe(await calculateJwkThumbprint(k as JWK));
      expect(k.use).toBe('sig');
      expect(k.alg).toBeDefined();
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k).not.toHaveProperty(priv);
    }
  });

  it('private keys are encrypted at rest', async () => {
    const rows = await t.ctx.store.listKeys(t.ctx.tenant.id);
    for (const r of rows) {
      expect(r.privateJwe.split('.')).toHaveLength(5); // compact JWE
      expect(r.privateJwe).not.toMatch(/"d"/);
    }
  });

  it('an immediate rotation (--now) adds a new active key; the old public key stays in the JWKS and still verifies', async () => {
    const before = await t.ctx.keys();
    const oldKey = before.signingKey('ES256');
    const oldToken = signJwt(oldKey, { sub: 'x' });
    await t.lk.keys.rotate(t.ctx.tenant.id, ['ES256'], { immediate: true });
    t.lk.keys.invalidate();
    const after = await t.ctx.keys();
    expect(after.signingKey('ES256').kid).not.toBe(oldKey.kid);
    expect(after.jwks.keys.map((k) => k.kid)).toContain(oldKey.kid);
    await expect(jwtVerify(oldToken, createLocalJWKSet(after.jwks))).resolves.toBeDefined();
    const statuses = (await t.ctx.store.listKeys(t.ctx.tenant.id)).filter((k) => k.alg === 'ES256').map((k) => k.status);
    expect(statuses.sort()).toEqual(['active', 'published']);
  });
});
