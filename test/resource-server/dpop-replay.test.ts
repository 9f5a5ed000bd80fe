import { describe, expect, it } from 'vitest';
import { memoryReplayStore, verifyDpopProof } from '../../src/resource-server/dpop.js';
import { dpopKey } from './helpers.js';

/**
 * RFC 9449 §11.1 at a resource server: the replay cache is bounded. Once it is full of live entries it forgets the
 * oldest; a proof it may have forgotten must not then pass as new. Any client can fill the cache with proofs of its
 * own key, so without this a captured proof could be replayed within its window by flooding first.
 */
describe('resource server DPoP replay store in memory (the default), full', () => {
  const url = new URL('https://rs.example/items');
  const at = 'access-token-1';
  const nowMs = Date.UTC(2031, 6, 1);
  const now = Math.floor(nowMs / 1000);

  it('a proof pushed out of the full cache is refused when replayed, never accepted again; older proofs too; fresh proofs still pass', async () => {
    const k = await dpopKey();
    const replay = memoryReplayStore(2, () => nowMs);
    const check = (proof: string) =>
      verifyDpopProof({ proof, method: 'GET', url, accessToken: at, jkt: k.jkt, nowMs, maxAge: 60, clockTolerance: 5, replay });
    const captured = await k.proof('GET', url.href, at, { iat: now - 20 });
    await expect(check(captured)).resolves.toBe(k.jkt);
    await expect(check(captured)).rejects.toMatchObject({ error: 'invalid_dpop_proof', message: expect.stringMatching(/already used/) });
    // The attacker's flood: two proofs of another (its own) key would do as well; the cache holds two.
    await expect(check(await k.proof('GET', url.href, at, { iat: now - 10 }))).resolves.toBe(k.jkt);
    await expect(check(await k.proof('GET', url.href, at, { iat: now - 5 }))).resolves.toBe(k.jkt); // `captured` forgotten
    await expect(check(captured)).rejects.toMatchObject({ error: 'invalid_dpop_proof', message: expect.stringMatching(/already used/) });
    await expect(check(await k.proof('GET', url.href, at, { iat: now - 20 }))).rejects.toMatchObject({ error: 'invalid_dpop_proof' });
    await expect(check(await k.proof('GET', url.href, at, { iat: now }))).resolves.toBe(k.jkt);
  });
});
