import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceAuthorization, deviceComplete } from '../../src/engine/device.js';
import { introspection } from '../../src/engine/introspection.js';
import { token } from '../../src/engine/token/index.js';
import type { EngineContext } from '../../src/engine/context.js';
import { lookupToken } from '../../src/tokens/lookup.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

describe('a reused device code revokes what it issued (engine, injected clock)', () => {
  let t: TestLatchkey;
  let clock = Date.UTC(2030, 0, 1);
  let tv: { clientId: string };
  let plain: { clientId: string };
  let confDevice: { clientId: string; clientSecret?: string };
  let rs: { clientId: string; clientSecret?: string };
  let aliceSub: string;
  let ctx: EngineContext;
  const warned: Record<string, unknown>[] = [];
  const tick = (seconds: number) => (clock += seconds * 1000);

  beforeAll(async () => {
    t = await openTestLatchkey({}, { clock: () => clock });
    ctx = { ...t.ctx, log: { info: () => {}, warn: (o: unknown) => void warned.push(o as Record<string, unknown>), error: () => {} } };
    tv = await t.client({ grant_types: [GRANT, 'refresh_token'], token_endpoint_auth_method: 'none', scope: 'openid profile offline_access' });
    // No refresh_token grant: its redemption issues an access token (and ID token) only.
    plain = await t.client({ grant_types: [GRANT], token_endpoint_auth_method: 'none', scope: 'openid' });
    confDevice = await t.client({ grant_types: [GRANT], scope: 'openid' });
    rs = await t.client({ grant_types: ['client_credentials'] });
    aliceSub = await t.user('alice', 'alice-password');
  });
  afterAll(() => t.close());

  /** A device authorization for `client`, approved by alice. */
  const approved = async (client: { clientId: string }, scope: string) => {
    const r = await deviceAuthorization({ parameters: new URLSearchParams({ client_id: client.clientId, scope }).toString() }, ctx);
    const d = JSON.parse(r.responseContent) as { device_code: string; user_code: string };
    expect((await deviceComplete({ userCode: d.user_code, result: 'AUTHORIZED', subject: aliceSub, authTime: Math.floor(clock / 1000) }, ctx)).action).toBe('SUCCESS');
    tick(10);
    return d.device_code;
  };
  const redeem = async (deviceCode: string, client: { clientId: string }) => {
    const r = await token({ parameters: new URLSearchParams({ grant_type: GRANT, device_code: deviceCode, client_id: client.clientId }).toString() }, ctx);
    return { r, body: JSON.parse(r.responseContent) as Record<string, string> };
  };
  /** An access token's state as a resource server's introspection sees it. */
  const active = async (at: string) =>
    JSON.parse((await introspection({ parameters: `token=${encodeURIComponent(at)}`, clientId: rs.clientId, clientSecret: rs.clientSecret }, ctx)).responseContent).active as boolean;
  /** A refresh token's state as the token endpoint resolves it (introspection shows one only to its own client, here a public one). */
  const refreshActive = async (rt: string) => (await lookupToken(ctx, rt)).active;

  it('RFC 6749 §4.1.2 (applied to device codes): a second redemption is invalid_grant and revokes the access and refresh tokens the first issued', async () => {
    const code = await approved(tv, 'openid profile offline_access');
    const first = await redeem(code, tv);
    expect(first.r.action).toBe('OK');
    const { access_token: at, refresh_token: rt } = first.body;
    expect(rt).toBeTruthy();
    expect([await active(at!), await refreshActive(rt!)]).toEqual([true, true]);
    tick(10);
    const again = await redeem(code, tv);
    expect(again.r.action).toBe('BAD_REQUEST');
    expect(again.body.error).toBe('invalid_grant');
    expect(again.r.resultCode).toBe('LK7040');
    expect([await active(at!), await refreshActive(rt!)]).toEqual([false, false]);
    // The refresh token no longer refreshes, and the grant stays revoked on a third attempt.
    const refreshed = await token({ parameters: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt!, client_id: tv.clientId }).toString() }, ctx);
    expect(JSON.parse(refreshed.responseContent).error).toBe('invalid_grant');
    tick(10);
    expect((await redeem(code, tv)).r.resultCode).toBe('LK7040');
    expect(warned.some((w) => w.event === 'code_reuse' && w.grantType === 'device_code' && w.client === tv.clientId)).toBe(true);
  });

  it('a reuse also revokes tokens its grant issued later (a rotated refresh token)', async () => {
    const code = await approved(tv, 'openid offline_access');
    const first = (await redeem(code, tv)).body;
    const rotated = JSON.parse((await token({ parameters: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first.refresh_token!, client_id: tv.clientId }).toString() }, ctx)).responseContent) as Record<string, string>;
    expect([await active(rotated.access_token!), await refreshActive(rotated.refresh_token!)]).toEqual([true, true]);
    tick(10);
    expect((await redeem(code, tv)).r.resultCode).toBe('LK7040');
    expect([await active(rotated.access_token!), await refreshActive(rotated.refresh_token!)]).toEqual([false, false]);
  });

  it('a device grant without a refresh token (no refresh_token grant) still has its access token revoked on reuse', async () => {
    const code = await approved(plain, 'openid');
    const first = await redeem(code, plain);
    expect(first.r.action).toBe('OK');
    expect(first.body.refresh_token).toBeUndefined();
    expect(await active(first.body.access_token!)).toBe(true);
    tick(10);
    const again = await redeem(code, plain);
    expect(again.body.error).toBe('invalid_grant');
    expect(again.r.resultCode).toBe('LK7040');
    expect(await active(first.body.access_token!)).toBe(false);
  });

  it('another client presenting a redeemed device code gets invalid_grant and revokes nothing; its own client\'s reuse still does', async () => {
    const code = await approved(tv, 'openid offline_access');
    const first = (await redeem(code, tv)).body;
    tick(10);
    // A public client and an authenticated confidential one, both registered for the grant.
    const strangers = [
      () => redeem(code, plain),
      async () => {
        const r = await token({ parameters: new URLSearchParams({ grant_type: GRANT, device_code: code }).toString(), clientId: confDevice.clientId, clientSecret: confDevice.clientSecret }, ctx);
        return { r, body: JSON.parse(r.responseContent) as Record<string, string> };
      },
    ];
    for (const attempt of strangers) {
      const stranger = await attempt();
      // Not told the code exists, nor that it was redeemed.
      expect([stranger.body.error, stranger.r.resultCode]).toEqual(['invalid_grant', 'LK7021']);
    }
    expect([await active(first.access_token!), await refreshActive(first.refresh_token!)]).toEqual([true, true]);
    // The code is still a live reuse trap for the client it was issued to.
    expect((await redeem(code, tv)).r.resultCode).toBe('LK7040');
    expect([await active(first.access_token!), await refreshActive(first.refresh_token!)]).toEqual([false, false]);
  });

  it('RFC 8628 §3.5: concurrent redemptions of one approved device code: exactly one gets tokens; every other is invalid_grant, a reuse that revokes them', async () => {
    const code = await approved(tv, 'openid offline_access');
    const results = await Promise.all(Array.from({ length: 8 }, () => redeem(code, tv)));
    const ok = results.filter((x) => x.r.action === 'OK');
    expect(ok).toHaveLength(1);
    const losers = results.filter((x) => x.r.action !== 'OK');
    expect(losers).toHaveLength(7);
    for (const l of losers) expect([l.body.error, l.r.resultCode]).toEqual(['invalid_grant', 'LK7040']);
    // Whichever came second found the code spent, so the winner's tokens were revoked (as for a raced authorization code).
    expect([await active(ok[0]!.body.access_token!), await refreshActive(ok[0]!.body.refresh_token!)]).toEqual([false, false]);
  });

  it('a redemption whose poll saw the code unspent but whose conditional update lost to another redemption is a reuse too: it revokes the winner\'s grant', async () => {
    const code = await approved(tv, 'openid offline_access');
    const first = (await redeem(code, tv)).body;
    // The loser of a race: its poll ran before the winner's transaction committed, so it saw the code unspent.
    const store = ctx.store;
    const stalePoll: typeof store.pollDeviceCode = async (...args) => {
      const polled = await store.pollDeviceCode(...args);
      if (!polled) return polled;
      const { grantId: _, ...unspent } = polled.record;
      return { ...polled, record: { ...unspent, consumedAt: null } };
    };
    const loserCtx: EngineContext = { ...ctx, store: Object.create(store, { pollDeviceCode: { value: stalePoll } }) };
    tick(10);
    const r = await token({ parameters: new URLSearchParams({ grant_type: GRANT, device_code: code, client_id: tv.clientId }).toString() }, loserCtx);
    expect([JSON.parse(r.responseContent).error, r.resultCode]).toEqual(['invalid_grant', 'LK7040']);
    expect([await active(first.access_token!), await refreshActive(first.refresh_token!)]).toEqual([false, false]);
  });

  it('a device code redeemed before redemptions recorded their grant is refused as before (LK7021), with nothing to revoke', async () => {
    const code = await approved(tv, 'openid offline_access');
    const first = (await redeem(code, tv)).body;
    // As a row written before migration 0013 (no grant recorded) looks.
    const db = (t.lk.store as unknown as { db: import('kysely').Kysely<any> }).db;
    await db.updateTable('device_codes').set({ grant_id: null }).where('hash', '=', t.ctx.hasher.hash(code)).execute();
    tick(10);
    const again = await redeem(code, tv);
    expect([again.body.error, again.r.resultCode]).toEqual(['invalid_grant', 'LK7021']);
    expect(await active(first.access_token!)).toBe(true);
  });
});
