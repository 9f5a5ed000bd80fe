import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OAuthError } from '../../src/engine/errors.js';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { DEFAULT_TENANT } from '../../src/store/types.js';
import { core } from '../helpers/core-api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
/** RFC 6749 §4.1.2.1, §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. */
const ALLOWED = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

describe('RFC 6749 §4.1.2.1, §5.2: error_description stays within its character set', () => {
  let s: TestServer;
  let token: string;
  let web: { clientId: string; clientSecret?: string };
  const call = (path: string, body: unknown) => core(s, DEFAULT_TENANT, path, body, token);

  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
    token = (await createServiceToken(s.lk, { name: 'tests' })).token;
    web = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code'], scope: 'openid' });
  });
  afterAll(() => s.close());

  it('property: whatever an engine message quotes, the error body and its description are within the set', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const body = new OAuthError('invalid_request', `value ${JSON.stringify(text)} is not supported`).body();
        expect(body.error_description).toMatch(ALLOWED);
      }),
    );
  });

  it('the engine\'s own section signs and ellipses are spelled out, not turned into ?', () => {
    expect(new OAuthError('invalid_request', 'redirect_uri must match (RFC 6749 §3.1.2; OIDC Registration §2) for ab…').body().error_description)
      .toBe('redirect_uri must match (RFC 6749 section 3.1.2; OIDC Registration section 2) for ab...');
  });

  it('an unsupported response_type that contains a double quote and a non-ASCII character is redirected with a clean description', async () => {
    const parameters = new URLSearchParams({ client_id: web.clientId, redirect_uri: CB, response_type: 'co"dé', scope: 'openid', state: 's' }).toString();
    const r = await call('auth/authorization', { parameters });
    expect(r.json.action, r.text).toBe('LOCATION');
    const at = new URL(r.json.responseContent);
    expect(at.searchParams.get('error')).toBe('unsupported_response_type');
    expect(at.searchParams.get('error_description')).toMatch(ALLOWED);
    expect(at.searchParams.get('error_description')).toContain('response_type');
  });

  it('a host\'s own fail description (Core API) reaches the client within the set', async () => {
    const parameters = new URLSearchParams({ client_id: web.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }).toString();
    const a = await call('auth/authorization', { parameters });
    expect(a.json.action, a.text).toBe('INTERACTION');
    const f = await call('auth/authorization/fail', { ticket: a.json.ticket, reason: 'ACCESS_DENIED', description: 'Der Benutzer hat "Nein" gewählt \\ ✗' });
    expect(f.json.action).toBe('LOCATION');
    const d = new URL(f.json.responseContent).searchParams.get('error_description')!;
    expect(d).toMatch(ALLOWED);
    expect(d).toBe("Der Benutzer hat 'Nein' gew?hlt ? ?");
  });

  it('RFC 7591 §3.2.2: a registration error that quotes the metadata sent has a clean description', async () => {
    const r = await fetch(s.url('/oauth/register'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_types: ['client_credentials'], resources: ['not "a" URI ü'] }),
    });
    const body = (await r.json()) as { error: string; error_description: string };
    expect(r.status).toBe(400);
    expect(body.error).toBe('invalid_client_metadata');
    expect(body.error_description).toContain('resources');
    expect(body.error_description).toMatch(ALLOWED);
  });
});
