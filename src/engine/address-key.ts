import { isIPv6 } from 'node:net';
import { ipBytes } from './mtls.js';

/**
 * The key a per-address limit counts a client address under. One IPv6 host is usually given a whole /64 (RFC 4291
 * §2.5.4, RFC 7421: /64 is the standard subnet size; SLAAC and privacy addresses, RFC 8981, rotate the interface
 * identifier at will), so counting full IPv6 addresses lets one host dodge any limit: an IPv6 address counts under
 * its /64 prefix. An IPv4-mapped address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2, what a dual-stack socket reports for
 * an IPv4 peer) counts as its IPv4 address, so both spellings share one counter. Anything else (IPv4, a value that is
 * no IP address) is its own key. Used by the login limits (services/rate-limit.ts) and the abuse limits (abuse-limit.ts).
 */
export function addressKey(address: string): string {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const noZone = bare.split('%')[0]!; // RFC 6874: a zone index names a local interface, not another host
  if (!isIPv6(noZone)) return address;
  const b = ipBytes(noZone); // the one IP parser (RFC 5952 §8: addresses compare in binary)
  if (!b) return address;
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  return `${[0, 2, 4, 6].map((i) => b.readUInt16BE(i).toString(16)).join(':')}::/64`;
}
