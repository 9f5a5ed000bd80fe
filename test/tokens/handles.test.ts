import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Hasher, newHandle, secureRandom, uuidv7 } from '../../src/tokens/handles.js';

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
});
