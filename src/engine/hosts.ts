/**
 * The two loopback rules. `hostname` is a URL's, already normalised by the URL parser (127.1 -> 127.0.0.1,
 * [0::1] -> [::1], lower case).
 *
 * - isLoopbackHost: the hosts that certainly are this machine's loopback interface: localhost, 127.0.0.0/8, ::1 and
 *   127.0.0.0/8 in its IPv4-mapped IPv6 form. Used where being local GRANTS something: an http issuer without
 *   insecureHttpIssuer and the demo default (config/schema.ts), http redirect URIs (RFC 8252 §7.3) and http CORS
 *   origins (engine/client-metadata.ts).
 * - isLocalMachineHost: those, and the *.localhost names (RFC 6761 §6.3), which most (not all) resolvers send to
 *   loopback. Used where being local REFUSES something (a pairwise client registering itself with a loopback
 *   redirect URI, the implicit-flow checks): there the broader rule is the safe side.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host) || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(host);
}

export function isLocalMachineHost(hostname: string): boolean {
  return isLoopbackHost(hostname) || hostname.toLowerCase().replace(/\.$/, '').endsWith('.localhost');
}
