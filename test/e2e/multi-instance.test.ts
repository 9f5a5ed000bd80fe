import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { Agent } from '../helpers/agent.js';
import { adminDatabaseUrl } from '../helpers/database.js';
import { basic, postForm, startTestInstances, type TestInstance } from '../helpers/server.js';

const CB = 'https://rp.example/cb';

/**
 * Scale-out on PostgreSQL (the second pass, scripts/with-postgres.sh): three Latchkey instances share one database
 * and one keyEncryptionKey and carry the same issuer, each called on its own port, as behind a load balancer.
 * Whatever one instance records, the others honour: codes, refresh-token families, signing keys, login limits.
 */
describe.runIf(adminDatabaseUrl())('three instances on one PostgreSQL database', () => {
  let cluster: Awaited<ReturnType<typeof startTestInstances>>;
  let A: TestInstance, B: TestInstance, C: TestInstance;
  let now = Date.now();
  let web: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    cluster = await startTestInstances(3, { loginRateLimit: 3 }, { clock: () => now });
    [A, B, C] = cluster.instances as [TestInstance, TestInstance, TestInstance];
    // Registered through one instance, known to all.
    web = await A.client({ redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], skip_consent: true, scope: 'openid offline_access' });
    await B.user('erin', 'erin-password');
  });
  afterAll(() => cluster?.close());

  const verifier = 'm'.repeat(43);
  const authUrl = (at: TestInstance) =>
    at.url('/oauth/authorize?') +
    new URLSearchParams({
      client_id: web.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid offline_access', state: 'st', nonce: 'n1',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    });
  const codeAt = async (at: TestInstance) => (await new Agent(at.base).authorize(authUrl(at), 'erin', 'erin-password')).searchParams.get('code')!;
  const redeemAt = (at: TestInstance, code: string) =>
    postForm(at.url('/oauth/token'), { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }, { authorization: basic(web.clientId, web.clientSecret!) });
  const refreshAt = (at: TestInstance, rt: string) =>
    postForm(at.url('/oauth/token'), { grant_type: 'refresh_token', refresh_token: rt }, { authorization: basic(web.clientId, web.clientSecret!) });
  const jwksAt = async (at: TestInstance) => (await (await fetch(at.url('/.well-known/jwks.json'))).json()) as JSONWebKeySet;

  it('a code obtained through one instance is redeemed at another; the ID token (issuer shared) verifies against a third one\'s JWKS', async () => {
    const code = await codeAt(A);
    const res = await redeemAt(B, code);
    expect(res.status).toBe(200);
    const { payload } = await jwtVerify(res.json.id_token, createLocalJWKSet(await jwksAt(C)), { issuer: cluster.issuer, audience: web.clientId });
    expect(payload.nonce).toBe('n1');
    // The access token works at the third instance too.
    const ui = await fetch(C.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${res.json.access_token}` } });
    expect(ui.status).toBe(200);
    // RFC 6749 §4.1.2: and the code is spent everywhere.
    expect((await redeemAt(C, code)).json.error).toBe('invalid_grant');
  });

  it('RFC 9700 §4.14.2: a refresh token rotated at one instance and replayed at another revokes the family everywhere', async () => {
    const first = await redeemAt(A, await codeAt(A));
    const rt1 = first.json.refresh_token as string;
    const rotated = await refreshAt(A, rt1);
    expect(rotated.status).toBe(200);
    const rt2 = rotated.json.refresh_token as string;
    const replay = await refreshAt(B, rt1);
    expect(replay.status).toBe(400);
    expect(replay.json.error).toBe('invalid_grant');
    // The family is gone: the newest refresh token and the access tokens it produced no longer work, at any instance.
    expect((await refreshAt(C, rt2)).json.error).toBe('invalid_grant');
    const ui = await fetch(B.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${rotated.json.access_token}` } });
    expect(ui.status).toBe(401);
  });

  it('a key rotated at one instance is served by all once their cache period (30 s) has passed, and signs only after keyActivationDelay', async () => {
    const before = (await jwksAt(B)).keys.map((k) => k.kid);
    const [added] = await A.lk.keys.rotate('default', ['RS256']);
    // A serves it at once; B and C keep their cached set until the recheck interval has passed (documented lag).
    expect((await jwksAt(A)).keys.map((k) => k.kid)).toContain(added!.kid);
    expect((await jwksAt(B)).keys.map((k) => k.kid)).toEqual(before);
    now += 31_000;
    for (const at of [B, C]) {
      await jwksAt(at); // this request notices the interval has passed and re-validates in the background
      await at.lk.keys.settled();
      const kids = (await jwksAt(at)).keys.map((k) => k.kid);
      expect(kids).toContain(added!.kid);
      expect(kids).toEqual(expect.arrayContaining(before)); // the previous keys stay published
    }
    // Staged activation: still pending everywhere (default keyActivationDelay 360 s), the old key signs.
    const early = await redeemAt(C, await codeAt(B));
    expect(decodeProtectedHeader(early.json.id_token).kid).not.toBe(added!.kid);
    now += 360_000;
    // New ID tokens from any instance are signed with the new key (RS256 is the default ID token alg).
    const res = await redeemAt(C, await codeAt(B));
    expect(decodeProtectedHeader(res.json.id_token).kid).toBe(added!.kid);
    await jwtVerify(res.json.id_token, createLocalJWKSet(await jwksAt(A)), { issuer: cluster.issuer, currentDate: new Date(now) });
    await jwtVerify(early.json.id_token, createLocalJWKSet(await jwksAt(B)), { issuer: cluster.issuer, currentDate: new Date(now) });
  });

  it('failed-login limits are counted together: failures spread over three instances lock the account at a fourth attempt anywhere', async () => {
    const attempt = async (at: TestInstance, password: string) => {
      const agent = new Agent(at.base);
      const page = await agent.follow(authUrl(at));
      return agent.login(page, 'erin', password);
    };
    expect((await attempt(A, 'wrong-1')).status).toBe(400);
    expect((await attempt(B, 'wrong-2')).status).toBe(400);
    expect((await attempt(C, 'wrong-3')).status).toBe(400);
    const blocked = await attempt(A, 'erin-password'); // even the right password, while the window lasts
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toMatch(/^\d+$/);
    now += 301_000; // the next window
  });

  it('RFC 6749 §4.1.2: 50 concurrent redemptions of one code spread over three instances, exactly one success', async () => {
    const code = await codeAt(C);
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => redeemAt(cluster.instances[i % 3]!, code)));
    expect(all.filter((r) => r.status === 200)).toHaveLength(1);
    expect(all.filter((r) => r.status !== 200).every((r) => r.status === 400 && r.json.error === 'invalid_grant')).toBe(true);
  });
});

/**
 * Staged key activation (issue 8), on SQLite and PostgreSQL alike: two instances on one database, an injected clock
 * and a short re-validation interval. A key rotated at one instance is published by both before either signs with
 * it; from its activation time both sign with it, each without asking the store, and each verifies the other's
 * tokens; what the old key signed still verifies.
 */
describe('staged key activation across two instances', () => {
  const RECHECK_MS = 5_000;
  const DELAY_S = 12; // more than twice the re-validation interval
  let cluster: Awaited<ReturnType<typeof startTestInstances>>;
  let A: TestInstance, B: TestInstance;
  let now = Date.now();
  let rp: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    cluster = await startTestInstances(2, { keyActivationDelay: DELAY_S }, { clock: () => now, keyRecheckMs: RECHECK_MS });
    [A, B] = cluster.instances as [TestInstance, TestInstance];
    rp = await A.client({
      redirect_uris: [CB], grant_types: ['authorization_code'], skip_consent: true, scope: 'openid', access_token_format: 'jwt',
    });
    await A.user('frank', 'frank-password');
  });
  afterAll(() => cluster?.close());

  const verifier = 'v'.repeat(43);
  const authUrl = (at: TestInstance, extra: Record<string, string> = {}) =>
    at.url('/oauth/authorize?') +
    new URLSearchParams({
      client_id: rp.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st', nonce: 'n2',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', ...extra,
    });
  /** A code flow entirely at one instance: its ID token (RS256) and JWT access token (ES256). */
  const tokensFrom = async (at: TestInstance) => {
    const code = (await new Agent(at.base).authorize(authUrl(at), 'frank', 'frank-password')).searchParams.get('code')!;
    const res = await postForm(
      at.url('/oauth/token'),
      { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier },
      { authorization: basic(rp.clientId, rp.clientSecret!) },
    );
    expect(res.status).toBe(200);
    return { idToken: res.json.id_token as string, accessToken: res.json.access_token as string };
  };
  const kids = (t: { idToken: string; accessToken: string }) => [decodeProtectedHeader(t.idToken).kid, decodeProtectedHeader(t.accessToken).kid];
  const jwksAt = async (at: TestInstance) => (await (await fetch(at.url('/.well-known/jwks.json'))).json()) as JSONWebKeySet;
  const published = async (at: TestInstance) => (await jwksAt(at)).keys.map((k) => k.kid);
  /** Verified against the instance's JWKS as an RP fetched it, and accepted there (userinfo, id_token_hint). */
  const acceptedAt = async (at: TestInstance, t: { idToken: string; accessToken: string }) => {
    await jwtVerify(t.idToken, createLocalJWKSet(await jwksAt(at)), { issuer: cluster.issuer, audience: rp.clientId, currentDate: new Date(now) });
    const ui = await fetch(at.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${t.accessToken}` } });
    expect(ui.status).toBe(200);
    // OIDC Core §3.1.2.1: a valid hint with prompt=none and no session is login_required, not invalid_request.
    const hinted = await fetch(authUrl(at, { prompt: 'none', id_token_hint: t.idToken }), { redirect: 'manual' });
    expect(new URL(hinted.headers.get('location')!).searchParams.get('error')).toBe('login_required');
  };

  it('a rotated key is published by both instances before either signs with it; after its activation both sign with it and verify each other\'s tokens', async () => {
    const old = await tokensFrom(A);
    const oldKids = kids(old);
    const added = await A.lk.keys.rotate('default', ['RS256', 'ES256']);
    const newKids = ['RS256', 'ES256'].map((alg) => added.find((k) => k.alg === alg)!.kid);
    expect(added.every((k) => k.activatesAt === Math.floor(now / 1000) + DELAY_S)).toBe(true);

    // Published at A at once, at B once its re-validation interval has passed: both before the activation time.
    expect(await published(A)).toEqual(expect.arrayContaining([...newKids, ...oldKids]));
    now += RECHECK_MS;
    await published(B); // this request notices the interval has passed and re-validates in the background
    await B.lk.keys.settled();
    expect(await published(B)).toEqual(expect.arrayContaining([...newKids, ...oldKids]));
    // Nobody signs with the new keys yet.
    expect(kids(await tokensFrom(A))).toEqual(oldKids);
    expect(kids(await tokensFrom(B))).toEqual(oldKids);

    now += DELAY_S * 1000; // past the activation time: each instance switches by itself
    const fromA = await tokensFrom(A);
    const fromB = await tokensFrom(B);
    expect(kids(fromA)).toEqual(newKids);
    expect(kids(fromB)).toEqual(newKids);
    await acceptedAt(B, fromA);
    await acceptedAt(A, fromB);
    // What the old keys signed still verifies at both: they stay published.
    for (const at of [A, B]) await acceptedAt(at, old);
    expect((await A.lk.keys.list('default')).filter((k) => oldKids.includes(k.kid)).map((k) => k.state)).toEqual(['published', 'published']);
  });
});
