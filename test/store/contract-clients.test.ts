import { beforeEach, describe, expect, it } from 'vitest';
import type { OpenedStore } from '../../src/store/open.js';
import type { ClientRecord, ManagementTokenRecord, SessionRecord, TokenRecord } from '../../src/store/types.js';
import { backend, id, useContractStore } from '../helpers/store-contract.js';

/**
 * The store contract for the calls added with clients (issue 6): the client-assertion replay cache, management
 * tokens, key retirement, and lookups and revocation by user and by client. Runs on SQLite and PostgreSQL, with
 * real concurrency for the exactly-once guarantees.
 */

const NOW = 1_700_000_000;
const RACERS = 40;

const token = (tenantId: string, extra: Partial<TokenRecord>): TokenRecord => ({
  tenantId, hash: id('h'), kind: 'refresh_token', clientId: 'c1', subject: 'alice', scope: ['openid'], grantId: null, issuedAt: NOW,
  expiresAt: NOW + 3600, revokedAt: null, consumedAt: null, data: {}, ...extra,
});
const session = (tenantId: string, subject: string, createdAt = NOW): SessionRecord => ({
  tenantId, hash: id('s'), sid: id('sid'), subject, authTime: NOW, acr: null, createdAt, lastSeenAt: NOW, expiresAt: NOW + 3600, endedAt: null, data: {},
});
const mtoken = (extra: Partial<ManagementTokenRecord> = {}): ManagementTokenRecord => ({
  id: id('mt'), kind: 'initial_access', tenantId: 'default', hash: id('hash'), name: null, createdAt: NOW, expiresAt: null, revokedAt: null,
  remainingUses: null, ...extra,
});

describe(`store contract, clients (${backend})`, () => {
  const contract = useContractStore();
  let store: OpenedStore;
  let A: string;
  let B: string;
  beforeEach(() => {
    ({ store, A, B } = contract);
  });

  it(`rememberJti is exactly-once: ${RACERS} concurrent calls, one true`, async () => {
    const results = await Promise.all(Array.from({ length: RACERS }, () => store.rememberJti(A, 'ns', 'jti-1', NOW + 60, NOW)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await store.rememberJti(A, 'ns', 'jti-1', NOW + 60, NOW + 30)).toBe(false);
  });

  it('rememberJti: namespaces and tenants are separate; an expired entry may be taken again', async () => {
    expect(await store.rememberJti(A, 'ns', 'j', NOW + 60, NOW)).toBe(true);
    expect(await store.rememberJti(A, 'other', 'j', NOW + 60, NOW)).toBe(true);
    expect(await store.rememberJti(B, 'ns', 'j', NOW + 60, NOW)).toBe(true);
    expect(await store.rememberJti(A, 'ns', 'j', NOW + 200, NOW + 61)).toBe(true);
    expect(await store.rememberJti(A, 'ns', 'j', NOW + 300, NOW + 100)).toBe(false);
  });

  it(`useManagementToken consumes counted uses exactly: ${RACERS} racers, 3 uses, 3 winners`, async () => {
    const t = mtoken({ remainingUses: 3 });
    await store.insertManagementToken(t);
    const results = await Promise.all(Array.from({ length: RACERS }, () => store.useManagementToken('initial_access', t.hash, NOW)));
    expect(results.filter((r) => r !== undefined)).toHaveLength(3);
    expect((await store.listManagementTokens('initial_access')).find((x) => x.id === t.id)!.remainingUses).toBe(0);
    expect(await store.findManagementToken('initial_access', t.hash, NOW)).toBeUndefined(); // used up
  });

  it('useManagementToken: unlimited, expired, revoked, wrong kind', async () => {
    const unlimited = mtoken();
    const expiring = mtoken({ expiresAt: NOW + 10 });
    const admin = mtoken({ kind: 'admin', tenantId: null });
    for (const t of [unlimited, expiring, admin]) await store.insertManagementToken(t);
    for (let i = 0; i < 3; i++) expect(await store.useManagementToken('initial_access', unlimited.hash, NOW)).toMatchObject({ id: unlimited.id, remainingUses: null });
    expect(await store.findManagementToken('initial_access', expiring.hash, NOW + 9)).toMatchObject({ id: expiring.id });
    expect(await store.findManagementToken('initial_access', expiring.hash, NOW + 10)).toBeUndefined();
    expect(await store.findManagementToken('admin', expiring.hash, NOW)).toBeUndefined();
    expect(await store.useManagementToken('initial_access', expiring.hash, NOW + 9)).toBeDefined();
    expect(await store.useManagementToken('initial_access', expiring.hash, NOW + 10)).toBeUndefined();
    expect(await store.useManagementToken('initial_access', admin.hash, NOW)).toBeUndefined();
    expect(await store.useManagementToken('admin', admin.hash, NOW)).toMatchObject({ kind: 'admin', tenantId: null });
    expect(await store.revokeManagementToken('initial_access', unlimited.id, NOW)).toBe(true);
    expect(await store.revokeManagementToken('initial_access', unlimited.id, NOW)).toBe(false);
    expect(await store.useManagementToken('initial_access', unlimited.hash, NOW)).toBeUndefined();
    await expect(store.insertManagementToken({ ...mtoken(), hash: admin.hash })).rejects.toThrow();
  });

  it('retireKey retires only a published key, and moves keysVersion', async () => {
    const key = (kid: string) => ({ tenantId: A, kid, alg: 'ES256', status: 'active' as const, publicJwk: { kty: 'EC', kid }, privateJwe: 'a.b.c.d.e', createdAt: NOW });
    await store.addActiveKeys([key('k1')]);
    await store.addActiveKeys([key('k2')]);
    expect(await store.retireKey(A, 'k2')).toBe(false); // active
    const v = await store.keysVersion(A);
    expect(await store.retireKey(A, 'k1')).toBe(true);
    expect(await store.keysVersion(A)).toBeGreaterThan(v);
    expect(await store.retireKey(A, 'k1')).toBe(false);
    expect(await store.retireKey(B, 'k2')).toBe(false);
    expect(Object.fromEntries((await store.listKeys(A)).map((k) => [k.kid, k.status]))).toEqual({ k1: 'retired', k2: 'active' });
  });

  it('updateUser replaces username, hash, claims and disabled; false for an unknown user', async () => {
    const u = { tenantId: A, id: 'u1', username: 'alice', passwordHash: 'h1', claims: { a: 1 }, disabled: false, createdAt: NOW };
    await store.createUser(u);
    expect(await store.updateUser({ ...u, username: 'alicia', passwordHash: 'h2', claims: { b: 2 }, disabled: true })).toBe(true);
    expect(await store.findUserById(A, 'u1')).toEqual({ ...u, username: 'alicia', passwordHash: 'h2', claims: { b: 2 }, disabled: true });
    expect(await store.updateUser({ ...u, tenantId: B })).toBe(false);
  });

  it('revokeSubject revokes every grant and token of one user only; revokeClientTokens those of one client only', async () => {
    const grant = (gid: string, subject: string, clientId: string) =>
      store.insertGrant({ tenantId: A, id: gid, clientId, subject, scope: ['openid'], createdAt: NOW, revokedAt: null, data: {} });
    await grant('g-alice', 'alice', 'c1');
    await grant('g-bob', 'bob', 'c1');
    await grant('g-bob-c2', 'bob', 'c2');
    const ta = token(A, { subject: 'alice', grantId: 'g-alice' });
    const tb = token(A, { subject: 'bob', grantId: 'g-bob' });
    const tb2 = token(A, { subject: 'bob', grantId: 'g-bob-c2', clientId: 'c2', kind: 'access_token' });
    const tOther = token(B, { subject: 'alice' });
    for (const t of [ta, tb, tb2, tOther]) await store.insertToken(t);
    await store.revokeSubject(A, 'alice', NOW + 1);
    expect((await store.findGrant(A, 'g-alice'))!.revokedAt).toBe(NOW + 1);
    expect((await store.findToken(A, ta.hash))!.revokedAt).toBe(NOW + 1);
    expect((await store.findGrant(A, 'g-bob'))!.revokedAt).toBeNull();
    expect((await store.findToken(B, tOther.hash))!.revokedAt).toBeNull();
    await store.revokeClientTokens(A, 'c2', NOW + 2);
    expect((await store.findGrant(A, 'g-bob-c2'))!.revokedAt).toBe(NOW + 2);
    expect((await store.findToken(A, tb2.hash))!.revokedAt).toBe(NOW + 2);
    expect((await store.findToken(A, tb.hash))!.revokedAt).toBeNull();
    expect((await store.listGrantsOfSubject(A, 'bob')).map((g) => g.id).sort()).toEqual(['g-bob', 'g-bob-c2']);
    expect(await store.listGrantsOfSubject(B, 'bob')).toEqual([]);
  });

  it('sessions by user: list live ones newest first, end one by sid exactly once', async () => {
    const s1 = session(A, 'alice', NOW);
    const s2 = session(A, 'alice', NOW + 5);
    const other = session(A, 'bob');
    for (const s of [s1, s2, other]) await store.insertSession(s);
    expect((await store.listSessionsBySubject(A, 'alice', NOW)).map((s) => s.sid)).toEqual([s2.sid, s1.sid]);
    expect(await store.endSessionBySid(B, s1.sid, NOW)).toBe(false); // another tenant's
    expect(await store.endSessionBySid(A, s1.sid, NOW)).toBe(true);
    expect(await store.endSessionBySid(A, s1.sid, NOW)).toBe(false);
    expect((await store.listSessionsBySubject(A, 'alice', NOW)).map((s) => s.sid)).toEqual([s2.sid]);
    expect(await store.listSessionsBySubject(A, 'bob', NOW)).toHaveLength(1);
  });

  it('OWASP session management: renewSession replaces a live session\'s id (hash), keeps its sid, and never revives an ended one', async () => {
    const s1 = session(A, 'carol', NOW);
    await store.insertSession(s1);
    const next = { hash: `${s1.hash}-renewed`, authTime: NOW + 10, acr: 'urn:x', lastSeenAt: NOW + 10, expiresAt: NOW + 1000, data: { amr: ['pwd'] } };
    expect(await store.renewSession(B, s1.hash, next)).toBeUndefined(); // another tenant's
    const renewed = await store.renewSession(A, s1.hash, next);
    expect(renewed).toMatchObject({ sid: s1.sid, subject: 'carol', hash: next.hash, authTime: NOW + 10, acr: 'urn:x', expiresAt: NOW + 1000, endedAt: null });
    expect(await store.findSession(A, s1.hash)).toBeUndefined();
    expect((await store.findSession(A, next.hash))!.sid).toBe(s1.sid);
    expect(await store.endSessionBySid(A, s1.sid, NOW + 20)).toBe(true);
    expect(await store.renewSession(A, next.hash, { ...next, hash: `${s1.hash}-again` })).toBeUndefined();
  });

  it('client credential fields round-trip through the client record', async () => {
    const c: ClientRecord = {
      tenantId: A, clientId: 'c', secretHash: 'h', createdAt: NOW, redirectUris: [], grantTypes: ['client_credentials'], responseTypes: [],
      scope: [], tokenEndpointAuthMethod: 'client_secret_jwt', applicationType: 'web', idTokenSignedResponseAlg: 'RS256', requirePkce: false,
      skipConsent: false, secretJwe: 'jwe', previousSecretHash: 'ph', previousSecretJwe: 'pj', previousSecretExpiresAt: NOW + 60,
      registrationAccessTokenHash: 'rat', jwks: { keys: [{ kty: 'EC' }] }, tlsClientAuthSubjectDn: 'CN=x',
    };
    await store.createClient(c);
    expect(await store.findClient(A, 'c')).toEqual(c);
  });

  const dynamicClient = (tenantId: string, clientId: string, rat: string): ClientRecord => ({
    tenantId, clientId, secretHash: 'h', createdAt: NOW, redirectUris: ['https://app.example/cb'], grantTypes: ['authorization_code'], responseTypes: ['code'],
    scope: ['openid'], tokenEndpointAuthMethod: 'client_secret_basic', applicationType: 'web', idTokenSignedResponseAlg: 'RS256', requirePkce: false,
    skipConsent: false, registrationAccessTokenHash: rat,
  });

  it(`RFC 7592 §2.2: updateClient with a token condition is a compare-and-swap: ${RACERS} racers holding one token, one winner`, async () => {
    await store.createClient(dynamicClient(A, 'dyn', 'rat-0'));
    expect(await store.findClient(A, 'dyn')).toMatchObject({ registrationAccessTokenHash: 'rat-0' }); // now cached
    const results = await Promise.all(
      Array.from({ length: RACERS }, (_, i) => store.updateClient({ ...dynamicClient(A, 'dyn', `rat-${i + 1}`), clientName: `n${i + 1}` }, { registrationAccessTokenHash: 'rat-0' })),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true) + 1;
    // The cache was invalidated: the winner's record is read back, not the one cached before.
    expect(await store.findClient(A, 'dyn')).toMatchObject({ registrationAccessTokenHash: `rat-${winner}`, clientName: `n${winner}` });
    // A stale token, another tenant's client, a client that does not exist: nothing written.
    expect(await store.updateClient({ ...dynamicClient(A, 'dyn', 'rat-x'), clientName: 'stale' }, { registrationAccessTokenHash: 'rat-0' })).toBe(false);
    expect(await store.updateClient(dynamicClient(B, 'dyn', 'rat-x'), { registrationAccessTokenHash: `rat-${winner}` })).toBe(false);
    expect(await store.updateClient(dynamicClient(A, 'nobody', 'rat-x'))).toBe(false);
    expect(await store.findClient(A, 'dyn')).toMatchObject({ registrationAccessTokenHash: `rat-${winner}`, clientName: `n${winner}` });
    // Without a condition, as before: the write happens whatever the token.
    expect(await store.updateClient({ ...dynamicClient(A, 'dyn', 'rat-op'), clientName: 'operator' })).toBe(true);
    expect(await store.findClient(A, 'dyn')).toMatchObject({ registrationAccessTokenHash: 'rat-op', clientName: 'operator' });
  });

  it('RFC 7592 §2.3: deleteClient with a token condition deletes only while the token is the client\'s; a conditional update then finds no row', async () => {
    await store.createClient(dynamicClient(A, 'dyn', 'rat-0'));
    await store.createClient({ ...dynamicClient(A, 'plain', 'ignored'), registrationAccessTokenHash: undefined });
    expect(await store.deleteClient(A, 'dyn', { registrationAccessTokenHash: 'rat-old' })).toBe(false);
    expect(await store.findClient(A, 'dyn')).toBeDefined();
    expect(await store.deleteClient(A, 'plain', { registrationAccessTokenHash: 'ignored' })).toBe(false); // no token: no match
    expect(await store.deleteClient(A, 'dyn', { registrationAccessTokenHash: 'rat-0' })).toBe(true);
    expect(await store.findClient(A, 'dyn')).toBeUndefined();
    expect(await store.updateClient(dynamicClient(A, 'dyn', 'rat-1'), { registrationAccessTokenHash: 'rat-0' })).toBe(false);
    expect(await store.findClient(A, 'dyn')).toBeUndefined();
    // Racing: one conditional delete and conditional updates holding the same token, exactly one of them wins.
    await store.createClient(dynamicClient(A, 'race', 'rat-0'));
    const cond = { registrationAccessTokenHash: 'rat-0' };
    const results = await Promise.all([
      store.transaction((tx) => tx.deleteClient(A, 'race', cond)),
      ...Array.from({ length: 10 }, (_, i) => store.updateClient(dynamicClient(A, 'race', `rat-${i + 1}`), cond)),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await store.findClient(A, 'race')) === undefined).toBe(results[0]);
  });
  it('a null token condition writes only a client that has no registration access token (an operator\'s write of one it read without)', async () => {
    await store.createClient({ ...dynamicClient(A, 'static', 'unused'), registrationAccessTokenHash: undefined });
    await store.createClient(dynamicClient(A, 'dyn', 'rat-0'));
    const none = { registrationAccessTokenHash: null };
    expect(await store.updateClient({ ...dynamicClient(A, 'static', 'unused'), registrationAccessTokenHash: undefined, clientName: 'op' }, none)).toBe(true);
    expect(await store.findClient(A, 'static')).toMatchObject({ clientName: 'op' });
    expect(await store.updateClient({ ...dynamicClient(A, 'dyn', 'rat-0'), registrationAccessTokenHash: undefined, clientName: 'op' }, none)).toBe(false);
    expect(await store.findClient(A, 'dyn')).toMatchObject({ registrationAccessTokenHash: 'rat-0' });
    expect(await store.deleteClient(A, 'dyn', none)).toBe(false);
    expect(await store.deleteClient(A, 'static', none)).toBe(true);
  });

  it('RFC 7592 §2.2: every updateClient stores a fresh revision, and a revision condition makes a write built from a stale read change nothing', async () => {
    await store.createClient(dynamicClient(A, 'rev', 'rat-0'));
    const created = (await store.findClient(A, 'rev'))!; // now cached
    expect(created.revision).toBeUndefined(); // as for a client stored before revisions existed
    // Absent compares as null: a write built from a record without a revision goes through, once.
    const legacy = { registrationAccessTokenHash: 'rat-0', revision: null };
    expect(await store.updateClient({ ...created, clientName: 'first' }, legacy)).toBe(true);
    const first = (await store.findClient(A, 'rev'))!; // the cache was invalidated: the new record, with its revision
    expect(first).toMatchObject({ clientName: 'first', registrationAccessTokenHash: 'rat-0' });
    expect(typeof first.revision).toBe('string');
    expect(await store.updateClient({ ...created, clientName: 'stale' }, legacy)).toBe(false);
    // The record passed cannot choose its revision: the store writes a new one whatever it holds.
    expect(await store.updateClient({ ...first, clientName: 'second' }, { registrationAccessTokenHash: 'rat-0', revision: first.revision! })).toBe(true);
    const second = (await store.findClient(A, 'rev'))!;
    expect(second.revision).not.toBe(first.revision);
    // Same token, stale revision: nothing written (an operator's write in between keeps the token hash).
    expect(await store.updateClient({ ...first, clientName: 'stale' }, { registrationAccessTokenHash: 'rat-0', revision: first.revision! })).toBe(false);
    // Right revision, stale token: nothing written either.
    expect(await store.updateClient({ ...second, clientName: 'stale' }, { registrationAccessTokenHash: 'rat-x', revision: second.revision! })).toBe(false);
    expect(await store.findClient(A, 'rev')).toMatchObject({ clientName: 'second', revision: second.revision });
    // Racers holding the same read: one winner.
    const results = await Promise.all(
      Array.from({ length: RACERS }, (_, i) => store.updateClient({ ...second, clientName: `n${i}` }, { registrationAccessTokenHash: 'rat-0', revision: second.revision! })),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await store.findClient(A, 'rev')).toMatchObject({ clientName: `n${results.indexOf(true)}` });
    // A deletion with a stale revision deletes nothing; without a revision it is checked on the token alone.
    expect(await store.deleteClient(A, 'rev', { registrationAccessTokenHash: 'rat-0', revision: second.revision! })).toBe(false);
    expect(await store.deleteClient(A, 'rev', { registrationAccessTokenHash: 'rat-0' })).toBe(true);
  });
  it(`createClientWithinLimit counts only openly registered clients of the tenant, and holds under ${RACERS} racers`, async () => {
    const open = (tenantId: string, clientId: string): ClientRecord => ({ ...dynamicClient(tenantId, clientId, `rat-${clientId}`), registeredThrough: 'open' });
    // Not counted: an operator's client (no registration access token), one registered with an initial access token,
    // and another tenant's. Counted: a dynamic client stored before registeredThrough existed.
    await store.createClient({ ...dynamicClient(A, 'operator', 'x'), registrationAccessTokenHash: undefined });
    await store.createClient({ ...dynamicClient(A, 'via-token', 'rat-t'), registeredThrough: 'token' });
    await store.createClient(open(B, 'elsewhere'));
    await store.createClient(dynamicClient(A, 'legacy', 'rat-l'));
    const results = await Promise.all(Array.from({ length: RACERS }, (_, i) => store.createClientWithinLimit(open(A, `racer-${i}`), 4)));
    expect(results.filter(Boolean)).toHaveLength(3);
    const stored = await store.listClients(A);
    expect(stored.map((c) => c.clientId).filter((c) => c.startsWith('racer-'))).toHaveLength(3);
    expect(stored.find((c) => c.clientId.startsWith('racer-'))).toMatchObject({ registeredThrough: 'open' });
    expect(await store.createClientWithinLimit(open(A, 'late'), 4)).toBe(false);
    expect(await store.findClient(A, 'late')).toBeUndefined();
    // A deletion frees a slot; inside a caller's transaction it works the same.
    expect(await store.deleteClient(A, 'legacy')).toBe(true);
    expect(await store.transaction((tx) => tx.createClientWithinLimit(open(A, 'late'), 4))).toBe(true);
    expect(await store.createClientWithinLimit(open(B, 'b2'), 2)).toBe(true);
    expect(await store.createClientWithinLimit(open(B, 'b3'), 2)).toBe(false);
  });
});
