import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { startLogoutRp, waitFor } from '../helpers/logout-rp.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The cleanup sweeps dead grants (docs/operations.md "Cleanup"). A grant made in a browser session is how logout
 * finds the clients to tell (performLogout: the session's grants), and a session lives independently of the tokens
 * issued in it: the sweep keeps such a grant while its session lives, even once every token of it has expired.
 */
describe('grant sweep and logout over HTTP', () => {
  let s: TestServer;
  let rp: Awaited<ReturnType<typeof startLogoutRp>>;
  let clock = Date.now();
  let app: { clientId: string; clientSecret?: string };
  const GRACE = 3600;

  beforeAll(async () => {
    rp = await startLogoutRp();
    s = await startTestServer({ cleanupGrace: GRACE }, { clock: () => clock });
    // No refresh tokens: once its access token (1 h) has expired, nothing but the session refers to the grant.
    app = await s.client({
      redirect_uris: [`${rp.base}/cb`], backchannel_logout_uri: `${rp.base}/bc-sweep`, frontchannel_logout_uri: `${rp.base}/fc-sweep`,
      grant_types: ['authorization_code'], skip_consent: true,
    });
    await s.user('dora', 'dora-password');
  });
  afterAll(async () => {
    await s.close();
    await rp.close();
  });

  async function signIn(agent: Agent) {
    const cb = await agent.authorize(
      `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: app.clientId, redirect_uri: `${rp.base}/cb`, response_type: 'code', scope: 'openid' }),
      'dora', 'dora-password',
    );
    const code = cb.searchParams.get('code')!;
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code, redirect_uri: `${rp.base}/cb` }, { authorization: basic(app.clientId, app.clientSecret!) });
    expect(r.status, r.text).toBe(200);
    return { code, idToken: r.json.id_token as string, accessToken: r.json.access_token as string };
  }
  const logoutUrl = (p: Record<string, string>) => `${s.issuer}/oauth/logout?${new URLSearchParams(p)}`;

  it('Back-Channel Logout §2.5, Front-Channel Logout §3: a client whose tokens expired while the session lives is still told when it ends; a dead grant is swept', async () => {
    const living = new Agent(s.issuer);
    const kept = await signIn(living);
    const sid = decodeJwt(kept.idToken).sid as string;
    // Another browser signs in and out: its session ends now, its grant is revoked and, after the grace, dead.
    const other = new Agent(s.issuer);
    const gone = await signIn(other);
    await other.request(logoutUrl({ id_token_hint: gone.idToken }));
    const goneSid = decodeJwt(gone.idToken).sid as string;
    const [goneGrant] = await s.ctx.store.listGrantsBySid(s.ctx.tenant.id, goneSid);
    expect(goneGrant).toBeDefined();

    // 3 h later: the access tokens expired 2 h ago (beyond the grace), the first session lives (idle lifetime 1 day).
    clock += 3 * 3600_000;
    const deleted = await s.lk.cleanup.sweep();
    expect(deleted.grants).toBe(1);
    expect(await s.ctx.store.findGrant(s.ctx.tenant.id, goneGrant!.id)).toBeUndefined();
    expect(await s.ctx.store.listGrantsBySid(s.ctx.tenant.id, sid)).toHaveLength(1);

    const before = rp.backchannel.length;
    const page = await living.request(logoutUrl({ id_token_hint: kept.idToken }));
    expect(page.status).toBe(200);
    expect(page.html).toContain('You are signed out');
    expect(page.html).toContain(`${rp.base}/fc-sweep`);
    await waitFor(() => rp.backchannel.length === before + 1);
    const delivered = rp.backchannel[before]!;
    expect(delivered.path).toBe('/bc-sweep');
    expect(decodeJwt(delivered.logoutToken)).toMatchObject({ sid, aud: app.clientId });
  });

  it('RFC 6749 §4.1.2: a used code presented again after its grant was swept is invalid_grant (400), not a server error', async () => {
    const agent = new Agent(s.issuer);
    const t = await signIn(agent);
    await agent.request(logoutUrl({ id_token_hint: t.idToken })); // its session ends: nothing keeps the grant once the grace is over
    clock += 3 * 3600_000;
    // The grants alone, so the spent code's row (purged by its own target) is still there to be presented.
    let r;
    do r = await s.ctx.store.sweepGrants(Math.floor(clock / 1000) - GRACE, 500);
    while (r.examined === 500);
    const spent = await s.ctx.store.findCode(s.ctx.tenant.id, s.ctx.hasher.hash(t.code));
    expect(spent?.consumedAt).not.toBeNull();
    expect(await s.ctx.store.findGrant(s.ctx.tenant.id, spent!.grantId)).toBeUndefined();
    const replay = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: t.code, redirect_uri: `${rp.base}/cb` }, { authorization: basic(app.clientId, app.clientSecret!) });
    expect(replay.status).toBe(400);
    expect(replay.json).toMatchObject({ error: 'invalid_grant' });
    expect(replay.text).not.toMatch(/stack|at .*\.ts/);
  });
});
