import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { authorization, authorizationIssue } from '../../src/engine/authorization/index.js';
import type { EngineContext } from '../../src/engine/context.js';
import { token } from '../../src/engine/token/index.js';
import type { Store } from '../../src/store/types.js';
import { newHandle, secureRandom, tokenKey } from '../../src/tokens/handles.js';
import { lookupToken } from '../../src/tokens/lookup.js';
import { adminDatabaseUrl, finishedOrWaitingForLock } from '../helpers/database.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';
import { insertRefreshFamily } from '../helpers/tokens.js';

const REDIRECT = 'https://app.example/cb';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** A latch: `reached` resolves when the paused call gets there; `release()` lets it go on. */
interface Gate {
  reached: Promise<void>;
  release(): void;
}

/**
 * The store with one pause: the first token a transaction inserts (the new access token of a token request, after
 * the transaction has read or written its grant) waits for the gate; so does a token inserted outside any
 * transaction (token exchange issued there, after reading its grant with a plain read). Nothing else changes: the
 * engine's own code runs, on the real database.
 */
function pausedAtFirstInsert(store: Store): { store: Store; gate: Gate } {
  let arrive!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((r) => (arrive = r));
  const released = new Promise<void>((r) => (release = r));
  const bind = <T extends object>(target: T, override: (p: string | symbol) => unknown) =>
    new Proxy(target, {
      get(t, p) {
        const own = override(p);
        if (own !== undefined) return own;
        const v = Reflect.get(t, p, t) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
  const pausedTx = (tx: Store): Store =>
    bind(tx, (p) =>
      p === 'insertToken'
        ? async (...args: Parameters<Store['insertToken']>) => {
            arrive();
            await released;
            return tx.insertToken(...args);
          }
        : undefined,
    );
  const wrapped = bind(store, (p) =>
    p === 'transaction'
      ? <T>(fn: (tx: Store) => Promise<T>) => store.transaction((tx) => fn(pausedTx(tx)))
      : p === 'insertToken'
        ? (pausedTx(store) as { insertToken: Store['insertToken'] }).insertToken
        : undefined,
  );
  return { store: wrapped, gate: { reached, release } };
}

/**
 * PostgreSQL only (the second pass, scripts/with-postgres.sh): SQLite runs one write transaction at a time, so a
 * revocation can never fall inside a token request's transaction there.
 *
 * RFC 7009 §2.1: once revocation has answered, the tokens of the grant are revoked, including those a token request
 * that raced it was issuing. The token request is held inside its transaction, after reading its grant and before
 * inserting its tokens; the revocation then runs until it either finishes or waits for a lock (seen in
 * pg_stat_activity, never a timer); then the token request goes on. The access token the request was answered
 * with must not be active once both are done.
 */
describe.runIf(adminDatabaseUrl())('PostgreSQL: a revocation racing a token request', () => {
  let t: TestLatchkey;
  let monitor: pg.Client;
  let app: { clientId: string; clientSecret?: string };
  let exchanger: { clientId: string; clientSecret?: string };
  let sub: string;

  beforeAll(async () => {
    t = await openTestLatchkey();
    monitor = new pg.Client({ connectionString: t.lk.config.databaseUrl });
    await monitor.connect();
    app = await t.client({
      redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token', DEVICE_GRANT], scope: 'openid offline_access api',
    });
    exchanger = await t.client({
      grant_types: [EXCHANGE_GRANT], scope: 'openid api', token_exchange: { subject_token_types: [ACCESS_TOKEN_TYPE], impersonation: true, delegation: true },
    });
    sub = await t.user('rae', 'rae-password');
  });
  afterAll(async () => {
    await monitor?.end();
    await t?.close();
  });

  /** Run the token request, hold it at its first token insert, run `revoke` against it, then let both finish. */
  async function race(parameters: Record<string, string>, revoke: () => Promise<void>, by = app) {
    const paused = pausedAtFirstInsert(t.ctx.store);
    const ctx: EngineContext = { ...t.ctx, store: paused.store };
    const request = token({ parameters: new URLSearchParams(parameters).toString(), clientId: by.clientId, clientSecret: by.clientSecret }, ctx);
    await paused.gate.reached;
    const revoked = revoke();
    await finishedOrWaitingForLock(monitor, revoked);
    paused.gate.release();
    const [result] = await Promise.all([request, revoked]);
    const body = result.responseContent ? (JSON.parse(result.responseContent) as Record<string, string>) : {};
    return { result, body };
  }

  const accessTokenRecord = (accessToken: string) => t.ctx.store.findToken(t.ctx.tenant.id, tokenKey(t.ctx.hasher, accessToken));

  it('RFC 7009 §2.1: revoking a grant while a refresh is issuing from it revokes the new access token too', async () => {
    const fam = await insertRefreshFamily(t.ctx, { clientId: app.clientId, subject: sub, scope: ['openid', 'offline_access'] });
    const now = Math.floor(Date.now() / 1000);
    const { result, body } = await race({ grant_type: 'refresh_token', refresh_token: fam.refreshToken }, () => t.ctx.store.revokeGrant(t.ctx.tenant.id, fam.grantId, now));
    // The refresh had read its grant first, so it is answered; what it issued is revoked with the grant.
    expect(result.action, result.resultMessage).toBe('OK');
    expect((await accessTokenRecord(body.access_token!))!.revokedAt).not.toBeNull();
    expect((await t.ctx.store.findToken(t.ctx.tenant.id, tokenKey(t.ctx.hasher, body.refresh_token!)))!.revokedAt).not.toBeNull();
    expect((await t.ctx.store.findGrant(t.ctx.tenant.id, fam.grantId))!.revokedAt).not.toBeNull();
  });

  it('RFC 7009 §2.1: revoking a grant while its authorization code is being redeemed revokes the new access token too', async () => {
    const verifier = newHandle(secureRandom);
    const p = new URLSearchParams({
      response_type: 'code', client_id: app.clientId, redirect_uri: REDIRECT, scope: 'openid offline_access', nonce: 'n',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    });
    const a = await authorization({ parameters: p.toString() }, t.ctx);
    expect(a.ticket, a.resultMessage).toBeTruthy();
    const issued = await authorizationIssue({ ticket: a.ticket!, subject: sub, authTime: Math.floor(Date.now() / 1000) }, t.ctx);
    const code = new URL(issued.responseContent as string).searchParams.get('code')!;
    const grantId = (await t.ctx.store.findCode(t.ctx.tenant.id, t.ctx.hasher.hash(code)))!.grantId;
    const now = Math.floor(Date.now() / 1000);
    const { result, body } = await race(
      { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier },
      () => t.ctx.store.revokeGrant(t.ctx.tenant.id, grantId, now),
    );
    expect(result.action, result.resultMessage).toBe('OK');
    expect((await accessTokenRecord(body.access_token!))!.revokedAt).not.toBeNull();
  });

  it('RFC 7009 §2.1: a refresh that meets a revocation of its grant in progress waits for it and is refused, without deadlock', async () => {
    const fam = await insertRefreshFamily(t.ctx, { clientId: app.clientId, subject: sub, scope: ['openid', 'offline_access'] });
    const now = Math.floor(Date.now() / 1000);
    // revokeGrant's two statements, held open between them on a connection of the test's own.
    const revoker = new pg.Client({ connectionString: t.lk.config.databaseUrl });
    await revoker.connect();
    try {
      await revoker.query('begin');
      await revoker.query('update grants set revoked_at = $1 where tenant_id = $2 and id = $3 and revoked_at is null', [now, t.ctx.tenant.id, fam.grantId]);
      const request = token({ parameters: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: fam.refreshToken }).toString(), clientId: app.clientId, clientSecret: app.clientSecret }, t.ctx);
      await finishedOrWaitingForLock(monitor, request);
      await revoker.query('update tokens set revoked_at = $1 where tenant_id = $2 and grant_id = $3 and revoked_at is null', [now, t.ctx.tenant.id, fam.grantId]);
      await revoker.query('commit');
      const result = await request;
      expect(result.action).toBe('BAD_REQUEST');
      expect(JSON.parse(result.responseContent!)).toMatchObject({ error: 'invalid_grant' });
    } finally {
      await revoker.end();
    }
  });

  it('revoking a user while a device code they approved is being redeemed revokes the new access token too', async () => {
    const deviceCode = newHandle(secureRandom);
    const userCodeHash = t.ctx.hasher.hash(newHandle(secureRandom));
    const now = Math.floor(Date.now() / 1000);
    await t.ctx.store.insertDeviceCode({
      tenantId: t.ctx.tenant.id, hash: t.ctx.hasher.hash(deviceCode), userCodeHash, clientId: app.clientId, scope: ['openid', 'offline_access'],
      status: 'pending', interval: 5, lastPolledAt: null, createdAt: now, expiresAt: now + 600, subject: null, decidedAt: null, consumedAt: null, data: {},
    });
    await t.ctx.store.decideDeviceCode(t.ctx.tenant.id, userCodeHash, { status: 'approved', subject: sub, data: {} }, now);
    const { result, body } = await race({ grant_type: DEVICE_GRANT, device_code: deviceCode }, () => t.ctx.store.revokeSubject(t.ctx.tenant.id, sub, now));
    expect(result.action, result.resultMessage).toBe('OK');
    expect((await accessTokenRecord(body.access_token!))!.revokedAt).not.toBeNull();
  });

  for (const requested of [ACCESS_TOKEN_TYPE, JWT_TYPE]) {
    it(`RFC 7009 §2.1, RFC 8693 §2.1: revoking a grant while a token exchange is issuing in it revokes the exchanged token too (${requested === JWT_TYPE ? 'jwt' : 'opaque'})`, async () => {
      const fam = await insertRefreshFamily(t.ctx, { clientId: exchanger.clientId, subject: sub, scope: ['openid', 'api'] });
      const now = Math.floor(Date.now() / 1000);
      const { result, body } = await race(
        { grant_type: EXCHANGE_GRANT, subject_token: fam.accessToken, subject_token_type: ACCESS_TOKEN_TYPE, requested_token_type: requested },
        () => t.ctx.store.revokeGrant(t.ctx.tenant.id, fam.grantId, now),
        exchanger,
      );
      // The exchange had checked the grant first, so it is answered; what it issued is revoked with the grant.
      expect(result.action, result.resultMessage).toBe('OK');
      expect((await t.ctx.store.findGrant(t.ctx.tenant.id, fam.grantId))!.revokedAt).not.toBeNull();
      expect((await lookupToken(t.ctx, body.access_token!)).active).toBe(false);
      expect((await accessTokenRecord(requested === JWT_TYPE ? (decodeJwt(body.access_token!).jti as string) : body.access_token!))!.revokedAt).not.toBeNull();
    });
  }
});
