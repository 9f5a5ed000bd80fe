import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteClient, replaceClient } from '../../src/services/clients.js';
import type { LogoutDeliveryRecord } from '../../src/store/types.js';
import { Agent } from '../helpers/agent.js';
import { startLogoutRp } from '../helpers/logout-rp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Back-Channel Logout §2.2: logout tokens go to the backchannel_logout_uri the client has registered. A retry is
 * sent only while the client still exists and still registers the URI the delivery was recorded for; once it was
 * deleted, or changed or removed its backchannel_logout_uri, the delivery is given up (recorded as failed) and no
 * logout token goes to the old URL, which may not be the client's any more.
 */
describe('back-channel logout retries follow the client as it is now', () => {
  let s: TestServer;
  let rp: Awaited<ReturnType<typeof startLogoutRp>>;
  let clock = Date.now();
  let n = 0;

  beforeAll(async () => {
    rp = await startLogoutRp();
    s = await startTestServer({ registration: 'open' }, { clock: () => clock });
    await s.user('frank', 'frank-password-1');
  });
  afterAll(async () => {
    await s?.close();
    await rp?.close();
  });

  /** Register a client (RFC 7591, over HTTP) with a back-channel URI, sign frank in to it, and log out while the RP is down. */
  async function failedDelivery(): Promise<{ reg: Record<string, string>; path: string; failed: LogoutDeliveryRecord }> {
    const path = `/bc-${++n}`;
    const res = await fetch(s.url('/oauth/register'), {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [`${rp.base}/cb`], backchannel_logout_uri: `${rp.base}${path}`, token_endpoint_auth_method: 'client_secret_basic' }),
    });
    expect(res.status).toBe(201);
    const reg = (await res.json()) as Record<string, string>;
    const agent = new Agent(s.issuer);
    const cb = await agent.authorize(
      `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: reg.client_id!, redirect_uri: `${rp.base}/cb`, response_type: 'code', scope: 'openid' }),
      'frank', 'frank-password-1',
    );
    expect(cb.searchParams.get('code')).toBeTruthy();
    rp.state.down = true;
    try {
      // RP-Initiated Logout §2: without an id_token_hint the user confirms the logout.
      const page = await agent.request(`${s.issuer}/oauth/logout?${new URLSearchParams({ client_id: reg.client_id! })}`);
      const done = await agent.request(Agent.formAction(page.html, '/logout/'), { form: { decision: 'logout', csrf: Agent.formValue(page.html, 'csrf')! } });
      expect(done.status).toBeLessThan(400);
    } finally {
      rp.state.down = false;
    }
    const [failed] = (await s.ctx.store.listDeliveries(s.ctx.tenant.id, reg.client_id!)).filter((d) => d.deliveredAt === null);
    expect(failed).toMatchObject({ attempts: 1, lastError: 'HTTP 503', uri: `${rp.base}${path}` });
    expect(failed!.nextAttemptAt).not.toBeNull();
    return { reg, path, failed: failed! };
  }

  /** Run the retry sweep once the delivery is due, and return its row. */
  async function retried(d: LogoutDeliveryRecord): Promise<LogoutDeliveryRecord> {
    clock += 301_000;
    const sent = rp.backchannel.length;
    await s.lk.backchannel.runOnce();
    expect(rp.backchannel.length).toBe(sent); // nothing was POSTed, to any URI
    const row = (await s.ctx.store.listDeliveries(s.ctx.tenant.id, d.clientId)).find((x) => x.id === d.id)!;
    // Given up for good: a later sweep does not find it again.
    clock += 3_600_000;
    await s.lk.backchannel.runOnce();
    expect(rp.backchannel.length).toBe(sent);
    return row;
  }

  it('Back-Channel Logout §2.2: a retry is given up, not sent, once the client changed its backchannel_logout_uri (RFC 7592 update)', async () => {
    const { reg, path, failed } = await failedDelivery();
    const put = await fetch(reg.registration_client_uri!, {
      method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${reg.registration_access_token}` },
      body: JSON.stringify({
        client_id: reg.client_id, redirect_uris: [`${rp.base}/cb`], backchannel_logout_uri: `${rp.base}${path}-moved`, token_endpoint_auth_method: 'client_secret_basic',
      }),
    });
    expect(put.status).toBe(200);
    const row = await retried(failed);
    expect(row).toMatchObject({ attempts: 1, nextAttemptAt: null, deliveredAt: null });
    expect(row.lastError).toMatch(/changed its backchannel_logout_uri/);
    expect(rp.backchannel.some((b) => b.path.startsWith(path))).toBe(false);
  });

  it('Back-Channel Logout §2.2: a retry is given up, not sent, once the client removed its backchannel_logout_uri (admin update)', async () => {
    const { reg, path, failed } = await failedDelivery();
    await replaceClient(s.ctx, reg.client_id!, { redirect_uris: [`${rp.base}/cb`], token_endpoint_auth_method: 'client_secret_basic' });
    const row = await retried(failed);
    expect(row).toMatchObject({ attempts: 1, nextAttemptAt: null, deliveredAt: null });
    expect(row.lastError).toMatch(/no longer has a backchannel_logout_uri/);
    expect(rp.backchannel.some((b) => b.path.startsWith(path))).toBe(false);
  });

  it('Back-Channel Logout §2.2: a retry is given up, not sent, once the client was deleted', async () => {
    const { reg, path, failed } = await failedDelivery();
    await deleteClient(s.ctx, reg.client_id!);
    const row = await retried(failed);
    expect(row).toMatchObject({ attempts: 1, nextAttemptAt: null, deliveredAt: null });
    expect(row.lastError).toMatch(/client no longer exists/);
    expect(rp.backchannel.some((b) => b.path.startsWith(path))).toBe(false);
  });

  it('Back-Channel Logout §2.5: a retry to the unchanged URI is still delivered', async () => {
    const { path, failed } = await failedDelivery();
    clock += 301_000;
    await s.lk.backchannel.runOnce();
    expect(rp.backchannel.filter((b) => b.path === path)).toHaveLength(1);
    const row = (await s.ctx.store.listDeliveries(s.ctx.tenant.id, failed.clientId)).find((x) => x.id === failed.id)!;
    expect(row).toMatchObject({ attempts: 2, nextAttemptAt: null, lastError: null });
    expect(row.deliveredAt).not.toBeNull();
  });
});
