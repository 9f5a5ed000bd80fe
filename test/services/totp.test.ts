import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base32Decode, base32Encode, hotp, matchTotp, otpauthUri, TOTP_STEP } from '../../src/services/totp.js';

/** RFC 6238 Appendix B (SHA-1 rows) and RFC 4226 Appendix D: the published test vectors. */
describe('TOTP (RFC 6238) and HOTP (RFC 4226)', () => {
  const key = Buffer.from('12345678901234567890');

  it('RFC 4226 Appendix D: HOTP values for counters 0-9', () => {
    const want = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
    expect(want.map((_, i) => hotp(key, i))).toEqual(want);
  });

  it('RFC 6238 Appendix B: the SHA-1 TOTP values (8 digits), at each published time', () => {
    const rows: [number, string][] = [[59, '94287082'], [1111111109, '07081804'], [1111111111, '14050471'], [1234567890, '89005924'], [2000000000, '69279037'], [20000000000, '65353130']];
    for (const [t, code] of rows) expect(hotp(key, Math.floor(t / TOTP_STEP), 8)).toBe(code);
  });

  it('matchTotp: the step of a 6-digit code within one step of now; not two steps away, not malformed', () => {
    const t = 1111111111;
    const step = Math.floor(t / TOTP_STEP);
    expect(matchTotp(key, hotp(key, step), t)).toBe(step);
    expect(matchTotp(key, hotp(key, step - 1), t)).toBe(step - 1);
    expect(matchTotp(key, hotp(key, step + 1), t)).toBe(step + 1);
    expect(matchTotp(key, hotp(key, step - 2), t)).toBeUndefined();
    expect(matchTotp(key, hotp(key, step + 2), t)).toBeUndefined();
    expect(matchTotp(key, `${hotp(key, step).slice(0, 3)} ${hotp(key, step).slice(3)}`, t)).toBe(step); // as apps show it
    for (const bad of ['', '12345', '1234567', 'abcdef', '12 34 5x']) expect(matchTotp(key, bad, t)).toBeUndefined();
  });

  it('base32 (RFC 4648 §6): the published vectors, and any bytes round-trip', () => {
    expect(base32Encode(Buffer.from('foobar'))).toBe('MZXW6YTBOI');
    expect(base32Encode(Buffer.from('fooba'))).toBe('MZXW6YTB');
    expect(base32Decode('mzxw 6ytb oi======')?.toString()).toBe('foobar');
    expect(base32Decode('not base32!')).toBeUndefined();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (b) => Buffer.compare(base32Decode(base32Encode(b))!, Buffer.from(b)) === 0));
  });

  it('otpauth URI: label and issuer escaped, the parameters apps read', () => {
    const u = new URL(otpauthUri(key, 'Example Co', 'alice@example.com'));
    expect(u.protocol).toBe('otpauth:');
    expect(u.host).toBe('totp');
    expect(decodeURIComponent(u.pathname)).toBe('/Example Co:alice@example.com');
    expect(Object.fromEntries(u.searchParams)).toEqual({ secret: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', issuer: 'Example Co', algorithm: 'SHA1', digits: '6', period: '30' });
  });
});
