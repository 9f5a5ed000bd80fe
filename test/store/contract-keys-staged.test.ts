import { beforeEach, describe, expect, it } from 'vitest';
import { keyStates } from '../../src/keys/keystore.js';
import type { OpenedStore } from '../../src/store/open.js';
import type { SigningKeyRecord } from '../../src/store/types.js';
import { backend, id, useContractStore } from '../helpers/store-contract.js';

/**
 * The store contract for staged key activation (issue 8): a staged key is stored with its activation time and
 * demotes nothing; a key that a newer one has replaced by a given time is retirable then, the signing one never.
 * Runs on SQLite and PostgreSQL.
 */

const NOW = 1_700_000_000;
const key = (tenantId: string, kid: string, alg: string, activatesAt?: number): SigningKeyRecord => ({
  tenantId, kid, alg, status: 'active', publicJwk: { kty: 'EC', kid }, privateJwe: 'a.b.c.d.e', createdAt: NOW,
  ...(activatesAt === undefined ? {} : { activatesAt }),
});

describe(`store contract, staged key activation (${backend})`, () => {
  const contract = useContractStore();
  let store: OpenedStore;
  let A: string;
  beforeEach(() => {
    ({ store, A } = contract);
  });

  it('a staged key keeps its activation time and leaves the current key active; an immediate one demotes it', async () => {
    await store.addActiveKeys([key(A, 'k1', 'ES256')]);
    const v = await store.keysVersion(A);
    await store.addActiveKeys([key(A, 'k2', 'ES256', NOW + 360)]);
    expect(await store.keysVersion(A)).toBeGreaterThan(v); // other instances notice and publish it
    const rows = await store.listKeys(A);
    expect(rows.map((k) => [k.kid, k.status, k.activatesAt])).toEqual([['k1', 'active', NOW], ['k2', 'active', NOW + 360]]);
    expect(keyStates(rows, NOW + 359).map((k) => k.state)).toEqual(['active', 'pending']);
    expect(keyStates(rows, NOW + 360).map((k) => k.state)).toEqual(['published', 'active']);
    // An emergency rotation signs at once: every earlier key, pending or active, only verifies from now on.
    await store.addActiveKeys([key(A, 'k3', 'ES256')]);
    expect((await store.listKeys(A)).map((k) => [k.kid, k.status])).toEqual([['k1', 'published'], ['k2', 'published'], ['k3', 'active']]);
  });

  it('retireKey is a compare-and-set on the stored status (whether a key may go is keyStates\' rule, not the store\'s)', async () => {
    await store.addActiveKeys([key(A, 'old', 'ES256'), key(A, 'rs', 'RS256')]);
    await store.addActiveKeys([key(A, 'new', 'ES256', NOW + 60)]);
    // keyStates says which key is replaced at a time; the store is told the stored status it read.
    expect(keyStates(await store.listKeys(A), NOW + 60).map((k) => [k.kid, k.status, k.state])).toEqual([['old', 'active', 'published'], ['rs', 'active', 'active'], ['new', 'active', 'active']]);
    expect(await store.retireKey(A, 'old')).toBe(false); // stored 'active', not 'published'
    const v = await store.keysVersion(A);
    expect(await store.retireKey(A, 'old', 'active')).toBe(true);
    expect(await store.keysVersion(A)).toBeGreaterThan(v);
    expect(await store.retireKey(A, 'old', 'active')).toBe(false); // already retired
    expect(await store.retireKey(contract.B, 'new', 'active')).toBe(false); // another tenant's
    expect(Object.fromEntries((await store.listKeys(A)).map((k) => [k.kid, k.status]))).toEqual({ old: 'retired', rs: 'active', new: 'active' });
    expect(keyStates(await store.listKeys(A), NOW + 60).map((k) => [k.kid, k.state])).toEqual([['rs', 'active'], ['new', 'active'], ['old', 'retired']]);
  });

  it('concurrent retirements of one replaced key: exactly one succeeds', async () => {
    await store.addActiveKeys([key(A, 'a', 'ES256')]);
    await store.addActiveKeys([key(A, 'b', 'ES256', NOW + 10)]);
    const results = await Promise.all(Array.from({ length: 10 }, () => store.retireKey(A, 'a', 'active')));
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});
