import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier, type ResourceServerOptions } from '../../src/resource-server/index.js';
import { TtlCache } from '../../src/resource-server/ttl-cache.js';
import { jsonServer, listen } from './helpers.js';

/**
 * A stand-in authorization server whose introspection answers the test chooses, counting calls: the cache rules are
 * about what the resource server does between calls, which a real server cannot show.
 */
describe('resource-server introspection: caching and the request it sends (RFC 7662)', () => {
  let as: { url: string; close: () => Promise<void> };
  let now = 1_700_000_000_000;
  const answers = new Map<string, Record<string, unknown>>();
  const seen: Array<{ authorization?: string; body: URLSearchParams }> = [];
  let advertisedIssuer: string | undefined;

  beforeAll(async () => {
    as = await listen(
      jsonServer((req, body) => {
        if (req.url === '/.well-known/openid-configuration') {
          return { json: { issuer: advertisedIssuer ?? as.url, jwks_uri: `${as.url}/jwks`, introspection_endpoint: `${as.url}/introspect` } };
        }
        if (req.url === '/introspect' && req.method === 'POST') {
          const form = new URLSearchParams(body);
          seen.push({ authorization: req.headers.authorization, body: form });
          return { json: answers.get(form.get('token')!) ?? { active: false } };
        }
        return { status: 404, json: {} };
      }),
    );
  });
  afterAll(() => as.close());

  const opts = (o: Partial<NonNullable<ResourceServerOptions['introspection']>> = {}): ResourceServerOptions => ({
    issuer: as.url,
    audience: 'https://api.example',
    introspection: { clientId: 'rs client', clientSecret: 's3cr3t:+/', ...o },
    clock: () => now,
  });
  const nowS = () => Math.floor(now / 1000);
  const active = (extra: Record<string, unknown> = {}) => ({ active: true, iss: as.url, aud: 'https://api.example', scope: 'a b', exp: nowS() + 3600, token_type: 'Bearer', ...extra });
  const req = (token: string) => ({ method: 'GET', url: '/x', headers: { authorization: `Bearer ${token}`, host: 'api.example' } });
  const calls = (token: string) => seen.filter((s) => s.body.get('token') === token).length;

  it('RFC 7662 §2.1: the request is a form POST with token and token_type_hint, Basic-authenticated per RFC 6749 §2.3.1', async () => {
    answers.set('t-auth', active());
    await createTokenVerifier(opts()).verify(req('t-auth'));
    const last = seen.at(-1)!;
    expect(last.body.get('token_type_hint')).toBe('access_token');
    expect(last.body.get('client_secret')).toBeNull();
    // The id and secret are form-urlencoded before base64 (so ':' in the secret survives).
    expect(Buffer.from(last.authorization!.slice(6), 'base64').toString()).toBe('rs+client:s3cr3t%3A%2B%2F');
    answers.set('t-post', active());
    await createTokenVerifier(opts({ authMethod: 'client_secret_post' })).verify(req('t-post'));
    const post = seen.at(-1)!;
    expect(post.authorization).toBeUndefined();
    expect([post.body.get('client_id'), post.body.get('client_secret')]).toEqual(['rs client', 's3cr3t:+/']);
  });

  it('an active answer is cached for cacheTtl, then asked again', async () => {
    const v = createTokenVerifier(opts({ cacheTtl: 30 }));
    answers.set('t1', active());
    await v.verify(req('t1'));
    await v.verify(req('t1'));
    expect(calls('t1')).toBe(1);
    now += 31_000;
    await v.verify(req('t1'));
    expect(calls('t1')).toBe(2);
  });

  it('a cached answer never outlives the token: exp bounds the cache time', async () => {
    const v = createTokenVerifier(opts({ cacheTtl: 300 }));
    answers.set('t2', active({ exp: nowS() + 5 }));
    await v.verify(req('t2'));
    now += 3_000;
    await v.verify(req('t2'));
    expect(calls('t2')).toBe(1);
    now += 3_000; // past exp: asked again, and the (now expired) answer is refused
    await expect(v.verify(req('t2'))).rejects.toMatchObject({ error: 'invalid_token', status: 401 });
    expect(calls('t2')).toBe(2);
  });

  it('inactive answers are not cached, so a token is never refused longer than the server says', async () => {
    const v = createTokenVerifier(opts({ cacheTtl: 300 }));
    await expect(v.verify(req('t3'))).rejects.toMatchObject({ error: 'invalid_token' });
    answers.set('t3', active());
    await v.verify(req('t3'));
    expect(calls('t3')).toBe(2);
  });

  it('the cache is bounded: past cacheMaxEntries the oldest answer is dropped', async () => {
    const v = createTokenVerifier(opts({ cacheTtl: 300, cacheMaxEntries: 2 }));
    for (const t of ['b1', 'b2', 'b3']) {
      answers.set(t, active());
      await v.verify(req(t));
    }
    await v.verify(req('b3'));
    await v.verify(req('b2'));
    expect([calls('b2'), calls('b3')]).toEqual([1, 1]);
    await v.verify(req('b1'));
    expect(calls('b1')).toBe(2);
  });

  it('cacheTtl 0 turns caching off', async () => {
    const v = createTokenVerifier(opts({ cacheTtl: 0 }));
    answers.set('t4', active());
    await v.verify(req('t4'));
    await v.verify(req('t4'));
    expect(calls('t4')).toBe(2);
  });

  it('RFC 7662 §2.2: answers of another issuer, already expired, not yet valid, or not an access token are refused', async () => {
    const v = createTokenVerifier(opts({ cacheTtl: 0 }));
    const bad: Array<[string, Record<string, unknown>]> = [
      ['iss', active({ iss: 'https://other.example' })],
      ['exp', active({ exp: nowS() - 1 })],
      ['nbf', active({ nbf: nowS() + 60 })],
      ['token_type', active({ token_type: 'refresh_token' })],
      ['aud', active({ aud: ['https://other.example'] })],
      ['noaud', active({ aud: undefined })],
    ];
    for (const [name, answer] of bad) {
      answers.set(`bad-${name}`, answer);
      await expect(v.verify(req(`bad-${name}`)), name).rejects.toMatchObject({ error: 'invalid_token', status: 401 });
    }
  });

  it('OIDC Discovery §4.3: metadata for another issuer is not trusted (503), and a later request retries', async () => {
    advertisedIssuer = 'https://impostor.example';
    const v = createTokenVerifier(opts());
    answers.set('t5', active());
    await expect(v.verify(req('t5'))).rejects.toMatchObject({ name: 'AuthorizationServerUnavailable', status: 503 });
    advertisedIssuer = undefined;
    await expect(v.verify(req('t5'))).resolves.toMatchObject({ scope: ['a', 'b'], format: 'opaque' });
  });
});

describe('TtlCache', () => {
  it('never returns an expired entry, stores nothing already expired, and evicts expired entries before live ones', () => {
    let t = 0;
    const c = new TtlCache<number>(2, () => t);
    c.set('past', 1, 0);
    expect(c.size).toBe(0);
    c.set('a', 1, 10);
    c.set('b', 2, 100);
    t = 20; // a expired
    c.set('c', 3, 100);
    expect([c.get('a'), c.get('b'), c.get('c')]).toEqual([undefined, 2, 3]);
    c.set('d', 4, 100); // full of live entries: the oldest (b) goes
    expect([c.get('b'), c.get('c'), c.get('d')]).toEqual([undefined, 3, 4]);
  });
});
