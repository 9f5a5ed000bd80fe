import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  narrowAuthorizationDetails,
  parseAuthorizationDetails,
  type AuthorizationDetail,
} from '../../src/engine/authorization-details.js';
import { authorization, authorizationIssue } from '../../src/engine/authorization/index.js';
import { validateClientMetadata } from '../../src/engine/client-metadata.js';
import { consentRequired } from '../../src/engine/consent.js';
import { discoveryDocument } from '../../src/engine/discovery.js';
import { OAuthError } from '../../src/engine/errors.js';
import { token } from '../../src/engine/token/index.js';
import { introspection } from '../../src/engine/introspection.js';
import { deviceAuthorization, deviceComplete, deviceVerification } from '../../src/engine/device.js';
import { basic, openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

const TYPES = ['payment_initiation', 'account_information'];
const PAY: AuthorizationDetail = { type: 'payment_initiation', actions: ['initiate'], locations: ['https://bank.example/payments'], instructedAmount: { currency: 'EUR', amount: '123.50' } };
const ACCOUNTS: AuthorizationDetail = { type: 'account_information', actions: ['list_accounts', 'read_balances'], locations: ['https://bank.example/accounts'] };
const CB = 'https://rp.example/cb';

const codeOf = (e: unknown) => (e instanceof OAuthError ? `${e.code}/${e.resultCode}` : String(e));
function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return codeOf(e);
  }
  return 'accepted';
}

describe('RFC 9396 authorization_details: parsing and comparison', () => {
  it('RFC 9396 §2: a JSON array of objects with a supported string type; other fields are kept as sent', () => {
    expect(parseAuthorizationDetails(JSON.stringify([PAY, ACCOUNTS]), TYPES)).toEqual([PAY, ACCOUNTS]);
    // A request object carries the array itself (RFC 9396 §3; a Core API caller too).
    expect(parseAuthorizationDetails([PAY], TYPES)).toEqual([PAY]);
  });

  it('RFC 9396 §5: not JSON, not an array, empty, or an element that is no object is invalid_authorization_details', () => {
    for (const bad of ['{', '{"type":"payment_initiation"}', '[]', '["payment_initiation"]', '[null]', '[[]]']) {
      expect(refusal(() => parseAuthorizationDetails(bad, TYPES)), bad).toBe('invalid_authorization_details/LK7350');
    }
  });

  it('RFC 9396 §2: type is required and a string; one not supported (or not allowed) is refused', () => {
    expect(refusal(() => parseAuthorizationDetails('[{"actions":["x"]}]', TYPES))).toBe('invalid_authorization_details/LK7350');
    expect(refusal(() => parseAuthorizationDetails('[{"type":7}]', TYPES))).toBe('invalid_authorization_details/LK7350');
    expect(refusal(() => parseAuthorizationDetails('[{"type":"photo_sharing"}]', TYPES))).toBe('invalid_authorization_details/LK7351');
    expect(refusal(() => parseAuthorizationDetails(JSON.stringify([PAY]), ['account_information']))).toBe('invalid_authorization_details/LK7351');
  });

  it('RFC 9396 §2.2: the common fields have their JSON types (arrays of strings; identifier a string)', () => {
    for (const field of ['locations', 'actions', 'datatypes', 'privileges']) {
      expect(refusal(() => parseAuthorizationDetails([{ type: 'payment_initiation', [field]: 'x' }], TYPES)), field).toBe('invalid_authorization_details/LK7350');
      expect(refusal(() => parseAuthorizationDetails([{ type: 'payment_initiation', [field]: [1] }], TYPES)), field).toBe('invalid_authorization_details/LK7350');
      expect(parseAuthorizationDetails([{ type: 'payment_initiation', [field]: ['a', 'b'] }], TYPES)).toHaveLength(1);
    }
    expect(refusal(() => parseAuthorizationDetails([{ type: 'payment_initiation', identifier: ['x'] }], TYPES))).toBe('invalid_authorization_details/LK7350');
    expect(parseAuthorizationDetails([{ type: 'payment_initiation', identifier: 'acct-1' }], TYPES)).toHaveLength(1);
  });

  it('RFC 9396 §12: the value is bounded in length, count and depth', () => {
    expect(refusal(() => parseAuthorizationDetails(JSON.stringify([{ type: 'payment_initiation', x: 'a'.repeat(20000) }]), TYPES))).toBe('invalid_authorization_details/LK7350');
    expect(refusal(() => parseAuthorizationDetails(JSON.stringify(Array.from({ length: 21 }, () => PAY)), TYPES))).toBe('invalid_authorization_details/LK7350');
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(refusal(() => parseAuthorizationDetails([{ type: 'payment_initiation', deep }], TYPES))).toBe('invalid_authorization_details/LK7350');
  });

  it('RFC 9396 §6.1: authorization details are compared by deep equality, members in any order', () => {
    const nested = { type: PAY.type, a: [1, { b: 2, c: 3 }], d: 'x' };
    expect(narrowAuthorizationDetails([{ d: 'x', a: [1, { c: 3, b: 2 }], type: PAY.type }], [nested])).toHaveLength(1);
    expect(refusal(() => narrowAuthorizationDetails([{ ...nested, a: [{ b: 2, c: 3 }, 1] }], [nested]))).toBe('invalid_authorization_details/LK7352'); // array order matters
    expect(refusal(() => narrowAuthorizationDetails([{ ...nested, extra: undefined }], [nested]))).toBe('invalid_authorization_details/LK7352');
    const reordered = { locations: PAY.locations, instructedAmount: { amount: '123.50', currency: 'EUR' }, actions: PAY.actions, type: PAY.type };
    expect(narrowAuthorizationDetails([reordered], [PAY, ACCOUNTS])).toEqual([reordered]);
    const more = { ...PAY, instructedAmount: { currency: 'EUR', amount: '999.00' } };
    expect(refusal(() => narrowAuthorizationDetails([more], [PAY, ACCOUNTS]))).toBe('invalid_authorization_details/LK7352');
  });
});

describe('RFC 9396 configuration: discovery, client metadata and the consent rule', () => {
  it('RFC 9396 §10: authorization_details_types_supported is advertised in both documents only when types are configured', () => {
    for (const kind of ['openid', 'oauth'] as const) {
      expect(discoveryDocument('https://as.example', kind, {}).authorization_details_types_supported).toBeUndefined();
      expect(discoveryDocument('https://as.example', kind, { settings: { authorizationDetailsTypes: [] } }).authorization_details_types_supported).toBeUndefined();
      expect(discoveryDocument('https://as.example', kind, { settings: { authorizationDetailsTypes: TYPES } }).authorization_details_types_supported).toEqual(TYPES);
    }
  });

  it('RFC 9396 §10: authorization_details_types is client metadata; each type must be one the server supports', () => {
    const base = { redirect_uris: [CB] };
    expect(validateClientMetadata({ ...base, authorization_details_types: ['payment_initiation'] }, { authorizationDetailsTypes: TYPES }).metadata.authorizationDetailsTypes).toEqual(['payment_initiation']);
    expect(refusal(() => validateClientMetadata({ ...base, authorization_details_types: ['photo_sharing'] }, { authorizationDetailsTypes: TYPES }))).toBe('invalid_client_metadata/LK7354');
    expect(refusal(() => validateClientMetadata({ ...base, authorization_details_types: ['payment_initiation'] }, { authorizationDetailsTypes: [] }))).toBe('invalid_client_metadata/LK7354');
    expect(refusal(() => validateClientMetadata({ ...base, authorization_details_types: 'payment_initiation' }, { authorizationDetailsTypes: TYPES }))).toMatch(/^invalid_client_metadata/);
  });

  it('RFC 9396 §3: a request with authorization details needs consent even when the user consented to its scopes; skip_consent still skips', () => {
    const consent = { tenantId: 't', subject: 'u', clientId: 'c', scope: ['openid'], updatedAt: 10 };
    const client = { skipConsent: false, createdAt: 1 };
    expect(consentRequired({ scope: ['openid'], prompt: [] }, client, consent)).toBe(false);
    expect(consentRequired({ scope: ['openid'], prompt: [], authorizationDetails: [PAY] }, client, consent)).toBe(true);
    expect(consentRequired({ scope: ['openid'], prompt: [], authorizationDetails: [PAY] }, { ...client, skipConsent: true }, consent)).toBe(false);
  });
});

describe('RFC 9396 through the engine: authorization, issue, token, introspection', () => {
  let t: TestLatchkey;
  let rp: { clientId: string; clientSecret?: string };
  let accountsOnly: { clientId: string; clientSecret?: string };
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    t = await openTestLatchkey({ authorizationDetailsTypes: TYPES });
    rp = await t.client({ redirect_uris: [CB], scope: 'openid accounts', grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] });
    accountsOnly = await t.client({ redirect_uris: [CB], scope: 'openid', authorization_details_types: ['account_information'] });
  });
  afterAll(() => t.close());

  const authorize = (extra: Record<string, string>, clientId = rp.clientId) =>
    authorization({ parameters: new URLSearchParams({ client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's', ...extra }).toString() }, t.ctx);
  const redeem = async (code: string, extra: Record<string, string> = {}) => {
    const r = await token({ parameters: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CB, ...extra }).toString(), authorization: basic(rp.clientId, rp.clientSecret!) }, t.ctx);
    return { ...r, body: JSON.parse(r.responseContent) };
  };
  const codeFrom = (location: string) => new URL(location).searchParams.get('code')!;

  it('RFC 9396 §3: the validated details travel with the ticket and are reported for the consent page', async () => {
    const r = await authorize({ authorization_details: JSON.stringify([PAY]) });
    expect(r.action).toBe('INTERACTION');
    expect(r.authorizationDetails).toEqual([PAY]);
    expect(r.consentRequired).toBe(true);
  });

  it('RFC 9396 §5: a bad value is redirected to the client as invalid_authorization_details, with state', async () => {
    const r = await authorize({ authorization_details: '[{"type":"photo_sharing"}]' });
    expect(r.action).toBe('LOCATION');
    const u = new URL(r.responseContent);
    expect(u.searchParams.get('error')).toBe('invalid_authorization_details');
    expect(u.searchParams.get('state')).toBe('s');
    expect(r.resultCode).toBe('LK7351');
  });

  it('RFC 9396 §10: a client may request only the types it registered', async () => {
    const r = await authorize({ authorization_details: JSON.stringify([PAY]) }, accountsOnly.clientId);
    expect(new URL(r.responseContent).searchParams.get('error')).toBe('invalid_authorization_details');
    expect((await authorize({ authorization_details: JSON.stringify([ACCOUNTS]) }, accountsOnly.clientId)).authorizationDetails).toEqual([ACCOUNTS]);
  });

  it('RFC 9396 §7: the issue step may approve a subset; the code returns exactly that; refresh keeps it, and may narrow', async () => {
    const r = await authorize({ authorization_details: JSON.stringify([PAY, ACCOUNTS]), scope: 'accounts' }); // no openid: a refresh token without offline_access
    const issued = await authorizationIssue({ ticket: r.ticket!, subject: 'u-1', authTime: now(), authorizationDetails: [ACCOUNTS] }, t.ctx);
    expect(issued.action).toBe('LOCATION');
    const tok = await redeem(codeFrom(issued.responseContent));
    expect(tok.action, tok.responseContent).toBe('OK');
    expect(tok.body.authorization_details).toEqual([ACCOUNTS]);
    const intro = await introspection({ parameters: `token=${tok.body.access_token}`, authorization: basic(rp.clientId, rp.clientSecret!) }, t.ctx);
    expect(JSON.parse(intro.responseContent).authorization_details).toEqual([ACCOUNTS]);
    const refreshed = await token({ parameters: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tok.body.refresh_token }).toString(), authorization: basic(rp.clientId, rp.clientSecret!) }, t.ctx);
    expect(JSON.parse(refreshed.responseContent).authorization_details).toEqual([ACCOUNTS]);
    // Narrowing to something never granted is refused at refresh (RFC 9396 §6).
    const wider = await token({ parameters: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: JSON.parse(refreshed.responseContent).refresh_token, authorization_details: JSON.stringify([PAY]) }).toString(), authorization: basic(rp.clientId, rp.clientSecret!) }, t.ctx);
    expect(wider.action).toBe('BAD_REQUEST');
    expect(JSON.parse(wider.responseContent).error).toBe('invalid_authorization_details');
    expect(wider.resultCode).toBe('LK7352');
  });

  it('RFC 9396 §6: a code redeemed with authorization_details gets that subset; asking for more leaves the code unspent', async () => {
    const r = await authorize({ authorization_details: JSON.stringify([PAY, ACCOUNTS]) });
    const issued = await authorizationIssue({ ticket: r.ticket!, subject: 'u-2', authTime: now() }, t.ctx);
    const code = codeFrom(issued.responseContent);
    const other = { ...PAY, instructedAmount: { currency: 'EUR', amount: '9999.00' } };
    const refused = await redeem(code, { authorization_details: JSON.stringify([other]) });
    expect(refused.body.error).toBe('invalid_authorization_details');
    const ok = await redeem(code, { authorization_details: JSON.stringify([PAY]) });
    expect(ok.action, ok.responseContent).toBe('OK');
    expect(ok.body.authorization_details).toEqual([PAY]);
  });

  it('the issue step refuses details the request did not ask for, and the ticket stays usable', async () => {
    const r = await authorize({ authorization_details: JSON.stringify([PAY]) });
    const bad = await authorizationIssue({ ticket: r.ticket!, subject: 'u-3', authTime: now(), authorizationDetails: [ACCOUNTS] }, t.ctx);
    expect(bad.action).toBe('BAD_REQUEST');
    expect(bad.resultCode).toBe('LK7353');
    const good = await authorizationIssue({ ticket: r.ticket!, subject: 'u-3', authTime: now(), authorizationDetails: [] }, t.ctx);
    expect(good.action).toBe('LOCATION');
    expect((await redeem(codeFrom(good.responseContent))).body.authorization_details).toBeUndefined();
  });

  it('RFC 9396 §6: client_credentials takes authorization_details directly, limited to the client\'s types', async () => {
    const cc = (details: unknown[]) =>
      token({ parameters: new URLSearchParams({ grant_type: 'client_credentials', authorization_details: JSON.stringify(details) }).toString(), authorization: basic(rp.clientId, rp.clientSecret!) }, t.ctx);
    const ok = await cc([ACCOUNTS]);
    expect(ok.action, ok.responseContent).toBe('OK');
    expect(JSON.parse(ok.responseContent).authorization_details).toEqual([ACCOUNTS]);
    const bad = await cc([{ type: 'photo_sharing' }]);
    expect(JSON.parse(bad.responseContent).error).toBe('invalid_authorization_details');
  });

  it('RFC 9396 §9.2: an access token from the authorization endpoint (implicit) carries the approved details', async () => {
    const implicit = await t.client({ redirect_uris: [CB], scope: 'payments', grant_types: ['implicit'], response_types: ['token'] });
    const r = await authorize({ response_type: 'token', scope: 'payments', authorization_details: JSON.stringify([PAY]) }, implicit.clientId);
    const issued = await authorizationIssue({ ticket: r.ticket!, subject: 'u-4', authTime: now() }, t.ctx);
    const at = new URLSearchParams(new URL(issued.responseContent).hash.slice(1)).get('access_token')!;
    const intro = await introspection({ parameters: `token=${at}`, authorization: basic(rp.clientId, rp.clientSecret!) }, t.ctx);
    expect(JSON.parse(intro.responseContent)).toMatchObject({ active: true, authorization_details: [PAY] });
  });

  it('RFC 9396 §3: the device authorization request takes authorization_details; verification shows them, completion narrows, the token response returns them', async () => {
    const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
    const dev = await t.client({ grant_types: [DEVICE, 'refresh_token'], scope: 'accounts' });
    const devAuth = basic(dev.clientId, dev.clientSecret!);
    const bad = await deviceAuthorization({ parameters: new URLSearchParams({ scope: 'accounts', authorization_details: '[{"type":"nope"}]' }).toString(), authorization: devAuth }, t.ctx);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.responseContent).error).toBe('invalid_authorization_details');
    const started = await deviceAuthorization({ parameters: new URLSearchParams({ scope: 'accounts', authorization_details: JSON.stringify([PAY, ACCOUNTS]) }).toString(), authorization: devAuth }, t.ctx);
    const { device_code, user_code } = JSON.parse(started.responseContent);
    const v = await deviceVerification({ userCode: user_code }, t.ctx);
    expect(v.authorizationDetails).toEqual([PAY, ACCOUNTS]);
    const refused = await deviceComplete({ userCode: user_code, result: 'AUTHORIZED', subject: 'u-5', authorizationDetails: [{ type: 'payment_initiation' }] }, t.ctx);
    expect(refused).toMatchObject({ action: 'INVALID_REQUEST', resultCode: 'LK7353' });
    const done = await deviceComplete({ userCode: user_code, result: 'AUTHORIZED', subject: 'u-5', authorizationDetails: [ACCOUNTS] }, t.ctx);
    expect(done.action).toBe('SUCCESS');
    const tok = await token({ parameters: new URLSearchParams({ grant_type: DEVICE, device_code }).toString(), authorization: devAuth }, t.ctx);
    expect(tok.action, tok.responseContent).toBe('OK');
    const body = JSON.parse(tok.responseContent);
    expect(body.authorization_details).toEqual([ACCOUNTS]);
    const refreshed = await token({ parameters: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: body.refresh_token }).toString(), authorization: devAuth }, t.ctx);
    expect(JSON.parse(refreshed.responseContent).authorization_details).toEqual([ACCOUNTS]);
  });

  it('RFC 6749 §3.1: with no types configured the parameter is ignored, as any unknown parameter', async () => {
    const off = await openTestLatchkey();
    try {
      const c = await off.client({ redirect_uris: [CB], scope: 'openid' });
      const r = await authorization({ parameters: new URLSearchParams({ client_id: c.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', authorization_details: 'not json' }).toString() }, off.ctx);
      expect(r.action).toBe('INTERACTION');
      expect(r.authorizationDetails).toBeUndefined();
    } finally {
      await off.close();
    }
  });
});

describe('RFC 9396 device completion: the host\'s approved details are checked on every path', () => {
  it('device/complete refuses authorization details the device did not ask for, as the issue step does, also with RFC 9396 off', async () => {
    const off = await openTestLatchkey();
    try {
      const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
      const dev = await off.client({ grant_types: [DEVICE], scope: 'accounts' });
      const started = await deviceAuthorization({ parameters: new URLSearchParams({ scope: 'accounts' }).toString(), authorization: basic(dev.clientId, dev.clientSecret!) }, off.ctx);
      const { user_code } = JSON.parse(started.responseContent);
      const refused = await deviceComplete({ userCode: user_code, result: 'AUTHORIZED', subject: 'u-6', authorizationDetails: [ACCOUNTS] }, off.ctx);
      expect(refused).toMatchObject({ action: 'INVALID_REQUEST', resultCode: 'LK7353' });
      // The code stays pending: the host may still complete it correctly.
      const done = await deviceComplete({ userCode: user_code, result: 'AUTHORIZED', subject: 'u-6' }, off.ctx);
      expect(done.action).toBe('SUCCESS');
    } finally {
      await off.close();
    }
  });

  it('RFC 8628 §3.3: an unknown user code is USER_CODE_NOT_EXIST, whatever authorization details the host passes', async () => {
    const t = await openTestLatchkey({ authorizationDetailsTypes: TYPES });
    try {
      const r = await deviceComplete({ userCode: 'BCDF-GHJK', result: 'AUTHORIZED', subject: 'u-7', authorizationDetails: [ACCOUNTS] }, t.ctx);
      expect(r).toMatchObject({ action: 'USER_CODE_NOT_EXIST', resultCode: 'LK7023' });
    } finally {
      await t.close();
    }
  });
});
