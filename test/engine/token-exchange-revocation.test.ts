// Token exchange (RFC 8693) against a revocation of the subject's grant that lands after the exchange has checked
// the grant and before it issues (RFC 7009 §2.1). Deterministic on either store: the store reports the grant live to
// the exchange's check and revokes it at once, before the exchange goes on. The PostgreSQL-only interleaving (a
// revocation falling inside the issuing transaction) is in test/store/grant-revocation-race.test.ts.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorization, authorizationIssue } from '../../src/engine/authorization/index.js';
import type { EngineContext } from '../../src/engine/context.js';
import { token } from '../../src/engine/token/index.js';
import type { GrantRecord, Store } from '../../src/store/types.js';
import { lookupToken } from '../../src/tokens/lookup.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';
import { insertRefreshFamily } from '../helpers/tokens.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const IDT = 'urn:ietf:params:oauth:token-type:id_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const CB = 'https://app.example/cb';

/**
 * The store, except that the first read of `grantId` outside a transaction (the exchange's check of its subject)
 * answers with the grant as read, and revokes it before answering: the revocation commits between the check and
 * whatever the exchange does next. Reads inside a transaction are the real ones.
 */
function revokedRightAfterCheck(store: Store, tenantId: string, grantOf: () => string | undefined): Store {
  let done = false;
  const afterRead = async <T extends GrantRecord | GrantRecord[] | undefined>(read: T): Promise<T> => {
    const id = grantOf();
    const hit = Array.isArray(read) ? read.some((g) => g.id === id) : read?.id === id;
    if (!done && id !== undefined && hit) {
      done = true;
      await store.revokeGrant(tenantId, id, Math.floor(Date.now() / 1000));
    }
    return read;
  };
  return new Proxy(store, {
    get(target, p) {
      if (p === 'findGrant') return async (t: string, id: string) => afterRead(await target.findGrant(t, id));
      if (p === 'listGrantsBySid') return async (t: string, sid: string) => afterRead(await target.listGrantsBySid(t, sid));
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('token exchange: a revocation between the check of the subject grant and the issue', () => {
  let t: TestLatchkey;
  let app: { clientId: string; clientSecret?: string };
  let sub: string;

  beforeAll(async () => {
    t = await openTestLatchkey();
    app = await t.client({
      grant_types: ['authorization_code', 'refresh_token', GRANT], redirect_uris: [CB], scope: 'openid offline_access api', skip_consent: true,
      token_exchange: { subject_token_types: [AT, IDT, JWT], impersonation: true },
    });
    sub = await t.user('ines', 'ines-password');
  });
  afterAll(() => t.close());

  const exchange = (ctx: EngineContext, params: Record<string, string>) =>
    token({ parameters: new URLSearchParams({ grant_type: GRANT, ...params }).toString(), clientId: app.clientId, clientSecret: app.clientSecret }, ctx);

  /** Either refused, or whatever it issued is already inactive: never a live token of a revoked grant. */
  async function expectNothingLive(result: Awaited<ReturnType<typeof token>>, grantId: string) {
    expect((await t.ctx.store.findGrant(t.ctx.tenant.id, grantId))!.revokedAt).not.toBeNull();
    if (result.action === 'OK') {
      const issued = (JSON.parse(result.responseContent!) as { access_token: string }).access_token;
      expect((await lookupToken(t.ctx, issued)).active).toBe(false);
    } else {
      expect(result.action).toBe('BAD_REQUEST');
      expect(result.resultCode).toBe('LK6021');
    }
  }

  for (const type of [AT, JWT] as const) {
    it(`RFC 7009 §2.1, RFC 8693 §2.1: a grant revoked after its access token was checked as subject_token (${type === AT ? 'access_token' : 'jwt'}) leaves no live exchanged token`, async () => {
      const fam = await insertRefreshFamily(t.ctx, { clientId: app.clientId, subject: sub, scope: ['openid', 'api'] });
      const ctx: EngineContext = { ...t.ctx, store: revokedRightAfterCheck(t.ctx.store, t.ctx.tenant.id, () => fam.grantId) };
      // An opaque subject token, asked for as a JWT access token when the type is jwt (signed inside the transaction).
      const params: Record<string, string> = type === AT ? { subject_token: fam.accessToken, subject_token_type: AT } : { subject_token: fam.accessToken, subject_token_type: AT, requested_token_type: JWT };
      await expectNothingLive(await exchange(ctx, params), fam.grantId);
    });
  }

  it('RFC 7009 §2.1, RFC 8693 §2.1: a grant revoked after the ID token that leads to it was checked leaves no live exchanged token', async () => {
    const verifier = 'v'.repeat(50);
    const p = new URLSearchParams({
      response_type: 'code', client_id: app.clientId, redirect_uri: CB, scope: 'openid api', nonce: 'n',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    });
    const a = await authorization({ parameters: p.toString() }, t.ctx);
    expect(a.ticket, a.resultMessage).toBeTruthy();
    const issued = await authorizationIssue({ ticket: a.ticket!, subject: sub, authTime: Math.floor(Date.now() / 1000), sid: 'exchange-race-sid' }, t.ctx);
    const code = new URL(issued.responseContent as string).searchParams.get('code')!;
    const grantId = (await t.ctx.store.findCode(t.ctx.tenant.id, t.ctx.hasher.hash(code)))!.grantId;
    const r = await token({ parameters: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }).toString(), clientId: app.clientId, clientSecret: app.clientSecret }, t.ctx);
    expect(r.action, r.resultMessage).toBe('OK');
    const idToken = (JSON.parse(r.responseContent!) as { id_token: string }).id_token;
    const ctx: EngineContext = { ...t.ctx, store: revokedRightAfterCheck(t.ctx.store, t.ctx.tenant.id, () => grantId) };
    await expectNothingLive(await exchange(ctx, { subject_token: idToken, subject_token_type: IDT }), grantId);
  });

  it('RFC 8693 §2.1: with nothing revoked, an exchange of a grant\'s token is issued and live, in that grant', async () => {
    const fam = await insertRefreshFamily(t.ctx, { clientId: app.clientId, subject: sub, scope: ['openid', 'api'] });
    const asked: Record<string, string>[] = [{ subject_token: fam.accessToken, subject_token_type: AT }, { subject_token: fam.accessToken, subject_token_type: AT, requested_token_type: JWT }];
    for (const params of asked) {
      const r = await exchange(t.ctx, params);
      expect(r.action, r.resultMessage).toBe('OK');
      const state = await lookupToken(t.ctx, (JSON.parse(r.responseContent!) as { access_token: string }).access_token);
      expect(state.active).toBe(true);
      expect(state.record!.grantId).toBe(fam.grantId);
    }
  });
});
