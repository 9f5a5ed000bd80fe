import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { calculateJwkThumbprint, type JSONWebKeySet, type JWK } from 'jose';
import type { ClientMetadata } from '../store/types.js';

/**
 * Client certificates (RFC 8705 §2). The certificate arrives as PEM, from our own TLS listener or from a trusted
 * TLS-terminating proxy; either way it is checked here the same way, so the HTTP layer only transports it.
 */

/** The leaf certificate of a PEM input, or undefined when it does not parse. */
export function parseCertificate(pem: string): X509Certificate | undefined {
  if (pem.length > 32 * 1024) return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

export function withinValidity(cert: X509Certificate, nowMs: number): boolean {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return Number.isFinite(from) && Number.isFinite(to) && from <= nowMs && nowMs <= to;
}

/**
 * RFC 8705 §2.1 (PKI method): the certificate was issued, and signed, by one of the configured CA certificates,
 * itself a CA within its validity period. Every certificate in the bundle is a trust anchor, so an intermediate
 * CA may be configured directly.
 */
export function chainsTo(cert: X509Certificate, anchors: readonly X509Certificate[], nowMs: number): boolean {
  return anchors.some((ca) => ca.ca && withinValidity(ca, nowMs) && cert.checkIssued(ca) && cert.verify(ca.publicKey));
}

/* ---------- RFC 4514 distinguished names ---------- */

/** Attribute type names as Node prints them, for the OIDs a registered DN may use instead. */
const OID_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.9': 'STREET', '2.5.4.10': 'O',
  '2.5.4.11': 'OU', '2.5.4.5': 'SERIALNUMBER', '0.9.2342.19200300.100.1.25': 'DC', '0.9.2342.19200300.100.1.1': 'UID',
  '1.2.840.113549.1.9.1': 'EMAILADDRESS',
};
const TYPE_ALIASES: Record<string, string> = { EMAIL: 'EMAILADDRESS', E: 'EMAILADDRESS', S: 'ST' };

type Rdn = [type: string, value: string][];

/** Split on an unescaped separator character. */
function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\' && i + 1 < s.length) {
      cur += ch + s[i + 1];
      i++;
    } else if (ch === sep) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** RFC 4514 §3 escapes: `\c` for a special character, `\hh` for a byte (UTF-8 sequences span several). */
function unescapeValue(v: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < v.length; i++) {
    const ch = v[i]!;
    if (ch !== '\\') {
      bytes.push(...Buffer.from(ch, 'utf8'));
      continue;
    }
    const hex = v.slice(i + 1, i + 3);
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (i + 1 < v.length) {
      bytes.push(...Buffer.from(v[i + 1]!, 'utf8'));
      i++;
    } else return undefined;
  }
  return Buffer.from(bytes).toString('utf8');
}

function normType(t: string): string {
  const u = t.trim().toUpperCase().replace(/^OID\./, '');
  return OID_NAMES[u] ?? TYPE_ALIASES[u] ?? u;
}

/** caseIgnoreMatch with insignificant spaces (RFC 4518 §2.6.1), close enough for the attributes DNs use. */
function normValue(v: string): string {
  return v.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

function parseAva(ava: string): [string, string] | undefined {
  const i = ava.indexOf('=');
  if (i <= 0) return undefined;
  const raw = ava.slice(i + 1).trim();
  if (raw.startsWith('#')) return undefined; // hex-encoded BER values are not supported: never a match
  const value = unescapeValue(raw);
  return value === undefined ? undefined : [normType(ava.slice(0, i)), normValue(value)];
}

function parseRdns(parts: string[]): Rdn[] | undefined {
  const rdns: Rdn[] = [];
  for (const part of parts) {
    const avas = splitUnescaped(part, '+');
    const rdn: Rdn = [];
    for (const a of avas) {
      const parsed = parseAva(a);
      if (!parsed) return undefined;
      rdn.push(parsed);
    }
    rdn.sort((x, y) => (x[0] + '=' + x[1] < y[0] + '=' + y[1] ? -1 : 1));
    rdns.push(rdn);
  }
  return rdns;
}

/** RFC 4514 string form: the most specific RDN first, RDNs separated by ',', multi-valued ones by '+'. */
export function parseRfc4514(dn: string): Rdn[] | undefined {
  if (!dn.trim()) return undefined;
  const rdns = parseRdns(splitUnescaped(dn, ','));
  return rdns?.reverse();
}

/** Node's X509Certificate#subject: one RDN per line, in certificate order, multi-valued ones joined by ' + '. */
function parseNodeSubject(subject: string): Rdn[] | undefined {
  return parseRdns(subject.split('\n').filter((l) => l !== ''));
}

/** RFC 8705 §2.1.2: the certificate's subject equals the registered RFC 4514 distinguished name. */
export function subjectDnMatches(cert: X509Certificate, registered: string): boolean {
  const want = parseRfc4514(registered);
  const have = parseNodeSubject(cert.subject);
  if (!want || !have || want.length !== have.length) return false;
  return want.every((rdn, i) => {
    const other = have[i]!;
    return rdn.length === other.length && rdn.every(([t, v], j) => other[j]![0] === t && other[j]![1] === v);
  });
}

/* ---------- subject alternative names ---------- */

/** Node prints SANs as `DNS:a, IP Address:1.2.3.4, …`, JSON-quoting a value that contains separators. */
export function parseSubjectAltNames(san: string | undefined): { type: string; value: string }[] {
  if (!san) return [];
  const out: { type: string; value: string }[] = [];
  let i = 0;
  while (i < san.length) {
    const colon = san.indexOf(':', i);
    if (colon < 0) break;
    const type = san.slice(i, colon).trim();
    let j = colon + 1;
    let value: string;
    if (san[j] === '"') {
      let k = j + 1;
      while (k < san.length && san[k] !== '"') k += san[k] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(san.slice(j, k + 1)) as string;
      } catch {
        return out;
      }
      j = k + 1;
    } else {
      const end = san.indexOf(', ', j);
      value = san.slice(j, end < 0 ? san.length : end);
      j = end < 0 ? san.length : end;
    }
    out.push({ type, value });
    i = san.indexOf(', ', j) < 0 ? san.length : san.indexOf(', ', j) + 2;
  }
  return out;
}

/** RFC 5952 §8: IP addresses are compared in binary. */
export function ipBytes(ip: string): Buffer | undefined {
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  if (family !== 6) return undefined;
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes its two 16-bit groups.
  const text = ip.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a, b, c, d) =>
    `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`,
  );
  const halves = text.split('::');
  const groups = (h: string | undefined) => (h ? h.split(':').map((x) => parseInt(x, 16)) : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const all = halves.length === 2 ? [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail] : head;
  if (all.length !== 8) return undefined;
  const buf = Buffer.alloc(16);
  all.forEach((g, k) => buf.writeUInt16BE(g, k * 2));
  return buf;
}

function emailMatches(a: string, b: string): boolean {
  const [la, da] = [a.slice(0, a.lastIndexOf('@')), a.slice(a.lastIndexOf('@') + 1)];
  const [lb, db] = [b.slice(0, b.lastIndexOf('@')), b.slice(b.lastIndexOf('@') + 1)];
  return la === lb && da.toLowerCase() === db.toLowerCase();
}

/**
 * RFC 8705 §2.1.2: the one registered expectation (subject DN, or a dNSName, URI, iPAddress or rfc822Name SAN)
 * holds for the certificate.
 */
export function certificateMatchesClient(
  cert: X509Certificate,
  client: Pick<ClientMetadata, 'tlsClientAuthSubjectDn' | 'tlsClientAuthSanDns' | 'tlsClientAuthSanUri' | 'tlsClientAuthSanIp' | 'tlsClientAuthSanEmail'>,
): boolean {
  if (client.tlsClientAuthSubjectDn !== undefined) return subjectDnMatches(cert, client.tlsClientAuthSubjectDn);
  const sans = parseSubjectAltNames(cert.subjectAltName);
  const of = (type: string) => sans.filter((s) => s.type === type).map((s) => s.value);
  if (client.tlsClientAuthSanDns !== undefined) return of('DNS').some((v) => v.toLowerCase() === client.tlsClientAuthSanDns!.toLowerCase());
  if (client.tlsClientAuthSanUri !== undefined) return of('URI').includes(client.tlsClientAuthSanUri);
  if (client.tlsClientAuthSanEmail !== undefined) return of('email').some((v) => emailMatches(v, client.tlsClientAuthSanEmail!));
  if (client.tlsClientAuthSanIp !== undefined) {
    const want = ipBytes(client.tlsClientAuthSanIp);
    return want !== undefined && of('IP Address').some((v) => ipBytes(v)?.equals(want) === true);
  }
  return false;
}

/**
 * RFC 8705 §2.2: the presented certificate matches one registered for the client: a JWK whose `x5c` starts with
 * this very certificate, or (for a JWK without `x5c`) whose public key is the certificate's key. TLS has already
 * proved possession of the private key.
 */
export async function certificateMatchesJwks(cert: X509Certificate, jwks: JSONWebKeySet): Promise<boolean> {
  const der = cert.raw.toString('base64');
  let certThumbprint: string | undefined;
  for (const jwk of jwks.keys ?? []) {
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    if (Array.isArray(jwk.x5c) && jwk.x5c.length) {
      if (jwk.x5c[0]!.replace(/\s+/g, '') === der) return true;
      continue;
    }
    try {
      certThumbprint ??= await calculateJwkThumbprint(cert.publicKey.export({ format: 'jwk' }) as JWK);
      if ((await calculateJwkThumbprint(jwk as JWK)) === certThumbprint) return true;
    } catch {
      // a key of a type jose does not know is simply not a match
    }
  }
  return false;
}
