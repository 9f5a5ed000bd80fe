import { beforeEach, describe, expect, it } from 'vitest';
import type { OpenedStore } from '../../src/store/open.js';
import type {
  AuthorizationCodeRecord,
  ClientRecord,
  GrantRecord,
  SessionRecord,
  SigningKeyRecord,
  TicketRecord,
  TokenRecord,
  UserRecord,
} from '../../src/store/types.js';
import { backend, id, useContractStore } from '../helpers/store-contract.js';

/**
 * The store contract: every backend (SQLite on the first pass, PostgreSQL on the second; see
 * scripts/with-postgres.sh) must pass the same checks, including the exactly-once guarantees under real
 * concurrency that SQLite gives for free and PostgreSQL must get from its queries.
 */

const NOW = 1_700_000_000;
/** Past 2038: epoch seconds must survive as numbers, not int4 overflow or int8 strings. */
const FAR = 4_102_444_800;
const RACERS = 50;


const client = (tenantId: string, clientId: string, extra: Partial<ClientRecord> = {}): ClientRecord => ({
  tenantId,
  clientId,
  secretHash: 'h:' + clientId,
  createdAt: NOW,
  clientName: 'Ünïcode client ✓',
  redirectUris: ['https://app.example/cb'],
  grantTypes: ['authorization_code'],
  responseTypes: ['code'],
  scope: ['openid', 'profile'],
  tokenEndpointAuthMethod: 'client_secret_basic',
  applicationType: 'web',
  idTokenSignedResponseAlg: 'RS256',
  requirePkce: true,
  skipConsent: false,
  ...extra,
});

const user = (tenantId: string, userId: string, username: string): UserRecord => ({
  tenantId,
  id: userId,
  username,
  passwordHash: '$argon2id$fake',
  claims: { email: `${username}@example.com`, email_verified: true, address: { country: 'NZ' } },
  disabled: false,
  createdAt: NOW,
});

const token = (tenantId: string, hash: string, extra: Partial<TokenRecord> = {}): TokenRecord => ({
  tenantId,
  hash,
  kind: 'refresh_token',
  clientId: 'c1',
  subject: 'alice',
  scope: ['openid', 'offline_access'],
  grantId: null,
  issuedAt: NOW,
  expiresAt: FAR,
  revokedAt: null,
  consumedAt: null,
  data: { aud: ['https://api.example'], cnf: { jkt: 'abc' } },
  ...extra,
});

const grant = (tenantId: string, grantId: string): GrantRecord => ({
  tenantId, id: grantId, clientId: 'c1', subject: 'alice', scope: ['openid'], createdAt: NOW, revokedAt: null, data: { k: 1 },
});

const code = (tenantId: string, hash: string, grantId: string): AuthorizationCodeRecord => ({
  tenantId, hash, clientId: 'c1', grantId, expiresAt: NOW + 60, consumedAt: null, data: { redirect_uri: 'https://app.example/cb', nonce: 'n' },
});

const ticket = (tenantId: string, hash: string): TicketRecord => ({
  tenantId, hash, clientId: 'c1', expiresAt: NOW + 600, consumedAt: null, data: { scope: 'openid' },
});

const session = (tenantId: string, hash: string): SessionRecord => ({
  tenantId, hash, sid: id('sid'), subject: 'alice', authTime: NOW, acr: null, createdAt: NOW, lastSeenAt: NOW, expiresAt: FAR, endedAt: null, data: {},
});

const key = (tenantId: string, kid: string, alg: string): SigningKeyRecord => ({
  tenantId, kid, alg, status: 'active', publicJwk: { kty: 'EC', kid }, privateJwe: 'a.b.c.d.e', createdAt: NOW,
});

describe(`store contract (${backend})`, () => {
  // Every test works in tenants of its own, so tests stay independent in one database.
  const contract = useContractStore();
  let store: OpenedStore;
  let A: string;
  let B: string;
  beforeEach(() => {
    ({ store, A, B } = contract);
  });

  it('reports its dialect and answers ping', async () => {
    expect(store.dialect).toBe(backend);
    await store.ping();
  });

  it('migrating again is a no-op', async () => {
    expect(await store.migrate()).toEqual([]);
  });

  it('tenants: create, find, list', async () => {
    await store.createTenant({ id: A, issuer: 'https://a.example', settings: { accessTokenTtl: 60 }, createdAt: NOW });
    expect(await store.findTenant(A)).toEqual({ id: A, issuer: 'https://a.example', settings: { accessTokenTtl: 60 }, createdAt: NOW });
    expect(await store.findTenant(B)).toBeUndefined();
    expect((await store.listTenants()).map((t) => t.id)).toContain(A);
    await expect(store.createTenant({ id: A, issuer: 'https://other.example', settings: {}, createdAt: NOW })).rejects.toThrow();
  });

  it('clients: create, find, update, list, delete; a duplicate id is rejected', async () => {
    const c = client(A, 'web');
    await store.createClient(c);
    expect(await store.findClient(A, 'web')).toEqual(c);
    await expect(store.createClient(c)).rejects.toThrow();
    await store.updateClient({ ...c, secretHash: null, scope: ['openid'] });
    expect(await store.findClient(A, 'web')).toMatchObject({ secretHash: null, scope: ['openid'] });
    await store.createClient(client(A, 'api', { createdAt: NOW + 1 }));
    expect((await store.listClients(A)).map((x) => x.clientId)).toEqual(['web', 'api']);
    expect(await store.deleteClient(A, 'web')).toBe(true);
    expect(await store.deleteClient(A, 'web')).toBe(false);
    expect(await store.findClient(A, 'web')).toBeUndefined();
  });

  it('users: create, find by id and username, list, delete; usernames are unique per tenant', async () => {
    const u = user(A, 'sub-1', 'alice');
    await store.createUser(u);
    expect(await store.findUserById(A, 'sub-1')).toEqual(u);
    expect(await store.findUserByUsername(A, 'alice')).toEqual(u);
    await expect(store.createUser(user(A, 'sub-2', 'alice'))).rejects.toThrow();
    await store.createUser({ ...user(A, 'sub-3', 'bob'), disabled: true, createdAt: NOW + 1 });
    expect((await store.listUsers(A)).map((x) => [x.username, x.disabled])).toEqual([['alice', false], ['bob', true]]);
    expect(await store.deleteUser(A, 'sub-1')).toBe(true);
    expect(await store.findUserByUsername(A, 'alice')).toBeUndefined();
  });

  it('tokens: insert and find round-trip every field; revokeToken marks it revoked', async () => {
    const t = token(A, id('h'), { kind: 'access_token', subject: null, scope: [] });
    await store.insertToken(t);
    const found = await store.findToken(A, t.hash);
    expect(found).toEqual(t);
    expect(typeof found!.expiresAt).toBe('number');
    await store.revokeToken(A, t.hash, NOW + 5);
    await store.revokeToken(A, t.hash, NOW + 9); // first revocation time stays
    expect((await store.findToken(A, t.hash))!.revokedAt).toBe(NOW + 5);
    await expect(store.insertToken(t)).rejects.toThrow();
  });

  it(`consumeToken is exactly-once: ${RACERS} concurrent calls, one winner`, async () => {
    const t = token(A, id('rt'));
    await store.insertToken(t);
    const results = await Promise.all(Array.from({ length: RACERS }, (_, i) => store.consumeToken(A, t.hash, NOW + i)));
    const winners = results.filter((r) => r !== undefined);
    expect(winners).toHaveLength(1);
    expect(winners[0]).toMatchObject({ hash: t.hash, consumedAt: expect.any(Number) });
    expect((await store.findToken(A, t.hash))!.consumedAt).toBe(winners[0]!.consumedAt);
    expect(await store.consumeToken(A, t.hash, NOW)).toBeUndefined();
  });

  it('consumeToken with keepUntil: the rotated row\'s expiry becomes its family\'s end in the same statement; without it the expiry stays', async () => {
    const kept = token(A, id('rt'));
    const plain = token(A, id('rt'));
    await store.insertToken(kept);
    await store.insertToken(plain);
    expect(await store.consumeToken(A, kept.hash, NOW, kept.expiresAt + 86400)).toMatchObject({ consumedAt: NOW, expiresAt: kept.expiresAt + 86400 });
    expect((await store.findToken(A, kept.hash))!.expiresAt).toBe(kept.expiresAt + 86400);
    await store.consumeToken(A, plain.hash, NOW);
    expect((await store.findToken(A, plain.hash))!.expiresAt).toBe(plain.expiresAt);
    expect(await store.consumeToken(A, kept.hash, NOW, kept.expiresAt + 2 * 86400)).toBeUndefined(); // the loser changes nothing
    expect((await store.findToken(A, kept.hash))!.expiresAt).toBe(kept.expiresAt + 86400);
  });

  it('consumeToken refuses a revoked or unknown token', async () => {
    const t = token(A, id('rt'));
    await store.insertToken(t);
    await store.revokeToken(A, t.hash, NOW);
    expect(await store.consumeToken(A, t.hash, NOW)).toBeUndefined();
    expect(await store.consumeToken(A, 'nope', NOW)).toBeUndefined();
  });

  it(`consumeCode is exactly-once: ${RACERS} concurrent calls, one firstUse, the rest see the consumed code`, async () => {
    const g = id('g');
    const c = code(A, id('code'), g);
    await store.insertCode(c);
    const results = await Promise.all(Array.from({ length: RACERS }, () => store.consumeCode(A, c.hash, NOW + 1)));
    expect(results.every((r) => r !== undefined && r.code.hash === c.hash && r.code.grantId === g)).toBe(true);
    expect(results.filter((r) => r!.firstUse)).toHaveLength(1);
    expect(results.filter((r) => !r!.firstUse).every((r) => r!.code.consumedAt === NOW + 1)).toBe(true);
    expect(await store.consumeCode(A, 'unknown', NOW)).toBeUndefined();
  });

  it('findCode reads a code without consuming it; another tenant\'s code is not found', async () => {
    const c = code(A, id('code'), id('g'));
    await store.insertCode(c);
    expect(await store.findCode(A, c.hash)).toMatchObject({ hash: c.hash, consumedAt: null });
    expect(await store.findCode(B, c.hash)).toBeUndefined();
    expect(await store.findCode(A, 'unknown')).toBeUndefined();
    expect((await store.consumeCode(A, c.hash, NOW))?.firstUse).toBe(true);
    expect(await store.findCode(A, c.hash)).toMatchObject({ consumedAt: NOW });
  });

  it('insertGrantWithCode stores both or neither: a unit whose code collides leaves no grant, and its neighbours commit', async () => {
    const taken = code(A, id('code'), id('g'));
    await store.insertCode(taken);
    const [g1, g2, g3] = [id('g'), id('g'), id('g')];
    const [c1, c3] = [code(A, id('code'), g1), code(A, id('code'), g3)];
    // Queued in one turn: on SQLite one group commit, each unit in a savepoint of it.
    const results = await Promise.allSettled([
      store.insertGrantWithCode(grant(A, g1), c1),
      store.insertGrantWithCode(grant(A, g2), code(A, taken.hash, g2)),
      store.insertGrantWithCode(grant(A, g3), c3),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await store.findGrant(A, g1)).toMatchObject({ id: g1, scope: ['openid'], data: { k: 1 } });
    expect(await store.findCode(A, c1.hash)).toMatchObject({ grantId: g1, consumedAt: null });
    expect(await store.findGrant(A, g2)).toBeUndefined();
    expect((await store.findCode(A, taken.hash))?.grantId).toBe(taken.grantId);
    expect(await store.findGrant(A, g3)).toBeDefined();
    expect(await store.findCode(A, c3.hash)).toBeDefined();
  });

  it(`consumeTicket is exactly-once: ${RACERS} concurrent calls, one winner`, async () => {
    const t = ticket(A, id('tk'));
    await store.insertTicket(t);
    expect(await store.findTicket(A, t.hash)).toEqual(t);
    const results = await Promise.all(Array.from({ length: RACERS }, () => store.consumeTicket(A, t.hash, NOW)));
    expect(results.filter((r) => r !== undefined)).toHaveLength(1);
  });

  it('releaseTicket undoes one consumption (the one made at that time), so the ticket can be consumed again', async () => {
    const t = ticket(A, id('tk'));
    await store.insertTicket(t);
    expect(await store.releaseTicket(A, t.hash, NOW)).toBe(false); // not consumed
    expect(await store.consumeTicket(A, t.hash, NOW)).toBeDefined();
    expect(await store.releaseTicket(A, t.hash, NOW + 1)).toBe(false); // another consumption's time
    expect(await store.releaseTicket(B, t.hash, NOW)).toBe(false); // another tenant
    expect(await store.releaseTicket(A, t.hash, NOW)).toBe(true);
    expect((await store.findTicket(A, t.hash))?.consumedAt).toBeNull();
    expect(await store.consumeTicket(A, t.hash, NOW + 2)).toBeDefined();
    expect(await store.consumeTicket(A, t.hash, NOW + 3)).toBeUndefined();
  });

  it('revokeGrant revokes the grant and every token with that grant id, and nothing else', async () => {
    const g = id('g');
    const other = id('g');
    await store.insertGrant(grant(A, g));
    await store.insertGrant(grant(A, other));
    const mine = Array.from({ length: 5 }, (_, i) => token(A, id('t'), { grantId: g, kind: i % 2 ? 'access_token' : 'refresh_token' }));
    const theirs = token(A, id('t'), { grantId: other });
    const loose = token(A, id('t'), { grantId: null });
    for (const t of [...mine, theirs, loose]) await store.insertToken(t);
    await store.revokeToken(A, mine[0]!.hash, NOW - 10);

    await store.revokeGrant(A, g, NOW);
    expect((await store.findGrant(A, g))!.revokedAt).toBe(NOW);
    const after = await Promise.all(mine.map((t) => store.findToken(A, t.hash)));
    expect(after.map((t) => t!.revokedAt)).toEqual([NOW - 10, NOW, NOW, NOW, NOW]);
    expect((await store.findToken(A, theirs.hash))!.revokedAt).toBeNull();
    expect((await store.findToken(A, loose.hash))!.revokedAt).toBeNull();
    expect((await store.findGrant(A, other))!.revokedAt).toBeNull();
    // A revoked refresh token can no longer be rotated.
    expect(await store.consumeToken(A, mine[2]!.hash, NOW)).toBeUndefined();
  });

  it('sessions: insert, find, touch, end', async () => {
    const s = session(A, id('s'));
    await store.insertSession(s);
    expect(await store.findSession(A, s.hash)).toEqual(s);
    await store.touchSession(A, s.hash, NOW + 30);
    await store.endSession(A, s.hash, NOW + 40);
    await store.endSession(A, s.hash, NOW + 50);
    expect(await store.findSession(A, s.hash)).toMatchObject({ lastSeenAt: NOW + 30, endedAt: NOW + 40 });
  });

  it('consents: save is an upsert', async () => {
    await store.saveConsent({ tenantId: A, subject: 'alice', clientId: 'c1', scope: ['openid'], updatedAt: NOW });
    await store.saveConsent({ tenantId: A, subject: 'alice', clientId: 'c1', scope: ['openid', 'email'], updatedAt: NOW + 1 });
    expect(await store.findConsent(A, 'alice', 'c1')).toEqual({ tenantId: A, subject: 'alice', clientId: 'c1', scope: ['openid', 'email'], updatedAt: NOW + 1 });
    expect(await store.findConsent(A, 'alice', 'c2')).toBeUndefined();
  });

  it(`consents: ${RACERS} consents given at once to different scopes all count (addConsent); one older than the client is replaced`, async () => {
    const scopes = await Promise.all(
      Array.from({ length: RACERS }, (_, i) => store.addConsent({ tenantId: A, subject: 'bob', clientId: 'c1', scope: [`s${i}`], updatedAt: NOW + 10 }, NOW)),
    );
    const all = Array.from({ length: RACERS }, (_, i) => `s${i}`);
    expect((await store.findConsent(A, 'bob', 'c1'))!.scope.sort()).toEqual([...all].sort());
    expect(scopes.some((s) => s.length === RACERS)).toBe(true); // the last one to write saw all the others
    // A consent stored before the client (of this client_id) was created is not added to: it is replaced.
    expect(await store.addConsent({ tenantId: A, subject: 'bob', clientId: 'c1', scope: ['openid'], updatedAt: NOW + 100 }, NOW + 50)).toEqual(['openid']);
    expect(await store.findConsent(A, 'bob', 'c1')).toEqual({ tenantId: A, subject: 'bob', clientId: 'c1', scope: ['openid'], updatedAt: NOW + 100 });
    expect(await store.addConsent({ tenantId: A, subject: 'bob', clientId: 'c1', scope: ['email', 'openid'], updatedAt: NOW + 101 }, NOW + 50)).toEqual(['openid', 'email']);
  });

  it(`rate limit: ${RACERS} concurrent hits count 1..${RACERS} exactly once each; windows are separate; reset clears`, async () => {
    const k = id('login:alice');
    const counts = await Promise.all(Array.from({ length: RACERS }, () => store.hit(k, NOW, NOW + 300)));
    expect(counts.slice().sort((a, b) => a - b)).toEqual(Array.from({ length: RACERS }, (_, i) => i + 1));
    expect(await store.count(k, NOW)).toBe(RACERS);
    expect(await store.hit(k, NOW + 300, NOW + 600)).toBe(1);
    expect(await store.count(k, NOW + 600)).toBe(0);
    await store.reset(k);
    expect(await store.count(k, NOW)).toBe(0);
    expect(await store.hit(k, NOW, NOW + 300)).toBe(1);
  });

  it('addActiveKeys demotes the previous active key of the same alg only; keysVersion moves', async () => {
    expect(await store.keysVersion(A)).toBe(0);
    await store.addActiveKeys([key(A, 'es-1', 'ES256'), key(A, 'rs-1', 'RS256')]);
    const v1 = await store.keysVersion(A);
    expect(typeof v1).toBe('number');
    expect(v1).toBeGreaterThan(0);
    await store.addActiveKeys([key(A, 'es-2', 'ES256')]);
    expect(await store.keysVersion(A)).toBeGreaterThan(v1);
    const keys = await store.listKeys(A);
    expect(keys.map((k) => [k.kid, k.status])).toEqual([['es-1', 'published'], ['rs-1', 'active'], ['es-2', 'active']]);
    expect(keys[2]).toEqual({ ...key(A, 'es-2', 'ES256'), activatesAt: NOW }); // no activatesAt given: signs from creation
  });

  it('addActiveKeys from concurrent rotations leaves exactly one active key per alg', async () => {
    await store.addActiveKeys([key(A, 'k-0', 'ES256')]);
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.addActiveKeys([key(A, `k-${i + 1}`, 'ES256')])));
    const keys = await store.listKeys(A);
    expect(keys).toHaveLength(11);
    expect(keys.filter((k) => k.status === 'active')).toHaveLength(1);
    expect(new Set(keys.map((k) => k.kid)).size).toBe(11);
  });

  it('transaction: a failure rolls back every write in it', async () => {
    const t = token(A, id('t'));
    await expect(
      store.transaction(async (tx) => {
        await tx.insertToken(t);
        await tx.insertGrant(grant(A, 'g'));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.findToken(A, t.hash)).toBeUndefined();
    expect(await store.findGrant(A, 'g')).toBeUndefined();
    await store.transaction(async (tx) => tx.insertToken(t));
    expect(await store.findToken(A, t.hash)).toBeDefined();
  });

  it('tenant isolation: a row of tenant A is never returned, consumed, revoked or deleted through tenant B', async () => {
    const same = 'same-id';
    await store.createClient(client(A, same));
    await store.createUser(user(A, same, same));
    await store.insertGrant(grant(A, same));
    await store.insertToken(token(A, same, { grantId: same }));
    await store.insertCode(code(A, same, same));
    await store.insertTicket(ticket(A, same));
    await store.insertSession(session(A, same));
    await store.saveConsent({ tenantId: A, subject: same, clientId: same, scope: ['openid'], updatedAt: NOW });
    await store.addActiveKeys([key(A, same, 'ES256')]);

    expect(await store.findClient(B, same)).toBeUndefined();
    expect(await store.listClients(B)).toEqual([]);
    expect(await store.findUserById(B, same)).toBeUndefined();
    expect(await store.findUserByUsername(B, same)).toBeUndefined();
    expect(await store.listUsers(B)).toEqual([]);
    expect(await store.findGrant(B, same)).toBeUndefined();
    expect(await store.findToken(B, same)).toBeUndefined();
    expect(await store.consumeToken(B, same, NOW)).toBeUndefined();
    expect(await store.consumeCode(B, same, NOW)).toBeUndefined();
    expect(await store.findTicket(B, same)).toBeUndefined();
    expect(await store.consumeTicket(B, same, NOW)).toBeUndefined();
    expect(await store.findSession(B, same)).toBeUndefined();
    expect(await store.findConsent(B, same, same)).toBeUndefined();
    expect(await store.listKeys(B)).toEqual([]);
    expect(await store.keysVersion(B)).toBe(0);
    expect(await store.deleteClient(B, same)).toBe(false);
    expect(await store.deleteUser(B, same)).toBe(false);
    await store.revokeGrant(B, same, NOW);
    await store.revokeToken(B, same, NOW);
    await store.endSession(B, same, NOW);
    await store.touchSession(B, same, NOW + 99);

    // The same ids in tenant B are independent rows.
    await store.createClient(client(B, same));
    await store.createUser(user(B, same, same));
    await store.insertToken(token(B, same));
    await store.addActiveKeys([key(B, same, 'ES256')]);

    expect(await store.findClient(A, same)).toBeDefined();
    expect(await store.findUserByUsername(A, same)).toBeDefined();
    expect(await store.findGrant(A, same)).toMatchObject({ revokedAt: null });
    expect(await store.findToken(A, same)).toMatchObject({ revokedAt: null, consumedAt: null });
    expect(await store.consumeCode(A, same, NOW)).toMatchObject({ firstUse: true });
    expect(await store.consumeTicket(A, same, NOW)).toBeDefined();
    expect(await store.findSession(A, same)).toMatchObject({ endedAt: null, lastSeenAt: NOW });
    expect((await store.listKeys(A)).map((k) => k.status)).toEqual(['active']);
  });
});
