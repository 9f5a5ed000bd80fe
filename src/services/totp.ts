import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Time-based one-time passwords (RFC 6238) as authenticator apps make them: HMAC-SHA-1 (RFC 4226 §5), 30-second steps
 * counted from the Unix epoch, 6 digits, the shared secret given to the app in base32 (RFC 4648 §6) inside an
 * otpauth:// URI. Node's HMAC does the cryptography; this file only counts steps and truncates (RFC 4226 §5.3).
 */
export const TOTP_STEP = 30;
export const TOTP_DIGITS = 6;
/** Steps either side of now a code is accepted for: one (RFC 6238 §5.2 recommends at most one backward step). */
export const TOTP_WINDOW = 1;
/** 160 bits: the HMAC-SHA-1 output size (RFC 4226 §4 R6 asks at least 128, recommends 160). */
export const TOTP_SECRET_BYTES = 20;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 §6 base32, without padding (as otpauth URIs carry it). */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** RFC 4648 §6 base32, case-insensitive, spaces and padding ignored; undefined when it is not base32. */
export function base32Decode(text: string): Buffer | undefined {
  const clean = text.toUpperCase().replace(/[\s=]/g, '');
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of clean) {
    const i = BASE32.indexOf(c);
    if (i < 0) return undefined;
    value = ((value << 5) | i) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 4226 §5.3: HOTP(K, C) = Truncate(HMAC-SHA-1(K, C)) mod 10^digits, zero-padded. */
export function hotp(secret: Uint8Array, counter: number, digits = TOTP_DIGITS): string {
  const c = Buffer.alloc(8);
  c.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', secret).update(c).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(code).padStart(digits, '0');
}

/** RFC 6238 §4.2: the step of a time (seconds since the epoch). */
export const totpStep = (unixSeconds: number): number => Math.floor(unixSeconds / TOTP_STEP);

/**
 * The step a presented code belongs to, within TOTP_WINDOW steps of now; undefined when it matches none. The caller
 * accepts a step only once, and none before the last accepted one (RFC 6238 §5.2: a code must not be used twice).
 * Compared in constant time.
 */
export function matchTotp(secret: Uint8Array, presented: string, unixSeconds: number): number | undefined {
  const code = presented.replace(/\s/g, '');
  if (!/^\d{6}$/.test(code)) return undefined;
  const now = totpStep(unixSeconds);
  let matched: number | undefined;
  for (let step = now - TOTP_WINDOW; step <= now + TOTP_WINDOW; step++) {
    if (timingSafeEqual(Buffer.from(hotp(secret, step)), Buffer.from(code)) && matched === undefined) matched = step;
  }
  return matched;
}

/** The otpauth:// URI an authenticator app reads (Google Authenticator's Key Uri Format): the account and issuer labelled. */
export function otpauthUri(secret: Uint8Array, issuerName: string, accountName: string): string {
  const label = `${encodeURIComponent(issuerName)}:${encodeURIComponent(accountName)}`;
  const q = new URLSearchParams({ secret: base32Encode(secret), issuer: issuerName, algorithm: 'SHA1', digits: String(TOTP_DIGITS), period: String(TOTP_STEP) });
  return `otpauth://totp/${label}?${q.toString()}`;
}
