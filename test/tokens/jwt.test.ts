import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compactVerify, decodeProtectedHeader, exportJWK, importJWK, jwtVerify } from 'jose';
import { signJwt, signJwtWithTurn, SIGNING_ALGS, type SigningAlg } from '../../src/tokens/jwt.js';

function pair(alg: SigningAlg) {
  switch (alg) {
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'RS256':
    case 'PS256':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'EdDSA':
      return generateKeyPairSync('ed25519');
  }
}

describe('signJwt (node:crypto) verified by jose', () => {
  for (const alg of SIGNING_ALGS) {
    it(`RFC 7515: a ${alg} token verifies with jose against the public JWK`, async () => {
      const { privateKey, publicKey } = pair(alg);
      const jwt = signJwt({ kid: 'k1', alg, privateKey }, { iss: 'https://as.example', sub: 'u', exp: Math.floor(Date.now() / 1000) + 60 }, { typ: 'at+jwt' });
      const jwk = await exportJWK(publicKey);
      const key = await importJWK({ ...jwk, alg }, alg);
      const { payload, protectedHeader } = await jwtVerify(jwt, key, { issuer: 'https://as.example', typ: 'at+jwt' });
      expect(protectedHeader).toEqual({ alg, kid: 'k1', typ: 'at+jwt' });
      expect(payload.sub).toBe('u');
    });
  }

  it('a token signed by one key does not verify under another', async () => {
    const a = pair('ES256');
    const b = pair('ES256');
    const jwt = signJwt({ kid: 'a', alg: 'ES256', privateKey: a.privateKey }, { x: 1 });
    await expect(compactVerify(jwt, b.publicKey)).rejects.toThrow();
    expect(decodeProtectedHeader(jwt).kid).toBe('a');
  });
});

describe('signJwtWithTurn: the signatures asked for in one turn, made together', () => {
  it('RFC 7515: each of a turn\'s tokens carries its own payload and verifies with jose', async () => {
    const { privateKey, publicKey } = pair('ES256');
    const key = { kid: 'k1', alg: 'ES256' as const, privateKey };
    const jwts = await Promise.all(Array.from({ length: 20 }, (_, i) => signJwtWithTurn(key, { n: i }, { typ: 'at+jwt' })));
    for (const [i, jwt] of jwts.entries()) {
      const { payload, protectedHeader } = await jwtVerify(jwt, publicKey, { typ: 'at+jwt' });
      expect(payload.n).toBe(i);
      expect(protectedHeader.kid).toBe('k1');
    }
  });

  it('a signature that fails rejects its own caller only', async () => {
    const good = { kid: 'g', alg: 'ES256' as const, privateKey: pair('ES256').privateKey };
    // A public key where the private one belongs: node:crypto refuses to sign with it.
    const bad = { kid: 'b', alg: 'ES256' as const, privateKey: pair('ES256').publicKey };
    const [a, b, c] = await Promise.allSettled([signJwtWithTurn(good, { n: 1 }), signJwtWithTurn(bad, { n: 2 }), signJwtWithTurn(good, { n: 3 })]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    expect(c.status).toBe('fulfilled');
  });
});
