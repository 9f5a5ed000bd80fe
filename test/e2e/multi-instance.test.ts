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

  it('a key rotated at one instance is served by all once their cache period (30 s) has passed', async () => {
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
      expect(kids[0]).toBe(added!.kid); // newest first
      expect(kids).toEqual(expect.arrayContaining(before)); // the previous keys stay published
    }
    // New ID tokens from any instance are signed with the new key (RS256 is the default ID token alg).
    const res = await redeemAt(C, await codeAt(B));
    expect(decodeProtectedHeader(res.json.id_token).kid).toBe(added!.kid);
    await jwtVerify(res.json.id_token, createLocalJWKSet(await jwksAt(A)), { issuer: cluster.issuer });
  });

  it('failed-login limits are counted together: failures spread over three instances lock the account at a fourth attempt anywhere', async () => {
    const attempt = async (at: TestInstance, password: string) => {
      const agent = new Agent(at.base);
      const page = await agent.follow(authUrl(at));
      return agent.login(page, 'erin', password);
    };
    expect((await attempt(A, 'wrong-1')).status).toBe(401);
    expect((await attempt(B, 'wrong-2')).status).toBe(401);
    expect((await attempt(C, 'wrong-3')).status).toBe(401);
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
