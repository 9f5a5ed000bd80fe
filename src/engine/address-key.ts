import { isIPv4, isIPv6 } from 'node:net';

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
  const groups = ipv6Groups(noZone);
  if (!groups) return address;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const v4 = `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
    if (isIPv4(v4)) return v4;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (as net.isIPv6 accepts it), a trailing dotted quad included. */
function ipv6Groups(ip: string): number[] | undefined {
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const p of part.split(':')) {
      if (p.includes('.')) {
        const b = p.split('.').map(Number);
        out.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
      } else out.push(parseInt(p, 16));
    }
    return out;
  };
  const [head, tail] = ip.split('::');
  const h = parse(head!);
  const t = tail === undefined ? [] : parse(tail);
  const fill = 8 - h.length - t.length;
  if (fill < 0 || (tail === undefined && fill !== 0)) return undefined;
  const groups = [...h, ...new Array<number>(fill).fill(0), ...t];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}
