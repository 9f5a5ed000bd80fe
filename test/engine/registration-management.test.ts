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
});
