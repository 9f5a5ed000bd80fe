import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';

// Runs on both passes (SQLite, then PostgreSQL): exactly-once must hold on each store.
describe('races: exactly-once redemption under concurrency', () => {
  let s: TestServer;
  let c: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer();
    c = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], skip_consent: true, scope: 'openid offline_access' });
    await s.user('racer', 'racer-password');
  });
  afterAll(() => s.close());

  const auth = () => ({ authorization: basic(c.clientId, c.clientSecret!) });
  async function code(): Promise<string> {
    const cb = await new Agent(s.issuer).authorize(
      `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: c.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid offline_access' }),
      'racer', 'racer-password',
    );
    return cb.searchParams.get('code')!;
  }

  it('RFC 6749 §4.1.2: 50 concurrent redemptions of one code give exactly one token response; the rest are invalid_grant', async () => {
    const k = await code();
    const results = await Promise.all(
      Array.from({ length: 50 }, () => postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: k, redirect_uri: CB }, auth())),
    );
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) {
      expect(r.status).toBe(400);
      expect(r.json.error).toBe('invalid_grant');
    }
    // The reuse revoked what the single winner received (RFC 6749 §4.1.2).
    const ui = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${ok[0]!.json.access_token}` } });
    expect(ui.status).toBe(401);
  });

  it('RFC 9700 §4.14.2: 20 concurrent uses of one refresh token rotate it at most once and then revoke the family', async () => {
    const k = await code();
    const t = (await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: k, redirect_uri: CB }, auth())).json;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => postForm(s.url('/oauth/token'), { grant_type: 'refresh_token', refresh_token: t.refresh_token }, auth())),
    );
    const ok = results.filter((r) => r.status === 200);
    expect(ok.length).toBeLessThanOrEqual(1);
    for (const r of results.filter((x) => x.status !== 200)) expect(r.json.error).toBe('invalid_grant');
    // Everything the family holds is dead: concurrent reuse counts as reuse.
    for (const w of ok) {
      const again = await postForm(s.url('/oauth/token'), { grant_type: 'refresh_token', refresh_token: w.json.refresh_token }, auth());
      expect(again.json.error).toBe('invalid_grant');
    }
  });
});
