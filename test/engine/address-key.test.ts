import { describe, expect, it } from 'vitest';
import { addressKey } from '../../src/engine/address-key.js';

describe('addressKey: what a per-address limit counts under', () => {
  it('RFC 4291 §2.5.4, RFC 8981: an IPv6 address counts under its /64, whatever its interface identifier or spelling', () => {
    const k = addressKey('2001:db8:1:2::1');
    expect(k).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:dead:beef:0:7')).toBe(k);
    expect(addressKey('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff')).toBe(k);
    expect(addressKey('[2001:db8:1:2::9]')).toBe(k);
    expect(addressKey('2001:db8:1:2::9%eth0')).toBe(k);
    expect(addressKey('2001:db8:1:3::1')).not.toBe(k);
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1:2:3:4')).toBe('fe80:0:0:0::/64');
  });

  it('RFC 4291 §2.5.5.2: an IPv4-mapped address counts as its IPv4 address; IPv4 and anything else are their own key', () => {
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::FFFF:c000:0207')).toBe('192.0.2.7');
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('')).toBe('');
    expect(addressKey('not-an-address')).toBe('not-an-address');
    expect(addressKey('1:2:3:4:5:6:7:8:9')).toBe('1:2:3:4:5:6:7:8:9');
  });
});
