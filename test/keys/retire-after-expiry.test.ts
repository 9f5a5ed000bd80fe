import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyStates, signedUntil } from '../../src/keys/keystore.js';
import { registerResourceServer } from '../../src/services/resources.js';
import { longestTokenLifetime, retireKey, rotateKeys } from '../../src/services/keys.js';
import type { SigningKeyRecord } from '../../src/store/types.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

/**
 * DESIGN.md "Keys and tokens": a rotated-out key stays in the JWKS until every token it signed has expired. So a
 * key is retired only once its successor has been signing for the longest lifetime a token of the tenant can have
 * (ID and access tokens, with every client's and resource server's override); `force` retires it anyway (a
 * compromised key, whose tokens should stop verifying).
 */
describe('keys retire waits until what the key signed has expired', () => {
  let t: TestLatchkey;
  let now = Date.UTC(2030, 6, 1);
  beforeAll(async () => {
    t = await openTestLatchkey({ keyActivationDelay: 0, accessTokenTtl: 600, idTokenTtl: 300 }, { clock: () => now });
  });
  afterAll(() => t.close());

  const signing = async (alg: 'ES256' | 'RS256' | 'PS256' | 'EdDSA') => (await t.ctx.keys()).signingKey(alg).kid;

  it('DESIGN.md "Keys and tokens": refused until the successor has signed for the longest token lifetime (here the access token\'s 600 s); then retired', async () => {
    const tenant = t.ctx.tenant.id;
    expect(await longestTokenLifetime(t.lk, tenant)).toBe(600);
    const old = await signing('ES256');
    await rotateKeys(t.lk, tenant, ['ES256']);
    now += 599_000;
    await expect(retireKey(t.lk, tenant, old)).rejects.toMatchObject({ status: 409, message: expect.stringMatching(/still valid until .*force/) });
    expect((await t.ctx.keys()).jwks.keys.map((k) => k.kid)).toContain(old);
    now += 1000;
    expect(await retireKey(t.lk, tenant, old)).toMatchObject({ state: 'retired' });
    expect((await t.ctx.keys()).jwks.keys.map((k) => k.kid)).not.toContain(old);
  });

  it('a client\'s id_token_lifetime and a resource server\'s access_token_lifetime lengthen the wait', async () => {
    const tenant = t.ctx.tenant.id;
    await t.client({ grant_types: ['client_credentials'], id_token_lifetime: 7200 });
    expect(await longestTokenLifetime(t.lk, tenant)).toBe(7200);
    await registerResourceServer(t.ctx, { identifier: 'https://slow.example/', scope: 'slow', access_token_lifetime: 9000 });
    expect(await longestTokenLifetime(t.lk, tenant)).toBe(9000);
    const old = await signing('RS256');
    await rotateKeys(t.lk, tenant, ['RS256']);
    now += 8999_000;
    await expect(retireKey(t.lk, tenant, old)).rejects.toMatchObject({ status: 409 });
    now += 1000;
    expect(await retireKey(t.lk, tenant, old)).toMatchObject({ state: 'retired' });
  });

  it('force retires a replaced key at once (a compromised key); the signing key still cannot be retired, forced or not', async () => {
    const tenant = t.ctx.tenant.id;
    const old = await signing('EdDSA');
    const [next] = await rotateKeys(t.lk, tenant, ['EdDSA']);
    await expect(retireKey(t.lk, tenant, old)).rejects.toMatchObject({ status: 409 });
    expect(await retireKey(t.lk, tenant, old, { force: true })).toMatchObject({ state: 'retired' });
    await expect(retireKey(t.lk, tenant, next!.kid, { force: true })).rejects.toThrow(/rotate first/);
  });

  it('signedUntil: a replaced key stopped signing when the first of the keys added after it activated, retired ones aside', () => {
    const T = 1_000_000;
    const rec = (kid: string, createdAt: number, activatesAt: number, status: SigningKeyRecord['status'] = 'active', alg = 'ES256'): SigningKeyRecord =>
      ({ tenantId: 't', kid, alg, status, publicJwk: {}, privateJwe: '', createdAt, activatesAt });
    // a signs; b is staged for T+120; c, an immediate rotation at T+10, takes over first (b never signs).
    const records = [rec('older', T - 500, T - 500, 'retired'), rec('rs', T - 400, T - 400, 'active', 'RS256'), rec('a', T - 100, T - 100, 'published'), rec('b', T, T + 120, 'published'), rec('c', T + 10, T + 10)];
    // The retired row sorts last (retiring renumbers it) but stopped signing long before a began.
    const listing = keyStates([...records.filter((r) => r.kid !== 'older'), records[0]!], T + 20);
    expect(signedUntil(listing, 'a')).toBe(T + 10);
    expect(signedUntil(listing, 'b')).toBe(T + 10);
    expect(signedUntil(listing, 'c')).toBeUndefined(); // still signing
    expect(signedUntil(listing, 'rs')).toBeUndefined(); // another alg's keys replace nothing of it
  });
});

describe('keys retire waits for the fixed lifetimes too (JARM responses, logout tokens)', () => {
  let t: TestLatchkey;
  let now = Date.UTC(2030, 6, 1);
  beforeAll(async () => {
    t = await openTestLatchkey({ keyActivationDelay: 0, accessTokenTtl: 300, idTokenTtl: 120 }, { clock: () => now });
  });
  afterAll(() => t.close());

  it('JARM §2.1: a response JWT lives 600 s, longer than these access and ID tokens: the key it was signed with stays published that long', async () => {
    const tenant = t.ctx.tenant.id;
    expect(await longestTokenLifetime(t.lk, tenant)).toBe(600);
    const old = (await t.ctx.keys()).signingKey('ES256').kid;
    await rotateKeys(t.lk, tenant, ['ES256']);
    now += 599_000;
    await expect(retireKey(t.lk, tenant, old)).rejects.toMatchObject({ status: 409 });
    now += 1000;
    expect(await retireKey(t.lk, tenant, old)).toMatchObject({ state: 'retired' });
  });
});
