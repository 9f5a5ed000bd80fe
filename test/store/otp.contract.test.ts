import { beforeEach, describe, expect, it } from 'vitest';
import type { OpenedStore } from '../../src/store/open.js';
import type { OtpRecord, WebauthnCredentialRecord } from '../../src/store/types.js';
import { backend, useContractStore } from '../helpers/store-contract.js';

/** Two-step sign-in's store (migration 0018_user_otp): set-up, confirmation, one use per time step, removal. */
describe(`store contract: authenticator apps (${backend})`, () => {
  const contract = useContractStore();
  let store: OpenedStore;
  let A: string;
  let B: string;
  beforeEach(() => {
    ({ store, A, B } = contract);
  });
  const rec = (tenantId: string, userId: string, secret: string): OtpRecord => ({ tenantId, userId, secret, confirmedAt: null, lastStep: 0, createdAt: 1000 });

  it('a set-up is replaced until confirmed, never after; confirmation and each later step are accepted once, in order', async () => {
    expect(await store.putPendingOtp(rec(A, 'alice', 's1'))).toBe(true);
    expect(await store.putPendingOtp(rec(A, 'alice', 's2'))).toBe(true); // a new set-up replaces an unconfirmed one
    expect(await store.findOtp(A, 'alice')).toMatchObject({ secret: 's2', confirmedAt: null, lastStep: 0 });
    expect(await store.acceptOtpStep(A, 'alice', 100, { confirm: false, now: 2000 })).toBe(false); // not confirmed yet
    expect(await store.acceptOtpStep(A, 'alice', 100, { confirm: true, now: 2000 })).toBe(true);
    expect(await store.findOtp(A, 'alice')).toMatchObject({ secret: 's2', confirmedAt: 2000, lastStep: 100 });
    expect(await store.putPendingOtp(rec(A, 'alice', 's3'))).toBe(false); // confirmed: kept
    expect((await store.findOtp(A, 'alice'))!.secret).toBe('s2');
    expect(await store.acceptOtpStep(A, 'alice', 101, { confirm: true, now: 2001 })).toBe(false); // already confirmed
    expect(await store.acceptOtpStep(A, 'alice', 100, { confirm: false, now: 2001 })).toBe(false); // the same step again
    expect(await store.acceptOtpStep(A, 'alice', 99, { confirm: false, now: 2001 })).toBe(false); // an older one
    expect(await store.acceptOtpStep(A, 'alice', 101, { confirm: false, now: 2001 })).toBe(true);
    // Racers presenting codes of the same step: one wins.
    const won = await Promise.all(Array.from({ length: 20 }, () => store.acceptOtpStep(A, 'alice', 102, { confirm: false, now: 2002 })));
    expect(won.filter(Boolean)).toHaveLength(1);
    // Per tenant.
    expect(await store.findOtp(B, 'alice')).toBeUndefined();
    expect(await store.deleteOtp(A, 'alice')).toBe(true);
    expect(await store.deleteOtp(A, 'alice')).toBe(false);
    expect(await store.findOtp(A, 'alice')).toBeUndefined();
  });

  it('recovery codes: replaced as a set, each spent once (racers: one winner), per user; removing the app removes them', async () => {
    await store.putPendingOtp(rec(A, 'bob', 's'));
    await store.replaceRecoveryCodes(A, 'bob', ['h1', 'h2', 'h3']);
    expect(await store.countRecoveryCodes(A, 'bob')).toBe(3);
    const won = await Promise.all(Array.from({ length: 20 }, () => store.useRecoveryCode(A, 'bob', 'h1', 10)));
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(await store.useRecoveryCode(A, 'carol', 'h2', 10)).toBe(false); // not carol's
    expect(await store.useRecoveryCode(B, 'bob', 'h2', 10)).toBe(false); // not in that tenant
    expect(await store.countRecoveryCodes(A, 'bob')).toBe(2);
    await store.replaceRecoveryCodes(A, 'bob', ['h9']);
    expect(await store.useRecoveryCode(A, 'bob', 'h2', 11)).toBe(false); // the old set is void
    expect(await store.countRecoveryCodes(A, 'bob')).toBe(1);
    await store.deleteOtp(A, 'bob');
    expect(await store.countRecoveryCodes(A, 'bob')).toBe(0);
  });

  it('a confirmation carrying recovery codes writes them with it, and only when it wins', async () => {
    await store.putPendingOtp(rec(A, 'dan', 's'));
    expect(await store.acceptOtpStep(A, 'dan', 7, { confirm: false, now: 10, recoveryCodes: ['x1'] })).toBe(false); // not confirmed: nothing written
    expect(await store.countRecoveryCodes(A, 'dan')).toBe(0);
    expect(await store.acceptOtpStep(A, 'dan', 7, { confirm: true, now: 10, recoveryCodes: ['c1', 'c2'] })).toBe(true);
    expect(await store.countRecoveryCodes(A, 'dan')).toBe(2);
    expect(await store.acceptOtpStep(A, 'dan', 8, { confirm: true, now: 11, recoveryCodes: ['d1'] })).toBe(false); // already on: the codes stay
    expect(await store.useRecoveryCode(A, 'dan', 'c1', 12)).toBe(true);
    expect(await store.useRecoveryCode(A, 'dan', 'd1', 12)).toBe(false);
  });

  it('deleting a user deletes their app: a user made again under the same id does not inherit it', async () => {
    await store.createUser({ tenantId: A, id: 'u1', username: 'u1', passwordHash: 'x', claims: {}, disabled: false, createdAt: 1 });
    await store.putPendingOtp(rec(A, 'u1', 's'));
    await store.acceptOtpStep(A, 'u1', 5, { confirm: true, now: 10 });
    await store.replaceRecoveryCodes(A, 'u1', ['r1']);
    await store.addWebauthnCredential(key(A, 'u1', 'k-u1'));
    expect(await store.deleteUser(A, 'u1')).toBe(true);
    expect(await store.findOtp(A, 'u1')).toBeUndefined();
    expect(await store.countRecoveryCodes(A, 'u1')).toBe(0);
    expect(await store.listWebauthnCredentials(A, 'u1')).toEqual([]);
  });

  const key = (tenantId: string, userId: string, credentialId: string, createdAt = 100): WebauthnCredentialRecord => ({
    tenantId, userId, credentialId, publicKey: 'pk', counter: 0, transports: ['usb', 'nfc'], name: `key ${credentialId}`, createdAt, lastUsedAt: null,
  });

  it('security keys (migration 0020): listed oldest first, one credential id per tenant, counter moves only from the value read, removed per user and with the app', async () => {
    expect(await store.addWebauthnCredential(key(A, 'erin', 'k2', 200))).toBe(true);
    expect(await store.addWebauthnCredential(key(A, 'erin', 'k1', 100))).toBe(true);
    expect(await store.addWebauthnCredential(key(A, 'frank', 'k1'))).toBe(false); // the same key again, to anyone
    expect(await store.addWebauthnCredential(key(B, 'erin', 'k1'))).toBe(true); // another tenant
    expect(await store.listWebauthnCredentials(A, 'erin')).toEqual([key(A, 'erin', 'k1', 100), key(A, 'erin', 'k2', 200)]);
    expect(await store.listWebauthnCredentials(A, 'frank')).toEqual([]);
    expect(await store.useWebauthnCredential(A, 'frank', 'k1', 0, 5, 300)).toBe(false); // not frank's
    expect(await store.useWebauthnCredential(A, 'erin', 'k1', 3, 5, 300)).toBe(false); // the counter read was not the stored one
    // Racers with the same counter read: one wins.
    const won = await Promise.all(Array.from({ length: 10 }, () => store.useWebauthnCredential(A, 'erin', 'k1', 0, 5, 300)));
    expect(won.filter(Boolean)).toHaveLength(1);
    expect((await store.listWebauthnCredentials(A, 'erin'))[0]).toMatchObject({ counter: 5, lastUsedAt: 300 });
    expect((await store.listWebauthnCredentials(B, 'erin'))[0]).toMatchObject({ counter: 0, lastUsedAt: null });
    expect(await store.deleteWebauthnCredential(A, 'frank', 'k2')).toBe(false);
    expect(await store.deleteWebauthnCredential(A, 'erin', 'k2')).toBe(true);
    expect(await store.deleteWebauthnCredential(A, 'erin', 'k2')).toBe(false);
    // Two-step sign-in turned off: the keys go with the app, in the same transaction.
    await store.putPendingOtp(rec(A, 'erin', 's'));
    expect(await store.deleteOtp(A, 'erin')).toBe(true);
    expect(await store.listWebauthnCredentials(A, 'erin')).toEqual([]);
    expect(await store.listWebauthnCredentials(B, 'erin')).toHaveLength(1);
  });
});
