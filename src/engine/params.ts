import { OAuthError } from './errors.js';

/**
 * Parsed application/x-www-form-urlencoded (or query string) parameters.
 * RFC 6749 §3.1: a parameter sent without a value is treated as omitted; one sent more than once is invalid_request.
 */
export class Params {
  private constructor(
    private readonly map: Map<string, string>,
    /** Every value of the parameters allowed to repeat (RFC 8707 §2 resource, RFC 8693 §2.1 audience). */
    private readonly multi: Map<string, string[]> = new Map(),
  ) {}

  static parse(raw: string | undefined | null, opts: { allowRepeated?: readonly string[] } = {}): Params {
    const map = new Map<string, string>();
    const multi = new Map<string, string[]>();
    if (raw) {
      const seen = new Set<string>();
      for (const [k, v] of new URLSearchParams(raw)) {
        if (v === '') continue;
        // RFC 6749 Appendix A: no parameter's syntax admits %x00 (and PostgreSQL text cannot hold it).
        if (v.includes('\u0000') || k.includes('\u0000')) {
          throw new OAuthError('invalid_request', `parameter ${safeName(k)} holds a NUL character`, { resultCode: 'LK0004' });
        }
        const repeatable = opts.allowRepeated?.includes(k) === true;
        if (repeatable) multi.set(k, [...(multi.get(k) ?? []), v]);
        if (seen.has(k)) {
          if (repeatable) continue;
          throw new OAuthError('invalid_request', `parameter ${safeName(k)} is repeated`, { resultCode: 'LK0002' });
        }
        seen.add(k);
        map.set(k, v);
      }
    }
    return new Params(map, multi);
  }

  /** From name/value pairs; an array value is a repeated parameter (RFC 8707 §2.1: resource in a request object). */
  static fromRecord(rec: Record<string, string | readonly string[] | undefined>): Params {
    const map = new Map<string, string>();
    const multi = new Map<string, string[]>();
    for (const [k, v] of Object.entries(rec)) {
      // As parse: no parameter admits %x00 (RFC 6749 Appendix A), wherever it came from (a request object's claims too).
      if (k.includes('\u0000') || (typeof v === 'string' ? v.includes('\u0000') : v?.some((x) => x.includes('\u0000')))) {
        throw new OAuthError('invalid_request', `parameter ${safeName(k)} holds a NUL character`, { resultCode: 'LK0004' });
      }
      if (typeof v === 'string') {
        if (v !== '') map.set(k, v);
      } else if (v !== undefined) {
        const values = v.filter((x) => x !== '');
        if (values.length) {
          map.set(k, values[0]!);
          multi.set(k, values);
        }
      }
    }
    return new Params(map, multi);
  }

  get(name: string): string | undefined {
    return this.map.get(name);
  }

  /** Every value of a parameter, in order: several only for names parsed with allowRepeated. */
  getAll(name: string): string[] {
    const all = this.multi.get(name);
    if (all) return [...all];
    const one = this.map.get(name);
    return one === undefined ? [] : [one];
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  require(name: string): string {
    const v = this.map.get(name);
    if (v === undefined) {
      throw new OAuthError('invalid_request', `missing required parameter ${name}`, { resultCode: 'LK0003' });
    }
    return v;
  }

  /** A copy with one parameter set to one value (replacing any it had), every value of every other parameter kept. */
  with(name: string, value: string): Params {
    const map = new Map(this.map);
    const multi = new Map(this.multi);
    multi.delete(name);
    map.set(name, value);
    return new Params(map, multi);
  }

  entries(): IterableIterator<[string, string]> {
    return this.map.entries();
  }

  toRecord(): Record<string, string> {
    return Object.fromEntries(this.map);
  }

  toString(): string {
    return new URLSearchParams([...this.map].flatMap(([k, v]) => (this.multi.get(k) ?? [v]).map((x): [string, string] => [k, x]))).toString();
  }
}

/** Parameter names echoed in error descriptions are shortened and stripped of anything that is not plain text. */
export function safeName(name: string): string {
  const cleaned = name.replace(/[^\x20-\x7e]/g, '?');
  return cleaned.length > 40 ? cleaned.slice(0, 40) + '…' : cleaned;
}

/** RFC 6749 §3.3: scope is a space-delimited list of case-sensitive NQCHAR tokens. */
export function parseScope(value: string | undefined): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const s of value.split(' ')) {
    if (s === '') continue;
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)) {
      throw new OAuthError('invalid_scope', 'scope contains characters not allowed by RFC 6749 §3.3', { resultCode: 'LK2003' });
    }
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

/**
 * What the transport saw of a request's headers that a header map cannot show: a header sent more than once (Node
 * keeps the first Authorization, Content-Type and Host and drops the others). The engine decides what that means.
 */
export interface RepeatedHeaders {
  repeatedAuthorization?: boolean;
  repeatedContentType?: boolean;
}

/** RFC 6749 §3.2, §4.1.3: back-channel requests are application/x-www-form-urlencoded. */
export function checkFormContentType(contentType: string | undefined, repeated?: boolean): void {
  // RFC 9110 §5.3: Content-Type is a singleton; two of them leave the body's type unknown.
  if (repeated) throw new OAuthError('invalid_request', 'more than one Content-Type header', { resultCode: 'LK7264' });
  if (contentType === undefined) return;
  const mime = contentType.split(';')[0]!.trim().toLowerCase();
  if (mime !== 'application/x-www-form-urlencoded') {
    throw new OAuthError('invalid_request', 'the request body must be application/x-www-form-urlencoded', { resultCode: 'LK0005' });
  }
}

/**
 * A registered URI (a redirect URI, a post-logout or front-channel logout URI) with response parameters added to its
 * query, the rest of it exactly as registered: RFC 6749 §3.1.2 keeps its query ("MUST be retained"), and RP-Initiated
 * Logout §3 redirects to the URI that matched. URL serialisation would rewrite it (lower-case the host, drop a default
 * port, add a "/" path, re-encode the query as a form), so the parameters are appended to the string itself. A URI
 * with anything but printable ASCII is serialised first, so that it can go in a Location header.
 */
export function withQueryParams(uri: string, params: Iterable<[string, string]>): string {
  const added = new URLSearchParams([...params]).toString();
  const base = /^[\x21-\x7e]+$/.test(uri) ? uri : new URL(uri).href;
  if (!added) return base;
  // Registered URIs never have a fragment (RFC 6749 §3.1.2); if one slipped through, the query goes before it.
  const hash = base.indexOf('#');
  const [head, tail] = hash >= 0 ? [base.slice(0, hash), base.slice(hash)] : [base, ''];
  const sep = !head.includes('?') ? '?' : head.endsWith('?') || head.endsWith('&') ? '' : '&';
  return head + sep + added + tail;
}
