import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registration, registrationManagement, type RegistrationManagementInput } from '../../src/engine/registration.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

describe('client configuration endpoint (RFC 7592 §2, engine)', () => {
  let t: TestLatchkey;
  beforeAll(async () => {
    t = await openTestLatchkey({ registration: 'open' });
  });
  afterAll(() => t.close());

  const register = async (meta: Record<string, unknown>) => {
    const r = await registration({ body: JSON.stringify(meta), contentType: 'application/json' }, t.ctx);
    expect(r.action).toBe('CREATED');
    return JSON.parse(r.responseContent as string) as Record<string, string>;
  };

  it('RFC 9110 §15.5.6: a method other than GET, PUT or DELETE is a 405 Result with Allow, never undefined, and changes nothing', async () => {
    const reg = await register({ redirect_uris: ['https://app.example/cb'] });
    for (const method of ['HEAD', 'PATCH', 'POST', 'OPTIONS', '']) {
      const r = await registrationManagement(
        { method: method as RegistrationManagementInput['method'], clientId: reg.client_id!, authorization: `Bearer ${reg.registration_access_token}`, body: '{}', contentType: 'application/json' },
        t.ctx,
      );
      expect(r, method).toBeDefined();
      expect([method, r.action, r.status, r.resultCode, r.headers?.Allow]).toEqual([method, 'BAD_REQUEST', 405, 'LK7170', 'GET, PUT, DELETE']);
      expect(JSON.parse(r.responseContent as string)).toMatchObject({ error: 'invalid_request' });
    }
    const read = await registrationManagement({ method: 'GET', clientId: reg.client_id!, authorization: `Bearer ${reg.registration_access_token}` }, t.ctx);
    expect([read.action, read.status]).toEqual(['OK', 200]);
  });

  it('RFC 9700 §4.1: an update that adds a redirect origin forgets the users\' consents (a stolen registration access token cannot redirect silent sign-ins); a new path at a known origin keeps them', async () => {
    let reg = await register({ redirect_uris: ['https://app.example/cb'] });
    let clientId = reg.client_id!;
    let token = reg.registration_access_token!;
    const consent = () => t.ctx.store.saveConsent({ tenantId: t.ctx.tenant.id, subject: 'user-1', clientId, scope: ['openid'], updatedAt: 1 });
    const consented = async () => (await t.ctx.store.findConsent(t.ctx.tenant.id, 'user-1', clientId)) !== undefined;
    const put = async (redirect_uris: string[], extra: Record<string, unknown> = {}) => {
      const r = await registrationManagement(
        { method: 'PUT', clientId, authorization: `Bearer ${token}`, body: JSON.stringify({ client_id: clientId, redirect_uris, ...extra }), contentType: 'application/json' },
        t.ctx,
      );
      expect(r.action, r.responseContent as string).toBe('OK');
      token = (JSON.parse(r.responseContent as string) as Record<string, string>).registration_access_token!;
    };
    await consent();
    await put(['https://app.example/cb', 'https://app.example/other']);
    expect(await consented(), 'same origin, another path').toBe(true);
    await put(['https://app.example/cb']);
    expect(await consented(), 'a redirect URI removed').toBe(true);
    await put(['https://app.example/cb', 'https://attacker.example/cb']);
    expect(await consented(), 'a new origin').toBe(false);
    // A native app's private-use scheme has no origin: the URI itself is the place.
    const native = { application_type: 'native', token_endpoint_auth_method: 'none' };
    reg = await register({ redirect_uris: ['com.example.app:/cb'], ...native });
    clientId = reg.client_id!;
    token = reg.registration_access_token!;
    await consent();
    await put(['com.example.app:/cb'], native);
    expect(await consented(), 'the same URI').toBe(true);
    await put(['com.example.app:/cb', 'com.evil.app:/cb'], native);
    expect(await consented(), 'a new private-use-scheme URI').toBe(false);
  });
});
