import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorization, authorizationFailPending, authorizationIssue, authorizationIssuePending } from '../../src/engine/authorization/index.js';
import { token } from '../../src/engine/token/index.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const verifier = 'pending-verifier-'.padEnd(43, 'x');
const challenge = createHash('sha256').update(verifier).digest('base64url');

describe('authorization: a validated request parked only when needed ({ defer: true })', () => {
  let t: TestLatchkey;
  let rp: { clientId: string; clientSecret?: string };
  let subject: string;
  beforeAll(async () => {
    t = await openTestLatchkey();
    rp = await t.client({ redirect_uris: [CB], grant_types: ['authorization_code'], scope: 'openid' });
    subject = await t.user('pat', 'correct horse battery staple');
  });
  afterAll(() => t.close());

  const request = (state: string) =>
    new URLSearchParams({ client_id: rp.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state, code_challenge: challenge, code_challenge_method: 'S256' }).toString();
  const ticketRow = (ticket: string) => t.ctx.store.findTicket(t.ctx.tenant.id, t.ctx.hasher.hash(ticket));
  const redeem = async (location: string) => {
    const code = new URL(location).searchParams.get('code')!;
    const r = await token(
      { parameters: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }).toString(), clientId: rp.clientId, clientSecret: rp.clientSecret },
      t.ctx,
    );
    return { status: r.status, body: JSON.parse(r.responseContent) };
  };

  it('without defer (the Core API) the ticket is stored at once and nothing pending is returned', async () => {
    const r = await authorization({ parameters: request('a') }, t.ctx);
    expect(r.action).toBe('INTERACTION');
    expect(r.pending).toBeUndefined();
    expect(await ticketRow(r.ticket!)).toBeDefined();
  });

  it('a pending request issued at once writes no ticket, and its code redeems like any other', async () => {
    const r = await authorization({ parameters: request('b') }, t.ctx, { defer: true });
    const pending = r.pending!;
    expect(pending.ticket).toBe(r.ticket);
    expect(await ticketRow(pending.ticket)).toBeUndefined();
    const issued = await authorizationIssuePending(pending, { subject, authTime: Math.floor(Date.now() / 1000) }, t.ctx);
    expect(issued.action).toBe('LOCATION');
    expect(new URL(issued.responseContent).searchParams.get('state')).toBe('b');
    expect(await ticketRow(pending.ticket)).toBeUndefined();
    const redeemed = await redeem(issued.responseContent);
    expect(redeemed.status).toBe(200);
    expect(redeemed.body.id_token).toBeTruthy();
    // The ticket was never parked, so it cannot be used afterwards either.
    expect((await authorizationIssue({ ticket: pending.ticket, subject, authTime: 1 }, t.ctx)).action).toBe('BAD_REQUEST');
  });

  it('OIDC Core §3.1.2.1: a host issuing with an authentication older than prompt=login or max_age allows gets login_required sent to the client (LK7029)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [Record<string, string>, number, boolean][] = [
      [{ prompt: 'login' }, now - 3600, false],
      [{ prompt: 'login' }, now + 1, true], // signed in after the request arrived
      [{ max_age: '0' }, now - 3600, false],
      [{ max_age: '60' }, now - 3600, false],
      [{ max_age: '60' }, now - 30, true],
      [{}, now - 86400, true], // neither: any live authentication will do
    ];
    for (const [extra, authTime, ok] of cases) {
      const params = new URLSearchParams(request('m'));
      for (const [k, v] of Object.entries(extra)) params.set(k, v);
      const r = await authorization({ parameters: params.toString() }, t.ctx);
      const issued = await authorizationIssue({ ticket: r.ticket!, subject, authTime }, t.ctx);
      expect(issued.action, JSON.stringify(extra)).toBe('LOCATION');
      const loc = new URL(issued.responseContent);
      if (ok) {
        expect(loc.searchParams.get('code'), JSON.stringify(extra)).toBeTruthy();
      } else {
        expect(loc.searchParams.get('error'), JSON.stringify(extra)).toBe('login_required');
        expect(issued.resultCode).toBe('LK7029');
      }
    }
  });

  it('once parked, a pending request goes through its ticket: stored as without defer, and single use', async () => {
    const r = await authorization({ parameters: request('c') }, t.ctx, { defer: true });
    const pending = r.pending!;
    await pending.park();
    await pending.park(); // idempotent
    expect(pending.parked).toBe(true);
    expect((await ticketRow(pending.ticket))?.consumedAt).toBeNull();
    const first = await authorizationIssuePending(pending, { subject, authTime: Math.floor(Date.now() / 1000) }, t.ctx);
    expect(first.action).toBe('LOCATION');
    expect((await ticketRow(pending.ticket))?.consumedAt).not.toBeNull();
    expect((await authorizationIssuePending(pending, { subject, authTime: 1 }, t.ctx)).action).toBe('BAD_REQUEST');
  });

  it('OIDC Core §3.1.2.6: a prompt=none request that cannot be answered fails back to the client, and no ticket is written', async () => {
    const r = await authorization({ parameters: `${request('e')}&prompt=none` }, t.ctx, { defer: true });
    expect(r.action).toBe('NO_INTERACTION');
    const failed = await authorizationFailPending(r.pending!, { reason: 'LOGIN_REQUIRED' }, t.ctx);
    expect(failed.action).toBe('LOCATION');
    const back = new URL(failed.responseContent);
    expect(back.origin + back.pathname).toBe(CB);
    expect(back.searchParams.get('error')).toBe('login_required');
    expect(back.searchParams.get('state')).toBe('e');
    expect(await ticketRow(r.pending!.ticket)).toBeUndefined();
  });

  it('an invalid request is answered as without defer: nothing pending', async () => {
    const r = await authorization({ parameters: request('d').replace('code_challenge_method=S256', 'code_challenge_method=plain') }, t.ctx, { defer: true });
    expect(r.pending).toBeUndefined();
    expect(['LOCATION', 'BAD_REQUEST']).toContain(r.action);
  });
});
