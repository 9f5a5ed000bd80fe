/**
 * Whether a host names this machine: localhost and the *.localhost names (RFC 6761 §6.3), all of 127.0.0.0/8, ::1,
 * and 127.0.0.0/8 in its IPv4-mapped IPv6 form. `hostname` is a URL's, already normalised by the URL parser
 * (127.1 -> 127.0.0.1, [0::1] -> [::1], lower case). The one rule for "loopback": redirect URIs (RFC 8252 §7.3),
 * the demo default and the http-issuer check (config/schema.ts) all use it.
 */
export function isLocalMachineHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return (
    host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' ||
    /^127\.\d+\.\d+\.\d+$/.test(host) || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(host)
  );
}
