import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { registerResourceServer } from '../../src/services/resources.js';

const CB = 'https://rp.example/cb';
const API = 'https://api.example/';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TYPES = ['access_token', 'refresh_token', 'id_token', 'jwt', 'saml2'].map((t) => `urn:ietf:params:oauth:token-type:${t}`);

/**
 * Property: whatever reaches the token endpoint, for every grant (random and malformed parameters, repeated
 * parameters, real and broken tokens, codes, credentials and targets), the answer is either a 200 token
 * response or a well-formed OAuth JSON error (RFC 6749 §5.2); never a 5xx, never a stack trace. Fixed seed and
 * bounded runs, so a failure reproduces.
 */
describe('the token endpoint survives malformed input for every grant (fast-check over HTTP)', () => {
  let s: TestServer;
  let auth: Record<string, string>;
  let values: Record<string, string[]>;

  beforeAll(async () => {
    s = await startTestServer({ loginRateLimit: 1000 });
    await registerResourceServer(s.ctx, { identifier: API, scope: 'api:read api:write', access_token_format: 'jwt' });
    const all = await s.client({
      redirect_uris: [CB], skip_consent: true, scope: 'openid offline_access profile api:read api:write',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials', 'password', EXCHANGE], insecure_password_grant: true,
      token_exchange: { subject_token_types: TYPES.slice(0, 4), actor_token_types: TYPES.slice(0, 4), subject_token_audiences: [API], impersonation: true },
    });
    const pub = await s.client({ redirect_uris: [CB], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token', 'password'], insecure_password_grant: true, skip_consent: true });
    await s.user('fuzz', 'fuzz-password');
    auth = { ALL: basic(all.clientId, all.clientSecret!), WRONG: basic(all.clientId, 'wrong'), PUBLIC: pub.clientId };

    // Real material for the placeholders: codes, refresh, access and ID tokens.
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const url = `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: all.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid offline_access api:read', state: 's', resource: API });
      codes.push((await new Agent(s.issuer).authorize(url, 'fuzz', 'fuzz-password')).searchParams.get('code')!);
    }
    const pws = [];
    for (let i = 0; i < 4; i++) {
      pws.push((await postForm(s.url('/oauth/token'), { grant_type: 'password', username: 'fuzz', password: 'fuzz-password', scope: 'openid offline_access api:read' }, { authorization: auth.ALL! })).json);
    }
    const pw = { json: pws[0] };
    const cc = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', resource: API }, { authorization: auth.ALL! });
    values = {
      CODE: codes,
      RT: pws.map((p) => p.refresh_token),
      AT: [pw.json.access_token, cc.json.access_token],
      IDT: pws.map((p) => p.id_token),
    };
  });
  afterAll(() => s.close());

  const junk = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.string({ unit: 'binary-ascii', maxLength: 30 }),
    fc.constantFrom('%', '%zz', '%e0%a4', '%ff%fe', '%00', 'a\u0000b', '+', '&', '=', '\ud800', 'eyJhbGciOiJub25lIn0.e30.', 'a.b.c'),
    fc.integer({ min: 0, max: 5 }).map((i) => ['a'.repeat(300), 'a'.repeat(300), 'a'.repeat(9000), 'a'.repeat(9000), 'a'.repeat(9000), 'a'.repeat(70_000)][i]!),
  );
  /** Mostly plausible values, sometimes junk: so requests get past the first checks and reach the deep ones. */
  const maybe = (...good: string[]) => fc.oneof({ arbitrary: fc.constantFrom(...good), weight: 4 }, junk);
  const token = maybe('AT', 'RT', 'IDT', 'CODE');
  const target = maybe(API, 'https://unknown.example/', 'https://api.example/#f', 'relative', 'urn:x:y');
  const scope = maybe('openid', 'api:read', 'api:read api:write', 'offline_access openid api:read', 'admin', 'profile');
  type Pairs = [string, string][];
  /** A token with its matching type, as a client that knows what it holds would send it. */
  const typedToken = (role: 'subject' | 'actor') =>
    fc.constantFrom<[string, string]>(['AT', TYPES[0]!], ['RT', TYPES[1]!], ['IDT', TYPES[2]!], ['IDT', TYPES[3]!], ['AT', TYPES[3]!]).map(([t, ty]): Pairs => [[`${role}_token`, t], [`${role}_token_type`, ty]]);
  const opt = (k: string, v: fc.Arbitrary<string>) => fc.option(v.map((x): Pairs => [[k, x]]), { nil: [] as Pairs });
  const many = (k: string, v: fc.Arbitrary<string>) => fc.array(v, { maxLength: 3 }).map((xs): Pairs => xs.map((x) => [k, x]));
  const join = (...parts: fc.Arbitrary<Pairs>[]) => fc.tuple(...parts).map((ps) => ps.flat());
  /** A skeleton per grant: its parameters present (usually) with plausible or broken values. */
  const skeleton: Record<string, fc.Arbitrary<Pairs>> = {
    authorization_code: join(opt('code', maybe('CODE', 'AT')), opt('redirect_uri', maybe(CB, CB + '/x')), opt('code_verifier', maybe('a'.repeat(43))), many('resource', target)),
    refresh_token: join(opt('refresh_token', maybe('RT', 'AT')), opt('scope', scope), many('resource', target)),
    client_credentials: join(opt('scope', scope), many('resource', target)),
    password: join(opt('username', maybe('fuzz', 'nobody')), opt('password', maybe('fuzz-password', 'wrong')), opt('scope', scope), many('resource', target)),
    [EXCHANGE]: join(
      fc.oneof({ arbitrary: typedToken('subject'), weight: 4 }, join(opt('subject_token', token), opt('subject_token_type', maybe(...TYPES)))),
      fc.oneof({ arbitrary: fc.constant([] as Pairs), weight: 3 }, { arbitrary: typedToken('actor'), weight: 2 }, join(opt('actor_token', token), opt('actor_token_type', maybe(...TYPES)))),
      fc.oneof({ arbitrary: fc.constant([] as Pairs), weight: 3 }, opt('requested_token_type', maybe(...TYPES))),
      many('resource', target), many('audience', target), fc.oneof({ arbitrary: fc.constant([] as Pairs), weight: 2 }, opt('scope', scope)),
    ),
  };
  const grants = Object.keys(skeleton);
  // encodeURIComponent refuses lone surrogates; those go out raw (fetch sends them as U+FFFD).
  const enc = (x: string) => { try { return encodeURIComponent(x); } catch { return x; } };
  const noise = fc.array(fc.tuple(fc.oneof(fc.constantFrom('code', 'scope', 'resource', 'client_id', 'subject_token', 'username'), junk), fc.oneof(junk, token)), { maxLength: 3 });
  const matched = fc.constantFrom(...grants).chain((g) => skeleton[g]!.map((pairs) => ({ grant: g as string | undefined, pairs })));
  const mismatched = fc.record({
    grant: fc.oneof(fc.constantFrom(...grants, undefined, 'implicit', 'urn:x'), junk),
    pairs: fc.constantFrom(...grants).chain((g) => skeleton[g]!),
  });
  const request = fc.record({
    main: fc.oneof({ arbitrary: matched, weight: 8 }, { arbitrary: mismatched, weight: 2 }),
    noise,
    encode: fc.boolean(),
    duplicate: fc.oneof({ arbitrary: fc.constant(undefined), weight: 9 }, fc.constantFrom('grant_type', 'scope', 'code', 'subject_token')),
    auth: fc.oneof({ arbitrary: fc.constant('ALL'), weight: 8 }, fc.constantFrom('WRONG', 'PUBLIC', undefined), fc.string({ unit: 'grapheme-ascii', maxLength: 40 })),
    contentType: fc.oneof({ arbitrary: fc.constant('application/x-www-form-urlencoded'), weight: 12 }, fc.constantFrom(undefined, 'application/json', 'text/plain')),
    pick: fc.nat(),
  });

  it('RFC 6749 §5.1, §5.2: every grant answers 200 with a token or a well-formed JSON error, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const real = (v: string) => (values[v] ? values[v]![r.pick % values[v]!.length]! : v);
        const parts: string[] = [];
        if (r.main.grant !== undefined) parts.push(`grant_type=${enc(r.main.grant)}`);
        for (const [k, v] of [...r.main.pairs, ...r.noise]) parts.push(r.encode || r.pick % 3 !== 0 ? `${enc(k)}=${enc(real(v))}` : `${k}=${real(v)}`);
        if (r.duplicate) parts.push(`${r.duplicate}=x`, `${r.duplicate}=y`);
        let body = parts.join('&');
        const headers: Record<string, string> = {};
        if (r.contentType) headers['content-type'] = r.contentType;
        if (r.auth === 'PUBLIC') body += `&client_id=${enc(auth.PUBLIC!)}`;
        else if (r.auth === 'ALL' || r.auth === 'WRONG') headers.authorization = auth[r.auth]!;
        else if (r.auth !== undefined) headers.authorization = r.auth;

        const res = await fetch(s.url('/oauth/token'), { method: 'POST', headers, body });
        const text = await res.text();
        expect(res.status, `${body}\n${text}`).toBeLessThan(500);
        expect(text).not.toMatch(/\bat .*[.:]\d+|\.ts\b|node_modules|Error:/);
        expect(res.headers.get('cache-control')).toBe('no-store');
        const json = JSON.parse(text);
        if (res.status === 200) {
          expect(typeof json.access_token).toBe('string');
          expect(json.token_type).toBe('Bearer');
          expect(Number.isInteger(json.expires_in)).toBe(true);
        } else {
          expect([400, 401, 413, 415]).toContain(res.status);
          expect(json.error).toMatch(/^[a-z_]+$/);
          expect(typeof json.error_description).toBe('string');
        }
      }),
      { seed: 8693, numRuns: 400 },
    );
  });
});
