import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';
import { Readable } from 'node:stream';
import { isLocalMachineHost } from './hosts.js';

/**
 * Which addresses outbound fetches on a client's behalf may reach (configuration `insecureRemoteFetchAddresses`):
 * `public` only public unicast addresses (the default); `loopback` also 127.0.0.0/8 and ::1 (tests, the demo);
 * `any` also private, link-local and other special-purpose ranges. A client chooses the URLs (jwks_uri,
 * request_uris), so without this the server fetches from its own network for whoever registers a client (SSRF).
 */
export type RemoteAddressPolicy = 'public' | 'loopback' | 'any';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Not public unicast: RFC 6890 special-purpose ranges (private, link-local, CGNAT, multicast, reserved...). */
const SPECIAL = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) SPECIAL.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23],
  ['2001:db8::', 32], ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) SPECIAL.addSubnet(net, bits, 'ipv6');

/** May a fetch connect to this IP address under the policy? */
export function remoteAddressAllowed(address: string, policy: RemoteAddressPolicy): boolean {
  if (policy === 'any') return true;
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) reaches the IPv4 address: judge that one. (Not a BlockList rule:
  // BlockList also applies IPv6 rules to IPv4 addresses through this mapping.)
  const mapped = /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address);
  if (mapped) {
    if (mapped[1]) return isIP(mapped[1]) === 4 && remoteAddressAllowed(mapped[1], policy);
    const hi = parseInt(mapped[2]!, 16);
    const lo = parseInt(mapped[3]!, 16);
    return remoteAddressAllowed(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, policy);
  }
  const family = isIP(address) === 6 ? 'ipv6' : isIP(address) === 4 ? 'ipv4' : undefined;
  if (!family) return false;
  if (policy === 'loopback' && LOOPBACK.check(address, family)) return true;
  return !SPECIAL.check(address, family);
}

/**
 * Whether the policy refuses a URL's host before any DNS, by the rule every connection is held to
 * (remoteAddressAllowed): an IP literal it refuses (guardedFetch refuses those before connecting), or a localhost
 * name (RFC 6761 §6.3: it resolves to loopback, which the connection's lookup then refuses). Any other name is judged
 * only when it is resolved, at each connection (guardedLookup). Registration applies it to the URIs the server will
 * call (client-metadata.ts), so a URI no fetch could ever reach is refused when it is registered.
 */
export function hostRefusedWithoutDns(hostname: string, policy: RemoteAddressPolicy): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return !remoteAddressAllowed(host, policy);
  if (isLocalMachineHost(host)) return !remoteAddressAllowed('127.0.0.1', policy);
  return false;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * The DNS lookup the socket uses, checked: the addresses are vetted when the connection is made, after the name
 * was resolved for that very connection, so a name that resolves to a public address when checked and to a private
 * one when used (DNS rebinding) cannot get through.
 */
function guardedLookup(policy: RemoteAddressPolicy) {
  return (hostname: string, options: { all?: boolean; family?: number } | number, callback: LookupCallback) => {
    const opts = typeof options === 'number' ? { family: options } : (options ?? {});
    dnsLookup(hostname, { ...opts, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = addresses as LookupAddress[];
      const bad = list.find((a) => !remoteAddressAllowed(a.address, policy));
      if (bad || list.length === 0) {
        return callback(Object.assign(new Error(`${hostname} resolves to a blocked address`), { code: 'EADDRBLOCKED' }), '');
      }
      if (opts.all) callback(null, list);
      else callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * A fetch (GET or POST, no redirects followed, ever) over node:http(s) whose connections may only reach addresses
 * the policy allows. Literal IP hosts and localhost names are checked before connecting (hostRefusedWithoutDns);
 * other names at connect time (guardedLookup).
 */
export function guardedFetch(policy: RemoteAddressPolicy): typeof fetch {
  const impl = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.protocol !== 'https:' && url.protocol !== 'http:') return reject(new TypeError('only http(s) URLs are fetched'));
      // The rule registration applies too: refused IP literals and localhost names fail before any connection.
      if (hostRefusedWithoutDns(url.hostname, policy)) return reject(new TypeError(`${url.hostname.replace(/^\[|\]$/g, '')} is a blocked address`));
      const signal = init.signal ?? undefined;
      if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => (headers[k] = v));
      const body = typeof init.body === 'string' ? init.body : init.body == null ? undefined : String(init.body);
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(url, { method: init.method ?? 'GET', headers, lookup: guardedLookup(policy) as never, signal }, (res: IncomingMessage) => {
        const out = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (Array.isArray(v)) for (const x of v) out.append(k, x);
          else if (v !== undefined) out.set(k, v);
        }
        const status = res.statusCode ?? 502;
        const stream = NULL_BODY.has(status) ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
        if (!stream) res.resume();
        resolve(new Response(stream, { status: status < 200 || status > 599 ? 502 : status, headers: out }));
      });
      req.on('error', reject);
      req.end(body);
    });
  return impl as typeof fetch;
}

/**
 * Outbound fetches the server makes on a client's behalf (request_uri by reference, jwks_uri): https only, no
 * redirects, a timeout and a size limit, so a slow or huge answer cannot tie up the server (RFC 9101 §10.4).
 */
export interface BoundedFetchOptions {
  timeoutMs?: number;
  maxBytes?: number;
  accept?: string;
  /** Also fetch http:// URLs (development only: an operator's insecure* option). */
  allowHttp?: boolean;
  /** The fetch to use: guardedFetch(policy) from the configuration (default: public addresses only). */
  fetch?: typeof fetch;
}

const publicOnly = guardedFetch('public');

export class RemoteFetchError extends Error {
  override name = 'RemoteFetchError';
}

export async function fetchBounded(url: string, opts: BoundedFetchOptions = {}): Promise<{ status: number; contentType: string; body: string }> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const maxBytes = opts.maxBytes ?? 64 * 1024;
  if (!url.startsWith('https://') && !(opts.allowHttp && url.startsWith('http://'))) throw new RemoteFetchError('only https URLs are fetched');
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await (opts.fetch ?? publicOnly)(url, { redirect: 'manual', signal: controller.signal, headers: { accept: opts.accept ?? '*/*' } });
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > maxBytes) throw new RemoteFetchError('response too large');
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) {
          await reader.cancel().catch(() => {});
          throw new RemoteFetchError('response too large');
        }
        chunks.push(value);
      }
    }
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: Buffer.concat(chunks).toString('utf8') };
  } catch (e) {
    if (e instanceof RemoteFetchError) throw e;
    throw new RemoteFetchError(controller.signal.aborted ? 'timed out' : `fetch failed: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}
