import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_EVENT_TYPES, auditTypeByResultCode } from '../../src/audit/audit.js';
import { resultCodes } from '../../src/engine/result-codes.js';
import { createAdminToken } from '../../src/services/management-tokens.js';
import { Agent } from '../helpers/agent.js';
import { dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';
import { basic, openTestLatchkey, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { insertRefreshFamily } from '../helpers/tokens.js';

const CB = 'https://rp.example/cb';

describe('audit trail (docs/audit.md)', () => {
  let s: TestServer;
  let admin: string;
  let conf: { clientId: string; clientSecret?: string };
  let aliceSub: string;
  const logged: Record<string, unknown>[] = [];

  beforeAll(async () => {
    s = await startTestServer();
    s.lk.setLogger({
      info: (o) => {
        const a = (o as { audit?: Record<string, unknown> }).audit;
        if (a) logged.push(a);
      },
      warn: () => {},
      error: () => {},
    });
    admin = (await createAdminToken(s.lk, { name: 'audit-test' })).token;
    conf = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'] });
    aliceSub = await s.user('alice', 'alice-password');
  });
  afterAll(() => s.close());

  async function events(query: Record<string, string> = {}): Promise<any[]> {
    const res = await fetch(s.url(`/admin/tenants/default/audit-events?${new URLSearchParams(query)}`), { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    return (await res.json()) as any[];
  }
  const authUrl = (state: string, scope = 'openid') =>
    `${s.issuer}/oauth/authorize?${new URLSearchParams({ client_id: conf.clientId, redirect_uri: CB, response_type: 'code', scope, state })}`;

  it('the result-code table names only catalogued codes and known event types', () => {
    for (const [code, type] of Object.entries(auditTypeByResultCode)) {
      expect(Object.keys(resultCodes)).toContain(code);
      expect(AUDIT_EVENT_TYPES).toContain(type);
    }
    // Every client-authentication failure code is audited.
    for (const code of Object.keys(resultCodes).filter((c) => resultCodes[c as keyof typeof resultCodes].startsWith('Client authentication failed'))) {
      expect(auditTypeByResultCode[code], code).toBe('client.auth_failed');
    }
  });

  it('login failure and success, consent granted, token issued and code reuse are recorded with client, subject and address', async () => {
    const agent = new Agent(s.issuer);
    const page = await agent.follow(authUrl('a'));
    const failed = await agent.login(page, 'alice', 'wrong-password');
    expect(failed.status).toBe(400);
    const consent = await agent.login(failed, 'alice', 'alice-password');
    const cb = new URL((await agent.consent(consent, 'approve')).location!);
    const code = cb.searchParams.get('code')!;
    const body = { grant_type: 'authorization_code', code, redirect_uri: CB };
    expect((await postForm(s.url('/oauth/token'), body, { authorization: basic(conf.clientId, conf.clientSecret!) })).status).toBe(200);
    expect((await postForm(s.url('/oauth/token'), body, { authorization: basic(conf.clientId, conf.clientSecret!) })).status).toBe(400);

    const all = await events();
    const one = (type: string) => all.find((e) => e.type === type);
    expect(one('login.failure')).toMatchObject({ tenant_id: 'default', subject: aliceSub, ip: '127.0.0.1', detail: { username: 'alice' } });
    expect(one('login.success')).toMatchObject({ subject: aliceSub, ip: '127.0.0.1' });
    expect(one('consent.granted')).toMatchObject({ client_id: conf.clientId, subject: aliceSub, ip: '127.0.0.1', detail: { scope: 'openid' } });
    expect(one('consent.granted')!.detail).toEqual({ scope: 'openid' }); // the built-in page: no via (Core API, library: docs/audit.md)
    expect(one('token.issued')).toMatchObject({ client_id: conf.clientId, result_code: 'LK2001', detail: { endpoint: 'token', grant_type: 'authorization_code' } });
    expect(one('code.reuse_detected')).toMatchObject({ client_id: conf.clientId, result_code: 'LK2005' });
    // Newest first, times in RFC 3339.
    const times = all.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    // No secret ever reaches the trail: not the code, not the client secret, not the password.
    const text = JSON.stringify(all);
    expect(text).not.toContain(code);
    expect(text).not.toContain(conf.clientSecret!);
    expect(text).not.toContain('alice-password');
  });

  it('consent denied is recorded', async () => {
    const agent = new Agent(s.issuer);
    const consent = await agent.login(await agent.follow(authUrl('d', 'openid profile')), 'alice', 'alice-password');
    await agent.consent(consent, 'deny');
    expect((await events({ type: 'consent.denied' }))[0]).toMatchObject({ client_id: conf.clientId, subject: aliceSub, detail: { scope: 'openid profile' } });
  });

  it('client authentication failure, refresh token reuse and revocation are recorded from the engine result code', async () => {
    expect((await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(conf.clientId, 'wrong') })).status).toBe(401);
    expect((await events({ type: 'client.auth_failed' }))[0]).toMatchObject({ client_id: conf.clientId, result_code: 'LK1002', detail: { endpoint: 'token' } });

    const fam = await insertRefreshFamily(s.ctx, { clientId: conf.clientId, subject: aliceSub });
    const refresh = () => postForm(s.url('/oauth/token'), { grant_type: 'refresh_token', refresh_token: fam.refreshToken }, { authorization: basic(conf.clientId, conf.clientSecret!) });
    expect((await refresh()).status).toBe(200);
    expect((await refresh()).status).toBe(400);
    expect((await events({ type: 'refresh.reuse_detected' }))[0]).toMatchObject({ client_id: conf.clientId, result_code: 'LK2009' });

    const fam2 = await insertRefreshFamily(s.ctx, { clientId: conf.clientId, subject: aliceSub });
    const rv = await postForm(s.url('/oauth/revoke'), { token: fam2.refreshToken }, { authorization: basic(conf.clientId, conf.clientSecret!) });
    expect(rv.status).toBe(200);
    expect((await events({ type: 'token.revoked' }))[0]).toMatchObject({ client_id: conf.clientId, result_code: 'LK5005', detail: { endpoint: 'revocation' } });
  });

  it('every admin API write is recorded, without its body', async () => {
    const res = await fetch(s.url('/admin/tenants/default/users'), {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'carol', password: 'carol-secret-pw' }),
    });
    expect(res.status).toBe(201);
    const ev = (await events({ type: 'admin.action' }))[0];
    expect(ev).toMatchObject({ detail: { operation: 'createUser', method: 'POST', path: '/admin/tenants/default/users' } });
    expect(JSON.stringify(ev)).not.toContain('carol-secret-pw');
  });

  it('the admin API filters by type, since and limit, and rejects bad filters', async () => {
    expect((await events({ limit: '2' })).length).toBe(2);
    expect((await events({ type: 'login.success' })).every((e) => e.type === 'login.success')).toBe(true);
    expect(await events({ since: new Date(Date.now() + 3_600_000).toISOString() })).toEqual([]);
    for (const q of ['type=nonsense', 'limit=0', 'limit=5000', 'since=yesterday']) {
      const r = await fetch(s.url(`/admin/tenants/default/audit-events?${q}`), { headers: { authorization: `Bearer ${admin}` } });
      expect(r.status, q).toBe(400);
    }
  });

  it('every stored event was also logged, in the same JSON shape', async () => {
    const stored = await events({ limit: '1000' });
    const byId = new Map(logged.map((e) => [e.id, e]));
    for (const e of stored) expect(byId.get(e.id)).toEqual(e);
  });
});

describe('audit trail durability', () => {
  it('events recorded just before a clean shutdown are stored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-audit-'));
    const databaseUrl = await testDatabaseUrl(dir);
    const keyEncryptionKey = randomBytes(32).toString('base64url');
    try {
      const t1 = await openTestLatchkey({ databaseUrl, keyEncryptionKey });
      for (let i = 0; i < 250; i++) t1.lk.audit.record({ tenantId: 'default', type: 'login.failure', detail: { i } });
      await t1.close();
      const t2 = await openTestLatchkey({ databaseUrl, keyEncryptionKey });
      try {
        expect((await t2.lk.store.listAuditEvents('default', { limit: 1000 })).length).toBe(250);
      } finally {
        await t2.close();
      }
    } finally {
      await dropTestDatabase(databaseUrl);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failing audit write is logged and never throws into the caller', async () => {
    const t = await openTestLatchkey();
    try {
      const errors: unknown[] = [];
      t.lk.setLogger({ info: () => {}, warn: () => {}, error: (o) => errors.push(o) });
      const original = t.lk.store.insertAuditEvents.bind(t.lk.store);
      t.lk.store.insertAuditEvents = async () => {
        throw new Error('disk full');
      };
      t.lk.audit.record({ tenantId: 'default', type: 'login.failure' });
      await t.lk.audit.flush();
      expect(errors.length).toBe(1);
      t.lk.store.insertAuditEvents = original;
    } finally {
      await t.close();
    }
  });
});
