import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { startLogoutRp, waitFor } from '../helpers/logout-rp.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Back-Channel Logout §2.6: the RP validates a logout token's exp like an ID token's, and §4 keeps that short (two
 * minutes). A delivery retried after that gets a fresh token for the same logout, not the expired one.
 */
describe('back-channel logout retries', () => {
  let s: TestServer;
  let rp: Awaited<ReturnType<typeof startLogoutRp>>;
  let clock = Date.now();
  let app: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    rp = await startLogoutRp();
    s = await startTestServer({}, { clock: () => clock });
    app = await s.client({
      redirect_uris: [`${rp.base}/cb`], backchannel_logout_uri: `${rp.base}/bc`, backchannel_logout_session_required: true,
      grant_types: ['authorization_code'], skip_consent: true,
    });
    await s.user('frank', 'frank-password-1');
  });
  afterAll(async () => {
    await s.close();
    await rp.close();
  });

  it('Back-Channel Logout §2.4, §2.6: a retry after the first token expired carries a fresh, valid token for the same sub and sid', async () => {
    const agent = new Agent(s.issuer);
    const cb = await agent.authorize(
      `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: app.clientId, redirect_uri: `${rp.base}/cb`, response_type: 'code', scope: 'openid' }),
      'frank', 'frank-password-1',
    );
    const tokens = (await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: `${rp.base}/cb` }, { authorization: basic(app.clientId, app.clientSecret!) })).json;
    const idToken = decodeJwt(tokens.id_token);

    rp.state.down = true;
    await agent.request(`${s.issuer}/oauth/logout?${new URLSearchParams({ id_token_hint: tokens.id_token })}`);
    const [failed] = (await s.ctx.store.listDeliveries(s.ctx.tenant.id, app.clientId)).filter((d) => d.deliveredAt === null);
    expect(failed).toMatchObject({ attempts: 1, lastError: 'HTTP 503' });
    const first = decodeJwt(failed!.logoutToken);

    rp.state.down = false;
    clock += 301_000; // past the first token's exp (2 minutes) and the second retry delay
    expect(await s.lk.backchannel.runOnce()).toBe(1);
    await waitFor(() => rp.backchannel.length === 1);
    const sent = rp.backchannel[0]!.logoutToken;
    expect(sent).not.toBe(failed!.logoutToken);
    expect(decodeProtectedHeader(sent).typ).toBe('logout+jwt');
    const { payload } = await jwtVerify(sent, createRemoteJWKSet(new URL(s.url('/.well-known/jwks.json'))), {
      issuer: s.issuer,
      audience: app.clientId,
      currentDate: new Date(clock),
      requiredClaims: ['iat', 'exp', 'jti', 'events'],
    });
    expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
    expect(payload).toMatchObject({ sub: idToken.sub, sid: idToken.sid });
    expect(payload.sid).toBe(first.sid);
    expect(payload.jti).not.toBe(first.jti);
    expect(payload.nonce).toBeUndefined();
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(120);
  });
});
