import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compactVerify, decodeProtectedHeader, exportJWK, importJWK, jwtVerify } from 'jose';
import { signJwt, SIGNING_ALGS, type SigningAlg } from '../../src/tokens/jwt.js';

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
