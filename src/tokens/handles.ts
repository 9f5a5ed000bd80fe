import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Source of randomness, injected so engine tests are deterministic. */
export type RandomSource = (bytes: number) => Buffer;
export const secureRandom: RandomSource = (n) => randomBytes(n);

/** A bearer handle (token, code, ticket, session id): 256 bits, base64url. RFC 6749 §10.10, RFC 9700: ≥128 bits. */
export function newHandle(random: RandomSource, bytes = 32): string {
  return random(bytes).toString('base64url');
}

/**
 * Keyed hash for high-entropy secrets: HMAC-SHA-256 under a server key. Used to store and look up codes,
 * tokens, tickets, session ids and client secrets; a leaked database does not reveal usable values.
 */
export class Hasher {
  constructor(private readonly key: Buffer) {}

  hash(value: string): string {
    return createHmac('sha256', this.key).update(value).digest('base64url');
  }

  /** Constant-time comparison of a presented secret against a stored hash. */
  verify(value: string, storedHash: string): boolean {
    const a = Buffer.from(this.hash(value));
    const b = Buffer.from(storedHash);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}
