import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Source of randomness, injected so engine tests are deterministic. */
export type RandomSource = (bytes: number) => Buffer;
export const secureRandom: RandomSource = (n) => (n <= POOL_TAKE ? pooled(n) : randomBytes(n));

/*
 * Random bytes come from the CSPRNG in 4 KiB draws rather than one call per handle: a call costs more than the
 * 32 bytes it returns (bench/README.md). Each byte is handed out once; an exhausted pool is replaced by a new
 * buffer, never refilled in place, so a slice handed out earlier never changes under its holder.
 */
const POOL_SIZE = 4096;
const POOL_TAKE = 256;
let pool = Buffer.alloc(0);
let offset = 0;
function pooled(n: number): Buffer {
  if (offset + n > pool.length) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const out = pool.subarray(offset, offset + n);
  offset += n;
  return out;
}

/** A bearer handle (token, code, ticket, session id): 256 bits, base64url. RFC 6749 §10.10, RFC 9700: ≥128 bits. */
export function newHandle(random: RandomSource, bytes = 32): string {
  return random(bytes).toString('base64url');
}

/** Unix milliseconds as the 48 bits that time-ordered ids (ordered handles, UUIDv7) start with. */
const ms48 = (ms: number) => Math.max(0, Math.floor(ms)) % 2 ** 48;

/**
 * A handle for a row of the tokens table (opaque access and refresh tokens, JWT ids): 12 hex digits of the issue
 * time in milliseconds, then `bytes` random bytes in base64url (256 bits by default; the time adds none and is
 * not counted). Its stored key (tokenKey) starts with the same 12 digits, so new rows go to the end of the
 * table's primary-key index instead of a random page of it: on SQLite that measured about 2.5 times cheaper per
 * insert with 200,000 rows (bench/README.md). The time is no secret: it is when the token was issued.
 */
export function newOrderedHandle(random: RandomSource, ms: number, bytes = 32): string {
  const t = ms48(ms).toString(16).padStart(12, '0');
  return t + random(bytes).toString('base64url');
}

/** Handles made by newOrderedHandle with 32 (tokens) or 16 (JWT ids) random bytes; nothing else has these lengths. */
const ORDERED = /^[0-9a-f]{12}(?:[A-Za-z0-9_-]{43}|[A-Za-z0-9_-]{22})$/;

/**
 * The key a token row is stored and found under: the keyed hash of the handle, prefixed with the issue time of
 * an ordered handle. Handles issued before ordered ones existed (43 or 22 characters, never 55 or 34) keep
 * their plain hash, so they stay valid.
 */
export function tokenKey(hasher: Hasher, handle: string): string {
  const h = hasher.hash(handle);
  return (handle.length === 55 || handle.length === 34) && ORDERED.test(handle) ? handle.slice(0, 12) + h : h;
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

/**
 * A UUID version 7 (RFC 9562 §5.7): 48 bits of Unix milliseconds, then random bits. Rows keyed by it (audit
 * events) are inserted at the end of their index instead of at random places in it, which measured about four
 * times cheaper per insert on SQLite (bench/README.md).
 */
export function uuidv7(ms: number): string {
  const b = Buffer.allocUnsafe(16);
  b.writeUIntBE(ms48(ms), 0, 6);
  pooled(10).copy(b, 6);
  b[6] = (b[6]! & 0x0f) | 0x70; // version 7
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
