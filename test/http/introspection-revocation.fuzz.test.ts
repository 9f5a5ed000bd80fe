import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { basic, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Property: whatever arrives at the introspection or revocation endpoint (random and malformed parameters,
 * repeated parameters, huge values, bad percent-encoding, NUL bytes, broken credentials and headers), the
 * answer is either a 200 of the endpoint's shape or a well-formed OAuth JSON error; never a 5xx and never a
 * stack trace. Fixed seed and bounded runs, so a failure reproduces.
 */
describe('introspection and revocation survive malformed input (fast-check over HTTP)', () => {
  let s: TestServer;
  let creds: { basicOk: string; basicWrong: string; postId: string; postSecret: string; publicId: string };
  let tokens: string[];

  beforeAll(async () => {
    s = await startTestServer();
    const rs = await s.client({ grant_types: ['client_credentials'], scope: 'a b' });
    const post = await s.client({ grant_types: ['client_credentials'], scope: 'a', token_endpoint_auth_method: 'client_secret_post' });
    const jwt = await s.client({ grant_types: ['client_credentials'], scope: 'a', access_token_format: 'jwt' });
    const pub = await s.client({ redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none' });
    creds = {
      basicOk: basic(rs.clientId, rs.clientSecret!),
      basicWrong: basic(rs.clientId, 'wrong'),
      postId: post.clientId,
      postSecret: post.clientSecret!,
      publicId: pub.clientId,
    };
    tokens = [];
    for (const c of [rs, rs, jwt, jwt]) {
      const res = await fetch(s.url('/oauth/token'), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(c.clientId, c.clientSecret!) },
        body: 'grant_type=client_credentials',
      });
      tokens.push((await res.json()).access_token);
    }
  });
  afterAll(() => s.close());

  const junk = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: 'binary-ascii', maxLength: 40 }),
    fc.constantFrom('%', '%zz', '%e0%a4', '%ff%fe', '%00', '\u0000', 'a\u0000b', '+', '&', '=', '%%%', '\ud800'),
    fc.integer({ min: 0, max: 3 }).map((i) => ['a', 'a'.repeat(9000), 'a'.repeat(60_000), 'a'.repeat(70_000)][i]!),
  );
  const value = fc.oneof(junk, fc.constantFrom('access_token', 'refresh_token'), fc.constant('TOKEN'));
  const name = fc.oneof(fc.constantFrom('token', 'token_type_hint', 'client_id', 'client_secret'), junk);
  const encode = fc.boolean();
  // encodeURIComponent refuses lone surrogates; those go out raw (fetch sends them as U+FFFD).
  const enc = (x: string) => { try { return encodeURIComponent(x); } catch { return x; } };
  const pair = fc.tuple(name, value, encode).map(([k, v, e]) => (e ? `${enc(k)}=${enc(v)}` : `${k}=${v}`));
  // Mostly a real token plus noise, so the property also covers the 200 paths (lookups, revocations, JWT answers).
  const form = fc
    .tuple(fc.oneof({ arbitrary: fc.constant(['token=TOKEN']), weight: 3 }, { arbitrary: fc.constant([]), weight: 1 }), fc.array(pair, { maxLength: 4 }))
    .map(([head, ps]) => [...head, ...ps].join('&'));
  const body = fc.oneof(
    { arbitrary: form, weight: 6 },
    fc.uint8Array({ maxLength: 200 }).map((b) => new Uint8Array(b)),
    fc.tuple(form, fc.constantFrom('token', 'token_type_hint', 'client_id')).map(([f, dup]) => `${f}&${dup}=x&${dup}=y`),
  );
  const printable = fc.string({ unit: 'grapheme-ascii', maxLength: 60 });
  const auth = fc.oneof(
    fc.constant(undefined),
    { arbitrary: fc.constant('OK'), weight: 6 },
    fc.constant('WRONG'),
    { arbitrary: fc.constant('POST'), weight: 2 },
    fc.constant('PUBLIC'),
    printable.map((p) => `Basic ${Buffer.from(p).toString('base64')}`),
    printable,
  );
  const contentType = fc.oneof(
    { arbitrary: fc.constant('application/x-www-form-urlencoded'), weight: 8 },
    fc.constantFrom(undefined, 'application/x-www-form-urlencoded; charset=utf-8', 'application/json', 'text/plain', 'multipart/form-data; boundary=x', '*/*', ';;;'),
  );
  const accept = fc.oneof(fc.constantFrom(undefined, 'application/json', 'application/token-introspection+jwt', 'application/token-introspection+jwt;q=0.1, application/json', '*/*'), printable);
  const request = fc.record({ endpoint: fc.constantFrom('/oauth/introspect', '/oauth/revoke'), body, auth, contentType, accept, tokenIndex: fc.nat() });

  it('RFC 7662 §2.3, RFC 7009 §2.2.1: always 200 or a well-formed JSON error, never a 5xx or a stack trace', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = {};
        if (r.contentType) headers['content-type'] = r.contentType;
        if (r.accept) headers.accept = r.accept;
        let payload: string | Uint8Array<ArrayBuffer> = typeof r.body === 'string' ? r.body.replaceAll('TOKEN', tokens[r.tokenIndex % tokens.length]!) : r.body;
        const asText = () => (typeof payload === 'string' ? payload : Buffer.from(payload).toString('latin1'));
        if (r.auth === 'OK') headers.authorization = creds.basicOk;
        else if (r.auth === 'WRONG') headers.authorization = creds.basicWrong;
        else if (r.auth === 'POST') payload = `${asText()}&client_id=${creds.postId}&client_secret=${creds.postSecret}`;
        else if (r.auth === 'PUBLIC') payload = `${asText()}&client_id=${creds.publicId}`;
        else if (r.auth !== undefined) headers.authorization = r.auth;

        const res = await fetch(s.url(r.endpoint), { method: 'POST', headers, body: payload });
        const text = await res.text();
        expect(res.status, text).toBeLessThan(500);
        expect(text).not.toMatch(/\bat .*[.:]\d+|\.ts\b|node_modules|Error:/);
        if (res.status === 200) {
          expect(res.headers.get('cache-control')).toBe('no-store');
          if (r.endpoint === '/oauth/revoke') {
            expect(text).toBe('');
          } else if (res.headers.get('content-type') === 'application/token-introspection+jwt') {
            expect(text).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
          } else {
            expect(typeof JSON.parse(text).active).toBe('boolean');
          }
        } else {
          // 413 (body too large) and 415 (a Content-Type Fastify cannot parse) come from the app's error handler, in OAuth shape.
          expect([400, 401, 413, 415]).toContain(res.status);
          const err = JSON.parse(text);
          expect(err.error).toMatch(/^[a-z_]+$/);
          expect(typeof err.error_description).toBe('string');
          expect(res.headers.get('cache-control')).toBe('no-store');
        }
      }),
      { seed: 7009, numRuns: 300 },
    );
  });
});
