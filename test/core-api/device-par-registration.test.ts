import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey } from 'jose';
import { CORE_API, type CoreApiEndpoint } from '../../src/core-api/endpoints.js';
import { accessTokenHash } from '../../src/engine/dpop.js';
import { createInitialAccessToken } from '../../src/services/management-tokens.js';
import { core, testService, type TestService } from '../helpers/core-api.js';
import { basic, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://app.example/cb';
const ISSUER = 'https://login.dev.example';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** The delegating application's own URLs: DPoP proofs are for them, and it passes them as htm/htu. */
const PAR_URL = 'https://login.dev.example/par';
const TOKEN_URL = 'https://login.dev.example/token';
const API_URL = 'https://login.dev.example/api/me';

const form = (p: Record<string, string>) => new URLSearchParams(p).toString();
const row = (path: string): CoreApiEndpoint => CORE_API.find((e) => e.path === path)!;

type Pair = { publicKey: CryptoKey; privateKey: CryptoKey };

/**
 * The Core API contract for device authorization (RFC 8628), pushed authorization requests (RFC 9126) and client
 * registration (RFC 7591, RFC 7592): every action each endpoint can answer with, through HTTP as a delegating
 * application calls it; the scheme input of the resource-server endpoints (RFC 9449 §7.1, §7.2).
 */
describe('Core API: device authorization, PAR, client registration', () => {
  let s: TestServer;
  let svc: TestService;
  let offset = 0; // seconds the server's clock is ahead
  const nowS = () => Math.floor(Date.now() / 1000) + offset;
  let tv: { clientId: string };
  let confidentialTv: { clientId: string; clientSecret?: string };
  let app: { clientId: string; clientSecret?: string };

  const proof = async (keys: Pair, htm: string, htu: string, extra: Record<string, unknown> = {}) =>
    new SignJWT({ htm, htu, jti: crypto.randomUUID(), iat: nowS(), ...extra })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(keys.publicKey) })
      .sign(keys.privateKey);

  beforeAll(async () => {
    s = await startTestServer({ registration: 'token' }, { clock: () => Date.now() + offset * 1000 });
    svc = await testService(s, 'dev', ISSUER);
    tv = await svc.client({ client_name: 'Kitchen Display', grant_types: [DEVICE_GRANT, 'refresh_token'], token_endpoint_auth_method: 'none', scope: 'openid profile offline_access' });
    confidentialTv = await svc.client({ grant_types: [DEVICE_GRANT], scope: 'openid' });
    app = await svc.client({ client_name: 'Acme App', redirect_uris: [CB], grant_types: ['authorization_code'], scope: 'openid profile' });
  });
  afterAll(() => s.close());

  const call = (path: string, body: unknown) => core(s, svc.id, path, body, svc.token);

  describe('device/authorization, device/verification, device/complete (RFC 8628)', () => {
    const start = async (scope = 'openid profile') => {
      const r = await call('device/authorization', { parameters: form({ client_id: tv.clientId, scope }), contentType: 'application/x-www-form-urlencoded' });
      expect(r.json).toMatchObject({ action: 'OK', resultCode: 'LK7016', status: 200 });
      return JSON.parse(r.json.responseContent) as { device_code: string; user_code: string; verification_uri: string; verification_uri_complete: string; expires_in: number; interval: number };
    };
    const poll = (deviceCode: string, extra: Record<string, unknown> = {}) =>
      call('auth/token', { parameters: form({ grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: tv.clientId }), ...extra });

    it('RFC 8628 §3.2: OK gives a device code and a user code, verification_uri under the service\'s issuer', async () => {
      const d = await start();
      expect(d.device_code).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(d.user_code).toMatch(/^[B-Z]{4}-[B-Z]{4}$/);
      expect(d.verification_uri).toBe(`${ISSUER}/device`);
      expect(d.verification_uri_complete).toBe(`${ISSUER}/device?user_code=${d.user_code}`);
      expect(d).toMatchObject({ expires_in: 600, interval: 5 });
    });

    it('RFC 8628 §3.1: UNAUTHORIZED when client authentication fails', async () => {
      const r = await call('device/authorization', { parameters: 'scope=openid', clientId: confidentialTv.clientId, clientSecret: 'w'.repeat(43) });
      expect(r.json).toMatchObject({ action: 'UNAUTHORIZED', status: 401 });
      expect(JSON.parse(r.json.responseContent).error).toBe('invalid_client');
      const ok = await call('device/authorization', { parameters: 'scope=openid', authorization: basic(confidentialTv.clientId, confidentialTv.clientSecret!) });
      expect(ok.json.action).toBe('OK');
    });

    it('RFC 8628 §3.1: BAD_REQUEST for a client without the device grant, a repeated parameter, a body not form-encoded', async () => {
      const noGrant = await call('device/authorization', { parameters: 'scope=openid', clientId: app.clientId, clientSecret: app.clientSecret });
      expect(noGrant.json).toMatchObject({ action: 'BAD_REQUEST', status: 400, resultCode: 'LK7026' });
      const twice = await call('device/authorization', { parameters: `client_id=${tv.clientId}&scope=openid&scope=profile` });
      expect(twice.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK0002' }); // RFC 6749 §3.1
      expect(JSON.parse(twice.json.responseContent).error).toBe('invalid_request');
      const json = await call('device/authorization', { parameters: '{}', contentType: 'application/json' });
      expect(json.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK0005' });
    });

    it('RFC 8628 §3.3, §3.5: VALID names client and scopes; SUCCESS (AUTHORIZED) and the polling device gets tokens for the subject, scopes narrowed', async () => {
      const d = await start('openid profile offline_access');
      const pending = await poll(d.device_code);
      expect(pending.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK7017' });
      expect(JSON.parse(pending.json.responseContent).error).toBe('authorization_pending');

      const typed = d.user_code.replace('-', ' ').toLowerCase(); // RFC 8628 §6.1: case and separators do not matter
      const v = await call('device/verification', { userCode: typed });
      expect(v.json).toMatchObject({
        action: 'VALID', resultCode: 'LK7022',
        client: { clientId: tv.clientId, clientName: 'Kitchen Display' },
        scopes: ['openid', 'profile', 'offline_access'],
      });
      expect(v.json.expiresAt).toBeGreaterThan(nowS());

      const authTime = nowS() - 20;
      const done = await call('device/complete', { userCode: typed, result: 'AUTHORIZED', subject: 'user-7', authTime, acr: 'urn:mfa', amr: ['pwd', 'otp'], sid: 'sid-1', scopes: ['openid', 'offline_access', 'admin'] });
      expect(done.json).toMatchObject({ action: 'SUCCESS', resultCode: 'LK7025', status: 200 });

      offset += d.interval; // RFC 8628 §3.5: polling faster than interval is slow_down
      const t = await poll(d.device_code);
      expect(t.json).toMatchObject({ action: 'OK', status: 200 });
      const body = JSON.parse(t.json.responseContent);
      expect(body.scope).toBe('openid offline_access'); // narrowed, never widened
      expect(body.refresh_token).toBeTruthy();
      const jwks = createLocalJWKSet(JSON.parse((await call('service/jwks/get', {})).json.responseContent));
      const { payload } = await jwtVerify(body.id_token, jwks, { issuer: ISSUER, audience: tv.clientId });
      expect(payload).toMatchObject({ sub: 'user-7', auth_time: authTime, acr: 'urn:mfa', amr: ['pwd', 'otp'], sid: 'sid-1' });
      expect((await poll(d.device_code)).json.action).toBe('BAD_REQUEST'); // the device code is single use
    });

    it('RFC 8628 §3.5: SUCCESS (ACCESS_DENIED) gives the device access_denied; a decided code is USER_CODE_NOT_EXIST and no longer VALID', async () => {
      const d = await start();
      expect((await call('device/complete', { userCode: d.user_code, result: 'ACCESS_DENIED' })).json).toMatchObject({ action: 'SUCCESS', resultCode: 'LK7025' });
      const t = await poll(d.device_code);
      expect(t.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK7019' });
      expect(JSON.parse(t.json.responseContent).error).toBe('access_denied');
      // A second decision never overrides the first (one conditional update).
      const again = await call('device/complete', { userCode: d.user_code, result: 'AUTHORIZED', subject: 'mallory' });
      expect(again.json).toMatchObject({ action: 'USER_CODE_NOT_EXIST', resultCode: 'LK7023', status: 400 });
      expect((await call('device/verification', { userCode: d.user_code })).json).toMatchObject({ action: 'NOT_EXIST', resultCode: 'LK7023' });
    });

    it('NOT_EXIST / USER_CODE_NOT_EXIST for an unknown code and for one that cannot be a code', async () => {
      for (const userCode of ['BCDF-GHJK', 'AAAA-0000', 'x']) {
        expect((await call('device/verification', { userCode })).json).toMatchObject({ action: 'NOT_EXIST', resultCode: 'LK7023', status: 400 });
        expect((await call('device/complete', { userCode, result: 'ACCESS_DENIED' })).json).toMatchObject({ action: 'USER_CODE_NOT_EXIST', resultCode: 'LK7023' });
      }
    });

    it('a decision without its subject, or an unknown result, is a 400 CALLER_ERROR naming the field', async () => {
      const d = await start();
      const r = await call('device/complete', { userCode: d.user_code, result: 'AUTHORIZED' });
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({ action: 'CALLER_ERROR', resultCode: 'LK11002' });
      expect(r.json.resultMessage).toMatch(/\(subject: required with AUTHORIZED\)$/);
      expect((await call('device/complete', { userCode: d.user_code, result: 'MAYBE' })).json.resultMessage).toMatch(/result: .*AUTHORIZED/);
      expect((await call('device/verification', {})).json.resultMessage).toMatch(/\(userCode: required\)$/);
      expect((await call('device/verification', { userCode: d.user_code })).json.action).toBe('VALID'); // nothing was decided
    });

    it('RFC 8628 §3.5: EXPIRED / USER_CODE_EXPIRED once expires_in has passed, and the device gets expired_token', async () => {
      const d = await start();
      offset += d.expires_in + 1;
      expect((await call('device/verification', { userCode: d.user_code })).json).toMatchObject({ action: 'EXPIRED', resultCode: 'LK7024', status: 400 });
      expect((await call('device/complete', { userCode: d.user_code, result: 'AUTHORIZED', subject: 'user-7' })).json).toMatchObject({ action: 'USER_CODE_EXPIRED', resultCode: 'LK7024' });
      const t = await poll(d.device_code);
      expect(JSON.parse(t.json.responseContent).error).toBe('expired_token');
    });
  });

  describe('pushed_auth_req (RFC 9126)', () => {
    const push = (p: Record<string, string>, extra: Record<string, unknown> = {}) =>
      call('pushed_auth_req', { parameters: form({ response_type: 'code', redirect_uri: CB, scope: 'openid profile', state: 'st', ...p }), authorization: basic(app.clientId, app.clientSecret!), ...extra });

    it('RFC 9126 §2.2, §4: CREATED gives a request_uri that auth/authorization resolves, once', async () => {
      const r = await push({ nonce: 'n-1', login_hint: 'alice' });
      expect(r.json).toMatchObject({ action: 'CREATED', resultCode: 'LK7004', status: 201 });
      const { request_uri, expires_in } = JSON.parse(r.json.responseContent);
      expect(request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/);
      expect(expires_in).toBeLessThanOrEqual(60);
      const front = form({ client_id: app.clientId, request_uri });
      const a = await call('auth/authorization', { parameters: front });
      expect(a.json).toMatchObject({ action: 'INTERACTION', loginHint: 'alice', scopes: ['openid', 'profile'] });
      const issued = await call('auth/authorization/issue', { ticket: a.json.ticket, subject: 'user-1', authTime: nowS() });
      const u = new URL(issued.json.responseContent);
      expect(u.origin + u.pathname).toBe(CB);
      expect(u.searchParams.get('state')).toBe('st');
      const again = await call('auth/authorization', { parameters: front });
      expect(again.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK7006' }); // single use, and not redirected
    });

    it('RFC 9126 §2.3: BAD_REQUEST, as JSON and never a redirect, for a request the authorization endpoint would refuse', async () => {
      const r = await push({ redirect_uri: 'https://evil.example/cb' });
      expect(r.json).toMatchObject({ action: 'BAD_REQUEST', status: 400 });
      expect(JSON.parse(r.json.responseContent).error).toBe('invalid_request');
      const withUri = await push({ request_uri: 'urn:ietf:params:oauth:request_uri:abc' });
      expect(withUri.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK7005' });
    });

    it('RFC 9126 §2: UNAUTHORIZED when client authentication fails', async () => {
      const r = await push({}, { authorization: basic(app.clientId, 'w'.repeat(43)) });
      expect(r.json).toMatchObject({ action: 'UNAUTHORIZED', status: 401 });
      expect(JSON.parse(r.json.responseContent).error).toBe('invalid_client');
    });

    it('RFC 9449 §10.1: a DPoP proof for the caller\'s PAR URL (htu) binds the code to its key; a proof for another URL is refused', async () => {
      const keys = await generateKeyPair('ES256');
      const wrong = await push({}, { dpop: await proof(keys, 'POST', `${ISSUER}/oauth/par`), htm: 'POST', htu: PAR_URL });
      expect(wrong.json.action).toBe('BAD_REQUEST');
      expect(JSON.parse(wrong.json.responseContent).error).toBe('invalid_dpop_proof');

      const r = await push({}, { dpop: await proof(keys, 'POST', PAR_URL), htm: 'POST', htu: PAR_URL });
      expect(r.json.action).toBe('CREATED');
      const a = await call('auth/authorization', { parameters: form({ client_id: app.clientId, request_uri: JSON.parse(r.json.responseContent).request_uri }) });
      const issued = await call('auth/authorization/issue', { ticket: a.json.ticket, subject: 'user-1', authTime: nowS() });
      const code = new URL(issued.json.responseContent).searchParams.get('code')!;
      const redeem = (dpop?: string) =>
        call('auth/token', { parameters: form({ grant_type: 'authorization_code', code, redirect_uri: CB }), authorization: basic(app.clientId, app.clientSecret!), ...(dpop ? { dpop, htm: 'POST', htu: TOKEN_URL } : {}) });
      const otherKey = await redeem(await proof(await generateKeyPair('ES256'), 'POST', TOKEN_URL));
      expect(otherKey.json.action).toBe('BAD_REQUEST'); // RFC 9449 §10: the code is bound to the pushed key
    });
  });

  describe('auth/introspection and auth/userinfo: the scheme input (RFC 9449 §7.1, §7.2)', () => {
    /** A DPoP-bound user token from the device flow, and an unbound one. */
    const userToken = async (keys?: Pair) => {
      const d = JSON.parse((await call('device/authorization', { parameters: form({ client_id: tv.clientId, scope: 'openid profile' }) })).json.responseContent);
      await call('device/complete', { userCode: d.user_code, result: 'AUTHORIZED', subject: 'user-9' });
      const t = await call('auth/token', {
        parameters: form({ grant_type: DEVICE_GRANT, device_code: d.device_code, client_id: tv.clientId }),
        ...(keys ? { dpop: await proof(keys, 'POST', TOKEN_URL), htm: 'POST', htu: TOKEN_URL } : {}),
      });
      expect(t.json.action).toBe('OK');
      return JSON.parse(t.json.responseContent).access_token as string;
    };

    it('a DPoP-bound token presented as Bearer is refused even with a valid proof; as DPoP with the proof it is OK', async () => {
      const keys = await generateKeyPair('ES256');
      const at = await userToken(keys);
      for (const path of ['auth/introspection', 'auth/userinfo']) {
        const extra = path === 'auth/introspection' ? { scopes: [] } : {};
        const p = async () => ({ dpop: await proof(keys, 'GET', API_URL, { ath: accessTokenHash(at) }), htm: 'GET', htu: API_URL });
        const downgraded = await call(path, { token: at, scheme: 'Bearer', ...(await p()), ...extra });
        expect(downgraded.json, path).toMatchObject({ action: 'UNAUTHORIZED', status: 401, resultCode: 'LK11014' });
        expect(downgraded.json.responseContent).toMatch(/^DPoP /);
        const ok = await call(path, { token: at, scheme: 'DPoP', ...(await p()), ...extra });
        expect(ok.json, path).toMatchObject({ action: 'OK', subject: 'user-9' });
      }
    });

    it('an unbound token presented with the DPoP scheme is refused (invalid_token, in a DPoP challenge: RFC 9449 §7.2); as Bearer it is OK', async () => {
      const at = await userToken();
      const keys = await generateKeyPair('ES256');
      for (const path of ['auth/introspection', 'auth/userinfo']) {
        const extra = path === 'auth/introspection' ? { scopes: [] } : {};
        const asDpop = await call(path, { token: at, scheme: 'DPoP', dpop: await proof(keys, 'GET', API_URL, { ath: accessTokenHash(at) }), htm: 'GET', htu: API_URL, ...extra });
        expect(asDpop.json, path).toMatchObject({ action: 'UNAUTHORIZED', resultCode: 'LK4003' });
        expect(asDpop.json.responseContent).toMatch(/^DPoP .*error="invalid_token"/);
        expect((await call(path, { token: at, scheme: 'Bearer', ...extra })).json.action, path).toBe('OK');
      }
      expect((await call('auth/introspection', { token: at, scopes: [], scheme: 'bearer' })).json).toMatchObject({ action: 'CALLER_ERROR' });
    });
  });

  describe('client/registration and /get, /update, /delete (RFC 7591, RFC 7592)', () => {
    let initial: string;
    beforeAll(async () => {
      initial = (await createInitialAccessToken(s.lk, { tenantId: svc.id, name: 'core api tests' })).token;
    });
    const meta = { client_name: 'Registered App', redirect_uris: [CB], grant_types: ['authorization_code'], scope: 'openid profile' };
    const register = (body: unknown, extra: Record<string, unknown> = {}) =>
      call('client/registration', { body: typeof body === 'string' ? body : JSON.stringify(body), authorization: `Bearer ${initial}`, ...extra });
    const registered = async () => {
      const r = await register(meta);
      expect(r.json).toMatchObject({ action: 'CREATED', resultCode: 'LK8020', status: 201 });
      const c = JSON.parse(r.json.responseContent) as Record<string, any>;
      expect(r.json.clientId, 'the Result names the client it registered').toBe(c.client_id);
      return c;
    };

    it('RFC 7591 §3.2.1: CREATED with client_id, secret, registration access token and a registration_client_uri under the service\'s issuer; the client works', async () => {
      const c = await registered();
      expect(c).toMatchObject({ client_name: 'Registered App', redirect_uris: [CB], token_endpoint_auth_method: 'client_secret_basic' });
      expect(c.client_secret).toBeTruthy();
      expect(c.registration_access_token).toBeTruthy();
      expect(c.registration_client_uri).toBe(`${ISSUER}/oauth/register/${encodeURIComponent(c.client_id)}`);
      const a = await call('auth/authorization', { parameters: form({ response_type: 'code', client_id: c.client_id, redirect_uri: CB, scope: 'openid' }) });
      expect(a.json).toMatchObject({ action: 'INTERACTION', client: { clientId: c.client_id, clientName: 'Registered App' } });
    });

    it('RFC 7591 §3: UNAUTHORIZED without a valid initial access token (registration: token)', async () => {
      const none = await register(meta, { authorization: undefined });
      expect(none.json).toMatchObject({ action: 'UNAUTHORIZED', status: 401, resultCode: 'LK8027' });
      expect(none.json.headers['WWW-Authenticate']).toBe('Bearer realm="latchkey"'); // RFC 6750 §3.1: no credentials, no error code
      const unknown = await register(meta, { authorization: 'Bearer lki_unknown' });
      expect(unknown.json).toMatchObject({ action: 'UNAUTHORIZED', resultCode: 'LK8027' });
      expect(unknown.json.headers['WWW-Authenticate']).toMatch(/^Bearer realm="latchkey", error="invalid_token", /);
    });

    it('RFC 7591 §3.2.2: BAD_REQUEST for invalid metadata, a body that is not JSON, or another content type', async () => {
      const badUri = await register({ ...meta, redirect_uris: ['javascript:alert(1)'] });
      expect(badUri.json).toMatchObject({ action: 'BAD_REQUEST', status: 400, resultCode: 'LK8025' });
      expect(JSON.parse(badUri.json.responseContent).error).toBe('invalid_redirect_uri');
      expect((await register('{not json')).json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK8030' });
      expect((await register(meta, { contentType: 'text/plain' })).json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK8030' });
      expect((await register(meta, { contentType: 'application/json; charset=utf-8' })).json.action).toBe('CREATED');
      expect((await call('client/registration', { authorization: `Bearer ${initial}` })).json.resultMessage).toMatch(/\(body: required\)$/);
    });

    it('RFC 7592 §2.1: get → OK with the metadata; UNAUTHORIZED for a wrong token or an unknown client, alike', async () => {
      const c = await registered();
      const r = await call('client/registration/get', { clientId: c.client_id, authorization: `Bearer ${c.registration_access_token}` });
      expect(r.json).toMatchObject({ action: 'OK', resultCode: 'LK8021', status: 200 });
      expect(JSON.parse(r.json.responseContent)).toMatchObject({ client_id: c.client_id, client_name: 'Registered App', registration_access_token: c.registration_access_token });
      expect(r.json.responseContent).not.toContain(c.client_secret); // stored hashed: never shown again
      const wrong = await call('client/registration/get', { clientId: c.client_id, authorization: 'Bearer wrong-token' });
      const unknown = await call('client/registration/get', { clientId: 'nobody', authorization: `Bearer ${c.registration_access_token}` });
      for (const x of [wrong, unknown]) expect(x.json).toMatchObject({ action: 'UNAUTHORIZED', status: 401, resultCode: 'LK8028' });
      expect(wrong.json.responseContent).toBe(unknown.json.responseContent);
      expect((await call('client/registration/get', { clientId: c.client_id })).json.action).toBe('UNAUTHORIZED');
    });

    it('RFC 7592 §2.2: update → OK with a new registration access token (the old one stops working); BAD_REQUEST for a changed client_id or server-issued fields', async () => {
      const c = await registered();
      const auth = `Bearer ${c.registration_access_token}`;
      const changed = await call('client/registration/update', { clientId: c.client_id, authorization: auth, body: JSON.stringify({ ...meta, client_id: 'someone-else' }) });
      expect(changed.json).toMatchObject({ action: 'BAD_REQUEST', status: 400, resultCode: 'LK8024' });
      const issued = await call('client/registration/update', { clientId: c.client_id, authorization: auth, body: JSON.stringify({ ...meta, client_id: c.client_id, registration_access_token: 'x' }) });
      expect(issued.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK8024' });
      const r = await call('client/registration/update', { clientId: c.client_id, authorization: auth, body: JSON.stringify({ ...meta, client_id: c.client_id, client_name: 'Renamed' }) });
      expect(r.json).toMatchObject({ action: 'OK', resultCode: 'LK8022', status: 200 });
      const updated = JSON.parse(r.json.responseContent);
      expect(updated.client_name).toBe('Renamed');
      expect(updated.registration_access_token).not.toBe(c.registration_access_token);
      expect((await call('client/registration/get', { clientId: c.client_id, authorization: auth })).json.action).toBe('UNAUTHORIZED');
      expect((await call('client/registration/get', { clientId: c.client_id, authorization: `Bearer ${updated.registration_access_token}` })).json.action).toBe('OK');
    });

    it('RFC 7592 §2.3: delete → DELETED (204, no body); the client and its registration access token are gone', async () => {
      const c = await registered();
      const auth = `Bearer ${c.registration_access_token}`;
      const r = await call('client/registration/delete', { clientId: c.client_id, authorization: auth });
      expect(r.json).toMatchObject({ action: 'DELETED', resultCode: 'LK8023', status: 204, responseContent: '' });
      expect((await call('client/registration/get', { clientId: c.client_id, authorization: auth })).json.action).toBe('UNAUTHORIZED');
      expect((await call('client/registration/delete', { clientId: c.client_id, authorization: auth })).json.action).toBe('UNAUTHORIZED');
      const a = await call('auth/authorization', { parameters: form({ response_type: 'code', client_id: c.client_id, redirect_uri: CB }) });
      expect(a.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK3003' });
    });

    it('BAD_REQUEST (429 temporarily_unavailable) when a client exceeds rateLimitPerClient, for get, update and delete', async () => {
      const c = await registered();
      const limited = { ...svc.ctx, tenant: { ...svc.ctx.tenant, settings: { ...svc.ctx.tenant.settings, rateLimitPerClient: 1 } } };
      const auth = `Bearer ${c.registration_access_token}`;
      const get = row('client/registration/get');
      expect((await get.call(get.input.parse({ clientId: c.client_id, authorization: auth }), limited)).action).toBe('OK');
      for (const [path, input] of [
        ['client/registration/get', { clientId: c.client_id, authorization: auth }],
        ['client/registration/update', { clientId: c.client_id, authorization: auth, body: JSON.stringify({ ...meta, client_id: c.client_id }) }],
        ['client/registration/delete', { clientId: c.client_id, authorization: auth }],
      ] as const) {
        const e = row(path);
        const r = await e.call(e.input.parse(input), limited);
        expect(r, path).toMatchObject({ action: 'BAD_REQUEST', status: 429, resultCode: 'LK14001' });
        expect(r.headers?.['Retry-After']).toBeTruthy();
      }
    });
  });

  describe('FORBIDDEN: the Core API honours the server\'s registration switch', () => {
    let off: TestServer;
    let offSvc: TestService;
    beforeAll(async () => {
      off = await startTestServer(); // registration: off (the default)
      offSvc = await testService(off, 'closed', 'https://closed.example');
    });
    afterAll(() => off.close());

    it.each([
      ['client/registration', { body: '{"redirect_uris":["https://app.example/cb"]}' }],
      ['client/registration/get', { clientId: 'x', authorization: 'Bearer t' }],
      ['client/registration/update', { clientId: 'x', authorization: 'Bearer t', body: '{"client_id":"x"}' }],
      ['client/registration/delete', { clientId: 'x', authorization: 'Bearer t' }],
    ])('%s → FORBIDDEN (LK8029) when registration is off', async (path, body) => {
      const r = await core(off, offSvc.id, path, body, offSvc.token);
      expect(r.json).toMatchObject({ action: 'FORBIDDEN', status: 403, resultCode: 'LK8029' });
      expect(JSON.parse(r.json.responseContent).error).toBe('access_denied');
    });
  });
});
