import { BlockList, isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../config/schema.js';

/** Where a request's TLS client certificate comes from. */
export type ClientCertificateOf = (req: CertificateRequest) => string | undefined;

/** What is read of a request: a Fastify request, or the fast path's (fast-path.ts). */
export interface CertificateRequest {
  headers: IncomingHttpHeaders;
  raw: { socket: Socket };
}

/**
 * Whether an address is one of the configured trusted proxies (addresses or CIDR ranges). IPv4-mapped IPv6
 * addresses (a dual-stack socket's ::ffff:a.b.c.d) are judged as the IPv4 address; anything not an IP is untrusted.
 */
export function trustedAddresses(entries: readonly string[]): (addr: string | undefined) => boolean {
  const list = trustedList(entries);
  return (addr) => {
    if (!addr || !entries.length) return false;
    const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
    const a = v4mapped ? v4mapped[1]! : addr;
    const family = isIP(a);
    return family !== 0 && list.check(a, family === 6 ? 'ipv6' : 'ipv4');
  };
}

function trustedList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const e of entries) {
    const [addr, bits] = e.split('/') as [string, string | undefined];
    const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, family);
    else list.addSubnet(addr, Number(bits), family);
  }
  return list;
}

/**
 * The client certificate (PEM) of a request: transport only, every check is the engine's (engine/mtls.ts).
 *
 * - From a trusted proxy (`trustedProxies`), the proxy's header (`clientCertificateHeader`, URL-encoded PEM as
 *   nginx's $ssl_client_escaped_cert) and nothing else: the connection's own certificate, if any, is the proxy's;
 *   with no header configured, none.
 * - From anyone else, the certificate of our own TLS connection, if we serve HTTPS and one was sent; the header
 *   is ignored, since anybody can send a header.
 */
export function clientCertificateSource(config: Pick<Config, 'clientCertificateHeader' | 'trustedProxies'>): ClientCertificateOf {
  const header = config.clientCertificateHeader;
  const isTrusted = trustedAddresses(config.trustedProxies);
  const fromProxy = (req: CertificateRequest): boolean => isTrusted(req.raw.socket.remoteAddress);
  return (req) => {
    if (config.trustedProxies.length && fromProxy(req)) {
      // RFC 8705 §6.5: the proxy's connection carries the proxy's certificate, if any: only its header speaks for the client.
      if (!header) return undefined;
      const raw = req.headers[header];
      const value = Array.isArray(raw) ? undefined : raw;
      if (!value || value.length > 64 * 1024) return undefined;
      let pem: string;
      try {
        pem = decodeURIComponent(value);
      } catch {
        return undefined;
      }
      return pem.includes('-----BEGIN CERTIFICATE-----') ? pem : undefined;
    }
    const socket = req.raw.socket as Partial<TLSSocket>;
    if (!socket.encrypted || typeof socket.getPeerX509Certificate !== 'function') return undefined;
    return socket.getPeerX509Certificate()?.toString();
  };
}
