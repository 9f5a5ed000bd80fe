import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTHORIZATION_CHECKS, checksFor } from '../../src/engine/authorization/index.js';
import {
  type CheckState,
  checkClaims,
  checkClient,
  checkDeviceGrant,
  checkNonce,
  checkNoRequestUri,
  checkPkce,
  checkPrompt,
  checkPushedRequestUri,
  checkPushedRequired,
  checkRedirectUri,
  checkRequestObject,
  checkResponseMode,
  checkResponseType,
  checkResponseTypeScope,
  errorResponseMode,
} from '../../src/engine/authorization/request.js';
import { essentialAcrMet, parseClaimsParameter } from '../../src/engine/claims.js';
import { normalizeResponseType, redirectUriMatches, validateClientMetadata } from '../../src/engine/client-metadata.js';
import { authorizationResponse } from '../../src/engine/authorization/response.js';
import { nowSeconds } from '../../src/engine/context.js';
import { formatUserCode, newUserCode, normalizeUserCode, USER_CODE_ALPHABET } from '../../src/engine/device.js';
import { OAuthError } from '../../src/engine/errors.js';
import { Params } from '../../src/engine/params.js';
import type { ClientRecord } from '../../src/store/types.js';
import { secureRandom } from '../../src/tokens/handles.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

const CB = 'https://rp.example/cb';

/** Run one check and return the OAuthError it throws (or undefined). */
async function run(check: (s: CheckState) => unknown, s: CheckState): Promise<OAuthError | undefined> {
  try {
    await check(s);
    return undefined;
  } catch (e) {
    if (e instanceof OAuthError) return e;
    throw e;
  }
}

describe('authorization checks (engine units)', () => {
  let t: TestLatchkey;
  let clock = Date.UTC(2030, 0, 1);
  let hybrid: ClientRecord;
  let codeOnly: ClientRecord;
  let signer: ClientRecord;
  let unsignedOk: ClientRecord;
  let keys: Awaited<ReturnType<typeof generateKeyPair>>;

  const state = (params: Record<string, string>, client?: ClientRecord, request: CheckState['request'] = {}): CheckState => ({
    params: Params.fromRecord(params),
    ctx: t.ctx,
    client,
    request: { ...request },
  });

  beforeAll(async () => {
    t = await openTestLatchkey({}, { clock: () => clock });
    keys = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const find = async (id: string) => (await t.ctx.store.findClient(t.ctx.tenant.id, id))!;
    hybrid = await find((await t.client({ redirect_uris: [CB], grant_types: ['authorization_code', 'implicit'], response_types: ['code', 'id_token', 'token id_token', 'code id_token', 'code token', 'code id_token token', 'token'] })).clientId);
    codeOnly = await find((await t.client({ redirect_uris: [CB] })).clientId);
    signer = await find((await t.client({ redirect_uris: [CB], jwks: { keys: [jwk] } })).clientId);
    unsignedOk = await find((await t.client({ redirect_uris: [CB], request_object_signing_alg: 'none' })).clientId);
  });
  afterAll(() => t.close());

  describe('the table', () => {
    it('one table orders every check; each endpoint runs its column in that order', () => {
      const all = AUTHORIZATION_CHECKS.map((r) => r[0]);
      for (const e of ['authorization', 'par', 'device_authorization'] as const) {
        const col = checksFor(e);
        expect(col.map((c) => all.indexOf(c))).toEqual([...col.map((c) => all.indexOf(c))].sort((a, b) => a - b));
      }
      expect(checksFor('authorization')[0]).toBe(checkClient);
      expect(checksFor('par')).not.toContain(checkClient); // the PAR client authenticated at the endpoint
      expect(checksFor('par')).toContain(checkNoRequestUri);
      expect(checksFor('authorization')).not.toContain(checkNoRequestUri);
      expect(checksFor('device_authorization')).toContain(checkDeviceGrant);
      // RFC 9126 §4: the PAR requirement is checked once the redirect URI is known, so the refusal is redirected.
      expect(checksFor('authorization').indexOf(checkPushedRequired)).toBeGreaterThan(checksFor('authorization').indexOf(checkRedirectUri));
    });
  });

  describe('response types', () => {
    it('OIDC Core §3: response_type values in any order name one canonical type; unknown combinations are refused', () => {
      expect(normalizeResponseType('token id_token')).toBe('id_token token');
      expect(normalizeResponseType('id_token code')).toBe('code id_token');
      expect(normalizeResponseType('token id_token code')).toBe('code id_token token');
      expect(normalizeResponseType('code code')).toBeUndefined();
      expect(normalizeResponseType('none')).toBeUndefined();
      expect(normalizeResponseType('code device')).toBeUndefined();
    });

    it('checkResponseType: a registered type passes; an unregistered one is unauthorized_client; an unknown one unsupported_response_type', async () => {
      const ok = state({ response_type: 'id_token token' }, hybrid);
      expect(await run(checkResponseType, ok)).toBeUndefined();
      expect(ok.request.responseType).toBe('id_token token');
      expect((await run(checkResponseType, state({ response_type: 'code id_token' }, codeOnly)))?.code).toBe('unauthorized_client');
      expect((await run(checkResponseType, state({ response_type: 'code banana' }, hybrid)))?.code).toBe('unsupported_response_type');
      expect((await run(checkResponseType, state({}, hybrid)))?.code).toBe('invalid_request');
    });

    it('checkResponseTypeScope: id_token needs openid; token alone must not carry openid', async () => {
      expect((await run(checkResponseTypeScope, state({}, hybrid, { responseType: 'id_token', scope: ['profile'] })))?.resultCode).toBe('LK7003');
      expect(await run(checkResponseTypeScope, state({}, hybrid, { responseType: 'id_token', scope: ['openid'] }))).toBeUndefined();
      expect((await run(checkResponseTypeScope, state({}, hybrid, { responseType: 'token', scope: ['openid'] })))?.resultCode).toBe('LK7003');
      expect(await run(checkResponseTypeScope, state({}, hybrid, { responseType: 'token', scope: ['api'] }))).toBeUndefined();
    });

    it('checkNonce (OIDC Core §3.2.2.1, §3.3.2.11): required when an ID token comes from the authorization endpoint, only then', async () => {
      for (const rt of ['id_token', 'id_token token', 'code id_token', 'code id_token token']) {
        expect((await run(checkNonce, state({}, hybrid, { responseType: rt })))?.resultCode).toBe('LK7002');
        expect(await run(checkNonce, state({}, hybrid, { responseType: rt, nonce: 'n' }))).toBeUndefined();
      }
      for (const rt of ['code', 'code token', 'token']) expect(await run(checkNonce, state({}, hybrid, { responseType: rt }))).toBeUndefined();
    });

    it('checkPkce: no code, nothing to bind (a public implicit client is not asked for PKCE)', async () => {
      const pub = { ...hybrid, tokenEndpointAuthMethod: 'none' as const, requirePkce: true };
      expect(await run(checkPkce, state({}, pub, { responseType: 'id_token token' }))).toBeUndefined();
      expect((await run(checkPkce, state({}, pub, { responseType: 'code id_token' })))?.resultCode).toBe('LK3010');
    });
  });

  describe('response modes', () => {
    const mode = async (rt: string, m?: string) => {
      const s = state(m ? { response_mode: m } : {}, hybrid, { responseType: rt });
      const err = await run(checkResponseMode, s);
      return err ? err.resultCode : s.request.responseMode;
    };

    it('Multiple Response Types §2.1, §5: query by default for code, fragment for tokens; query never carries tokens', async () => {
      expect(await mode('code')).toBe('query');
      expect(await mode('code id_token')).toBe('fragment');
      expect(await mode('token')).toBe('fragment');
      expect(await mode('id_token', 'query')).toBe('LK7001');
      expect(await mode('code token', 'query')).toBe('LK7001');
      expect(await mode('code', 'fragment')).toBe('fragment');
      expect(await mode('id_token', 'form_post')).toBe('form_post');
      expect(await mode('code', 'bogus')).toBe('LK7001');
    });

    it('JARM §2.3.4: jwt means query.jwt for code and fragment.jwt for tokens; §2.3.1: query.jwt never with tokens', async () => {
      expect(await mode('code', 'jwt')).toBe('query.jwt');
      expect(await mode('id_token token', 'jwt')).toBe('fragment.jwt');
      expect(await mode('id_token', 'query.jwt')).toBe('LK7001');
      expect(await mode('code id_token', 'form_post.jwt')).toBe('form_post.jwt');
    });

    it('errors before the mode is settled go back in the requested mode when valid, else the default for the response_type', () => {
      expect(errorResponseMode(state({ response_type: 'id_token', response_mode: 'query' }))).toBe('fragment');
      expect(errorResponseMode(state({ response_type: 'code', response_mode: 'form_post' }))).toBe('form_post');
      expect(errorResponseMode(state({ response_type: 'code' }))).toBe('query');
      expect(errorResponseMode(state({ response_type: 'token banana' }))).toBe('fragment');
      expect(errorResponseMode(state({ response_type: 'code', response_mode: 'jwt' }))).toBe('query.jwt');
      expect(errorResponseMode(state({ response_type: 'id_token', response_mode: 'query.jwt' }))).toBe('fragment.jwt');
    });

    it('Form Post Response Mode §2: a redirect URI no URL parser accepts gets a page whose CSP allows no form target, not a 500', async () => {
      const r = await authorizationResponse(t.ctx, { client: codeOnly, redirectUri: 'http://127.0.0.1:99999/cb', responseMode: 'form_post', state: 's' }, { error: 'invalid_request' }, 'LK3003');
      expect(r.action).toBe('FORM');
      expect(r.headers?.['Content-Security-Policy']).toMatch(/form-action 'none';/);
      const ok = await authorizationResponse(t.ctx, { client: codeOnly, redirectUri: CB, responseMode: 'form_post' }, { error: 'invalid_request' }, 'LK3003');
      expect(ok.headers?.['Content-Security-Policy']).toMatch(/form-action https:\/\/rp\.example;/);
    });

    it('RFC 8252 §7.3: a native loopback redirect URI matches on any valid port (1-65535) and no other', () => {
      const native = { applicationType: 'native' as const, redirectUris: ['http://127.0.0.1/cb', 'http://[::1]/cb'] };
      for (const port of ['1', '8080', '65535']) {
        expect(redirectUriMatches(native, `http://127.0.0.1:${port}/cb`)).toBe(true);
        expect(redirectUriMatches(native, `http://[::1]:${port}/cb`)).toBe(true);
      }
      for (const port of ['0', '00000', '65536', '99999']) {
        expect(redirectUriMatches(native, `http://127.0.0.1:${port}/cb`)).toBe(false);
        expect(redirectUriMatches(native, `http://[::1]:${port}/cb`)).toBe(false);
      }
      expect(redirectUriMatches({ ...native, applicationType: 'web' }, 'http://127.0.0.1:8080/cb')).toBe(false);
    });
  });

  describe('claims parameter', () => {
    it('OIDC Core §5.5: a JSON object with userinfo / id_token members of null or {essential, value, values}', () => {
      const c = parseClaimsParameter('{"userinfo":{"email":{"essential":true},"name":null},"id_token":{"acr":{"values":["a","b"]}},"other":1}');
      expect(c).toEqual({ userinfo: { email: { essential: true }, name: null }, id_token: { acr: { values: ['a', 'b'] } } });
      for (const bad of ['nope', '[]', '{"userinfo":[]}', '{"id_token":{"email":"yes"}}', '{"id_token":{"email":{"essential":"yes"}}}', '{"id_token":{"acr":{"values":"a"}}}']) {
        expect(() => parseClaimsParameter(bad)).toThrow(OAuthError);
      }
    });

    it('checkClaims: a sub value names the user; it must agree with id_token_hint', async () => {
      const s = state({ claims: '{"id_token":{"sub":{"value":"alice"}}}' }, hybrid);
      expect(await run(checkClaims, s)).toBeUndefined();
      expect(s.request.claimsSub).toBe('alice');
      const clash = state({ claims: '{"id_token":{"sub":{"value":"alice"}}}' }, hybrid, { idTokenHintSub: 'bob' });
      expect((await run(checkClaims, clash))?.resultCode).toBe('LK7013');
      expect((await run(checkClaims, state({ claims: '{' }, hybrid)))?.resultCode).toBe('LK7013');
    });

    it('OIDC Core §5.5.1.1: an essential acr must be met; a voluntary one never fails', () => {
      expect(essentialAcrMet(undefined, 'x')).toBe(true);
      expect(essentialAcrMet({ id_token: { acr: { values: ['gold'] } } }, 'x')).toBe(true);
      expect(essentialAcrMet({ id_token: { acr: { essential: true, values: ['gold'] } } }, 'x')).toBe(false);
      expect(essentialAcrMet({ id_token: { acr: { essential: true, value: 'x' } } }, 'x')).toBe(true);
    });
  });

  describe('prompt', () => {
    it('prompt=create (Initiating User Registration §4) is known only where registration is enabled', async () => {
      expect((await run(checkPrompt, state({ prompt: 'create' }, hybrid)))?.code).toBe('invalid_request');
      t.ctx.tenant.settings.allowRegistration = true;
      try {
        const s = state({ prompt: 'create' }, hybrid);
        expect(await run(checkPrompt, s)).toBeUndefined();
        expect(s.request.prompt).toEqual(['create']);
        expect((await run(checkPrompt, state({ prompt: 'create none' }, hybrid)))?.code).toBe('invalid_request');
      } finally {
        t.ctx.tenant.settings.allowRegistration = false;
      }
    });
  });

  describe('pushed authorization requests', () => {
    const push = async (clientId: string, parameters: string, ttl = 60) => {
      const handle = `h${Math.random().toString(36).slice(2)}`;
      await t.ctx.store.insertPushedRequest({
        tenantId: t.ctx.tenant.id, hash: t.ctx.hasher.hash(handle), clientId, expiresAt: nowSeconds(t.ctx) + ttl, consumedAt: null, data: { parameters },
      });
      return `urn:ietf:params:oauth:request_uri:${handle}`;
    };

    it('RFC 9126 §4: a pushed request_uri replaces the parameters, once; a second use, another client or expiry is invalid_request_uri', async () => {
      const uri = await push(hybrid.clientId, 'response_type=code&scope=openid&redirect_uri=' + encodeURIComponent(CB));
      const s = state({ client_id: hybrid.clientId, request_uri: uri, scope: 'ignored' }, hybrid);
      expect(await run(checkPushedRequestUri, s)).toBeUndefined();
      expect(s.request.pushed).toBe(true);
      expect(s.params.get('scope')).toBe('openid');
      expect((await run(checkPushedRequestUri, state({ request_uri: uri }, hybrid)))?.code).toBe('invalid_request_uri');
      const other = await push(codeOnly.clientId, 'response_type=code');
      expect((await run(checkPushedRequestUri, state({ request_uri: other }, hybrid)))?.resultCode).toBe('LK7006');
      const old = await push(hybrid.clientId, 'response_type=code', 10);
      clock += 11_000;
      expect((await run(checkPushedRequestUri, state({ request_uri: old }, hybrid)))?.resultCode).toBe('LK7006');
      expect((await run(checkPushedRequestUri, state({ request_uri: 'urn:ietf:params:oauth:request_uri:nope' }, hybrid)))?.resultCode).toBe('LK7006');
    });

    it('RFC 9126 §4: PAR required per client or per tenant refuses a request that was not pushed', async () => {
      expect(await run(checkPushedRequired, state({}, hybrid))).toBeUndefined();
      expect((await run(checkPushedRequired, state({}, { ...hybrid, requirePushedAuthorizationRequests: true })))?.resultCode).toBe('LK7007');
      expect(await run(checkPushedRequired, state({}, { ...hybrid, requirePushedAuthorizationRequests: true }, { pushed: true }))).toBeUndefined();
      t.ctx.tenant.settings.requirePushedAuthorizationRequests = true;
      try {
        expect((await run(checkPushedRequired, state({}, hybrid)))?.resultCode).toBe('LK7007');
      } finally {
        t.ctx.tenant.settings.requirePushedAuthorizationRequests = false;
      }
    });

    it('RFC 9126 §2.1: request_uri is not accepted by the PAR endpoint', async () => {
      expect((await run(checkNoRequestUri, state({ request_uri: 'urn:x' }, hybrid)))?.resultCode).toBe('LK7005');
      expect(await run(checkNoRequestUri, state({ response_type: 'code' }, hybrid))).toBeUndefined();
    });
  });

  describe('request objects (RFC 9101)', () => {
    const sign = (payload: Record<string, unknown>, header: Record<string, unknown> = { alg: 'ES256', kid: 'k1', typ: 'oauth-authz-req+jwt' }, key = keys.privateKey) =>
      new SignJWT(payload).setProtectedHeader(header as { alg: string }).setIssuedAt(Math.floor(clock / 1000)).sign(key);
    const ro = (jwt: string, client = signer, extra: Record<string, string> = {}) => state({ client_id: client.clientId, request: jwt, ...extra }, client);

    it('RFC 9101 §6.3: only the request object parameters are used, client_id kept', async () => {
      const jwt = await sign({ iss: signer.clientId, aud: t.ctx.tenant.issuer, client_id: signer.clientId, response_type: 'code', scope: 'openid', max_age: 60, claims: { id_token: { email: null } } });
      const s = ro(jwt, signer, { scope: 'openid email', state: 'outer' });
      expect(await run(checkRequestObject, s)).toBeUndefined();
      expect(s.params.get('scope')).toBe('openid');
      expect(s.params.get('state')).toBeUndefined();
      expect(s.params.get('max_age')).toBe('60');
      expect(JSON.parse(s.params.get('claims')!)).toEqual({ id_token: { email: null } });
      expect(s.params.get('client_id')).toBe(signer.clientId);
    });

    it('RFC 9101 §6.1: a tampered payload, a foreign key, a wrong iss or aud, an expired object are invalid_request_object', async () => {
      const good = await sign({ response_type: 'code', scope: 'openid' });
      const [h, , sig] = good.split('.');
      const forged = `${h}.${Buffer.from(JSON.stringify({ response_type: 'code', scope: 'openid email' })).toString('base64url')}.${sig}`;
      expect((await run(checkRequestObject, ro(forged)))?.resultCode).toBe('LK7008');
      const other = await generateKeyPair('ES256');
      expect((await run(checkRequestObject, ro(await sign({ response_type: 'code' }, undefined, other.privateKey))))?.code).toBe('invalid_request_object');
      expect((await run(checkRequestObject, ro(await sign({ iss: 'someone-else' }))))?.resultCode).toBe('LK7008');
      expect((await run(checkRequestObject, ro(await sign({ aud: 'https://other.example' }))))?.resultCode).toBe('LK7008');
      expect((await run(checkRequestObject, ro(await sign({ exp: Math.floor(clock / 1000) - 60 }))))?.resultCode).toBe('LK7008');
      expect((await run(checkRequestObject, ro(await sign({}, { alg: 'ES256', kid: 'k1', typ: 'at+jwt' }))))?.resultCode).toBe('LK7008');
      expect((await run(checkRequestObject, ro('a.b.c.d.e')))?.resultCode).toBe('LK7008');
    });

    it('RFC 9101 §6.3, OIDC Core §6.1: client_id and response_type beside the object must agree with it; no nesting', async () => {
      expect((await run(checkRequestObject, ro(await sign({ client_id: 'not-me' }))))?.resultCode).toBe('LK7027');
      expect((await run(checkRequestObject, ro(await sign({ response_type: 'code' }), signer, { response_type: 'id_token' })))?.resultCode).toBe('LK7027');
      expect(await run(checkRequestObject, ro(await sign({ response_type: 'code' }), signer, { response_type: 'code' }))).toBeUndefined();
      expect((await run(checkRequestObject, ro(await sign({ request_uri: 'https://x.example/r' }))))?.resultCode).toBe('LK7009');
      expect((await run(checkRequestObject, state({ request: 'x', request_uri: 'https://x.example/r' }, signer)))?.resultCode).toBe('LK7009');
    });

    it('OIDC Registration §2: alg none is refused from a client that registered a signing alg, accepted with none or no alg registered (none: only unsigned)', async () => {
      const unsigned = new UnsecuredJWT({ response_type: 'code', scope: 'openid' }).encode();
      const strict = { ...signer, requestObjectSigningAlg: 'ES256' };
      expect((await run(checkRequestObject, ro(unsigned, strict)))?.resultCode).toBe('LK7008');
      expect(await run(checkRequestObject, ro(unsigned, signer))).toBeUndefined(); // no alg registered: any, none included
      const s = ro(unsigned, unsignedOk);
      expect(await run(checkRequestObject, s)).toBeUndefined();
      expect(s.params.get('scope')).toBe('openid');
      expect((await run(checkRequestObject, ro(await sign({ response_type: 'code' }), unsignedOk)))?.resultCode).toBe('LK7008');
    });

    it('RFC 9101 §7, OIDC Core §3.1.2.6: a request object error goes to the redirect_uri sent beside it when it matches as checkRedirectUri matches (RFC 8252 §7.3 any loopback port)', async () => {
      const native = { ...signer, applicationType: 'native' as const, redirectUris: ['http://127.0.0.1/cb'] };
      const bad = await sign({ response_type: 'code', exp: Math.floor(clock / 1000) - 60 });
      const loopback = ro(bad, native, { redirect_uri: 'http://127.0.0.1:49152/cb', state: 'outer' });
      expect((await run(checkRequestObject, loopback))?.resultCode).toBe('LK7008');
      expect(loopback.redirectUri).toBe('http://127.0.0.1:49152/cb');
      expect(loopback.request.state).toBe('outer');
      // The same URI passes checkRedirectUri, so it is where any other error of this request would go.
      const plain = state({ client_id: native.clientId, redirect_uri: 'http://127.0.0.1:49152/cb' }, native);
      expect(await run(checkRedirectUri, plain)).toBeUndefined();
      // Not registered (another path, an invalid port, or a web client's loopback URI on another port): no redirect.
      for (const [client, uri] of [[native, 'http://127.0.0.1:49152/other'], [native, 'http://127.0.0.1:99999/cb'], [{ ...native, applicationType: 'web' as const }, 'http://127.0.0.1:49152/cb']] as const) {
        const s = ro(bad, client, { redirect_uri: uri });
        expect((await run(checkRequestObject, s))?.resultCode).toBe('LK7008');
        expect(s.redirectUri).toBeUndefined();
      }
    });

    it('a client with no registered keys cannot send a signed request object', async () => {
      expect((await run(checkRequestObject, ro(await sign({ response_type: 'code' }), codeOnly)))?.resultCode).toBe('LK7010');
    });

    it('RFC 9101 §5.2: request_uri by reference is off by default (request_uri_not_supported); when on, only registered https URIs', async () => {
      expect((await run(checkRequestObject, state({ request_uri: 'https://rp.example/ro.jwt' }, signer)))?.code).toBe('request_uri_not_supported');
      t.ctx.tenant.settings.allowRemoteRequestUri = true;
      try {
        expect((await run(checkRequestObject, state({ request_uri: 'https://rp.example/ro.jwt' }, signer)))?.code).toBe('invalid_request_uri');
      } finally {
        t.ctx.tenant.settings.allowRemoteRequestUri = false;
      }
    });
  });

  describe('device authorization', () => {
    it('RFC 8628 §3.1: only clients registered for the device grant', async () => {
      expect((await run(checkDeviceGrant, state({}, codeOnly)))?.resultCode).toBe('LK7026');
      expect(await run(checkDeviceGrant, state({}, { ...codeOnly, grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'] }))).toBeUndefined();
    });

    it('RFC 8628 §6.1: user codes are 8 of 20 consonants (≥ 34 bits), shown XXXX-XXXX, entered in any case with or without the hyphen', () => {
      const seen = new Set<string>();
      for (let i = 0; i < 200; i++) {
        const c = newUserCode(secureRandom);
        expect(c).toMatch(new RegExp(`^[${USER_CODE_ALPHABET}]{8}$`));
        seen.add(c);
      }
      expect(seen.size).toBe(200);
      // Rejection sampling: bytes 240-255 would bias the first 16 letters, so they are skipped.
      const skewed = (k: number) => Buffer.from(Array.from({ length: k }, (_, i) => (i % 2 ? 255 : 0)));
      expect(newUserCode(skewed)).toBe('BBBBBBBB');
      expect(Math.log2(USER_CODE_ALPHABET.length ** 8)).toBeGreaterThan(34);
      expect(formatUserCode('BCDFGHJK')).toBe('BCDF-GHJK');
      expect(normalizeUserCode('bcdf-ghjk')).toBe('BCDFGHJK');
      expect(normalizeUserCode(' bcdf ghjk ')).toBe('BCDFGHJK');
      expect(normalizeUserCode('BCDF-GHJA')).toBeUndefined(); // a vowel is never in a code
      expect(normalizeUserCode('BCDF')).toBeUndefined();
    });
  });

  describe('client metadata', () => {
    const meta = (m: Record<string, unknown>) => validateClientMetadata({ redirect_uris: [CB], ...m });

    it('RFC 7591 §2.1: response types and grant types must agree both ways', () => {
      expect(meta({ grant_types: ['authorization_code', 'implicit'], response_types: ['code', 'token id_token'] }).metadata.responseTypes).toEqual(['code', 'id_token token']);
      expect(() => meta({ response_types: ['code id_token'] })).toThrow(/implicit/);
      expect(() => meta({ grant_types: ['implicit'], response_types: ['code id_token'] })).toThrow(/authorization_code/);
      expect(() => meta({ grant_types: ['authorization_code', 'implicit'], response_types: ['code'] })).toThrow(/implicit/);
      expect(() => meta({ grant_types: ['implicit'], response_types: ['code banana'] })).toThrow(/not supported/);
      expect(meta({ grant_types: ['implicit'], response_types: ['id_token'] }).metadata.grantTypes).toEqual(['implicit']);
    });

    it('RFC 7591 §2: jwks holds public keys only, and not together with jwks_uri', () => {
      expect(() => meta({ jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'secret' }] } })).toThrow(/public/);
      expect(() => meta({ jwks: { keys: [{ kty: 'oct', k: 'secret' }] } })).toThrow(/public/);
      expect(() => meta({ jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }] }, jwks_uri: 'https://rp.example/jwks' })).toThrow(/both/);
      expect(() => meta({ jwks_uri: 'http://rp.example/jwks' })).toThrow(/https/);
    });

    it('device-only clients need no redirect URI', () => {
      const m = validateClientMetadata({ grant_types: ['urn:ietf:params:oauth:grant-type:device_code'], token_endpoint_auth_method: 'none' });
      expect(m.metadata.responseTypes).toEqual([]);
    });
  });
});
