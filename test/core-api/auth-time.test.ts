import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { core, testService, type TestService } from '../helpers/core-api.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://app.example/cb';
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const form = (p: Record<string, string>) => new URLSearchParams(p).toString();

/**
 * OIDC Core §2: auth_time is when the user authenticated, so a host's authTime may not lie after the server's clock
 * (30 s allowed for the host's clock). Milliseconds given for seconds, the usual mistake, would otherwise pass every
 * max_age and prompt=login check and print an auth_time decades ahead. Each issue step refuses it before the ticket
 * or user code is spent (LK7390); 30 s ahead is still accepted, exactly as given.
 */
describe('Core API: an authTime after now is refused (LK7390)', () => {
  let s: TestServer;
  let svc: TestService;
  let app: { clientId: string; clientSecret?: string };
  const clock = Date.UTC(2031, 2, 1, 12);
  const now = Math.floor(clock / 1000);

  beforeAll(async () => {
    s = await startTestServer({}, { clock: () => clock });
    svc = await testService(s, 'acme', 'https://login.acme.example');
    app = await svc.client({ redirect_uris: [CB], grant_types: ['authorization_code', 'password', DEVICE], insecure_password_grant: true, scope: 'openid' });
  });
  afterAll(() => s.close());

  const call = (path: string, body: unknown) => core(s, svc.id, path, body, svc.token);
  const ticket = async (p: Record<string, string> = {}) =>
    (await call('auth/authorization', { parameters: form({ response_type: 'code', client_id: app.clientId, redirect_uri: CB, scope: 'openid', nonce: 'n', ...p }) })).json.ticket as string;

  it('auth/authorization/issue: milliseconds, or 31 s ahead, is BAD_REQUEST and the ticket stays usable; 30 s ahead is accepted', async () => {
    const t = await ticket({ prompt: 'login' });
    for (const authTime of [clock, now + 31]) {
      const r = await call('auth/authorization/issue', { ticket: t, subject: 'user-1', authTime });
      expect(r.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK7390' });
      expect(JSON.parse(r.json.responseContent)).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/future/) });
    }
    const ok = await call('auth/authorization/issue', { ticket: t, subject: 'user-1', authTime: now + 30 });
    expect(ok.json.action).toBe('LOCATION');
    const code = new URL(ok.json.responseContent).searchParams.get('code')!;
    const tokens = await call('auth/token', { parameters: form({ grant_type: 'authorization_code', code, redirect_uri: CB }), authorization: basic(app.clientId, app.clientSecret!) });
    expect(decodeJwt(JSON.parse(tokens.json.responseContent).id_token).auth_time).toBe(now + 30);
  });

  it('auth/token/issue (password grant): refused before the ticket is spent', async () => {
    const started = await call('auth/token', { parameters: form({ grant_type: 'password', username: 'zed', password: 'pw', scope: 'openid' }), authorization: basic(app.clientId, app.clientSecret!) });
    expect(started.json.action).toBe('PASSWORD');
    const bad = await call('auth/token/issue', { ticket: started.json.ticket, subject: 'user-1', authTime: clock });
    expect(bad.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK7390' });
    expect(JSON.parse(bad.json.responseContent).error).toBe('invalid_request');
    expect((await call('auth/token/issue', { ticket: started.json.ticket, subject: 'user-1', authTime: now })).json.action).toBe('OK');
  });

  it('device/complete: refused with INVALID_REQUEST and the user code stays pending', async () => {
    const started = await postForm(s.url('/t/acme/oauth/device_authorization'), { scope: 'openid' }, { authorization: basic(app.clientId, app.clientSecret!) });
    expect(started.status, started.text).toBe(200);
    const bad = await call('device/complete', { userCode: started.json.user_code, result: 'AUTHORIZED', subject: 'user-1', authTime: clock });
    expect(bad.json).toMatchObject({ action: 'INVALID_REQUEST', resultCode: 'LK7390' });
    expect((await call('device/complete', { userCode: started.json.user_code, result: 'AUTHORIZED', subject: 'user-1', authTime: now - 5 })).json.action).toBe('SUCCESS');
  });
});
