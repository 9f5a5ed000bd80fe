import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceAuthorization, deviceComplete, deviceVerification } from '../../src/engine/device.js';
import { token } from '../../src/engine/token/index.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

describe('device authorization grant (RFC 8628), engine with an injected clock', () => {
  let t: TestLatchkey;
  let clock = Date.UTC(2030, 0, 1);
  let tv: { clientId: string };
  let conf: { clientId: string; clientSecret?: string };
  let aliceSub: string;
  const tick = (seconds: number) => (clock += seconds * 1000);

  beforeAll(async () => {
    t = await openTestLatchkey({}, { clock: () => clock });
    tv = await t.client({ client_name: 'Living-room TV', grant_types: [GRANT, 'refresh_token'], token_endpoint_auth_method: 'none', scope: 'openid profile offline_access' });
    conf = await t.client({ redirect_uris: ['https://rp.example/cb'] });
    aliceSub = await t.user('alice', 'alice-password', { name: 'Alice' });
  });
  afterAll(() => t.close());

  const start = async (scope = 'openid profile offline_access') => {
    const r = await deviceAuthorization({ parameters: new URLSearchParams({ client_id: tv.clientId, scope }).toString() }, t.ctx);
    expect(r.action).toBe('OK');
    return JSON.parse(r.responseContent) as { device_code: string; user_code: string; verification_uri: string; verification_uri_complete: string; expires_in: number; interval: number };
  };
  const poll = async (deviceCode: string, clientId = tv.clientId) => {
    const r = await token({ parameters: new URLSearchParams({ grant_type: GRANT, device_code: deviceCode, client_id: clientId }).toString() }, t.ctx);
    return { r, body: JSON.parse(r.responseContent) };
  };
  const approve = (userCode: string) => deviceComplete({ userCode, result: 'AUTHORIZED', subject: aliceSub, authTime: Math.floor(clock / 1000) }, t.ctx);

  it('RFC 8628 §3.2: device_code, a XXXX-XXXX user_code, verification URIs from the issuer, expires_in and interval; codes stored hashed', async () => {
    const d = await start();
    expect(d.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(d.verification_uri).toBe(`${t.ctx.tenant.issuer}/device`);
    expect(d.verification_uri_complete).toBe(`${t.ctx.tenant.issuer}/device?user_code=${d.user_code}`);
    expect(d).toMatchObject({ expires_in: 600, interval: 5 });
    expect(Buffer.from(d.device_code, 'base64url').length).toBe(32);
    expect(await t.ctx.store.pollDeviceCode(t.ctx.tenant.id, d.device_code, 0, tv.clientId)).toBeUndefined();
    expect(await t.ctx.store.findDeviceCodeByUserCode(t.ctx.tenant.id, d.user_code.replace('-', ''))).toBeUndefined();
  });

  it('RFC 8628 §3.1: a client not registered for the grant is unauthorized_client; a bad secret is invalid_client', async () => {
    const r = await deviceAuthorization({ parameters: 'scope=openid', clientId: conf.clientId, clientSecret: conf.clientSecret }, t.ctx);
    expect(JSON.parse(r.responseContent).error).toBe('unauthorized_client');
    const bad = await deviceAuthorization({ parameters: 'scope=openid', clientId: conf.clientId, clientSecret: 'wrong' }, t.ctx);
    expect(bad.action).toBe('UNAUTHORIZED');
    expect(bad.status).toBe(401);
  });

  it('RFC 8628 §3.5: pending, then slow_down for polling early (interval + 5 s), then tokens once approved, once only', async () => {
    const d = await start();
    expect((await poll(d.device_code)).body.error).toBe('authorization_pending');
    tick(1);
    const early = await poll(d.device_code);
    expect(early.body.error).toBe('slow_down');
    expect(early.r.resultCode).toBe('LK7018');
    tick(6); // the old 5 s interval is not enough any more: it is now 10 s
    expect((await poll(d.device_code)).body.error).toBe('slow_down');
    tick(15);
    expect((await poll(d.device_code)).body.error).toBe('authorization_pending');
    expect((await approve(d.user_code.toLowerCase())).action).toBe('SUCCESS');
    tick(20);
    const ok = await poll(d.device_code);
    expect(ok.r.action).toBe('OK');
    expect(ok.body).toMatchObject({ token_type: 'Bearer', scope: 'openid profile offline_access' });
    expect(ok.body.id_token).toBeTruthy();
    expect(ok.body.refresh_token).toBeTruthy();
    tick(30);
    expect((await poll(d.device_code)).body.error).toBe('invalid_grant'); // issued once
  });

  it('an embedding application\'s account that is gone gets no tokens for an approved device code (LK2011); the code is not spent', async () => {
    const d = await start('openid');
    expect((await approve(d.user_code)).action).toBe('SUCCESS');
    tick(10);
    let found: Record<string, unknown> | null = null;
    const asked: string[] = [];
    const host = { ...t.ctx, accounts: { findAccount: async (sub: string) => (asked.push(sub), found) } };
    const poll = (ctx: typeof t.ctx) => token({ parameters: new URLSearchParams({ grant_type: GRANT, device_code: d.device_code, client_id: tv.clientId }).toString() }, ctx);
    const refused = await poll(host);
    expect(refused.resultCode).toBe('LK2011');
    expect(JSON.parse(refused.responseContent).error).toBe('invalid_grant');
    expect(asked).toEqual([aliceSub]);
    found = { name: 'Alice' };
    tick(10);
    const ok = await poll(host);
    expect(ok.action).toBe('OK');
    expect(JSON.parse(ok.responseContent).access_token).toBeTruthy();
  });

  it('RFC 8628 §3.5: a denied request answers access_denied', async () => {
    const d = await start();
    expect((await deviceComplete({ userCode: d.user_code, result: 'ACCESS_DENIED' }, t.ctx)).action).toBe('SUCCESS');
    expect((await poll(d.device_code)).body.error).toBe('access_denied');
  });

  it('RFC 8628 §3.5: slow_down is a variant of authorization_pending: a decided request answers access_denied, or its tokens, even to an early poll', async () => {
    const denied = await start('openid');
    expect((await poll(denied.device_code)).body.error).toBe('authorization_pending');
    expect((await deviceComplete({ userCode: denied.user_code, result: 'ACCESS_DENIED' }, t.ctx)).action).toBe('SUCCESS');
    tick(1); // inside the 5 s interval
    expect((await poll(denied.device_code)).body.error).toBe('access_denied');
    const approved = await start('openid');
    expect((await poll(approved.device_code)).body.error).toBe('authorization_pending');
    expect((await approve(approved.user_code)).action).toBe('SUCCESS');
    tick(1);
    const ok = await poll(approved.device_code);
    expect(ok.r.action).toBe('OK');
    expect(ok.body.access_token).toBeTruthy();
    tick(1);
    expect((await poll(approved.device_code)).body.error).toBe('invalid_grant'); // still issued once
    // An undecided request polled early is still slow_down.
    const pending = await start('openid');
    expect((await poll(pending.device_code)).body.error).toBe('authorization_pending');
    tick(1);
    expect((await poll(pending.device_code)).body.error).toBe('slow_down');
  });

  it('RFC 8628 §3.5: an expired device code answers expired_token, and its user code can no longer be approved', async () => {
    const d = await start();
    tick(601);
    expect((await deviceVerification({ userCode: d.user_code }, t.ctx)).action).toBe('EXPIRED');
    expect((await approve(d.user_code)).action).toBe('USER_CODE_EXPIRED');
    expect((await poll(d.device_code)).body.error).toBe('expired_token');
  });

  it('the user code is checked case-insensitively, with or without the hyphen; a decision is recorded exactly once', async () => {
    const d = await start('openid');
    const v = await deviceVerification({ userCode: d.user_code.replace('-', '').toLowerCase() }, t.ctx);
    expect(v.action).toBe('VALID');
    expect(v.client?.clientName).toBe('Living-room TV');
    expect(v.scopes).toEqual(['openid']);
    expect((await deviceVerification({ userCode: 'BCDF-GHJK' }, t.ctx)).action).toBe('NOT_EXIST');
    const racers = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? approve(d.user_code) : deviceComplete({ userCode: d.user_code, result: 'ACCESS_DENIED' }, t.ctx))));
    expect(racers.filter((r) => r.action === 'SUCCESS')).toHaveLength(1);
    expect((await deviceVerification({ userCode: d.user_code }, t.ctx)).action).toBe('NOT_EXIST');
  });

  it('another client\'s device code is invalid_grant; a malformed completion is INVALID_REQUEST', async () => {
    const d = await start();
    const other = await t.client({ grant_types: [GRANT], token_endpoint_auth_method: 'none' });
    expect((await poll(d.device_code, other.clientId)).body.error).toBe('invalid_grant');
    expect((await deviceComplete({ userCode: d.user_code, result: 'AUTHORIZED' }, t.ctx)).action).toBe('INVALID_REQUEST');
    expect((await deviceComplete({ userCode: d.user_code, result: 'MAYBE' as never }, t.ctx)).action).toBe('INVALID_REQUEST');
  });

  it('RFC 8628 §3.5: another client polling the device code gets invalid_grant and neither stamps the poll nor raises the interval', async () => {
    const d = await start();
    const q = await t.client({ grant_types: [GRANT], token_endpoint_auth_method: 'none' });
    expect((await poll(d.device_code)).body.error).toBe('authorization_pending');
    for (let i = 0; i < 3; i++) {
      tick(1);
      const r = await poll(d.device_code, q.clientId);
      expect(r.body.error).toBe('invalid_grant');
      expect(r.r.resultCode).toBe('LK7021');
    }
    // P polls once its own 5 s have passed since its last poll: on time, interval still 5.
    tick(2);
    expect((await poll(d.device_code)).body.error).toBe('authorization_pending');
    const row = await t.ctx.store.findDeviceCodeByUserCode(t.ctx.tenant.id, t.ctx.hasher.hash(`user_code:${d.user_code.replace('-', '')}`));
    expect(row).toMatchObject({ interval: 5, lastPolledAt: Math.floor(clock / 1000) });
  });

  it('the user may narrow the scopes when approving, never widen them', async () => {
    const d = await start('openid profile');
    await deviceComplete({ userCode: d.user_code, result: 'AUTHORIZED', subject: aliceSub, scopes: ['openid', 'email'] }, t.ctx);
    tick(10);
    expect((await poll(d.device_code)).body.scope).toBe('openid');
  });
});
