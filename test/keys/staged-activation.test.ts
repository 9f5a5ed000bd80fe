import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { startupWarnings } from '../../src/cli/serve.js';
import { loadConfig } from '../../src/config/load.js';
import { SAFE_KEY_ACTIVATION_DELAY, type ConfigInput } from '../../src/config/schema.js';
import { KeyManager } from '../../src/keys/keystore.js';
import { retireKey, rotateKeys } from '../../src/services/keys.js';
import type { KeyStoreRepo } from '../../src/store/types.js';
import { signJwt } from '../../src/tokens/jwt.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

/**
 * Staged activation (issue 8): a rotated-in key is published at once and signs only after keyActivationDelay;
 * every process derives the switch from the preloaded keys and the clock, without asking the store.
 */
describe('staged key activation', () => {
  let t: TestLatchkey;
  let now = Date.UTC(2030, 0, 1);
  const clock = () => now;
  beforeAll(async () => {
    t = await openTestLatchkey({ keyActivationDelay: 120 }, { clock });
  });
  afterAll(() => t.close());

  it('a rotated key is published at once, signs only from its activation time; the old key signs until then and stays published', async () => {
    const before = await t.ctx.keys();
    const old = before.signingKey('ES256');
    const oldToken = signJwt(old, { sub: 'before' });
    const [added] = await rotateKeys(t.lk, t.ctx.tenant.id, ['ES256']);
    expect(added).toMatchObject({ state: 'pending', activatesAt: Math.floor(now / 1000) + 120 });
    const keys = await t.ctx.keys();
    expect(keys.jwks.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([old.kid, added!.kid]));
    expect(JSON.parse(keys.jwksJson).keys.map((k: { kid: string }) => k.kid)).toContain(added!.kid);
    expect(keys.signingKey('ES256').kid).toBe(old.kid);
    // The signing key comes first, so a client that takes the first matching key without a kid still verifies.
    expect(keys.jwks.keys.find((k) => k.alg === 'ES256')!.kid).toBe(old.kid);
    expect((await t.lk.keys.list(t.ctx.tenant.id)).filter((k) => k.alg === 'ES256').map((k) => k.state)).toEqual(['active', 'pending']);

    now += 120_000;
    expect(keys.signingKey('ES256').kid).toBe(added!.kid); // the same loaded set switches by itself
    expect(keys.jwks.keys.find((k) => k.alg === 'ES256')!.kid).toBe(added!.kid);
    expect((await t.lk.keys.list(t.ctx.tenant.id)).filter((k) => k.alg === 'ES256').map((k) => k.state)).toEqual(['published', 'active']);
    await expect(jwtVerify(oldToken, createLocalJWKSet(keys.jwks), { currentDate: new Date(now) })).resolves.toBeDefined();
  });

  it('retire: the signing key and a pending key are refused; the replaced key only once its successor signs (and then, this soon, only forced)', async () => {
    const tenant = t.ctx.tenant.id;
    const current = (await t.ctx.keys()).signingKey('RS256').kid;
    const [pending] = await rotateKeys(t.lk, tenant, ['RS256']);
    await expect(retireKey(t.lk, tenant, current)).rejects.toThrow(/rotate first/);
    await expect(retireKey(t.lk, tenant, pending!.kid)).rejects.toThrow(/pending/);
    now += 120_000;
    await expect(retireKey(t.lk, tenant, pending!.kid)).rejects.toThrow(/rotate first/);
    // It signed until a moment ago: only once those tokens have expired (test/keys/retire-after-expiry.test.ts), or forced.
    await expect(retireKey(t.lk, tenant, current)).rejects.toThrow(/still valid/);
    expect(await retireKey(t.lk, tenant, current, { force: true })).toMatchObject({ state: 'retired' });
    expect((await t.ctx.keys()).jwks.keys.map((k) => k.kid)).not.toContain(current);
  });

  it('KeyManager.retire decides with keyStates alone: never the signing, a pending or another alg\'s key; the replaced one once, even when raced', async () => {
    const tenant = t.ctx.tenant.id;
    const current = (await t.ctx.keys()).signingKey('EdDSA').kid;
    const other = (await t.ctx.keys()).signingKey('ES256').kid;
    const [pending] = await rotateKeys(t.lk, tenant, ['EdDSA']);
    expect(await t.lk.keys.retire(tenant, current)).toBe(false); // still signing until the new key activates
    expect(await t.lk.keys.retire(tenant, pending!.kid)).toBe(false);
    expect(await t.lk.keys.retire(tenant, 'no-such-kid')).toBe(false);
    now += 120_000;
    expect(await t.lk.keys.retire(tenant, pending!.kid)).toBe(false); // now the signing key
    expect(await t.lk.keys.retire(tenant, other)).toBe(false); // another alg's rotation replaces nothing of ES256
    expect((await t.lk.keys.list(tenant)).find((k) => k.kid === current)).toMatchObject({ status: 'active', state: 'published' });
    const raced = await Promise.all([t.lk.keys.retire(tenant, current), t.lk.keys.retire(tenant, current)]);
    expect(raced.filter(Boolean)).toHaveLength(1);
    expect((await t.lk.keys.list(tenant)).find((k) => k.kid === current)?.state).toBe('retired');
  });

  it('rotate --now (immediate) signs at once: the key in use and any pending one only verify from then on', async () => {
    const tenant = t.ctx.tenant.id;
    const current = (await t.ctx.keys()).signingKey('PS256').kid;
    const [pending] = await rotateKeys(t.lk, tenant, ['PS256']);
    const [emergency] = await rotateKeys(t.lk, tenant, ['PS256'], { immediate: true });
    expect(emergency!.state).toBe('active');
    expect((await t.ctx.keys()).signingKey('PS256').kid).toBe(emergency!.kid);
    now += 1000_000; // the earlier pending key never takes over
    expect((await t.ctx.keys()).signingKey('PS256').kid).toBe(emergency!.kid);
    const states = Object.fromEntries((await t.lk.keys.list(tenant)).map((k) => [k.kid, k.state]));
    expect([states[current], states[pending!.kid], states[emergency!.kid]]).toEqual(['published', 'published', 'active']);
  });

  it('a second instance publishes the key within its re-validation interval and switches at the activation time without a store call', async () => {
    const calls: string[] = [];
    const store = t.ctx.store;
    const counting = new Proxy(store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? (...args: unknown[]) => (calls.push(String(prop)), v.apply(target, args)) : v;
      },
    }) as KeyStoreRepo;
    // The other instance: same store and key-encryption key, its own cache, re-validating every 10 s.
    const kek = (t.lk.keys as unknown as { encryptionKey: Uint8Array }).encryptionKey;
    const other = new KeyManager(counting, kek, clock, 10_000, 120);
    const tenant = t.ctx.tenant.id;
    const first = await other.forTenant(tenant);
    const old = first.signingKey('EdDSA').kid;
    const [added] = await rotateKeys(t.lk, tenant, ['EdDSA']);
    expect(first.jwks.keys.map((k) => k.kid)).not.toContain(added!.kid); // not yet re-validated
    now += 10_000;
    await other.forTenant(tenant); // notices the interval has passed, re-validates in the background
    await other.settled();
    const published = await other.forTenant(tenant);
    expect(published.jwks.keys.map((k) => k.kid)).toContain(added!.kid);
    expect(published.signingKey('EdDSA').kid).toBe(old);
    calls.length = 0;
    now += 110_000; // the activation time, before the next re-validation
    expect(published.signingKey('EdDSA').kid).toBe(added!.kid);
    expect(calls).toEqual([]);
  });

  it('keyActivationDelay 0 (one process): a rotated key signs at once', async () => {
    const zero = await openTestLatchkey({ keyActivationDelay: 0 }, { clock });
    try {
      const [k] = await rotateKeys(zero.lk, zero.ctx.tenant.id, ['ES256']);
      expect(k!.state).toBe('active');
      expect((await zero.ctx.keys()).signingKey('ES256').kid).toBe(k!.kid);
    } finally {
      await zero.close();
    }
  });

  it('a keyActivationDelay under the documented 360 s (re-validation twice plus the JWKS max-age) with several processes is warned about at start', () => {
    const warnings = (overrides: Record<string, unknown>) => {
      const out: string[] = [];
      startupWarnings(loadConfig({ env: {}, file: undefined, overrides: { keyEncryptionKey: 'k'.repeat(43), ...overrides } as ConfigInput }), { warn: (m) => out.push(m) });
      return out.filter((m) => m.includes('keyActivationDelay'));
    };
    expect(warnings({})).toEqual([]); // the default, 360 s
    expect(warnings({ workers: 1, keyActivationDelay: 0 })).toEqual([]); // one process: immediate is fine
    expect(warnings({ workers: 2, keyActivationDelay: 30 })).toHaveLength(1);
    expect(warnings({ workers: 1, keyActivationDelay: 0, databaseUrl: 'postgres://db.example/latchkey' })).toHaveLength(1);
    // The documented threshold (docs/operations.md, docs/configuration.md), the default itself.
    expect(SAFE_KEY_ACTIVATION_DELAY).toBe(360);
    expect(loadConfig({ env: {}, file: undefined, overrides: { keyEncryptionKey: 'k'.repeat(43) } }).keyActivationDelay).toBe(SAFE_KEY_ACTIVATION_DELAY);
    expect(warnings({ workers: 2, keyActivationDelay: 120 })).toHaveLength(1);
    expect(warnings({ workers: 2, keyActivationDelay: 359 })).toHaveLength(1);
    expect(warnings({ workers: 2, keyActivationDelay: 360 })).toEqual([]);
    expect(warnings({ workers: 1, keyActivationDelay: 300, databaseUrl: 'postgres://db.example/latchkey' })).toHaveLength(1);
  });
});
