import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, newUserRecord, storeNewUser } from '../../src/services/users.js';
import { ServiceError } from '../../src/services/errors.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

/**
 * A username taken after newUserRecord checked it (the password hash takes a while) is a conflict when the user is
 * written (storeNewUser), through the root store or a caller's transaction (the sign-up page), not a constraint error.
 */
describe('storeNewUser: the username is checked again at the write', () => {
  let t: TestLatchkey;
  beforeAll(async () => {
    t = await openTestLatchkey();
  });
  afterAll(() => t.close());

  it('a username taken between newUserRecord and the write is a conflict, and nothing is written', async () => {
    const made = await newUserRecord(t.ctx, { username: 'late', password: 'late-password-1' });
    const first = await createUser(t.ctx, { username: 'late', password: 'other-password-1' });
    const inTx = await t.ctx.store.transaction((tx) => storeNewUser(t.ctx, tx, made)).then(() => undefined, (e: unknown) => e);
    expect(inTx).toBeInstanceOf(ServiceError);
    expect(inTx).toMatchObject({ code: 'conflict' });
    await expect(storeNewUser(t.ctx, t.ctx.store, made)).rejects.toMatchObject({ code: 'conflict' });
    expect((await t.ctx.store.findUserByUsername(t.ctx.tenant.id, 'late'))!.id).toBe(first.id);
    expect(await t.ctx.store.findUserById(t.ctx.tenant.id, made.id)).toBeUndefined();
  });

  it('a sub (id) taken between newUserRecord and the write is a conflict too, not a constraint error', async () => {
    const made = await newUserRecord(t.ctx, { username: 'sub-late', password: 'late-password-1', id: 'taken-sub' });
    await createUser(t.ctx, { username: 'sub-first', password: 'other-password-1', id: 'taken-sub' });
    const inTx = await t.ctx.store.transaction((tx) => storeNewUser(t.ctx, tx, made)).then(() => undefined, (e: unknown) => e);
    expect(inTx).toBeInstanceOf(ServiceError);
    expect(inTx).toMatchObject({ code: 'conflict' });
    await expect(storeNewUser(t.ctx, t.ctx.store, made)).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/taken-sub/) });
    expect(await t.ctx.store.findUserByUsername(t.ctx.tenant.id, 'sub-late')).toBeUndefined();
  });
});
