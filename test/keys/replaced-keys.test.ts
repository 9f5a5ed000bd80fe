import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { KeyManager } from '../../src/keys/keystore.js';
import { rotateKeys } from '../../src/services/keys.js';
import type { KeyStoreRepo, SigningKeyRecord } from '../../src/store/types.js';
import { signJwt } from '../../src/tokens/jwt.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

/**
 * After a staged rotation, the replaced key only verifies: it stays in the JWKS (its public part) until it is
 * retired, but a process loading its keys never decrypts its private key again. The key that signs now and any
 * pending one are decrypted.
 */
describe('a replaced signing key is published, never decrypted', () => {
  let t: TestLatchkey;
  let now = Date.UTC(2031, 0, 1);
  const clock = () => now;
  beforeAll(async () => {
    t = await openTestLatchkey({ keyActivationDelay: 120 }, { clock });
  });
  afterAll(() => t.close());

  /** The store's keys, with the private part of the named keys unreadable (not decryptable). */
  const unreadable = (kids: string[]): KeyStoreRepo =>
    new Proxy(t.ctx.store, {
      get(target, prop, receiver) {
        if (prop === 'listKeys') {
          return async (tenantId: string) =>
            (await target.listKeys(tenantId)).map((r: SigningKeyRecord) => (kids.includes(r.kid) ? { ...r, privateJwe: 'not.a.valid.jwe.value' } : r));
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as KeyStoreRepo;
  const kek = () => (t.lk.keys as unknown as { encryptionKey: Uint8Array }).encryptionKey;

  it('once its successor signs, a fresh load serves the replaced key\'s public part (JWKS, verification) without its private key', async () => {
    const tenant = t.ctx.tenant.id;
    const old = (await t.ctx.keys()).signingKey('ES256');
    const oldToken = signJwt(old, { sub: 'signed-before-rotation' });
    const [added] = await rotateKeys(t.lk, tenant, ['ES256']);

    // Before the switch both private keys are needed: the old one signs, the pending one will.
    await expect(new KeyManager(unreadable([old.kid]), kek(), clock, 30_000, 120).forTenant(tenant)).rejects.toThrow();
    await expect(new KeyManager(unreadable([added!.kid]), kek(), clock, 30_000, 120).forTenant(tenant)).rejects.toThrow();

    now += 120_000;
    const keys = await new KeyManager(unreadable([old.kid]), kek(), clock, 30_000, 120).forTenant(tenant);
    expect(keys.signingKey('ES256').kid).toBe(added!.kid);
    expect(keys.jwks.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([old.kid, added!.kid]));
    expect(keys.publicKey(old.kid)).toBeDefined();
    await expect(jwtVerify(oldToken, createLocalJWKSet(keys.jwks), { currentDate: new Date(now) })).resolves.toBeDefined();
    // The new key signs, and what it signs verifies against the same JWKS.
    const fresh = signJwt(keys.signingKey('ES256'), { sub: 'after' });
    await expect(jwtVerify(fresh, createLocalJWKSet(keys.jwks), { currentDate: new Date(now) })).resolves.toBeDefined();
    // A clock that steps back a little keeps the loaded signer (the replaced key is not there to fall back on).
    now -= 60_000;
    expect(keys.signingKey('ES256').kid).toBe(added!.kid);
    now += 60_000;
  });

  it('a key staged after the current signer is decrypted and takes over at its time, from the same loaded set', async () => {
    const tenant = t.ctx.tenant.id;
    const signer = (await t.ctx.keys()).signingKey('RS256');
    const [next] = await rotateKeys(t.lk, tenant, ['RS256']);
    const keys = await new KeyManager(t.ctx.store, kek(), clock, 30_000, 120).forTenant(tenant);
    expect(keys.signingKey('RS256').kid).toBe(signer.kid);
    now += 120_000;
    expect(keys.signingKey('RS256').kid).toBe(next!.kid);
  });
});
