import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorization, checksFor } from '../../src/engine/authorization/index.js';
import { type CheckState, checkPushedRequestUri, checkRedirectUri, checkRequestObject } from '../../src/engine/authorization/request.js';
import { checkSignedRequestObject } from '../../src/engine/authorization/signed-request-object.js';
import { clientToJson, validateClientMetadata } from '../../src/engine/client-metadata.js';
import { nowSeconds } from '../../src/engine/context.js';
import { discoveryDocument } from '../../src/engine/discovery.js';
import { OAuthError } from '../../src/engine/errors.js';
import { Params } from '../../src/engine/params.js';
import { pushedAuthorizationRequest } from '../../src/engine/par.js';
import type { ClientRecord } from '../../src/store/types.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

const CB = 'https://rp.example/cb';

async function run(check: (s: CheckState) => unknown, s: CheckState): Promise<OAuthError | undefined> {
  try {
    await check(s);
    return undefined;
  } catch (e) {
    if (e instanceof OAuthError) return e;
    throw e;
  }
}

describe('require_signed_request_object (RFC 9101 §10.5), engine units', () => {
  let t: TestLatchkey;
  const clock = Date.UTC(2030, 0, 1);
  let jwk: Record<string, unknown>;
  let keys: Awaited<ReturnType<typeof generateKeyPair>>;
  let strict: ClientRecord; // registered require_signed_request_object: true
  let lax: ClientRecord; // same keys, no requirement
  let strictSecret: string;

  const state = (params: Record<string, string>, client: ClientRecord, endpoint: CheckState['endpoint'] = 'authorization', request: CheckState['request'] = {}): CheckState => ({
    params: Params.fromRecord(params),
    ctx: t.ctx,
    client,
    request: { ...request },
    endpoint,
  });
  const sign = (payload: Record<string, unknown>) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'oauth-authz-req+jwt' }).setIssuedAt(Math.floor(clock / 1000)).sign(keys.privateKey);
  const unsigned = (payload: Record<string, unknown>) => new UnsecuredJWT(payload).encode();
  const inner = { response_type: 'code', scope: 'openid', redirect_uri: CB, state: 's1' };

  beforeAll(async () => {
    t = await openTestLatchkey({}, { clock: () => clock });
    keys = await generateKeyPair('ES256', { extractable: true });
    jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const find = async (id: string) => (await t.ctx.store.findClient(t.ctx.tenant.id, id))!;
    const created = await t.client({ redirect_uris: [CB], jwks: { keys: [jwk] }, require_signed_request_object: true });
    strict = await find(created.clientId);
    strictSecret = created.clientSecret!;
    lax = await find((await t.client({ redirect_uris: [CB], jwks: { keys: [jwk] } })).clientId);
  });
  afterAll(() => t.close());

  describe('client metadata', () => {
    it('RFC 9101 §10.5: require_signed_request_object is registered as a boolean, stored, and returned', () => {
      const v = validateClientMetadata({ redirect_uris: [CB], jwks: { keys: [jwk] }, require_signed_request_object: true });
      expect(v.metadata.requireSignedRequestObject).toBe(true);
      expect(strict.requireSignedRequestObject).toBe(true);
      expect(clientToJson(strict).require_signed_request_object).toBe(true);
      expect(clientToJson(lax).require_signed_request_object).toBeUndefined(); // omitted: false (RFC 9101 §10.5)
      expect(() => validateClientMetadata({ redirect_uris: [CB], jwks: { keys: [jwk] }, require_signed_request_object: 'yes' })).toThrow(/require_signed_request_object/);
    });

    it('RFC 9101 §10.5: a client requiring signed request objects cannot register alg none or go without keys', () => {
      const err = (meta: Record<string, unknown>) => {
        try {
          validateClientMetadata(meta);
          return undefined;
        } catch (e) {
          return e as OAuthError;
        }
      };
      const none = err({ redirect_uris: [CB], jwks: { keys: [jwk] }, require_signed_request_object: true, request_object_signing_alg: 'none' });
      expect(none?.code).toBe('invalid_client_metadata');
      expect(none?.description).toMatch(/request_object_signing_alg none/);
      const keyless = err({ redirect_uris: [CB], require_signed_request_object: true });
      expect(keyless?.code).toBe('invalid_client_metadata');
      expect(keyless?.description).toMatch(/jwks or jwks_uri/);
      expect(err({ redirect_uris: [CB], require_signed_request_object: false })).toBeUndefined();
    });
  });

  describe('the checks', () => {
    it('the requirement is checked after the redirect URI is verified, at the authorization and PAR endpoints, not for the device grant', () => {
      for (const e of ['authorization', 'par'] as const) {
        const col = checksFor(e);
        expect(col).toContain(checkSignedRequestObject);
        expect(col.indexOf(checkSignedRequestObject)).toBeGreaterThan(col.indexOf(checkRedirectUri));
      }
      expect(checksFor('device_authorization')).not.toContain(checkSignedRequestObject);
    });

    it('RFC 9101 §10.5: a client registered with require_signed_request_object is refused plain parameters (invalid_request, LK7050); a signed object passes', async () => {
      const plain = await run(checkSignedRequestObject, state(inner, strict));
      expect(plain?.code).toBe('invalid_request');
      expect(plain?.resultCode).toBe('LK7050');
      expect((await run(checkSignedRequestObject, state(inner, strict, 'par')))?.code).toBe('invalid_request'); // RFC 9126 §2.3
      const s = state({ client_id: strict.clientId, request: await sign(inner) }, strict);
      expect(await run(checkRequestObject, s)).toBeUndefined();
      expect(s.requestObjectAlg).toBe('ES256');
      expect(await run(checkSignedRequestObject, s)).toBeUndefined();
      expect(await run(checkSignedRequestObject, state(inner, lax))).toBeUndefined(); // no requirement: plain is fine
    });

    it('RFC 9101 §10.5: an alg none request object is refused under the requirement: invalid_request_object at the authorization endpoint, invalid_request at PAR (RFC 9126 §2.3)', async () => {
      const at = await run(checkRequestObject, state({ client_id: strict.clientId, request: unsigned(inner) }, strict));
      expect(at?.code).toBe('invalid_request_object');
      expect(at?.resultCode).toBe('LK7051');
      const par = await run(checkRequestObject, state({ client_id: strict.clientId, request: unsigned(inner) }, strict, 'par'));
      expect(par?.code).toBe('invalid_request');
      expect(par?.resultCode).toBe('LK7051');
      // The same object from the client without the requirement (no alg registered: none accepted, OIDC Registration §2).
      const ok = state({ client_id: lax.clientId, request: unsigned(inner) }, lax);
      expect(await run(checkRequestObject, ok)).toBeUndefined();
      expect(ok.requestObjectAlg).toBe('none');
      expect(await run(checkSignedRequestObject, ok)).toBeUndefined();
    });

    it('RFC 9101 §10.5: the refusal of an unsigned object goes back only through a registered redirect_uri sent beside it (RFC 9101 §7)', async () => {
      const beside = state({ client_id: strict.clientId, request: unsigned(inner), redirect_uri: CB, state: 'outer' }, strict);
      expect((await run(checkRequestObject, beside))?.resultCode).toBe('LK7051');
      expect(beside.redirectUri).toBe(CB);
      expect(beside.request.state).toBe('outer');
      const inside = state({ client_id: strict.clientId, request: unsigned(inner) }, strict);
      expect((await run(checkRequestObject, inside))?.resultCode).toBe('LK7051');
      expect(inside.redirectUri).toBeUndefined();
    });

    it('RFC 9101 §10.5: the tenant setting requireSignedRequestObject applies to every client', async () => {
      t.ctx.tenant.settings.requireSignedRequestObject = true;
      try {
        expect((await run(checkSignedRequestObject, state(inner, lax)))?.resultCode).toBe('LK7050');
        expect((await run(checkRequestObject, state({ client_id: lax.clientId, request: unsigned(inner) }, lax)))?.resultCode).toBe('LK7051');
        const s = state({ client_id: lax.clientId, request: await sign(inner) }, lax);
        expect(await run(checkRequestObject, s)).toBeUndefined();
        expect(await run(checkSignedRequestObject, s)).toBeUndefined();
      } finally {
        t.ctx.tenant.settings.requireSignedRequestObject = false;
      }
    });

    it('RFC 9126 §3: a pushed request carries the alg of the request object it was pushed with; plain pushed parameters do not satisfy the requirement', async () => {
      const push = async (clientId: string, data: Record<string, unknown>) => {
        const handle = `h${Math.random().toString(36).slice(2)}`;
        await t.ctx.store.insertPushedRequest({ tenantId: t.ctx.tenant.id, hash: t.ctx.hasher.hash(handle), clientId, expiresAt: nowSeconds(t.ctx) + 60, consumedAt: null, data });
        return `urn:ietf:params:oauth:request_uri:${handle}`;
      };
      const parameters = new URLSearchParams({ ...inner, client_id: strict.clientId }).toString();
      const signed = state({ client_id: strict.clientId, request_uri: await push(strict.clientId, { parameters, requestObjectAlg: 'ES256' }) }, strict);
      expect(await run(checkPushedRequestUri, signed)).toBeUndefined();
      expect(await run(checkSignedRequestObject, signed)).toBeUndefined();
      // Pushed before the client required signing (a request_uri lives up to 60 s): refused when used.
      const plain = state({ client_id: strict.clientId, request_uri: await push(strict.clientId, { parameters }) }, strict);
      expect(await run(checkPushedRequestUri, plain)).toBeUndefined();
      expect((await run(checkSignedRequestObject, plain))?.resultCode).toBe('LK7050');
      const none = state({ client_id: strict.clientId, request_uri: await push(strict.clientId, { parameters, requestObjectAlg: 'none' }) }, strict);
      expect(await run(checkPushedRequestUri, none)).toBeUndefined();
      expect((await run(checkSignedRequestObject, none))?.code).toBe('invalid_request_object');
    });
  });

  describe('the endpoints', () => {
    it('RFC 9101 §10.5: authorization() redirects the LK7050 refusal of plain parameters to the client, with state', async () => {
      const r = await authorization({ parameters: new URLSearchParams({ client_id: strict.clientId, ...inner }).toString() }, t.ctx);
      expect(r.action).toBe('LOCATION');
      expect(r.resultCode).toBe('LK7050');
      const u = new URL(r.responseContent);
      expect(u.searchParams.get('error')).toBe('invalid_request');
      expect(u.searchParams.get('state')).toBe('s1');
      const ok = await authorization({ parameters: new URLSearchParams({ client_id: strict.clientId, request: await sign(inner) }).toString() }, t.ctx);
      expect(ok.action).toBe('INTERACTION');
    });

    it('RFC 9126 §2.3, §3: the PAR endpoint refuses plain and unsigned pushes from such a client with invalid_request, and remembers a signed push', async () => {
      const par = (body: Record<string, string>) =>
        pushedAuthorizationRequest({ parameters: new URLSearchParams(body).toString(), contentType: 'application/x-www-form-urlencoded', clientId: strict.clientId, clientSecret: strictSecret }, t.ctx);
      const plain = await par(inner);
      expect(plain.action).toBe('BAD_REQUEST');
      expect(plain.resultCode).toBe('LK7050');
      expect(JSON.parse(plain.responseContent).error).toBe('invalid_request');
      const none = await par({ request: unsigned(inner) });
      expect(none.resultCode).toBe('LK7051');
      expect(JSON.parse(none.responseContent).error).toBe('invalid_request');
      const signed = await par({ request: await sign(inner) });
      expect(signed.action).toBe('CREATED');
      const uri = JSON.parse(signed.responseContent).request_uri as string;
      const r = await authorization({ parameters: new URLSearchParams({ client_id: strict.clientId, request_uri: uri }).toString() }, t.ctx);
      expect(r.action).toBe('INTERACTION');
    });
  });

  describe('discovery', () => {
    it('RFC 9101 §10.5: require_signed_request_object is false by default and true with the setting, which also drops none from the algs', () => {
      for (const kind of ['openid', 'oauth'] as const) {
        const off = discoveryDocument('https://as.example', kind);
        expect(off.require_signed_request_object).toBe(false);
        expect(off.request_object_signing_alg_values_supported).toContain('none');
        const on = discoveryDocument('https://as.example', kind, { settings: { requireSignedRequestObject: true } });
        expect(on.require_signed_request_object).toBe(true);
        expect(on.request_object_signing_alg_values_supported).not.toContain('none');
        expect(on.request_object_signing_alg_values_supported).toContain('ES256');
      }
    });
  });
});
