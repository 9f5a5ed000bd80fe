import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipBytes, parseCertificate, parseRfc4514, parseSubjectAltNames, subjectDnMatches } from '../../src/engine/mtls.js';
import { redirectUriMatches } from '../../src/engine/client-metadata.js';
import { makeTestPki, type TestPki } from '../helpers/certs.js';

describe('certificate matching (RFC 8705 §2.1.2)', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makeTestPki();
  });
  afterAll(() => pki.cleanup());

  it('RFC 4514: the registered DN is most-specific first, and matches the certificate\'s subject in order', () => {
    const cert = parseCertificate(pki.client('dn', '/C=NZ/O=Example, Ltd/OU=Dev+OU=Ops/CN=client-1').cert)!;
    expect(subjectDnMatches(cert, 'CN=client-1,OU=Dev+OU=Ops,O=Example\\, Ltd,C=NZ')).toBe(true);
    // multi-valued RDNs in any order, types and values case-insensitive, hex escapes and OIDs
    expect(subjectDnMatches(cert, 'cn=CLIENT-1, ou=Ops+ou=Dev, o=Example\\2C Ltd, c=nz')).toBe(true);
    expect(subjectDnMatches(cert, '2.5.4.3=client-1,OU=Dev+OU=Ops,O=Example\\, Ltd,C=NZ')).toBe(true);
    // order matters, every RDN matters
    expect(subjectDnMatches(cert, 'C=NZ,O=Example\\, Ltd,OU=Dev+OU=Ops,CN=client-1')).toBe(false);
    expect(subjectDnMatches(cert, 'CN=client-1,O=Example\\, Ltd,C=NZ')).toBe(false);
    expect(subjectDnMatches(cert, 'CN=client-1,OU=Dev,O=Example\\, Ltd,C=NZ')).toBe(false);
    expect(subjectDnMatches(cert, 'CN=#04024869,OU=Dev+OU=Ops,O=Example\\, Ltd,C=NZ')).toBe(false);
  });

  it('a non-ASCII subject compares by its UTF-8 value, escaped or not', () => {
    const cert = parseCertificate(pki.client('utf8', '/CN=Zoë Müller/O=Ex').cert)!;
    expect(subjectDnMatches(cert, 'O=Ex,CN=Zoë Müller')).toBe(true);
    expect(subjectDnMatches(cert, 'O=Ex,CN=Zo\\C3\\AB M\\C3\\BCller')).toBe(true);
  });

  it('rejects what is not a DN', () => {
    expect(parseRfc4514('')).toBeUndefined();
    expect(parseRfc4514('no equals sign')).toBeUndefined();
    expect(parseRfc4514('CN=a\\')).toBeUndefined();
  });

  it('SANs parse as Node prints them, quoted values included', () => {
    expect(parseSubjectAltNames('DNS:a.example, URI:https://a.example/x, IP Address:10.0.0.1, email:"x, y@a.example"')).toEqual([
      { type: 'DNS', value: 'a.example' },
      { type: 'URI', value: 'https://a.example/x' },
      { type: 'IP Address', value: '10.0.0.1' },
      { type: 'email', value: 'x, y@a.example' },
    ]);
  });

  it('RFC 5952 §8: IP addresses compare in binary', () => {
    expect(ipBytes('::1')!.equals(ipBytes('0:0:0:0:0:0:0:1')!)).toBe(true);
    expect(ipBytes('2001:DB8::1')!.equals(ipBytes('2001:db8:0:0:0:0:0:1')!)).toBe(true);
    expect(ipBytes('::ffff:192.0.2.1')!.toString('hex')).toBe('00000000000000000000ffffc0000201');
    expect(ipBytes('10.0.0.1')!.toString('hex')).toBe('0a000001');
    expect(ipBytes('not-an-ip')).toBeUndefined();
  });
});

describe('redirect URI matching', () => {
  const native = { applicationType: 'native' as const, redirectUris: ['http://127.0.0.1/cb', 'http://[::1]:8080/cb?x=1', 'com.example.app:/cb'] };
  it('RFC 8252 §7.3: any port for a native client\'s loopback IP redirect URI, everything else exact', () => {
    expect(redirectUriMatches(native, 'http://127.0.0.1:51000/cb')).toBe(true);
    expect(redirectUriMatches(native, 'http://127.0.0.1/cb')).toBe(true);
    expect(redirectUriMatches(native, 'http://[::1]:9/cb?x=1')).toBe(true);
    expect(redirectUriMatches(native, 'http://127.0.0.1:51000/cb?extra=1')).toBe(false);
    expect(redirectUriMatches(native, 'http://127.0.0.1:51000/other')).toBe(false);
    expect(redirectUriMatches(native, 'http://localhost:51000/cb')).toBe(false);
    expect(redirectUriMatches(native, 'https://127.0.0.1:51000/cb')).toBe(false);
    expect(redirectUriMatches(native, 'com.example.app:/cb')).toBe(true);
  });
  it('RFC 9700 §4.1.3: web clients get exact matching only', () => {
    expect(redirectUriMatches({ applicationType: 'web', redirectUris: ['http://127.0.0.1/cb'] }, 'http://127.0.0.1:51000/cb')).toBe(false);
  });
});
