import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Hasher, newHandle, newOrderedHandle, secureRandom, tokenKey, uuidv7 } from '../../src/tokens/handles.js';

describe('handles and ids', () => {
  it('RFC 6749 §10.10: handles carry 256 random bits and never repeat, across pool refills', () => {
    const seen = new Set<string>();
    // 4,000 handles of 32 bytes span about 31 refills of the 4 KiB pool.
    for (let i = 0; i < 4000; i++) {
      const h = newHandle(secureRandom);
      expect(Buffer.from(h, 'base64url')).toHaveLength(32);
      expect(seen.has(h)).toBe(false);
      seen.add(h);
    }
  });

  it('a slice handed out by the pool never changes afterwards (a refill makes a new buffer)', () => {
    const first = secureRandom(32);
    const copy = Buffer.from(first);
    for (let i = 0; i < 500; i++) secureRandom(32);
    expect(first.equals(copy)).toBe(true);
  });

  it('requests larger than the pool share still get fresh bytes of the right length', () => {
    expect(secureRandom(1000)).toHaveLength(1000);
    expect(secureRandom(300).equals(secureRandom(300))).toBe(false);
  });

  it('RFC 9562 §5.7: uuidv7 has version 7, the RFC variant, the millisecond time first, and sorts by time', () => {
    const ms = Date.UTC(2026, 10, 30, 5, 0, 0);
    const id = uuidv7(ms);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(ms);
    const ids = Array.from({ length: 200 }, (_, i) => uuidv7(ms + i));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(Array.from({ length: 1000 }, () => uuidv7(ms))).size).toBe(1000);
  });

  it('the hasher is HMAC-SHA-256 under the server key, and verify compares against it', () => {
    const key = randomBytes(32);
    const h = new Hasher(key);
    expect(h.hash('abc')).toBe(createHmac('sha256', key).update('abc').digest('base64url'));
    expect(h.verify('abc', h.hash('abc'))).toBe(true);
    expect(h.verify('abd', h.hash('abc'))).toBe(false);
  });

  it('ordered token handles: 256 random bits after the issue time, and their keys sort by issue time', () => {
    const h = new Hasher(randomBytes(32));
    const ms = Date.UTC(2026, 10, 30, 9, 0, 0);
    const t = newOrderedHandle(secureRandom, ms);
    expect(t).toMatch(/^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
    expect(parseInt(t.slice(0, 12), 16)).toBe(ms);
    expect(Buffer.from(t.slice(12), 'base64url')).toHaveLength(32);
    expect(newOrderedHandle(secureRandom, ms, 16)).toMatch(/^[0-9a-f]{12}[A-Za-z0-9_-]{22}$/);
    // The stored key: the time, then the keyed hash of the WHOLE handle (the time is covered by the hash too).
    expect(tokenKey(h, t)).toBe(t.slice(0, 12) + h.hash(t));
    const keys = Array.from({ length: 300 }, (_, i) => tokenKey(h, newOrderedHandle(secureRandom, ms + i * 997)));
    expect([...keys].sort()).toEqual(keys);
  });

  it('handles from before ordered ones (43 or 22 characters) and anything else keep the plain keyed hash', () => {
    const h = new Hasher(randomBytes(32));
    for (const legacy of [newHandle(secureRandom), newHandle(secureRandom, 16), '0123456789ab' + 'x'.repeat(31), 'not-a-token']) {
      expect(tokenKey(h, legacy)).toBe(h.hash(legacy));
    }
    // Property: a key is a hash of exactly the presented string, so two different strings never share a key.
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), fc.string({ maxLength: 60 }), (a, b) => {
        fc.pre(a !== b);
        expect(tokenKey(h, a)).not.toBe(tokenKey(h, b));
      }),
      { numRuns: 300 },
    );
    // An ordered-looking prefix with a tampered random part is a different key.
    const t = newOrderedHandle(secureRandom, Date.now());
    expect(tokenKey(h, t.slice(0, 54) + (t[54] === 'A' ? 'B' : 'A'))).not.toBe(tokenKey(h, t));
  });
});
