import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentDpopNonce, verifyDpopProof } from '../../src/engine/dpop.js';
import { OAuthError } from '../../src/engine/errors.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

const HTU = 'https://as.example/oauth/token';

describe('the DPoP proof validator (engine)', () => {
  let t: TestLatchkey;
  let clock = Date.UTC(2030, 0, 1);
  let keys: { privateKey: CryptoKey; publicKey: CryptoKey };

  beforeAll(async () => {
    t = await openTestLatchkey({ dpopNonces: true, dpopProofWindow: 30 }, { clock: () => clock });
    keys = await generateKeyPair('ES256');
  });
  afterAll(() => t.close());

  const now = () => Math.floor(clock / 1000);
  const proof = async (claims: Record<string, unknown>) =>
    new SignJWT({ htm: 'POST', htu: HTU, jti: crypto.randomUUID(), iat: now(), ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(keys.publicKey) })
      .sign(keys.privateKey);
  const verify = (p: string) => verifyDpopProof(t.ctx, p, { htm: 'POST', htu: HTU, site: 'token' });
  const errorOf = async (p: Promise<unknown>) => {
    try {
      await p;
      return undefined;
    } catch (e) {
      return e as OAuthError;
    }
  };

  it('RFC 9449 §8: nonces are stateless: the current and the previous time slot\'s are accepted, older ones are not', async () => {
    const nonce = currentDpopNonce(t.ctx);
    expect((await verify(await proof({ nonce }))).jkt).toMatch(/^[A-Za-z0-9_-]{43}$/);
    clock += 300_000; // next slot: the previous nonce still works
    await expect(verify(await proof({ nonce }))).resolves.toBeTruthy();
    clock += 300_000; // two slots later: refused, with a fresh nonce offered
    const e = await errorOf(verify(await proof({ nonce })));
    expect(e?.code).toBe('use_dpop_nonce');
    expect(e?.headers?.['DPoP-Nonce']).toBe(currentDpopNonce(t.ctx));
    expect(e?.headers?.['DPoP-Nonce']).not.toBe(nonce);
  });

  it('RFC 9449 §11.1: iat must lie within the configured window (dpopProofWindow) either way', async () => {
    const nonce = currentDpopNonce(t.ctx);
    expect((await errorOf(verify(await proof({ nonce, iat: now() - 31 }))))?.code).toBe('invalid_dpop_proof');
    expect((await errorOf(verify(await proof({ nonce, iat: now() + 31 }))))?.code).toBe('invalid_dpop_proof');
    await expect(verify(await proof({ nonce, iat: now() - 29 }))).resolves.toBeTruthy();
  });

  it('RFC 9449 §4.3 step 6: a proof is verified against its own header key every time, also once that key was seen (imported keys are cached)', async () => {
    const nonce = currentDpopNonce(t.ctx);
    expect((await verify(await proof({ nonce }))).jkt).toMatch(/^[A-Za-z0-9_-]{43}$/); // the header key is now cached
    // The same public key in the header, the signature by another private key: refused.
    const other = await generateKeyPair('ES256', { extractable: true });
    const forged = await new SignJWT({ htm: 'POST', htu: HTU, jti: crypto.randomUUID(), iat: now(), nonce })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(keys.publicKey) })
      .sign(other.privateKey);
    expect((await errorOf(verify(forged)))?.code).toBe('invalid_dpop_proof');
    // A private key in the header is refused before anything else (§4.3 step 7).
    const withPrivate = await new SignJWT({ htm: 'POST', htu: HTU, jti: crypto.randomUUID(), iat: now(), nonce })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(other.privateKey) })
      .sign(other.privateKey);
    expect((await errorOf(verify(withPrivate)))?.code).toBe('invalid_dpop_proof');
  });

  it('RFC 9449 §11.1: the jti goes to the shared replay cache (rememberJti): a second use is refused', async () => {
    const p = await proof({ nonce: currentDpopNonce(t.ctx) });
    await verify(p);
    const e = await errorOf(verify(p));
    expect(e?.code).toBe('invalid_dpop_proof');
    expect(e?.resultCode).toBe('LK13001');
  });
});
