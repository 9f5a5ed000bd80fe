import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { replaceClient } from '../../src/services/clients.js';
import { DEFAULT_TENANT } from '../../src/store/types.js';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

type Registered = { clientId: string; clientSecret?: string };

/**
 * RFC 6749 §3.3: an operator may take a scope away from a client between the user's authorization and the redemption
 * of its authorization code (or device code). The tokens then carry only the scopes the client is still registered
 * for, silently (the server may issue less than requested) and the token response's scope says which (§5.1: MUST when
 * it differs). openid goes like any scope: an ID token only when the tokens' scope still has it. When none of the
 * granted scopes is left, the redemption is invalid_scope (LK7140, LK7141), as such a refresh is (LK7082).
 */
describe('RFC 6749 §3.3: code and device code redemption is bounded by the client\'s current registered scope', () => {
  let s: TestServer;
  let clock = Date.UTC(2031, 7, 1);
  let as: oauth.AuthorizationServer;
  const codeMeta = { redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], skip_consent: true, scope: 'openid profile offline_access api1 api2' };
  const deviceMeta = { grant_types: [DEVICE, 'refresh_token'], scope: 'openid profile offline_access api1 api2' };

  beforeAll(async () => {
    s = await startTestServer({}, { clock: () => clock });
    await s.user('rita', 'rita-password', { name: 'Rita' });
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  });
  afterAll(() => s.close());

  const asClient = (c: Registered): [oauth.Client, oauth.ClientAuth] => [{ client_id: c.clientId }, oauth.ClientSecretBasic(c.clientSecret!)];
  const setScope = (c: Registered, meta: Record<string, unknown>, scope: string) => replaceClient(s.ctx, c.clientId, { ...meta, scope });

  /** RFC 7662 through oauth4webapi, by the token's own client. */
  async function introspect(c: Registered, token: string) {
    const [client, auth] = asClient(c);
    return oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, token, insecure));
  }

  /** The user signs in through the UI and approves; the authorization response's parameters and the PKCE verifier. */
  async function authorize(c: Registered, scope: string, agent = new Agent(s.issuer)) {
    const verifier = oauth.generateRandomCodeVerifier();
    const url = `${s.issuer}/oauth/authorize?` + new URLSearchParams({
      client_id: c.clientId, redirect_uri: CB, response_type: 'code', scope, nonce: 'n-1', state: 'st',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const cb = await agent.authorize(url, 'rita', 'rita-password');
    const [client] = asClient(c);
    return { params: oauth.validateAuthResponse(as, client, cb, 'st'), verifier, agent };
  }

  /** RFC 6749 §4.1.3 through oauth4webapi; the OAuth error when refused. */
  async function redeem(c: Registered, a: Awaited<ReturnType<typeof authorize>>) {
    const [client, auth] = asClient(c);
    const res = await oauth.authorizationCodeGrantRequest(as, client, auth, a.params, CB, a.verifier, insecure);
    try {
      return await oauth.processAuthorizationCodeResponse(as, client, res, { expectedNonce: 'n-1' });
    } catch (e) {
      if (e instanceof oauth.ResponseBodyError) return { error: e.error, error_description: e.error_description };
      throw e;
    }
  }

  it('RFC 6749 §3.3, §5.1: a scope removed from the client after the authorization is in none of the tokens; the response\'s scope says what was issued', async () => {
    const app = await s.client(codeMeta);
    const a = await authorize(app, 'openid profile offline_access api1 api2');
    await setScope(app, codeMeta, 'openid profile offline_access api1');
    const t = await redeem(app, a);
    expect(t).toMatchObject({ scope: 'openid profile offline_access api1', token_type: 'bearer' });
    if (!('access_token' in t)) throw new Error('no tokens');
    expect(t.id_token).toBeTruthy();
    expect((await introspect(app, t.access_token)).scope).toBe('openid profile offline_access api1');
    expect((await introspect(app, t.refresh_token!)).scope).toBe('openid profile offline_access api1');
    // The refresh token was issued without api2, so giving api2 back to the client does not bring it back.
    await setScope(app, codeMeta, codeMeta.scope);
    const [client, auth] = asClient(app);
    const r = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, t.refresh_token!, insecure));
    expect(r.scope).toBe('openid profile offline_access api1');
  });

  it('RFC 6749 §3.3: openid removed from the client: no ID token (as at the authorization endpoint), and no refresh token the OpenID grant without offline_access would not have had', async () => {
    const app = await s.client(codeMeta);
    const a = await authorize(app, 'openid api1');
    await setScope(app, codeMeta, 'profile offline_access api1 api2');
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: a.params.get('code')!, redirect_uri: CB, code_verifier: a.verifier }, { authorization: basic(app.clientId, app.clientSecret!) });
    expect(r.status, r.text).toBe(200);
    expect(r.json.scope).toBe('api1');
    expect(r.json.id_token).toBeUndefined();
    expect(r.json.refresh_token).toBeUndefined();
  });

  it('RFC 6749 §3.3, OIDC Core §11: offline_access removed: no refresh token; a session_refresh_tokens client gets one bound to the browser session', async () => {
    const app = await s.client(codeMeta);
    const a = await authorize(app, 'openid offline_access api1');
    await setScope(app, codeMeta, 'openid profile api1 api2');
    const t = await redeem(app, a);
    expect(t).toMatchObject({ scope: 'openid api1' });
    expect('refresh_token' in t && t.refresh_token).toBeFalsy();

    const meta = { ...codeMeta, session_refresh_tokens: true };
    const bound = await s.client(meta);
    const b = await authorize(bound, 'openid offline_access api1');
    await setScope(bound, meta, 'openid profile api1 api2');
    const u = await redeem(bound, b);
    if (!('access_token' in u)) throw new Error(`refused: ${u.error}`);
    expect(u.scope).toBe('openid api1');
    expect((await introspect(bound, u.refresh_token!)).active).toBe(true);
    // Without offline_access the family lives only as long as the session it was granted in.
    await s.ctx.store.endSessionBySid(DEFAULT_TENANT, decodeJwt(u.id_token!).sid as string, Math.floor(clock / 1000));
    expect((await introspect(bound, u.refresh_token!)).active).toBe(false);
    expect((await introspect(bound, u.access_token)).active).toBe(false);
  });

  it('RFC 6749 §5.2: when the client may have none of the granted scopes any more, the code redemption is invalid_scope and the code is spent', async () => {
    const app = await s.client(codeMeta);
    const a = await authorize(app, 'api2');
    await setScope(app, codeMeta, 'openid api1');
    expect(await redeem(app, a)).toMatchObject({ error: 'invalid_scope' });
    await setScope(app, codeMeta, codeMeta.scope);
    expect(await redeem(app, a)).toMatchObject({ error: 'invalid_grant' }); // single use, whatever went wrong
  });

  /** RFC 8628 §3.1-§3.3: the device asks, rita approves on /device. Returns the device code. */
  async function approvedDeviceCode(c: Registered, scope: string): Promise<string> {
    const [client, auth] = asClient(c);
    const d = await oauth.processDeviceAuthorizationResponse(as, client, await oauth.deviceAuthorizationRequest(as, client, auth, { scope }, insecure));
    const done = await new Agent(s.issuer).approveDevice(d.user_code, 'rita', 'rita-password');
    expect(done.html).toContain('Device connected');
    clock += 10_000;
    return d.device_code;
  }

  async function redeemDevice(c: Registered, deviceCode: string) {
    const [client, auth] = asClient(c);
    return oauth.processDeviceCodeResponse(as, client, await oauth.deviceCodeGrantRequest(as, client, auth, deviceCode, insecure));
  }

  it('RFC 8628 §3.5, RFC 6749 §3.3: a scope removed from the client after the user approved the device is in none of its tokens; the response says scope', async () => {
    const tv = await s.client(deviceMeta);
    const code = await approvedDeviceCode(tv, 'openid profile offline_access api1 api2');
    await setScope(tv, deviceMeta, 'openid offline_access api1');
    const t = await redeemDevice(tv, code);
    expect(t.scope).toBe('openid offline_access api1');
    expect(t.id_token).toBeTruthy();
    expect((await introspect(tv, t.access_token)).scope).toBe('openid offline_access api1');
    expect((await introspect(tv, t.refresh_token!)).scope).toBe('openid offline_access api1');
  });

  it('RFC 6749 §5.2: a device code whose granted scopes the client has all lost is invalid_scope at every poll, spending nothing; given back, the device gets its tokens', async () => {
    const tv = await s.client(deviceMeta);
    const code = await approvedDeviceCode(tv, 'api2');
    await setScope(tv, deviceMeta, 'openid api1');
    await expect(redeemDevice(tv, code)).rejects.toMatchObject({ error: 'invalid_scope' });
    clock += 10_000;
    await expect(redeemDevice(tv, code)).rejects.toMatchObject({ error: 'invalid_scope' });
    await setScope(tv, deviceMeta, deviceMeta.scope);
    clock += 10_000;
    expect((await redeemDevice(tv, code)).scope).toBe('api2');
  });
});
