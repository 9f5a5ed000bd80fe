import { createPublicKey, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { JWT_BEARER_ASSERTION_TYPE } from '../../src/engine/client-assertion.js';
import { verifyDpopProof } from '../../src/engine/dpop.js';
import { verifyRequestObject } from '../../src/engine/authorization/request-object.js';
import { endSessionRequest } from '../../src/engine/logout.js';
import { token } from '../../src/engine/token/index.js';
import type { EngineContext } from '../../src/engine/context.js';
import { registerClient } from '../../src/services/clients.js';
import { createTenant } from '../../src/services/tenants.js';
import { mintIdToken } from '../../src/tokens/id-token.js';
import { mintAccessToken } from '../../src/tokens/access-token.js';
import { signJwt } from '../../src/tokens/jwt.js';
import { lookupToken } from '../../src/tokens/lookup.js';
import { verifyOwnIdToken } from '../../src/tokens/verify-own.js';
import type { ClientRecord } from '../../src/store/types.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

/*
 * Attacks on every place Latchkey accepts a JWT (RFC 8725): alg confusion, keys named by the token itself, token-type
 * confusion, replay and time, malformed input. Each must end in the spec's error, never in acceptance or a 500.
 */

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
/** A JWS with the given header and payload (raw JSON text allowed) and a signature of garbage or empty. */
const rawJws = (header: unknown, payload: unknown, sig = '') => `${b64(header)}.${b64(payload)}.${sig}`;

async function keyPair(alg = 'ES256'): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: randomUUID(), alg, use: 'sig' };
  return { privateKey, publicKey, jwk };
}

describe('JWT attacks on the engine', () => {
  let t: TestLatchkey;
  let now = Date.now();
  const sec = () => Math.floor(now / 1000);
  let pk: Awaited<ReturnType<typeof keyPair>>;
  let attacker: Awaited<ReturnType<typeof keyPair>>;
  let pkClient: string;
  let webClient: ClientRecord;
  let other: TestLatchkey['ctx'];

  beforeAll(async () => {
    t = await openTestLatchkey({}, { clock: () => now });
    pk = await keyPair();
    attacker = await keyPair();
    pkClient = (await t.client({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [pk.jwk] } })).clientId;
    const { clientId } = await t.client({ redirect_uris: ['https://rp.example/cb'], jwks: { keys: [pk.jwk] }, access_token_format: 'jwt', post_logout_redirect_uris: ['https://rp.example/bye'] });
    webClient = (await t.ctx.store.findClient(t.ctx.tenant.id, clientId))!;
    await createTenant(t.lk, { id: 'tenant-b' });
    other = await t.lk.context('tenant-b');
  });
  afterAll(() => t.close());

  const assertionClaims = (clientId: string, extra: Record<string, unknown> = {}) => ({
    iss: clientId, sub: clientId, aud: t.ctx.tenant.issuer, jti: randomUUID(), iat: sec(), exp: sec() + 60, ...extra,
  });
  const signWith = (key: CryptoKey | Uint8Array, header: Record<string, unknown>, payload: Record<string, unknown>) =>
    new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key);
  const withAssertion = (a: string, ctx: EngineContext = t.ctx) =>
    token({ parameters: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: a }).toString() }, ctx);

  describe('client assertions (RFC 7523 §3, OIDC Core §9)', () => {
    it('control: a well-formed private_key_jwt assertion authenticates', async () => {
      const r = await withAssertion(await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid }, assertionClaims(pkClient)));
      expect(r.action).toBe('OK');
    });

    it('RFC 8725 §3.1: alg none is invalid_client', async () => {
      const r = await withAssertion(rawJws({ alg: 'none' }, assertionClaims(pkClient)));
      expect(r.action).toBe('INVALID_CLIENT');
    });

    it('RFC 8725 §3.1: HS256 keyed with the client\'s public key (JWK JSON, PEM, raw x) is invalid_client', async () => {
      const pem = await exportSPKI(pk.publicKey);
      for (const secret of [JSON.stringify(pk.jwk), pem, pk.jwk.x!]) {
        const r = await withAssertion(await signWith(new TextEncoder().encode(secret), { alg: 'HS256', kid: pk.jwk.kid }, assertionClaims(pkClient)));
        expect(r.action).toBe('INVALID_CLIENT');
      }
    });

    it('RFC 8725 §3.1: an alg that does not fit the key (ES384 header, PS256 header on an EC kid) is invalid_client', async () => {
      const good = await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid }, assertionClaims(pkClient));
      const [, p, s] = good.split('.');
      for (const alg of ['ES384', 'PS256', 'RS256', 'EdDSA']) {
        const r = await withAssertion(`${b64({ alg, kid: pk.jwk.kid })}.${p}.${s}`);
        expect(r.action).toBe('INVALID_CLIENT');
      }
    });

    it('RFC 7515 §4.1.3-4.1.6: keys named by the token itself (jwk, jku, x5u, x5c) are never used', async () => {
      const jwk = { ...attacker.jwk };
      delete (jwk as { kid?: string }).kid;
      for (const h of [{ jwk }, { jku: 'https://attacker.example/jwks' }, { x5u: 'https://attacker.example/cert' }, { x5c: ['MIIB'] }, { kid: attacker.jwk.kid, jwk: attacker.jwk }]) {
        const r = await withAssertion(await signWith(attacker.privateKey, { alg: 'ES256', ...h }, assertionClaims(pkClient)));
        expect(r.action).toBe('INVALID_CLIENT');
      }
    });

    it('RFC 7515 §4.1.11, RFC 7797: crit and b64:false are refused', async () => {
      for (const h of [{ crit: ['exp'] }, { crit: ['urn:x'], 'urn:x': 1 }, { b64: false, crit: ['b64'] }]) {
        let a: string;
        try {
          a = await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid, ...h }, assertionClaims(pkClient));
        } catch {
          a = rawJws({ alg: 'ES256', kid: pk.jwk.kid, ...h }, assertionClaims(pkClient), 'AAAA');
        }
        const r = await withAssertion(a);
        expect(r.action).toBe('INVALID_CLIENT');
      }
    });

    it('RFC 8725 §3.11, RFC 9101 §10.8: a JWT typed as something else (request object, DPoP proof, access token, logout token, SET) is not a client assertion', async () => {
      for (const typ of ['oauth-authz-req+jwt', 'dpop+jwt', 'at+jwt', 'application/at+jwt', 'logout+jwt', 'secevent+jwt', 'token-introspection+jwt']) {
        const r = await withAssertion(await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid, typ }, assertionClaims(pkClient)));
        expect(r.action, typ).toBe('INVALID_CLIENT');
        expect(r.resultCode, typ).toBe('LK7370');
      }
      // Untyped, JWT, and draft-ietf-oauth-rfc7523bis's client-authentication+jwt are assertions.
      for (const typ of [undefined, 'JWT', 'client-authentication+jwt', 'application/client-authentication+jwt']) {
        const r = await withAssertion(await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid, ...(typ ? { typ } : {}) }, assertionClaims(pkClient)));
        expect(r.action, String(typ)).toBe('OK');
      }
    });

    it('RFC 7519 §4.1.4: exp as a string, exp 1e400 (Infinity), iat as a string are invalid_client', async () => {
      const bad = [
        `{"iss":"${pkClient}","sub":"${pkClient}","aud":"${t.ctx.tenant.issuer}","jti":"${randomUUID()}","exp":"${sec() + 60}"}`,
        `{"iss":"${pkClient}","sub":"${pkClient}","aud":"${t.ctx.tenant.issuer}","jti":"${randomUUID()}","exp":1e400}`,
        `{"iss":"${pkClient}","sub":"${pkClient}","aud":"${t.ctx.tenant.issuer}","jti":"${randomUUID()}","exp":${sec() + 60},"iat":"0"}`,
        `{"iss":"${pkClient}","sub":"${pkClient}","aud":"${t.ctx.tenant.issuer}","jti":"${randomUUID()}","exp":${sec() + 60},"nbf":1e400}`,
      ];
      for (const payload of bad) {
        const r = await withAssertion(await new SignJWT(JSON.parse(payload)).setProtectedHeader({ alg: 'ES256', kid: pk.jwk.kid }).sign(pk.privateKey).catch(() => rawJws({ alg: 'ES256' }, payload, 'AAAA')));
        expect(r.action, payload).toBe('INVALID_CLIENT');
      }
    });

    it('RFC 7523 §3: a jti is accepted once, also when the assertion is re-encoded with another signature of the same claims', async () => {
      const claims = assertionClaims(pkClient);
      expect((await withAssertion(await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid }, claims))).action).toBe('OK');
      // ECDSA signatures are randomised: a second signature over the same claims is a different string, same jti.
      expect((await withAssertion(await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid }, claims))).resultCode).toBe('LK8005');
    });

    it('malformed assertions are invalid_client, never a 500: not JSON, deep JSON, duplicate keys, huge', async () => {
      const deep = '['.repeat(4000) + ']'.repeat(4000);
      const cases = [
        rawJws({ alg: 'ES256' }, 'not json', 'AAAA'),
        rawJws({ alg: 'ES256' }, `{"iss":"${pkClient}","sub":"${pkClient}","x":${deep}}`, 'AAAA'),
        rawJws('{"alg":"none","alg":"ES256"}', `{"iss":"x","sub":"${pkClient}","iss":"${pkClient}"}`, 'AAAA'),
        rawJws({ alg: 'ES256' }, { iss: pkClient, sub: pkClient, pad: 'x'.repeat(20_000) }, 'AAAA'),
        rawJws({ alg: 'ES256' }, '[]', 'AAAA'),
        rawJws({ alg: 'ES256' }, 'null', 'AAAA'),
        'a.b',
        'a.b.c.d.e',
        '...',
      ];
      for (const a of cases) {
        const r = await withAssertion(a);
        expect(r.action, a.slice(0, 60)).toBe('INVALID_CLIENT');
      }
      // A signed one with duplicate payload keys: what jose verifies is what we read (JSON.parse keeps the last).
      const dup = `{"iss":"someone","sub":"${pkClient}","aud":"${t.ctx.tenant.issuer}","jti":"${randomUUID()}","exp":${sec() + 60},"iss":"${pkClient}"}`;
      const header = b64({ alg: 'ES256', kid: pk.jwk.kid });
      const input = `${header}.${b64(dup)}`;
      const { sign } = await import('node:crypto');
      const keyObj = (await import('node:crypto')).createPrivateKey({ key: (await exportJWK(pk.privateKey)) as never, format: 'jwk' });
      const sig = sign('sha256', Buffer.from(input), { key: keyObj, dsaEncoding: 'ieee-p1363' }).toString('base64url');
      expect((await withAssertion(`${input}.${sig}`)).action).toBe('OK');
    });

    it('RFC 6749 Appendix A.1, RFC 7521 §4.2.1: a sub no client_id can be (NUL, a lone surrogate, a space, non-ASCII) is invalid_client on every store, not the store\'s 400', async () => {
      for (const sub of [`${pkClient}\u0000`, '\ud800', `${pkClient} `, 'clïent']) {
        const r = await withAssertion(rawJws({ alg: 'ES256' }, { iss: sub, sub }, 'AAAA'));
        expect(r.action, JSON.stringify(sub)).toBe('INVALID_CLIENT');
        expect(r.resultCode, JSON.stringify(sub)).toBe('LK8001');
      }
    });

    it('RFC 7521 §4.2.1: a signed assertion whose jti holds a NUL is invalid_client on every store', async () => {
      const r = await withAssertion(await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid }, assertionClaims(pkClient, { jti: `j\u0000${randomUUID()}` })));
      expect(r.action).toBe('INVALID_CLIENT');
      expect(r.resultCode).toBe('LK8005');
    });

    it('RFC 8725 §2.8: our own JWTs are no assertion, even for a client that registered our public keys as its own', async () => {
      const { clientId } = await t.client({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: (await t.ctx.keys()).jwks });
      const client = (await t.ctx.store.findClient(t.ctx.tenant.id, clientId))!;
      const at = await mintAccessToken(t.ctx, { client, subject: null, scope: [], grantId: null, format: 'jwt' } as never);
      const idt = await mintIdToken(t.ctx, { client, subject: clientId });
      const k = (await t.ctx.keys()).signingKey('ES256');
      const iss = t.ctx.tenant.issuer;
      const n = sec();
      const ours = [
        at.token, idt,
        signJwt(k, { iss, aud: clientId, exp: n + 60, iat: n, code: 'c' }), // JARM
        signJwt(k, { iss, aud: clientId, iat: n, token_introspection: { active: true } }, { typ: 'token-introspection+jwt' }),
        signJwt(k, { iss, sub: clientId, aud: clientId, iat: n }), // signed UserInfo
        signJwt(k, { iss, sub: clientId, aud: clientId, iat: n, exp: n + 60, jti: 'x', events: {} }, { typ: 'logout+jwt' }),
      ];
      for (const jwt of ours) expect((await withAssertion(jwt)).action).toBe('INVALID_CLIENT');
    });

    it('tenants: an assertion made for tenant A is refused at tenant B, even by a client of the same keys', async () => {
      const { json } = await registerClient(other, { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [pk.jwk] } });
      const clientId = json.client_id as string;
      // Made for A (aud A's issuer), by a client that also exists at B under that id.
      const a = await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid }, { ...assertionClaims(clientId) });
      expect((await withAssertion(a, other)).resultCode).toBe('LK8003');
    });
  });

  describe('our own JWTs presented back: id_token_hint, token exchange, access tokens (RFC 8725 §3.11)', () => {
    it('alg none, HS256 keyed with our public key, and a forged kid are never our ID tokens', async () => {
      const keys = await t.ctx.keys();
      const rsa = keys.jwks.keys.find((k) => k.kty === 'RSA')!;
      const claims = { iss: t.ctx.tenant.issuer, sub: 'u1', aud: webClient.clientId, exp: sec() + 60, iat: sec() };
      const pem = createPublicKey({ key: rsa as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
      const forged = [
        rawJws({ alg: 'none', kid: rsa.kid }, claims),
        await signWith(new TextEncoder().encode(pem), { alg: 'HS256', kid: rsa.kid }, claims),
        await signWith(new TextEncoder().encode(JSON.stringify(rsa)), { alg: 'HS256', kid: rsa.kid }, claims),
        await signWith(attacker.privateKey, { alg: 'ES256', kid: rsa.kid }, claims),
        await signWith(attacker.privateKey, { alg: 'ES256', jwk: attacker.jwk }, claims),
        await signWith(attacker.privateKey, { alg: 'ES256', kid: '__proto__' }, claims),
        await signWith(attacker.privateKey, { alg: 'ES256', kid: 'constructor' }, claims),
      ];
      for (const jwt of forged) {
        expect(await verifyOwnIdToken(t.ctx, jwt, { allowExpired: true })).toBeUndefined();
        expect((await lookupToken(t.ctx, jwt)).active).toBe(false);
        const r = await endSessionRequest({ parameters: new URLSearchParams({ id_token_hint: jwt }).toString() }, t.ctx);
        expect(r.action).toBe('BAD_REQUEST');
      }
    });

    it('OIDC Core §2: our JARM responses, signed UserInfo responses, introspection answers and logout tokens are not ID tokens', async () => {
      const keys = await t.ctx.keys();
      const k = keys.signingKey('RS256');
      const iss = t.ctx.tenant.issuer;
      const aud = webClient.clientId;
      const others = [
        signJwt(k, { iss, aud, exp: sec() + 60, iat: sec(), code: 'abc', state: 'xyz' }), // JARM
        signJwt(k, { sub: 'u1', iss, aud, iat: sec() }), // signed UserInfo
        signJwt(k, { iss, aud, iat: sec(), token_introspection: { active: true, sub: 'u1' } }, { typ: 'token-introspection+jwt' }),
        signJwt(k, { iss, aud, iat: sec(), exp: sec() + 120, jti: 'j', sub: 'u1', events: { 'http://schemas.openid.net/event/backchannel-logout': {} } }, { typ: 'logout+jwt' }),
      ];
      for (const jwt of others) expect(await verifyOwnIdToken(t.ctx, jwt, { allowExpired: false })).toBeUndefined();
      // RFC 9068 §4 at our own resources (UserInfo, introspection): none of them, nor an ID token, is an access token.
      for (const jwt of [...others, await mintIdToken(t.ctx, { client: webClient, subject: 'u1' })]) expect((await lookupToken(t.ctx, jwt)).active).toBe(false);
    });

    it('tenants: an ID token or a JWT access token of tenant A is nothing at tenant B', async () => {
      const idt = await mintIdToken(t.ctx, { client: webClient, subject: 'u1' });
      const at = await mintAccessToken(t.ctx, { client: webClient, subject: 'u1', scope: ['openid'], grantId: null, format: 'jwt' } as never);
      expect(decodeJwt(at.token).iss).toBe(t.ctx.tenant.issuer);
      expect(await verifyOwnIdToken(other, idt, { allowExpired: true })).toBeUndefined();
      expect((await lookupToken(other, at.token)).active).toBe(false);
      const r = await endSessionRequest({ parameters: new URLSearchParams({ id_token_hint: idt }).toString() }, other);
      expect(r.action).toBe('BAD_REQUEST');
      expect(r.resultCode).toBe('LK9001');
    });
  });

  describe('request objects (RFC 9101 §6)', () => {
    const ro = (extra: Record<string, unknown> = {}) => ({ iss: webClient.clientId, aud: t.ctx.tenant.issuer, client_id: webClient.clientId, response_type: 'code', redirect_uri: 'https://rp.example/cb', scope: 'openid', exp: sec() + 300, ...extra });
    const refused = async (jwt: string, client = webClient) => {
      try {
        await verifyRequestObject(t.ctx, client, jwt);
        return undefined;
      } catch (e) {
        return (e as { code?: string }).code;
      }
    };

    it('control: a signed request object verifies', async () => {
      expect(await refused(await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid, typ: 'oauth-authz-req+jwt' }, ro()))).toBeUndefined();
    });

    it('RFC 8725 §3.1: HS256 keyed with the client\'s public key, an alg not advertised, keys named by the token, crit: invalid_request_object', async () => {
      const cases = [
        await signWith(new TextEncoder().encode(JSON.stringify(pk.jwk)), { alg: 'HS256', kid: pk.jwk.kid }, ro()),
        await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid, crit: ['x'], x: 1 }, ro()).catch(() => rawJws({ alg: 'ES256', kid: pk.jwk.kid, crit: ['x'], x: 1 }, ro(), 'AAAA')),
        await signWith(attacker.privateKey, { alg: 'ES256', jwk: attacker.jwk }, ro()),
        await signWith(attacker.privateKey, { alg: 'ES256', jku: 'https://attacker.example/jwks', kid: attacker.jwk.kid }, ro()),
        rawJws({ alg: 'ES512', kid: pk.jwk.kid }, ro(), 'AAAA'),
        rawJws({ alg: 'ES256', kid: pk.jwk.kid, b64: false, crit: ['b64'] }, ro(), 'AAAA'),
      ];
      for (const jwt of cases) expect(await refused(jwt)).toBe('invalid_request_object');
    });

    it('RFC 9101 §4, RFC 7515 §4.1.9: typ may be the full media type application/oauth-authz-req+jwt, in any case', async () => {
      for (const typ of ['application/oauth-authz-req+jwt', 'Application/OAuth-Authz-Req+JWT', 'application/jwt', 'JWT']) {
        expect(await refused(await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid, typ }, ro())), typ).toBeUndefined();
      }
      expect(await refused(await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid, typ: 'application/dpop+jwt' }, ro()))).toBe('invalid_request_object');
    });

    it('RFC 9101 §10.8, RFC 8725 §3.11: a JWT typed as a DPoP proof, access token, logout token or client assertion is not a request object', async () => {
      for (const typ of ['dpop+jwt', 'at+jwt', 'logout+jwt', 'client-authentication+jwt']) {
        expect(await refused(await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid, typ }, ro())), typ).toBe('invalid_request_object');
      }
    });

    it('RFC 9101 §6.2: an expired object, one not yet valid, and one whose exp/nbf are not numbers are refused', async () => {
      for (const extra of [{ exp: sec() - 120 }, { nbf: sec() + 3600 }, { exp: String(sec() + 60) }, { nbf: 'soon' }]) {
        expect(await refused(await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid }, ro(extra))), JSON.stringify(extra)).toBe('invalid_request_object');
      }
    });

    it('RFC 9101 §6.1: our own ID token is no request object, even for a client that registered our keys', async () => {
      const { clientId } = await t.client({ redirect_uris: ['https://rp.example/cb'], jwks: (await t.ctx.keys()).jwks });
      const c = (await t.ctx.store.findClient(t.ctx.tenant.id, clientId))!;
      const idt = await mintIdToken(t.ctx, { client: c, subject: 'u1' });
      expect(await refused(idt, c)).toBe('invalid_request_object');
    });

    it('tenants: a request object made for tenant A (aud A) is refused at tenant B, by a client of the same keys there', async () => {
      const { json } = await registerClient(other, { redirect_uris: ['https://rp.example/cb'], jwks: { keys: [pk.jwk] } });
      const atB = (await other.store.findClient(other.tenant.id, json.client_id as string))!;
      const jwt = await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid }, ro({ iss: atB.clientId, client_id: atB.clientId }));
      await expect(verifyRequestObject(other, atB, jwt)).rejects.toMatchObject({ code: 'invalid_request_object' });
    });

    it('RFC 9101 §6.1: an encrypted (JWE) request object is refused, as not supported', async () => {
      expect(await refused('eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4R0NNIn0..AAAA.AAAA.AAAA')).toBe('invalid_request_object');
    });

    it('malformed request objects are invalid_request_object: not JSON, deep JSON, huge, duplicate keys', async () => {
      const deep = '['.repeat(4000) + ']'.repeat(4000);
      for (const jwt of [
        rawJws({ alg: 'ES256', kid: pk.jwk.kid }, 'nope', 'AAAA'),
        rawJws({ alg: 'ES256', kid: pk.jwk.kid }, `{"x":${deep}}`, 'AAAA'),
        rawJws({ alg: 'ES256', kid: pk.jwk.kid }, { x: 'y'.repeat(40_000) }, 'AAAA'),
        rawJws('{"alg":"none","alg":"ES256"}', ro()),
        rawJws('not json', ro(), 'AAAA'),
      ]) {
        expect(await refused(jwt)).toBe('invalid_request_object');
      }
      // RFC 7515 §4: duplicate header names resolve to the lexically last one, the same everywhere we parse: an
      // unsigned object then, judged as such (this client registered no signing alg, so none is allowed, OIDC Registration §2).
      expect(await refused(rawJws('{"alg":"ES256","alg":"none"}', ro()))).toBeUndefined();
    });
  });

  describe('DPoP proofs (RFC 9449 §4.3)', () => {
    const HTU = 'https://as.example/oauth/token';
    const proofClaims = (extra: Record<string, unknown> = {}) => ({ htm: 'POST', htu: HTU, jti: randomUUID(), iat: sec(), ...extra });
    const check = async (p: string) => {
      try {
        await verifyDpopProof(t.ctx, p, { htm: 'POST', htu: HTU, site: 'token' });
        return undefined;
      } catch (e) {
        return (e as { code?: string }).code;
      }
    };
    const pub = () => ({ kty: attacker.jwk.kty, crv: attacker.jwk.crv, x: attacker.jwk.x, y: attacker.jwk.y });

    it('control: a proof verifies', async () => {
      expect(await check(await signWith(attacker.privateKey, { alg: 'ES256', typ: 'dpop+jwt', jwk: pub() }, proofClaims()))).toBeUndefined();
    });

    it('RFC 9449 §4.3: alg none, HS256 (with a symmetric jwk), a jwk with a private part, no typ, another typ, jku instead of jwk: invalid_dpop_proof', async () => {
      const priv = await exportJWK(attacker.privateKey);
      const secret = new TextEncoder().encode('0123456789abcdef0123456789abcdef');
      const cases = [
        rawJws({ alg: 'none', typ: 'dpop+jwt', jwk: pub() }, proofClaims()),
        await signWith(secret, { alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: Buffer.from(secret).toString('base64url') } }, proofClaims()),
        await signWith(attacker.privateKey, { alg: 'ES256', typ: 'dpop+jwt', jwk: priv }, proofClaims()),
        await signWith(attacker.privateKey, { alg: 'ES256', jwk: pub() }, proofClaims()),
        await signWith(attacker.privateKey, { alg: 'ES256', typ: 'JWT', jwk: pub() }, proofClaims()),
        await signWith(attacker.privateKey, { alg: 'ES256', typ: 'dpop+jwt', jku: 'https://attacker.example/jwks' }, proofClaims()),
        await signWith(attacker.privateKey, { alg: 'ES256', typ: 'dpop+jwt', jwk: { ...pub(), kty: 'RSA' } }, proofClaims()),
        rawJws({ alg: 'RS256', typ: 'dpop+jwt', jwk: pub() }, proofClaims(), 'AAAA'),
        await signWith(attacker.privateKey, { alg: 'ES256', typ: 'dpop+jwt', jwk: pub(), crit: ['x'], x: 1 }, proofClaims()).catch(() => rawJws({ alg: 'ES256', typ: 'dpop+jwt', jwk: pub(), crit: ['x'], x: 1 }, proofClaims(), 'AAAA')),
      ];
      for (const p of cases) expect(await check(p)).toBe('invalid_dpop_proof');
    });

    it('RFC 9449 §4.3 step 11: iat as a string, 1e400, or missing is invalid_dpop_proof', async () => {
      for (const iat of [String(sec()), 'x', undefined]) {
        const claims = proofClaims({ iat });
        if (iat === undefined) delete (claims as { iat?: unknown }).iat;
        expect(await check(await signWith(attacker.privateKey, { alg: 'ES256', typ: 'dpop+jwt', jwk: pub() }, claims).catch(() => rawJws({ alg: 'ES256', typ: 'dpop+jwt', jwk: pub() }, claims, 'AAAA')))).toBe('invalid_dpop_proof');
      }
      expect(await check(rawJws({ alg: 'ES256', typ: 'dpop+jwt', jwk: pub() }, `{"htm":"POST","htu":"${HTU}","jti":"x","iat":1e400}`, 'AAAA'))).toBe('invalid_dpop_proof');
    });

    it('tenants: a proof made for tenant A\'s token endpoint is refused at tenant B\'s (RFC 9449 §4.3 step 9, htu)', async () => {
      const p = await signWith(attacker.privateKey, { alg: 'ES256', typ: 'dpop+jwt', jwk: pub() }, proofClaims({ htu: `${t.ctx.tenant.issuer}/oauth/token` }));
      await expect(verifyDpopProof(other, p, { htm: 'POST', htu: `${other.tenant.issuer}/oauth/token`, site: 'token' })).rejects.toMatchObject({ code: 'invalid_dpop_proof' });
    });

    it('RFC 8725 §3.11: a client assertion or our ID token is not a DPoP proof', async () => {
      const idt = await mintIdToken(t.ctx, { client: webClient, subject: 'u1' });
      const assertion = await signWith(pk.privateKey, { alg: 'ES256', kid: pk.jwk.kid }, assertionClaims(pkClient));
      for (const p of [idt, assertion]) expect(await check(p)).toBe('invalid_dpop_proof');
    });

    it('RFC 9449 §4.3: a proof with exp/nbf is judged by the server clock, not the host\'s', async () => {
      // The proof window is the server's (ctx.clock); a proof whose own nbf lies in the server's past must not be refused
      // because the host clock differs, nor one whose exp passed by the server's clock accepted.
      const saved = now;
      try {
        now = Date.now() + 3600_000 * 24 * 365;
        const ok = await signWith(attacker.privateKey, { alg: 'ES256', typ: 'dpop+jwt', jwk: pub() }, proofClaims({ nbf: sec() - 10, exp: sec() + 50 }));
        expect(await check(ok)).toBeUndefined();
        now = Date.now() - 3600_000 * 24 * 365;
        const expired = await signWith(attacker.privateKey, { alg: 'ES256', typ: 'dpop+jwt', jwk: pub() }, proofClaims({ exp: sec() - 100 }));
        expect(await check(expired)).toBe('invalid_dpop_proof');
      } finally {
        now = saved;
      }
    });
  });
});

describe('request objects through the authorization endpoint: odd claim values never make a 500', () => {
  let t: TestLatchkey;
  let clientId: string;

  beforeAll(async () => {
    t = await openTestLatchkey();
    ({ clientId } = await t.client({ redirect_uris: ['https://rp.example/cb'] }));
  });
  afterAll(() => t.close());

  it('RFC 9101 §6.3: claims of any JSON type (objects, arrays, huge numbers, NUL, lone surrogates) end in an OAuth error or a ticket', async () => {
    const { authorization } = await import('../../src/engine/authorization/index.js');
    const base = { client_id: clientId, response_type: 'code', redirect_uri: 'https://rp.example/cb', scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' };
    const odd: Array<Record<string, unknown> | string> = [
      { max_age: 1e400 }, { max_age: -1 }, { max_age: { a: 1 } }, { max_age: [1, 2] }, { max_age: '1e3' },
      { claims: [1, 2] }, { claims: 'nope' }, { claims: { id_token: { sub: { value: { deep: [1] } } } } }, { claims: { userinfo: null } },
      { response_type: ['code'] }, { redirect_uri: 42 }, { scope: { openid: true } }, { state: '\u0000' }, { nonce: '\ud800' },
      { prompt: ['none'] }, { resource: [1, 2] }, { resource: ['https://a.example', 'https://a.example'] }, { ui_locales: 1e400 },
      { authorization_details: [{ type: 'x' }] }, { id_token_hint: 'a.b.c' }, { login_hint: { x: 1 } }, { acr_values: null },
      { dpop_jkt: 1 }, { code_challenge: null }, { exp: 'tomorrow' }, { iat: 'x' }, { nbf: null },
      '{"response_type":"code","response_type":"token"}', '[]', '1', '"s"', 'null', '{"__proto__":{"x":1}}',
    ];
    for (const o of odd) {
      const payload = typeof o === 'string' ? o : JSON.stringify({ ...base, ...o }).replace('"max_age":null', '"max_age":1e400').replace('"ui_locales":null', '"ui_locales":1e400');
      const jwt = `${b64({ alg: 'none' })}.${b64(payload)}.`;
      const r = await authorization({ parameters: new URLSearchParams({ client_id: clientId, request: jwt }).toString() }, t.ctx);
      expect(r.action, payload.slice(0, 80)).not.toBe('INTERNAL_SERVER_ERROR');
    }
  });
});

describe('software statements (RFC 7591 §2.3): alg confusion and keys named by the statement', () => {
  let t: TestLatchkey;
  beforeAll(async () => {
    t = await openTestLatchkey();
  });
  afterAll(() => t.close());

  it('RFC 8725 §3.1: alg none, HS256 keyed with the trusted public key, an embedded jwk, an expired statement are refused', async () => {
    const { applySoftwareStatement } = await import('../../src/engine/software-statement.js');
    const trusted = await keyPair();
    const attacker = await keyPair();
    const ctx = { ...t.ctx, clients: { ...t.ctx.clients!, softwareStatementKeys: { keys: [trusted.jwk] } } } as EngineContext;
    const claims = { iss: 'https://publisher.example', software_id: 's', client_name: 'x', iat: Math.floor(Date.now() / 1000) };
    const sign = (key: CryptoKey | Uint8Array, h: Record<string, unknown>, c: Record<string, unknown> = claims) => new SignJWT(c).setProtectedHeader(h as { alg: string }).sign(key);
    const control = await sign(trusted.privateKey, { alg: 'ES256', kid: trusted.jwk.kid });
    expect((await applySoftwareStatement(ctx, { software_statement: control })).client_name).toBe('x');
    const bad = [
      rawJws({ alg: 'none' }, claims),
      await sign(new TextEncoder().encode(JSON.stringify(trusted.jwk)), { alg: 'HS256', kid: trusted.jwk.kid }),
      await sign(attacker.privateKey, { alg: 'ES256', jwk: attacker.jwk }),
      await sign(attacker.privateKey, { alg: 'ES256', kid: trusted.jwk.kid }),
      await sign(trusted.privateKey, { alg: 'ES256', kid: trusted.jwk.kid }, { ...claims, exp: claims.iat - 120 }),
      rawJws({ alg: 'ES256', kid: trusted.jwk.kid }, 'not json', 'AAAA'),
    ];
    for (const st of bad) {
      const e = await applySoftwareStatement(ctx, { software_statement: st }).then(() => undefined, (x: { code?: string }) => x.code);
      expect(['invalid_software_statement', 'unapproved_software_statement']).toContain(e);
    }
  });
});
