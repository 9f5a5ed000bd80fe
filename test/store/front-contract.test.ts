import { beforeEach, describe, expect, it } from 'vitest';
import type { OpenedStore } from '../../src/store/open.js';
import type { DeviceCodeRecord, PushedRequestRecord } from '../../src/store/types.js';
import { backend, id, useContractStore } from '../helpers/store-contract.js';

/**
 * The store contract for pushed authorization requests and device codes, on SQLite and (second pass)
 * PostgreSQL, with real concurrency for the exactly-once statements.
 */
const NOW = 1_700_000_000;
const RACERS = 50;

const pushed = (tenantId: string, hash: string): PushedRequestRecord => ({
  tenantId, hash, clientId: 'c1', expiresAt: NOW + 60, consumedAt: null, data: { parameters: 'response_type=code&scope=openid' },
});

const device = (tenantId: string, hash: string, userCodeHash: string): DeviceCodeRecord => ({
  tenantId, hash, userCodeHash, clientId: 'tv', scope: ['openid', 'profile'], status: 'pending', interval: 5, lastPolledAt: null,
  createdAt: NOW, expiresAt: NOW + 600, subject: null, decidedAt: null, consumedAt: null, data: {},
});

describe(`store contract: PAR and device codes (${backend})`, () => {
  const contract = useContractStore();
  let store: OpenedStore;
  let A: string;
  let B: string;
  beforeEach(() => {
    ({ store, A, B } = contract);
  });

  it(`consumePushedRequest is exactly-once: ${RACERS} concurrent calls, one winner; other tenants see nothing`, async () => {
    const r = pushed(A, id('h'));
    await store.insertPushedRequest(r);
    expect(await store.consumePushedRequest(B, r.hash, NOW)).toBeUndefined();
    const results = await Promise.all(Array.from({ length: RACERS }, () => store.consumePushedRequest(A, r.hash, NOW + 1)));
    const winners = results.filter(Boolean);
    expect(winners).toHaveLength(1);
    expect(winners[0]).toEqual({ ...r, consumedAt: NOW + 1 });
    expect(await store.consumePushedRequest(A, r.hash, NOW + 2)).toBeUndefined();
  });

  it(`RFC 9126 §4: consumePushedRequest with another client's id spends nothing; the pushing client wins once among ${RACERS} racers`, async () => {
    const r = pushed(A, id('h'));
    await store.insertPushedRequest(r);
    expect(await store.consumePushedRequest(A, r.hash, NOW, 'intruder')).toBeUndefined();
    expect(await store.consumePushedRequest(B, r.hash, NOW, 'c1')).toBeUndefined();
    const results = await Promise.all(
      Array.from({ length: RACERS }, (_, i) => store.consumePushedRequest(A, r.hash, NOW + 1, i % 2 ? 'c1' : 'intruder')),
    );
    const winners = results.filter(Boolean);
    expect(winners).toHaveLength(1);
    expect(winners[0]).toEqual({ ...r, consumedAt: NOW + 1 });
    expect(await store.consumePushedRequest(A, r.hash, NOW + 2, 'c1')).toBeUndefined();
  });

  it('device codes: insert, find by user code; a taken user code is rejected within a tenant, allowed in another', async () => {
    const d = device(A, id('dc'), id('uc'));
    await store.insertDeviceCode(d);
    expect(await store.findDeviceCodeByUserCode(A, d.userCodeHash)).toEqual(d);
    expect(await store.findDeviceCodeByUserCode(B, d.userCodeHash)).toBeUndefined();
    await expect(store.insertDeviceCode({ ...d, hash: id('dc2') })).rejects.toThrow();
    await store.insertDeviceCode({ ...d, tenantId: B });
  });

  it('pollDeviceCode: the first poll is on time; an early one raises the interval by 5 and restarts the wait', async () => {
    const d = device(A, id('dc'), id('uc'));
    await store.insertDeviceCode(d);
    expect(await store.pollDeviceCode(A, id('nope'), NOW, 'tv')).toBeUndefined();
    const first = await store.pollDeviceCode(A, d.hash, NOW, 'tv');
    expect(first).toMatchObject({ slowDown: false, record: { lastPolledAt: NOW, interval: 5 } });
    const early = await store.pollDeviceCode(A, d.hash, NOW + 4, 'tv');
    expect(early).toMatchObject({ slowDown: true, record: { lastPolledAt: NOW + 4, interval: 10 } });
    expect((await store.pollDeviceCode(A, d.hash, NOW + 13, 'tv'))!.slowDown).toBe(true); // 9 s < 10 s
    expect(await store.pollDeviceCode(A, d.hash, NOW + 13 + 15, 'tv')).toMatchObject({ slowDown: false, record: { interval: 15 } });
  });

  it('RFC 8628 §3.5: pollDeviceCode by another client (or in another tenant) finds nothing and leaves the row unchanged', async () => {
    const d = device(A, id('dc'), id('uc'));
    await store.insertDeviceCode(d);
    expect(await store.pollDeviceCode(A, d.hash, NOW, 'tv')).toMatchObject({ slowDown: false, record: { interval: 5, lastPolledAt: NOW } });
    // Early polls by another client: were they stamped, each would raise the interval by 5 s.
    for (let i = 1; i <= 3; i++) expect(await store.pollDeviceCode(A, d.hash, NOW + i, 'intruder')).toBeUndefined();
    expect(await store.pollDeviceCode(B, d.hash, NOW + 4, 'tv')).toBeUndefined();
    expect(await store.findDeviceCodeByUserCode(A, d.userCodeHash)).toMatchObject({ interval: 5, lastPolledAt: NOW });
    // The device itself, polling on time, is still on time.
    expect(await store.pollDeviceCode(A, d.hash, NOW + 5, 'tv')).toMatchObject({ slowDown: false, record: { interval: 5, lastPolledAt: NOW + 5 } });
  });

  it(`pollDeviceCode under ${RACERS} concurrent polls: exactly one is on time`, async () => {
    const d = device(A, id('dc'), id('uc'));
    await store.insertDeviceCode(d);
    const results = await Promise.all(Array.from({ length: RACERS }, () => store.pollDeviceCode(A, d.hash, NOW, 'tv')));
    expect(results.filter((r) => r && !r.slowDown)).toHaveLength(1);
  });

  it(`decideDeviceCode is exactly-once (${RACERS} racers approving and denying) and never after expiry`, async () => {
    const d = device(A, id('dc'), id('uc'));
    await store.insertDeviceCode(d);
    const results = await Promise.all(
      Array.from({ length: RACERS }, (_, i) =>
        store.decideDeviceCode(A, d.userCodeHash, { status: i % 2 ? 'approved' : 'denied', subject: `user-${i}`, data: { i } }, NOW + 1),
      ),
    );
    const winners = results.filter(Boolean);
    expect(winners).toHaveLength(1);
    expect(winners[0]!.decidedAt).toBe(NOW + 1);
    const late = device(A, id('dc'), id('uc'));
    await store.insertDeviceCode(late);
    expect(await store.decideDeviceCode(A, late.userCodeHash, { status: 'approved', subject: 'u', data: {} }, late.expiresAt)).toBeUndefined();
    const narrowed = device(A, id('dc'), id('uc'));
    await store.insertDeviceCode(narrowed);
    const won = await store.decideDeviceCode(A, narrowed.userCodeHash, { status: 'approved', subject: 'u', scope: ['openid'], data: { acr: 'x' } }, NOW);
    expect(won).toMatchObject({ status: 'approved', subject: 'u', scope: ['openid'], data: { acr: 'x' } });
  });

  it(`consumeDeviceCode is exactly-once (${RACERS} racers) and only for an approved code`, async () => {
    const d = device(A, id('dc'), id('uc'));
    await store.insertDeviceCode(d);
    expect(await store.consumeDeviceCode(A, d.hash, NOW)).toBeUndefined(); // still pending
    await store.decideDeviceCode(A, d.userCodeHash, { status: 'approved', subject: 'alice', data: {} }, NOW);
    const results = await Promise.all(Array.from({ length: RACERS }, () => store.consumeDeviceCode(A, d.hash, NOW + 2)));
    expect(results.filter(Boolean)).toHaveLength(1);
    const denied = device(A, id('dc'), id('uc'));
    await store.insertDeviceCode(denied);
    await store.decideDeviceCode(A, denied.userCodeHash, { status: 'denied', subject: null, data: {} }, NOW);
    expect(await store.consumeDeviceCode(A, denied.hash, NOW)).toBeUndefined();
  });
});
