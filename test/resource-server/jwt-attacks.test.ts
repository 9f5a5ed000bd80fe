import { createPublicKey, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { nowSeconds } from '../../src/engine/context.js';
import type { EngineContext } from '../../src/engine/context.js';
import { createTokenVerifier, TokenRejection, type ResourceRequest } from '../../src/resource-server/index.js';
import { createTenant } from '../../src/services/tenants.js';
import { signJwt } from '../../src/tokens/jwt.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { dpopKey } from './helpers.js';

/** RFC 8725 attacks on the exported resource-server verifier (RFC 9068 JWT access tokens, RFC 9449 proofs). */
describe('resource-server verifier: JWT attacks', () => {
  let s: TestServer;
  let b: EngineContext;
  let issuerB: string;
  const AUD = 'https://api.example';
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

  beforeAll(async () => {
    s = await startTestServer();
    await createTenant(s.lk, { id: 'rs-b' });
    b = await s.lk.context('rs-b');
    issuerB = b.tenant.issuer;
  });
  afterAll(() => s.close());

  const claims = (issuer: string, extra: Record<string, unknown> = {}) => {
    const n = nowSeconds(s.ctx);
    return { iss: issuer, sub: 'u1', aud: AUD, client_id: 'c1', iat: n, exp: n + 60, jti: randomUUID(), scope: 'read', ...extra };
  };
  const req = (token: string, scheme = 'Bearer', headers: Record<string, string> = {}): ResourceRequest => ({
    method: 'GET', url: '/items', headers: { authorization: `${scheme} ${token}`, host: 'api.example', ...headers },
  });
  const outcome = async (issuer: string, token: string, r?: ResourceRequest) => {
    try {
      await createTokenVerifier({ issuer, audience: AUD }).verify(r ?? req(token));
      return 'accepted';
    } catch (e) {
      return e instanceof TokenRejection ? e.error ?? 'no-error' : `thrown: ${(e as Error).message}`;
    }
  };

  it('control: a tenant\'s own at+jwt is accepted by a verifier for that tenant', async () => {
    const keys = await b.keys();
    expect(await outcome(issuerB, signJwt(keys.signingKey('ES256'), claims(issuerB), { typ: 'at+jwt' }))).toBe('accepted');
  });

  it('tenants: tenant A\'s access token is refused by a resource server of tenant B, and the reverse, even with the other issuer named', async () => {
    const a = await s.ctx.keys();
    const bk = await b.keys();
    expect(await outcome(issuerB, signJwt(a.signingKey('ES256'), claims(s.issuer), { typ: 'at+jwt' }))).toBe('invalid_token');
    expect(await outcome(issuerB, signJwt(a.signingKey('ES256'), claims(issuerB), { typ: 'at+jwt' }))).toBe('invalid_token');
    expect(await outcome(s.issuer, signJwt(bk.signingKey('ES256'), claims(issuerB), { typ: 'at+jwt' }))).toBe('invalid_token');
  });

  it('RFC 8725 §3.1: alg none, HS256 keyed with the issuer\'s public key, a key in the header (jwk, jku) are invalid_token', async () => {
    const keys = await b.keys();
    const rsa = keys.jwks.keys.find((k) => k.kty === 'RSA')!;
    const pem = createPublicKey({ key: rsa as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    const c = claims(issuerB);
    const tokens = [
      `${b64({ alg: 'none', typ: 'at+jwt', kid: rsa.kid })}.${b64(c)}.`,
      await new SignJWT(c).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: rsa.kid }).sign(new TextEncoder().encode(pem)),
      await new SignJWT(c).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: rsa.kid }).sign(new TextEncoder().encode(JSON.stringify(rsa))),
      await new SignJWT(c).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', jwk }).sign(privateKey),
      await new SignJWT(c).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: rsa.kid, jku: 'https://evil.example/jwks' }).sign(privateKey),
      await new SignJWT(c).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: rsa.kid, crit: ['x'], x: 1 } as never).sign(privateKey).catch(() => 'x.y.z'),
    ];
    for (const t of tokens) expect(await outcome(issuerB, t)).toBe('invalid_token');
  });

  it('RFC 9068 §2.2: exp missing or as a string, and iat as a string are invalid_token', async () => {
    const keys = await b.keys();
    const k = keys.signingKey('ES256');
    const c = claims(issuerB);
    const { exp: _e, ...noExp } = c;
    const cases = [noExp, { ...c, exp: String(c.exp) }, { ...c, iat: 'now' }];
    for (const x of cases) expect(await outcome(issuerB, signJwt(k, x, { typ: 'at+jwt' })), JSON.stringify(x)).toBe('invalid_token');
  });

  it('RFC 9449 §4.3: a DPoP proof carrying a symmetric key, alg none, or typ JWT is invalid_dpop_proof', async () => {
    const keys = await b.keys();
    const d = await dpopKey();
    const at = signJwt(keys.signingKey('ES256'), claims(issuerB, { cnf: { jkt: d.jkt } }), { typ: 'at+jwt' });
    const ok = await d.proof('GET', 'http://api.example/items', at);
    expect(await outcome(issuerB, at, req(at, 'DPoP', { dpop: ok }))).toBe('accepted');
    const n = Math.floor(Date.now() / 1000);
    const secret = new TextEncoder().encode('0123456789abcdef0123456789abcdef');
    const bad = [
      await new SignJWT({ htm: 'GET', htu: 'http://api.example/items', jti: randomUUID(), iat: n }).setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: Buffer.from(secret).toString('base64url') } } as never).sign(secret),
      `${b64({ alg: 'none', typ: 'dpop+jwt', jwk: d.jwk })}.${b64({ htm: 'GET', htu: 'http://api.example/items', jti: randomUUID(), iat: n })}.`,
      await d.proof('GET', 'http://api.example/items', at, { typ: 'JWT' }),
    ];
    for (const p of bad) expect(await outcome(issuerB, at, req(at, 'DPoP', { dpop: p }))).toBe('invalid_dpop_proof');
  });
});
