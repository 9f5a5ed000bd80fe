import { describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { clientCertificateSource, type CertificateRequest } from '../../src/http/client-certificate.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const SOCKET_PEM = '-----BEGIN CERTIFICATE-----\nPROXY\n-----END CERTIFICATE-----\n';

/** A request on a TLS socket from `remoteAddress` whose peer presented SOCKET_PEM, with the given headers. */
function request(remoteAddress: string, headers: Record<string, string> = {}): CertificateRequest {
  const socket = { remoteAddress, encrypted: true, getPeerX509Certificate: () => ({ toString: () => SOCKET_PEM }) } as unknown as Socket;
  return { headers, raw: { socket } };
}

describe('clientCertificateSource (RFC 8705 §6.5: where a client certificate is taken from)', () => {
  it('RFC 8705 §6.5: from a trusted proxy, the configured header is the certificate, never the connection\'s', () => {
    const of = clientCertificateSource({ clientCertificateHeader: 'x-ssl-client-cert', trustedProxies: ['10.0.0.1'] });
    expect(of(request('10.0.0.1', { 'x-ssl-client-cert': encodeURIComponent(PEM) }))).toBe(PEM);
    expect(of(request('10.0.0.1'))).toBeUndefined();
  });

  it('RFC 8705 §6.5: from a trusted proxy with no header configured, the proxy\'s own TLS certificate is not the client\'s', () => {
    const of = clientCertificateSource({ clientCertificateHeader: undefined, trustedProxies: ['10.0.0.0/8'] });
    expect(of(request('10.0.0.1'))).toBeUndefined();
    expect(of(request('::ffff:10.0.0.1'))).toBeUndefined();
  });

  it('from anyone else, the certificate of our own TLS connection; a header is ignored, since anybody can send one', () => {
    const of = clientCertificateSource({ clientCertificateHeader: 'x-ssl-client-cert', trustedProxies: ['10.0.0.1'] });
    expect(of(request('192.0.2.7', { 'x-ssl-client-cert': encodeURIComponent(PEM) }))).toBe(SOCKET_PEM);
    const direct = clientCertificateSource({ clientCertificateHeader: undefined, trustedProxies: [] });
    expect(direct(request('10.0.0.1'))).toBe(SOCKET_PEM);
  });
});
