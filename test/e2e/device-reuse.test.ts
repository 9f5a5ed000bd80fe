import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

type Registered = { clientId: string; clientSecret?: string };

describe('a reused device code revokes what it issued, through HTTP (oauth4webapi)', () => {
  let s: TestServer;
  let clock = Date.now();
  let as: oauth.AuthorizationServer;
  let tv: Registered; // confidential: introspects its own access and refresh tokens
  let other: Registered;
  let display: Registered; // public, no refresh_token grant
  const audit: Record<string, any>[] = [];

  beforeAll(async () => {
    s = await startTestServer({}, { clock: () => clock });
    s.lk.setLogger({
      info: (o) => {
        const a = (o as { audit?: Record<string, unknown> }).audit;
        if (a) audit.push(a);
      },
      warn: () => {},
      error: () => {},
    });
    tv = await s.client({ client_name: 'Living-room TV', grant_types: [GRANT, 'refresh_token'], scope: 'openid offline_access' });
    other = await s.client({ client_name: 'Other device', grant_types: [GRANT, 'refresh_token'], scope: 'openid offline_access' });
    display = await s.client({ client_name: 'Kitchen Display', grant_types: [GRANT], token_endpoint_auth_method: 'none', scope: 'openid' });
    await s.user('alice', 'alice-password');
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  });
  afterAll(() => s.close());

  const asClient = (c: Registered): [oauth.Client, oauth.ClientAuth] => [
    { client_id: c.clientId },
    c.clientSecret ? oauth.ClientSecretBasic(c.clientSecret) : oauth.None(),
  ];

  /** RFC 8628 §3.1-§3.3: the device asks, alice approves on /device. Returns the device code. */
  const approvedDeviceCode = async (c: Registered, scope: string) => {
    const [client, auth] = asClient(c);
    const d = await oauth.processDeviceAuthorizationResponse(as, client, await oauth.deviceAuthorizationRequest(as, client, auth, { scope }, insecure));
    const done = await new Agent(s.issuer).approveDevice(d.user_code, 'alice', 'alice-password');
    expect(done.html).toContain('Device connected');
    clock += 10_000;
    return d.device_code;
  };
  const redeem = async (c: Registered, deviceCode: string) => {
    const [client, auth] = asClient(c);
    return oauth.processDeviceCodeResponse(as, client, await oauth.deviceCodeGrantRequest(as, client, auth, deviceCode, insecure));
  };
  /** RFC 7662: what the token's own (confidential) client learns by introspecting it. */
  const active = async (c: Registered, tok: string) => {
    const [client, auth] = asClient(c);
    return (await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, tok, insecure))).active;
  };

  it('RFC 6749 §4.1.2 (applied to device codes): redeeming a device code twice is invalid_grant, and introspection then says active:false for its access and refresh tokens', async () => {
    const code = await approvedDeviceCode(tv, 'openid offline_access');
    const tokens = await redeem(tv, code);
    expect(tokens.refresh_token).toBeTruthy();
    expect([await active(tv, tokens.access_token), await active(tv, tokens.refresh_token!)]).toEqual([true, true]);
    clock += 10_000;
    await expect(redeem(tv, code)).rejects.toMatchObject({ error: 'invalid_grant', status: 400 });
    expect([await active(tv, tokens.access_token), await active(tv, tokens.refresh_token!)]).toEqual([false, false]);
    // The refresh token is dead too.
    const [client, auth] = asClient(tv);
    await expect(oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token!, insecure)))
      .rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('the reuse is an audit event like an authorization code\'s (code.reuse_detected, LK7040, grant_type device_code); no secret is recorded', async () => {
    const code = await approvedDeviceCode(tv, 'openid offline_access');
    await redeem(tv, code);
    clock += 10_000;
    audit.length = 0;
    await expect(redeem(tv, code)).rejects.toMatchObject({ error: 'invalid_grant' });
    const reuse = audit.filter((e) => e.type === 'code.reuse_detected');
    expect(reuse).toHaveLength(1);
    expect(reuse[0]).toMatchObject({
      client_id: tv.clientId, result_code: 'LK7040', detail: { endpoint: 'token', grant_type: GRANT, message: expect.stringContaining('device code already used') },
    });
    expect(JSON.stringify(audit)).not.toContain(code);
    // Stored too, through the admin-readable trail.
    await s.lk.audit.flush();
    const stored = await s.lk.store.listAuditEvents(s.ctx.tenant.id, { type: 'code.reuse_detected', limit: 10 });
    expect(stored.some((e) => e.resultCode === 'LK7040' && e.clientId === tv.clientId)).toBe(true);
  });

  it('another client presenting a redeemed device code gets invalid_grant and revokes nothing; the tokens stay active until their own client reuses the code', async () => {
    const code = await approvedDeviceCode(tv, 'openid offline_access');
    const tokens = await redeem(tv, code);
    clock += 10_000;
    audit.length = 0;
    await expect(redeem(other, code)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(redeem(display, code)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect([await active(tv, tokens.access_token), await active(tv, tokens.refresh_token!)]).toEqual([true, true]);
    expect(audit.filter((e) => e.type === 'code.reuse_detected')).toEqual([]);
    await expect(redeem(tv, code)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect([await active(tv, tokens.access_token), await active(tv, tokens.refresh_token!)]).toEqual([false, false]);
  });

  it('a device grant without a refresh token (client without the refresh_token grant) still has its access token revoked on reuse', async () => {
    const code = await approvedDeviceCode(display, 'openid');
    const tokens = await redeem(display, code);
    expect(tokens.refresh_token).toBeUndefined();
    expect(await active(tv, tokens.access_token)).toBe(true); // another client may introspect an access token
    clock += 10_000;
    await expect(redeem(display, code)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await active(tv, tokens.access_token)).toBe(false);
  });

  it('RFC 8628 §3.5: concurrent redemptions of one approved device code over HTTP: exactly one 200, every other a 400 invalid_grant', async () => {
    const code = await approvedDeviceCode(tv, 'openid offline_access');
    const N = 6;
    const responses = await Promise.all(
      Array.from({ length: N }, () => postForm(s.url('/oauth/token'), { grant_type: GRANT, device_code: code }, { authorization: basic(tv.clientId, tv.clientSecret!) })),
    );
    const ok = responses.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    const refused = responses.filter((r) => r.status !== 200);
    expect(refused).toHaveLength(N - 1);
    for (const r of refused) expect([r.status, r.json.error]).toEqual([400, 'invalid_grant']);
    // Every loser was a second redemption, so the one winner's tokens did not survive.
    expect(await active(tv, ok[0]!.json.access_token as string)).toBe(false);
    expect(await active(tv, ok[0]!.json.refresh_token as string)).toBe(false);
  });
});
