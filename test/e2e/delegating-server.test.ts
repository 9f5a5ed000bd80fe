import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { testService } from '../helpers/core-api.js';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** Start examples/delegating-server as its own process, talking to Latchkey only over HTTP. */
async function startExample(env: Record<string, string>): Promise<{ proc: ChildProcess; stderr: () => string }> {
  const proc = spawn(process.execPath, [resolve('examples/delegating-server/server.mjs')], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  await new Promise<void>((ok, fail) => {
    proc.stdout!.on('data', (d) => String(d).includes('listening on') && ok());
    proc.once('exit', (code) => fail(new Error(`example exited with ${code}: ${err}`)));
  });
  return { proc, stderr: () => err };
}

/**
 * A relying party that knows nothing of Latchkey signs in at an application that has its own login page and users
 * and delegates every protocol decision to the Core API (examples/delegating-server).
 */
describe('the delegating-server example: an OpenID Provider built on the Core API', () => {
  let s: TestServer;
  let example: { proc: ChildProcess; stderr: () => string };
  let issuer: string;
  let rp: { clientId: string; clientSecret?: string };
  let config: client.Configuration;
  let tvConfig: client.Configuration;

  beforeAll(async () => {
    s = await startTestServer({ deviceCodeInterval: 1 });
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    const svc = await testService(s, 'acme', issuer); // the service's issuer is the example's URL
    rp = await svc.client({ client_name: 'Relying Party', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid profile email offline_access' });
    example = await startExample({ LATCHKEY_URL: s.issuer, SERVICE_ID: 'acme', SERVICE_TOKEN: svc.token, ISSUER: issuer, PORT: String(port) });
    config = await client.discovery(new URL(issuer), rp.clientId, rp.clientSecret, client.ClientSecretBasic(rp.clientSecret!), { execute: [client.allowInsecureRequests] });
    const tv = await svc.client({ client_name: 'Living Room TV', grant_types: [DEVICE_GRANT], token_endpoint_auth_method: 'none', scope: 'openid profile' });
    tvConfig = await client.discovery(new URL(issuer), tv.clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
  });
  afterAll(async () => {
    example?.proc.kill('SIGTERM');
    await s?.close();
  });

  it('discovery names the example\'s endpoints under the service\'s issuer, and nothing it does not serve', async () => {
    const m = config.serverMetadata();
    expect(m).toMatchObject({
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      userinfo_endpoint: `${issuer}/userinfo`,
      introspection_endpoint: `${issuer}/introspect`,
      jwks_uri: `${issuer}/jwks`,
    });
    expect(m.end_session_endpoint).toBeUndefined();
  });

  it('openid-client: code flow with PKCE through the example\'s own login page, ID token verified against the example\'s JWKS, UserInfo, refresh', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CB, scope: 'openid profile email offline_access', state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const agent = new Agent(issuer);
    const page = await agent.follow(url.href);
    expect(page.html).toContain('Sign in to Relying Party');
    const wrong = await agent.login(page, 'alice', 'not-her-password');
    expect(wrong.status).toBe(400);
    const done = await agent.login(wrong, 'alice', 'alice-in-wonderland');
    const cb = new URL(done.location!);
    expect(cb.searchParams.get('iss')).toBe(issuer); // RFC 9207
    const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: issuer, sub: 'u-1001', aud: rp.clientId, nonce });
    expect(typeof claims.auth_time).toBe('number');
    expect(claims.sid).toBeTruthy();
    // openid-client trusts the token endpoint's TLS for the signature (OIDC Core §3.1.3.7); check it anyway.
    const { payload } = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!)), { issuer, audience: rp.clientId });
    expect(payload.sub).toBe('u-1001');

    const info = await client.fetchUserInfo(config, tokens.access_token, 'u-1001');
    expect(info).toEqual({ sub: 'u-1001', name: 'Alice Liddell', given_name: 'Alice', email: 'alice@example.com', email_verified: true }); // no phone scope: no phone_number

    const introspected = await client.tokenIntrospection(config, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, client_id: rp.clientId, sub: 'u-1001', iss: issuer });

    const api = await fetch(`${issuer}/api/profile`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(api.status).toBe(200);
    expect(await api.json()).toEqual({ sub: 'u-1001', name: 'Alice Liddell', client: rp.clientId });

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.claims()!.sub).toBe('u-1001');
    await client.tokenRevocation(config, refreshed.refresh_token!);
    expect((await client.tokenIntrospection(config, refreshed.access_token)).active).toBe(false);
    expect((await fetch(`${issuer}/userinfo`, { headers: { authorization: `Bearer ${refreshed.access_token}` } })).status).toBe(401);

    // Signed in at the example: prompt=none now answers at once with a code.
    const silent = await agent.request(client.buildAuthorizationUrl(config, { redirect_uri: CB, scope: 'openid', state: 's2', prompt: 'none' }).href);
    expect(silent.status).toBe(303);
    expect(new URL(silent.location!).searchParams.get('code')).toBeTruthy();
  });

  it('RFC 9126: openid-client pushes the request to the example\'s /par (pushed_auth_req), the request_uri signs in and the code redeems', async () => {
    expect(config.serverMetadata().pushed_authorization_request_endpoint).toBe(`${issuer}/par`);
    const verifier = client.randomPKCECodeVerifier();
    const url = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: CB, scope: 'openid profile', state: 'par-state',
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect(url.searchParams.get('redirect_uri')).toBeNull(); // only client_id and request_uri travel through the browser
    const agent = new Agent(issuer);
    const done = await agent.login(await agent.follow(url.href), 'bob', 'bob-the-builder');
    const tokens = await client.authorizationCodeGrant(config, new URL(done.location!), { pkceCodeVerifier: verifier, expectedState: 'par-state' });
    expect(tokens.claims()).toMatchObject({ iss: issuer, sub: 'u-1002' });
  });

  it('RFC 8628: a device flow through the example\'s /device_authorization and its own verification page (device/verification, device/complete)', async () => {
    expect(tvConfig.serverMetadata().device_authorization_endpoint).toBe(`${issuer}/device_authorization`);
    const d = await client.initiateDeviceAuthorization(tvConfig, { scope: 'openid profile' });
    expect(d.verification_uri).toBe(`${issuer}/device`);
    const agent = new Agent(issuer);
    const form = await agent.follow(d.verification_uri_complete!);
    expect(Agent.formValue(form.html, 'user_code')).toBe(d.user_code);
    const csrf = Agent.formValue(form.html, 'csrf')!;
    const wrong = await agent.request(`${issuer}/device`, { form: { csrf, user_code: 'BCDF-GHJK', username: 'alice', password: 'alice-in-wonderland' } });
    expect(wrong.status).toBe(400); // signed in now, but that code is nobody's
    expect(wrong.html).toContain('not valid');
    const confirm = await agent.request(`${issuer}/device`, { form: { csrf, user_code: d.user_code.toLowerCase() } });
    expect(confirm.html).toContain('Living Room TV wants: openid, profile');
    // RFC 8628 §5.1: the confirm form decides only the code checked (and rate-limited) at /device, never another one.
    const other = await client.initiateDeviceAuthorization(tvConfig, { scope: 'openid' });
    const unchecked = await agent.request(`${issuer}/device/confirm`, { form: { csrf, user_code: other.user_code, decision: 'approve' } });
    expect(unchecked.status).toBe(400);
    const done = await agent.request(`${issuer}/device/confirm`, { form: { csrf, user_code: Agent.formValue(confirm.html, 'user_code')!, decision: 'approve' } });
    expect(done.html).toContain('Device connected');
    const tokens = await client.pollDeviceAuthorizationGrant(tvConfig, d);
    expect(tokens.claims()).toMatchObject({ iss: issuer, sub: 'u-1001', aud: tvConfig.clientMetadata().client_id });
    const info = await client.fetchUserInfo(tvConfig, tokens.access_token, 'u-1001');
    expect(info).toMatchObject({ sub: 'u-1001', name: 'Alice Liddell' });
  });

  it('prompt=none without a session: login_required goes back to the client (OIDC Core §3.1.2.6)', async () => {
    const r = await new Agent(issuer).request(client.buildAuthorizationUrl(config, { redirect_uri: CB, scope: 'openid', state: 'st', prompt: 'none' }).href);
    const u = new URL(r.location!);
    expect(Object.fromEntries(u.searchParams)).toMatchObject({ error: 'login_required', state: 'st', iss: issuer });
  });

  it('a user who cancels: access_denied for the client', async () => {
    const agent = new Agent(issuer);
    const page = await agent.follow(client.buildAuthorizationUrl(config, { redirect_uri: CB, scope: 'openid', state: 'st' }).href);
    const r = await agent.request(Agent.formAction(page.html, '/login'), { form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'cancel' } });
    expect(new URL(r.location!).searchParams.get('error')).toBe('access_denied');
  });

  it('errors are the engine\'s: an unknown client sees an error page, an invalid token gets a Bearer challenge', async () => {
    const bad = await fetch(`${issuer}/authorize?response_type=code&client_id=nobody&redirect_uri=${encodeURIComponent(CB)}`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('unknown client');
    const ui = await fetch(`${issuer}/userinfo`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(ui.status).toBe(401);
    expect(ui.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
    const api = await fetch(`${issuer}/api/profile`);
    expect(api.status).toBe(401);
    expect(api.headers.get('www-authenticate')).toBe('Bearer realm="latchkey"');
    expect(example.stderr()).toBe('');
  });
});
