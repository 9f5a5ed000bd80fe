import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Fuzzing the HTTP surface: random, truncated, oversized, repeated and wrongly encoded parameters, headers and
 * bodies must always get a well-formed answer (success or the spec's error), never a 5xx, a crash, a stack trace or
 * a secret. Fixed seed here; `npm run fuzz` (FUZZ_RUNS, FUZZ_SEED) runs longer.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const SEED = Number(process.env.FUZZ_SEED ?? 20261130);

const NAMES = [
  'grant_type', 'code', 'redirect_uri', 'client_id', 'client_secret', 'scope', 'refresh_token', 'code_verifier', 'token',
  'token_type_hint', 'response_type', 'state', 'nonce', 'prompt', 'max_age', 'code_challenge', 'code_challenge_method',
  'id_token_hint', 'post_logout_redirect_uri', 'access_token', 'request', 'request_uri', 'resource', 'csrf', 'username',
  'password', 'decision', 'response_mode', 'login_hint', 'claims', 'acr_values', 'ui_locales',
];
const VALUES = ['fuzz-client', 'authorization_code', 'client_credentials', 'refresh_token', 'code', 'openid', 'none', 'S256', 'plain', 'https://rp.example/cb', '0', '-1', '1e309'];

const encodedPiece = fc.oneof(
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.constantFrom('%', '%zz', '%0', '%00', '%ff%fe', '%C0%AF', '+', '&', '=', '==', '&&', '%E2%82', '\u0000', '[]', '[0]=x'),
  fc.constantFrom(...VALUES).map(encodeURIComponent),
  fc.integer({ min: 0, max: 12 }).map((n) => 'a'.repeat(2 ** n)),
);
const pair = fc.tuple(fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 12 }).map(encodeURIComponent)), encodedPiece).map(([k, v]) => `${k}=${v}`);
const formBody = fc.array(pair, { maxLength: 12 }).map((ps) => ps.join('&'));
const rawBytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
const body = fc.oneof({ weight: 4, arbitrary: formBody.map((s) => Buffer.from(s)) }, { weight: 1, arbitrary: rawBytes });
const contentType = fc.constantFrom(
  'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'application/json', 'text/plain',
  'multipart/form-data; boundary=x', '', 'application/x-www-form-urlencoded;;;', '*/*',
);

describe('fuzzing every endpoint over HTTP', () => {
  let s: TestServer;
  let secret: string;
  let authHeader: fc.Arbitrary<string | undefined>;

  beforeAll(async () => {
    s = await startTestServer();
    const c = await s.client({ client_id: 'fuzz-client', redirect_uris: ['https://rp.example/cb'], grant_types: ['authorization_code', 'refresh_token', 'client_credentials'], skip_consent: true });
    secret = c.clientSecret!;
    authHeader = fc.oneof(
      fc.constant(undefined),
      fc.constant(basic(c.clientId, secret)),
      fc.string({ maxLength: 60 }).map((x) => `Basic ${Buffer.from(x).toString('base64')}`),
      fc.string({ maxLength: 60 }).map((x) => `Bearer ${x}`),
      fc.string({ maxLength: 60 }),
      fc.constant('Basic'),
      fc.constant('Bearer'),
    );
  });
  afterAll(() => s.close());

  function checkAnswer(status: number, text: string, ctype: string | null) {
    expect(status, `5xx: ${text.slice(0, 200)}`).toBeLessThan(500);
    expect(text).not.toMatch(/\bat [\w.<>]+ \(|node_modules|\.ts:\d+|\.js:\d+:\d+/);
    expect(text).not.toContain(secret);
    if (ctype?.startsWith('application/json')) {
      const j = JSON.parse(text);
      if (status >= 400) expect(typeof j.error).toBe('string');
    }
  }

  const posts = ['/oauth/token', '/oauth/introspect', '/oauth/revoke', '/oauth/authorize', '/oauth/userinfo', '/oauth/logout', '/interaction/abc/login', '/interaction/abc/consent', '/logout/abc'];
  for (const path of posts) {
    it(`POST ${path}: random bodies, content types and credentials never get a 5xx`, async () => {
      await fc.assert(
        fc.asyncProperty(body, contentType, authHeader, async (b, ct, a) => {
          const headers: Record<string, string> = {};
          if (ct) headers['content-type'] = ct;
          if (a !== undefined) headers.authorization = a;
          const res = await fetch(s.url(path), { method: 'POST', headers, body: b });
          checkAnswer(res.status, await res.text(), res.headers.get('content-type'));
        }),
        { numRuns: RUNS, seed: SEED },
      );
    });
  }

  for (const path of ['/oauth/authorize', '/oauth/userinfo', '/oauth/logout', '/interaction/abc', '/.well-known/openid-configuration']) {
    it(`GET ${path}: random query strings never get a 5xx`, async () => {
      await fc.assert(
        fc.asyncProperty(formBody, authHeader, async (q, a) => {
          const res = await fetch(`${s.url(path)}?${q}`, { headers: a !== undefined ? { authorization: a } : {}, redirect: 'manual' });
          checkAnswer(res.status, await res.text(), res.headers.get('content-type'));
          const loc = res.headers.get('location');
          // Never a redirect to anything but a registered URI or our own pages.
          if (loc) expect(loc.startsWith('https://rp.example/cb') || loc.startsWith('/interaction/')).toBe(true);
        }),
        { numRuns: RUNS, seed: SEED },
      );
    });
  }
});
