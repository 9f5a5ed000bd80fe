import { beforeEach, describe, expect, it } from 'vitest';
import type { OpenedStore } from '../../src/store/open.js';
import type { DeviceCodeRecord, TicketRecord } from '../../src/store/types.js';
import { backend, id, useContractStore } from '../helpers/store-contract.js';

/**
 * The store contract for what a deleted client, a deleted user or a revoked grant takes along (ConsentCleanupStore): one statement each, scoped to one tenant and one client or user.
 */

const NOW = 1_700_000_000;

const ticket = (tenantId: string, clientId: string, data: Record<string, unknown>): TicketRecord => ({
  tenantId, hash: id('tk'), clientId, expiresAt: NOW + 600, consumedAt: null, data,
});
const device = (tenantId: string, clientId: string, status: DeviceCodeRecord['status']): DeviceCodeRecord => ({
  tenantId, hash: id('dc'), userCodeHash: id('uc'), clientId, scope: ['openid'], status, interval: 5, lastPolledAt: null, createdAt: NOW,
  expiresAt: NOW + 600, subject: status === 'pending' ? null : 'alice', decidedAt: status === 'pending' ? null : NOW, consumedAt: null, data: {},
});

describe(`store contract, consent and pending-interaction cleanup (${backend})`, () => {
  const contract = useContractStore();
  let store: OpenedStore;
  let A: string;
  let B: string;
  beforeEach(() => {
    ({ store, A, B } = contract);
  });

  const consent = (tenantId: string, subject: string, clientId: string) =>
    store.saveConsent({ tenantId, subject, clientId, scope: ['openid'], updatedAt: NOW });

  it('listConsentsOfSubject: the user\'s consents in one tenant, the most recently given first', async () => {
    await store.saveConsent({ tenantId: A, subject: 'alice', clientId: 'c1', scope: ['openid', 'claim:email'], updatedAt: NOW });
    await store.saveConsent({ tenantId: A, subject: 'alice', clientId: 'c2', scope: ['openid'], updatedAt: NOW + 5 });
    await consent(A, 'bob', 'c1');
    await consent(B, 'alice', 'c3');
    expect(await store.listConsentsOfSubject(A, 'alice')).toEqual([
      { tenantId: A, subject: 'alice', clientId: 'c2', scope: ['openid'], updatedAt: NOW + 5 },
      { tenantId: A, subject: 'alice', clientId: 'c1', scope: ['openid', 'claim:email'], updatedAt: NOW },
    ]);
    expect(await store.listConsentsOfSubject(A, 'carol')).toEqual([]);
  });

  it('deleteConsent forgets one user\'s consent to one client, and nothing else', async () => {
    await consent(A, 'alice', 'c1');
    await consent(A, 'alice', 'c2');
    await consent(A, 'bob', 'c1');
    await consent(B, 'alice', 'c1');
    expect(await store.deleteConsent(A, 'alice', 'c1')).toBe(true);
    expect(await store.deleteConsent(A, 'alice', 'c1')).toBe(false);
    expect(await store.findConsent(A, 'alice', 'c1')).toBeUndefined();
    expect(await store.findConsent(A, 'alice', 'c2')).toBeDefined();
    expect(await store.findConsent(A, 'bob', 'c1')).toBeDefined();
    expect(await store.findConsent(B, 'alice', 'c1')).toBeDefined();
  });

  it('deleteClientConsents and deleteSubjectConsents forget every consent of a client or of a user, in one tenant', async () => {
    for (const [s, c] of [['alice', 'c1'], ['bob', 'c1'], ['alice', 'c2'], ['carol', 'c3']] as const) await consent(A, s, c);
    await consent(B, 'alice', 'c1');
    expect(await store.deleteClientConsents(A, 'c1')).toBe(2);
    expect(await store.findConsent(A, 'alice', 'c1')).toBeUndefined();
    expect(await store.findConsent(A, 'bob', 'c1')).toBeUndefined();
    expect(await store.findConsent(A, 'alice', 'c2')).toBeDefined();
    expect(await store.deleteSubjectConsents(A, 'alice')).toBe(1);
    expect(await store.findConsent(A, 'alice', 'c2')).toBeUndefined();
    expect(await store.findConsent(A, 'carol', 'c3')).toBeDefined();
    expect(await store.findConsent(B, 'alice', 'c1')).toBeDefined();
  });

  it('deleteClientTickets, deleteClientPushedRequests and deleteClientDeviceCodes delete one client\'s rows, in one tenant', async () => {
    const mine = [ticket(A, 'c1', { request: {} }), ticket(A, 'c1', { kind: 'logout' }), { ...ticket(A, 'c1', { request: {} }), consumedAt: NOW }];
    const other = ticket(A, 'c2', { request: {} });
    const elsewhere = ticket(B, 'c1', { request: {} });
    for (const t of [...mine, other, elsewhere]) await store.insertTicket(t);
    expect(await store.deleteClientTickets(A, 'c1')).toBe(3);
    for (const t of mine) expect(await store.findTicket(A, t.hash)).toBeUndefined();
    expect(await store.findTicket(A, other.hash)).toBeDefined();
    expect(await store.findTicket(B, elsewhere.hash)).toBeDefined();

    const par = (tenantId: string, clientId: string) => ({ tenantId, hash: id('par'), clientId, expiresAt: NOW + 60, consumedAt: null, data: {} });
    const p1 = par(A, 'c1');
    const p2 = par(A, 'c2');
    const p3 = par(B, 'c1');
    for (const p of [p1, p2, p3]) await store.insertPushedRequest(p);
    expect(await store.deleteClientPushedRequests(A, 'c1')).toBe(1);
    expect(await store.consumePushedRequest(A, p1.hash, NOW)).toBeUndefined();
    expect(await store.consumePushedRequest(A, p2.hash, NOW)).toBeDefined();
    expect(await store.consumePushedRequest(B, p3.hash, NOW)).toBeDefined();

    const approved = device(A, 'c1', 'approved');
    const pending = device(A, 'c1', 'pending');
    const theirs = device(A, 'c2', 'approved');
    const far = device(B, 'c1', 'approved');
    for (const d of [approved, pending, theirs, far]) await store.insertDeviceCode(d);
    expect(await store.deleteClientDeviceCodes(A, 'c1')).toBe(2);
    expect(await store.consumeDeviceCode(A, approved.hash, NOW)).toBeUndefined();
    expect(await store.findDeviceCodeByUserCode(A, pending.userCodeHash)).toBeUndefined();
    expect(await store.consumeDeviceCode(A, theirs.hash, NOW)).toBeDefined();
    expect(await store.consumeDeviceCode(B, far.hash, NOW)).toBeDefined();
  });

  it('the cleanup calls run inside a transaction and roll back with it', async () => {
    await consent(A, 'alice', 'c9');
    const t = ticket(A, 'c9', { request: {} });
    await store.insertTicket(t);
    await expect(
      store.transaction(async (tx) => {
        await tx.deleteClientConsents(A, 'c9');
        await tx.deleteClientTickets(A, 'c9');
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await store.findConsent(A, 'alice', 'c9')).toBeDefined();
    expect(await store.findTicket(A, t.hash)).toBeDefined();
  });
});
