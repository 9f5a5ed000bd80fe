import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { core, testService, type TestService } from '../helpers/core-api.js';
import { basic, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://app.example/cb';
const form = (p: Record<string, string>) => new URLSearchParams(p).toString();
const PAY = { type: 'payment_initiation', actions: ['initiate'], locations: ['https://bank.example/payments'], instructedAmount: { currency: 'EUR', amount: '42.00' } };
const ACCOUNTS = { type: 'account_information', actions: ['read_balances'], locations: ['https://bank.example/accounts'] };

/**
 * RFC 9396 in the two-step authorization of the Core API (as Authlete's): auth/authorization reports the details the
 * client asked for, and the host's issue step grants those the user approved, never others.
 */
describe('Core API: RFC 9396 authorization details in the two-step authorization', () => {
  let s: TestServer;
  let svc: TestService;
  let app: { clientId: string; clientSecret?: string };
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    s = await startTestServer({ authorizationDetailsTypes: ['payment_initiation', 'account_information'] });
    svc = await testService(s, 'rar-svc', 'https://login.rar.example');
    app = await svc.client({ redirect_uris: [CB], scope: 'openid payments', grant_types: ['authorization_code', 'refresh_token'] });
  });
  afterAll(() => s?.close());

  const call = (path: string, body: unknown) => core(s, svc.id, path, body, svc.token);
  const authorize = async (details: unknown[], subject?: string) => {
    const r = await call('auth/authorization', {
      parameters: form({ response_type: 'code', client_id: app.clientId, redirect_uri: CB, scope: 'payments', authorization_details: JSON.stringify(details) }),
      ...(subject ? { subject } : {}),
    });
    expect(r.json.action, r.text).toBe('INTERACTION');
    return r.json as { ticket: string; authorizationDetails: unknown[]; consentRequired: boolean };
  };
  const redeem = (code: string) =>
    call('auth/token', { parameters: form({ grant_type: 'authorization_code', code, redirect_uri: CB }), authorization: basic(app.clientId, app.clientSecret!) });

  it('RFC 9396 §3: auth/authorization returns the requested details, and consent is required even after an earlier one', async () => {
    const first = await authorize([PAY, ACCOUNTS], 'u-1');
    expect(first.authorizationDetails).toEqual([PAY, ACCOUNTS]);
    expect(first.consentRequired).toBe(true);
    const issued = await call('auth/authorization/issue', { ticket: first.ticket, subject: 'u-1', authTime: now(), consentGiven: true });
    expect(issued.json.action, issued.text).toBe('LOCATION');
    expect((await authorize([PAY], 'u-1')).consentRequired).toBe(true);
  });

  it('RFC 9396 §7: the issue step narrows to the approved details (compared by deep equality); the token response has exactly those', async () => {
    const { ticket } = await authorize([PAY, ACCOUNTS]);
    // The host may send the object back with its members in another order.
    const approved = { locations: ACCOUNTS.locations, actions: ACCOUNTS.actions, type: ACCOUNTS.type };
    const issued = await call('auth/authorization/issue', { ticket, subject: 'u-2', authTime: now(), authorizationDetails: [approved] });
    expect(issued.json.action, issued.text).toBe('LOCATION');
    const tok = await redeem(new URL(issued.json.responseContent).searchParams.get('code')!);
    expect(tok.json.action, tok.text).toBe('OK');
    const body = JSON.parse(tok.json.responseContent);
    expect(body.authorization_details).toEqual([ACCOUNTS]);
    // RFC 9396 §9.2: the Core API's introspection for resource servers reports them.
    const intro = await call('auth/introspection', { token: body.access_token, scopes: [] });
    expect(intro.json.action, intro.text).toBe('OK');
    expect(intro.json.authorizationDetails).toEqual([ACCOUNTS]);
  });

  it('the issue step refuses a detail the request did not ask for (LK7353); the ticket stays usable; absent means all', async () => {
    const { ticket } = await authorize([PAY]);
    const widened = await call('auth/authorization/issue', { ticket, subject: 'u-3', authTime: now(), authorizationDetails: [{ ...PAY, instructedAmount: { currency: 'EUR', amount: '4200.00' } }] });
    expect(widened.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK7353', status: 400 });
    expect(JSON.parse(widened.json.responseContent).error).toBe('invalid_request');
    const issued = await call('auth/authorization/issue', { ticket, subject: 'u-3', authTime: now() });
    expect(issued.json.action, issued.text).toBe('LOCATION');
    const tok = await redeem(new URL(issued.json.responseContent).searchParams.get('code')!);
    expect(JSON.parse(tok.json.responseContent).authorization_details).toEqual([PAY]);
  });

  it('RFC 9396 §5: a bad value is redirected to the client as invalid_authorization_details', async () => {
    const r = await call('auth/authorization', {
      parameters: form({ response_type: 'code', client_id: app.clientId, redirect_uri: CB, scope: 'payments', state: 'x', authorization_details: '[{"type":"unknown_type"}]' }),
    });
    expect(r.json).toMatchObject({ action: 'LOCATION', resultCode: 'LK7351' });
    expect(new URL(r.json.responseContent).searchParams.get('error')).toBe('invalid_authorization_details');
  });

  it('RFC 9396 §10: service/configuration lists the supported types', async () => {
    const r = await call('service/configuration', {});
    expect(r.json.action, r.text).toBe('OK');
    expect(JSON.parse(r.json.responseContent).authorization_details_types_supported).toEqual(['payment_initiation', 'account_information']);
  });
});
