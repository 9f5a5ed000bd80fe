import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OAuthError } from '../../src/engine/errors.js';
import { checkFormContentType, Params, parseScope, withQueryParams } from '../../src/engine/params.js';

describe('Params', () => {
  it('RFC 6749 Appendix A: a NUL character in a parameter name or value is invalid_request', () => {
    for (const raw of ['client_id=%00', 'scope=a%00b', 'a%00=b']) {
      let error: unknown;
      try {
        Params.parse(raw);
      } catch (e) {
        error = e;
      }
      expect(error, raw).toBeInstanceOf(OAuthError);
      expect((error as OAuthError).code).toBe('invalid_request');
    }
  });

  it('RFC 8707 §2: with() sets one parameter and keeps every value of a repeated one', () => {
    const p = Params.parse('resource=https%3A%2F%2Fa.example%2F&scope=x&resource=https%3A%2F%2Fb.example%2F&dpop_jkt=old', { allowRepeated: ['resource'] });
    const q = p.with('dpop_jkt', 'new');
    expect(q.getAll('resource')).toEqual(['https://a.example/', 'https://b.example/']);
    expect(q.get('dpop_jkt')).toBe('new');
    expect(q.get('scope')).toBe('x');
    expect(Params.parse(q.toString(), { allowRepeated: ['resource'] }).getAll('resource')).toEqual(['https://a.example/', 'https://b.example/']);
    expect(p.get('dpop_jkt')).toBe('old'); // a copy: the original is unchanged
    expect(Params.fromRecord({ resource: ['r1', 'r2'] }).with('resource', 'r3').getAll('resource')).toEqual(['r3']);
  });

  it('RFC 6749 §3.1: a parameter sent more than once is invalid_request', () => {
    expect(() => Params.parse('grant_type=a&grant_type=b')).toThrowError(OAuthError);
    try {
      Params.parse('scope=a&scope=a');
    } catch (e) {
      expect((e as OAuthError).code).toBe('invalid_request');
      expect((e as OAuthError).resultCode).toBe('LK0002');
    }
  });

  it('RFC 6749 §3.1: a parameter sent without a value is treated as omitted', () => {
    const p = Params.parse('scope=&state=x&scope=');
    expect(p.has('scope')).toBe(false);
    expect(p.get('state')).toBe('x');
  });

  it('decodes form encoding (+ is a space, percent-escapes)', () => {
    expect(Params.parse('a=b+c%2Bd').get('a')).toBe('b c+d');
  });

  it('require names the missing parameter', () => {
    expect(() => Params.parse('').require('grant_type')).toThrow(/grant_type/);
  });

  it('never throws anything but OAuthError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        try {
          Params.parse(s);
        } catch (e) {
          expect(e).toBeInstanceOf(OAuthError);
        }
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});

describe('parseScope', () => {
  it('RFC 6749 §3.3: splits on spaces, drops empties and duplicates', () => {
    expect(parseScope('a  b a')).toEqual(['a', 'b']);
  });
  it('RFC 6749 §3.3: rejects characters outside NQCHAR', () => {
    expect(() => parseScope('a "b"')).toThrow(OAuthError);
    expect(() => parseScope('a\\b')).toThrow(OAuthError);
  });
});

describe('checkFormContentType', () => {
  it('RFC 6749 §3.2: accepts form encoding with parameters, rejects JSON', () => {
    expect(() => checkFormContentType('application/x-www-form-urlencoded; charset=UTF-8')).not.toThrow();
    expect(() => checkFormContentType('application/json')).toThrow(/x-www-form-urlencoded/);
  });
});

describe('withQueryParams', () => {
  it('RFC 6749 §3.1.2: the registered URI is kept as written (case, port, path, query) and the parameters are appended', () => {
    expect(withQueryParams('https://RP.Example:443/cb?x=a%20b', [['code', 'c'], ['state', 's 1']])).toBe('https://RP.Example:443/cb?x=a%20b&code=c&state=s+1');
    expect(withQueryParams('https://rp.example', [['state', 's']])).toBe('https://rp.example?state=s');
    expect(withQueryParams('https://rp.example/cb?', [['state', 's']])).toBe('https://rp.example/cb?state=s');
    expect(withQueryParams('com.example.app:/cb', [['code', 'c']])).toBe('com.example.app:/cb?code=c');
    expect(withQueryParams('https://rp.example/cb?x=1', [])).toBe('https://rp.example/cb?x=1');
    // Not printable ASCII: serialised first, so the result can go in a Location header.
    expect(withQueryParams('https://rp.example/caf\u00e9', [['a', 'b']])).toBe('https://rp.example/caf%C3%A9?a=b');
  });

  it('property: the original query parameters and the added ones all read back, in order', () => {
    const key = fc.string({ minLength: 1, maxLength: 8 });
    const pairs = fc.array(fc.tuple(key, fc.string({ maxLength: 12 })), { maxLength: 5 });
    fc.assert(
      fc.property(pairs, pairs, (orig, added) => {
        const q = new URLSearchParams(orig).toString();
        const uri = `https://rp.example/cb${q ? `?${q}` : ''}`;
        const out = withQueryParams(uri, added);
        expect(out.startsWith(uri)).toBe(true);
        expect([...new URL(out).searchParams]).toEqual([...new URLSearchParams(orig), ...new URLSearchParams(added)]);
      }),
    );
  });
});
