import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Agent } from '../helpers/agent.js';
import { core } from '../helpers/core-api.js';
import { startLogoutRp, waitFor } from '../helpers/logout-rp.js';
import { basic, postForm, startTestInstances, startTestServer, type TestInstance, type TestServer } from '../helpers/server.js';
import { dpopKey } from '../resource-server/helpers.js';
import { createTokenVerifier, TokenRejection, type DpopReplayStore } from '../../src/resource-server/index.js';
import { createAdminToken } from '../../src/services/management-tokens.js';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { registerClient, replaceClient } from '../../src/services/clients.js';
import { setDisabled } from '../../src/services/users.js';

const CB = 'https://rp.example/cb';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const form = (p: Record<string, string>) => new URLSearchParams(p).toString();
const verifier = 'q'.repeat(43);
const challenge = createHash('sha256').update(verifier).digest('base64url');

/**
 * Instances behind a load balancer on one database (docs/operations.md, "What is shared and what is not"): every
 * piece of state an instance keeps in memory, asked what happens when a request sequence is spread over instances.
 * On SQLite the instances are several stores (each with its own caches) on one file, on PostgreSQL (the second
 * pass) on one database: the same questions, the same answers. multi-instance.test.ts and
 * client-deletion-instances.test.ts cover codes, refresh families, keys, login limits and RFC 7592 changes.
 */
describe('what one instance changes, the others see: caches read past by operators and by logout', () => {
  let cluster: Awaited<ReturnType<typeof startTestInstances>>;
  let A: TestInstance, B: TestInstance;
  let admin: string;
  let m2m: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    cluster = await startTestInstances(2);
    [A, B] = cluster.instances as [TestInstance, TestInstance];
    admin = (await createAdminToken(A.lk, { name: 'ops' })).token;
    m2m = await A.client({ grant_types: ['client_credentials'], scope: 'read write' });
  });
  afterAll(() => cluster?.close());

  const api = async (at: TestInstance, method: string, path: string, body?: unknown) => {
    const res = await fetch(at.url(`/admin/tenants/default${path}`), {
      method,
      headers: { authorization: `Bearer ${admin}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  /** A client_credentials request at `at`: it reads the client and the resource-server registry through the caches. */
  const warm = async (at: TestInstance) => {
    const res = await postForm(at.url('/oauth/token'), { grant_type: 'client_credentials', scope: 'read' }, { authorization: basic(m2m.clientId, m2m.clientSecret!) });
    expect(res.status).toBe(200);
  };

  it('admin API: a resource server registered through one instance is read, updated and refused as a duplicate (409, not 500) through another at once', async () => {
    const id = 'https://api.example/orders';
    const path = `/resource-servers/${encodeURIComponent(id)}`;
    await warm(B); // B now holds the (empty) registry in its 5 s cache
    expect((await api(A, 'POST', '/resource-servers', { identifier: id, scope: 'orders:read' })).status).toBe(201);
    const read = await api(B, 'GET', path);
    expect(read.status).toBe(200);
    expect(read.json.scope).toBe('orders:read');
    expect((await api(B, 'GET', '/resource-servers')).json.map((r: { identifier: string }) => r.identifier)).toContain(id);
    const again = await api(B, 'POST', '/resource-servers', { identifier: id, scope: 'orders:read' });
    expect(again.status).toBe(409);
    expect(again.json.error).toBeDefined();
    const put = await api(B, 'PUT', path, { scope: 'orders:read orders:write' });
    expect(put.status).toBe(200);
    expect((await api(A, 'GET', path)).json.scope).toBe('orders:read orders:write');
    expect((await api(A, 'DELETE', path)).status).toBe(204);
    expect((await api(B, 'GET', path)).status).toBe(404);
  });

  it('admin API: two instances registering the same resource server at once: one 201, the other 409', async () => {
    await Promise.all([warm(A), warm(B)]);
    const body = { identifier: 'https://api.example/race', scope: 'race' };
    const answers = await Promise.all([api(A, 'POST', '/resource-servers', body), api(B, 'POST', '/resource-servers', body)]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
  });

  it('admin API: a client changed, then deleted, through one instance reads as it is now through another that has it cached', async () => {
    const c = await A.client({ grant_types: ['client_credentials'], client_name: 'before' });
    expect((await postForm(B.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(c.clientId, c.clientSecret!) })).status).toBe(200); // cached at B
    expect((await api(A, 'PUT', `/clients/${c.clientId}`, { grant_types: ['client_credentials'], client_name: 'after' })).status).toBe(200);
    const read = await api(B, 'GET', `/clients/${c.clientId}`);
    expect(read.status).toBe(200);
    expect(read.json.client_name).toBe('after');
    expect((await api(A, 'DELETE', `/clients/${c.clientId}`)).status).toBe(204);
    expect((await api(B, 'GET', `/clients/${c.clientId}`)).status).toBe(404);
    expect((await api(B, 'DELETE', `/clients/${c.clientId}`)).status).toBe(404);
  });

  it('a tenant seen by another instance between its row and its keys is served with its keys once they are written', async () => {
    // createTenant writes the tenant, then its keys: B answers a request in between (here: made to happen).
    await A.lk.store.createTenant({ id: 'midway', issuer: '', settings: {}, createdAt: Math.floor(Date.now() / 1000) });
    const jwks = async () => ((await (await fetch(B.url('/t/midway/.well-known/jwks.json'))).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    expect(await jwks()).toEqual([]);
    const added = await A.lk.keys.ensureKeys('midway');
    expect(added.length).toBeGreaterThan(0);
    const published = (await A.lk.keys.list('midway')).map((k) => k.kid);
    // At once, not after B's 30 s re-validation: B publishes the keys and signs with them.
    expect((await jwks()).sort()).toEqual(published.sort());
    const { json } = await registerClient(await B.lk.context('midway'), { grant_types: ['client_credentials'], access_token_format: 'jwt' });
    const res = await postForm(B.url('/t/midway/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(json.client_id as string, json.client_secret as string) });
    expect(res.status).toBe(200);
    expect(published).toContain(decodeProtectedHeader(res.json.access_token).kid);
  });

  it('Back-Channel Logout §2.2: a logout at an instance that has the client cached goes to the backchannel_logout_uri the client changed to through another instance', async () => {
    const rp = await startLogoutRp();
    try {
      const client = await A.client({ redirect_uris: [CB], grant_types: ['authorization_code'], skip_consent: true, backchannel_logout_uri: `${rp.base}/bc-old` });
      await A.user('hana', 'hana-password');
      const agent = new Agent(B.base); // signs in at B: B caches the client
      const cb = await agent.authorize(B.url('/oauth/authorize?') + form({ client_id: client.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' }), 'hana', 'hana-password');
      expect(cb.searchParams.get('code')).toBeTruthy();
      await replaceClient(A.ctx, client.clientId, { redirect_uris: [CB], grant_types: ['authorization_code'], skip_consent: true, backchannel_logout_uri: `${rp.base}/bc-new` });
      // RP-Initiated Logout at B, confirmed by the user.
      const page = await agent.request(B.url(`/oauth/logout?${form({ client_id: client.clientId })}`));
      const done = await agent.request(B.url(Agent.formAction(page.html, '/logout/')), { form: { decision: 'logout', csrf: Agent.formValue(page.html, 'csrf')! } });
      expect(done.status).toBeLessThan(400);
      await waitFor(() => rp.backchannel.length > 0);
      expect(rp.backchannel.map((d) => d.path)).toEqual(['/bc-new']);
      const [delivery] = await A.lk.store.listDeliveries('default', client.clientId);
      expect(delivery).toMatchObject({ uri: `${rp.base}/bc-new`, lastError: null });
      expect(delivery!.deliveredAt).not.toBeNull();
    } finally {
      await rp.close();
    }
  });
});

/**
 * State that lives in the database only, checked across instances: each of these is one conditional statement or a
 * keyed hash under the shared keyEncryptionKey, so a request sequence spread over instances behaves as at one.
 */
describe('single use, replay and polling state holds across instances', () => {
  let cluster: Awaited<ReturnType<typeof startTestInstances>>;
  let A: TestInstance, B: TestInstance, C: TestInstance;
  let now = Date.now();
  let web: { clientId: string; clientSecret?: string };
  let m2m: { clientId: string; clientSecret?: string };
  let tv: { clientId: string };
  let service: string;

  beforeAll(async () => {
    cluster = await startTestInstances(3, {}, { clock: () => now });
    [A, B, C] = cluster.instances as [TestInstance, TestInstance, TestInstance];
    web = await A.client({ redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], skip_consent: true, scope: 'openid offline_access' });
    m2m = await A.client({ grant_types: ['client_credentials'] });
    tv = await A.client({ grant_types: [DEVICE_GRANT], token_endpoint_auth_method: 'none', scope: 'openid' });
    await A.user('ivo', 'ivo-password');
    service = (await createServiceToken(A.lk, { serviceId: 'default', name: 'app' })).token;
  });
  afterAll(() => cluster?.close());

  const all = () => [A, B, C];
  const authUrl = (at: TestInstance, extra: Record<string, string> = {}) =>
    at.url('/oauth/authorize?') +
    form({ client_id: web.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st', code_challenge: challenge, code_challenge_method: 'S256', ...extra });

  it('RFC 9449 §11.1: a DPoP proof accepted at one instance is a replay at the others, also when sent to all at once', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const proof = await new SignJWT({ htm: 'POST', htu: `${cluster.issuer}/oauth/token`, jti: crypto.randomUUID(), iat: Math.floor(now / 1000) })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
      .sign(privateKey);
    const answers = await Promise.all(all().map((at) => postForm(at.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(m2m.clientId, m2m.clientSecret!), dpop: proof })));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 400 && a.json.error === 'invalid_dpop_proof')).toHaveLength(2);
  });

  it('RFC 7523 §3, OIDC Core §9: a private_key_jwt client assertion accepted at one instance is refused at the others (its jti is remembered in the database)', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), alg: 'ES256', use: 'sig' };
    const { json } = await registerClient(A.ctx, { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } });
    const clientId = json.client_id as string;
    const assertion = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(clientId).setSubject(clientId).setAudience(cluster.issuer)
      .setIssuedAt(Math.floor(now / 1000)).setExpirationTime(Math.floor(now / 1000) + 60)
      .sign(privateKey);
    const body = { grant_type: 'client_credentials', client_id: clientId, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion };
    const answers = await Promise.all(all().map((at) => postForm(at.url('/oauth/token'), body)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 401 && a.json.error === 'invalid_client')).toHaveLength(2);
  });

  it('RFC 9126 §4: a request_uri used at three instances at once authorizes once', async () => {
    const pushed = await postForm(A.url('/oauth/par'), { client_id: web.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' }, { authorization: basic(web.clientId, web.clientSecret!) });
    expect(pushed.status).toBe(201);
    const answers = await Promise.all(all().map((at) => fetch(at.url(`/oauth/authorize?${form({ client_id: web.clientId, request_uri: pushed.json.request_uri })}`), { redirect: 'manual' })));
    expect(answers.filter((a) => a.status === 303 && a.headers.get('location')!.startsWith('/interaction/'))).toHaveLength(1);
    expect(answers.filter((a) => a.status === 400)).toHaveLength(2);
  });

  it('Core API: one ticket issued at three instances at once yields one code', async () => {
    const call = (at: TestInstance, path: string, body: unknown) => core(at, 'default', path, body, service);
    const t = await call(A, 'auth/authorization', { parameters: form({ response_type: 'code', client_id: web.clientId, redirect_uri: CB, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' }) });
    expect(t.json.action).toBe('INTERACTION');
    const answers = await Promise.all(all().map((at) => call(at, 'auth/authorization/issue', { ticket: t.json.ticket, subject: 'someone', authTime: Math.floor(now / 1000) })));
    expect(answers.filter((a) => a.json.action === 'LOCATION')).toHaveLength(1);
    expect(answers.filter((a) => a.json.action === 'BAD_REQUEST')).toHaveLength(2);
  });

  it('RFC 8628 §3.5: polling alternated between instances still gets slow_down; an approval at one is seen by polling at another', async () => {
    const d = await postForm(A.url('/oauth/device_authorization'), { client_id: tv.clientId, scope: 'openid' });
    expect(d.status).toBe(200);
    const poll = (at: TestInstance) => postForm(at.url('/oauth/token'), { grant_type: DEVICE_GRANT, device_code: d.json.device_code, client_id: tv.clientId });
    expect((await poll(A)).json.error).toBe('authorization_pending');
    expect((await poll(B)).json.error).toBe('slow_down'); // too soon, though B never saw a poll
    now += 60_000;
    const done = await new Agent(C.base).approveDevice(d.json.user_code, 'ivo', 'ivo-password');
    expect(done.html).toContain('connected');
    now += 60_000;
    const tokens = await poll(B);
    expect(tokens.status).toBe(200);
    expect(tokens.json.access_token).toBeTruthy();
  });

  it('Back-Channel Logout §2.5: a due retry swept by three instances at once is sent once; a cleanup interval is swept by one of them', async () => {
    const rp = await startLogoutRp();
    try {
      const client = await A.client({ redirect_uris: [CB], grant_types: ['authorization_code'], skip_consent: true, backchannel_logout_uri: `${rp.base}/bc-retry` });
      const agent = new Agent(A.base);
      await agent.authorize(A.url('/oauth/authorize?') + form({ client_id: client.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' }), 'ivo', 'ivo-password');
      rp.state.down = true; // the first attempt, at logout, fails: a retry is due later
      const page = await agent.request(A.url(`/oauth/logout?${form({ client_id: client.clientId })}`));
      await agent.request(A.url(Agent.formAction(page.html, '/logout/')), { form: { decision: 'logout', csrf: Agent.formValue(page.html, 'csrf')! } });
      const [failed] = await A.lk.store.listDeliveries('default', client.clientId);
      expect(failed).toMatchObject({ attempts: 1, lastError: 'HTTP 503', deliveredAt: null });
      rp.state.down = false;
      now += 3_600_000; // past every retry delay
      await Promise.all(all().map((at) => at.lk.backchannel.runOnce()));
      expect(rp.backchannel.map((d) => d.path)).toEqual(['/bc-retry']);
      expect((await A.lk.store.listDeliveries('default', client.clientId))[0]).toMatchObject({ attempts: 2, lastError: null });
    } finally {
      await rp.close();
    }
    // The cleanup lease: of three instances asking at once, one sweeps this interval.
    const swept = await Promise.all(all().map((at) => at.lk.cleanup.runIfLeader()));
    expect(swept.filter((r) => r !== undefined)).toHaveLength(1);
  });

  it('a sign-in begun at one instance is finished at a second; a logout at one instance ends the session for silent sign-in at all', async () => {
    const agent = new Agent(A.base);
    const page = await agent.follow(authUrl(A));
    // The login form (its CSRF token and the sign-in binding cookie) posted to B.
    let landed = await agent.request(B.url(Agent.formAction(page.html, '/login')), { form: { csrf: Agent.formValue(page.html, 'csrf')!, username: 'ivo', password: 'ivo-password' } });
    while (landed.location?.startsWith(B.base)) landed = await agent.request(landed.location); // same-origin steps, at B
    expect(landed.location).toMatch(/^https:\/\/rp\.example\/cb\?code=/);
    // OIDC Core §3.1.2.1: prompt=none at C signs in silently from the session made at B.
    expect(new URL((await agent.request(authUrl(C, { prompt: 'none' }))).location!).searchParams.get('code')).toBeTruthy();
    const confirm = await agent.request(A.url('/oauth/logout'));
    expect((await agent.request(A.url(Agent.formAction(confirm.html, '/logout/')), { form: { decision: 'logout', csrf: Agent.formValue(confirm.html, 'csrf')! } })).status).toBe(200);
    for (const at of [B, C]) expect(new URL((await agent.request(authUrl(at, { prompt: 'none' }))).location!).searchParams.get('error')).toBe('login_required');
  });

  it('a user disabled through one instance: tokens, refresh and silent sign-in stop at the others at once', async () => {
    const agent = new Agent(A.base);
    const cb = await agent.authorize(authUrl(A, { scope: 'openid offline_access' }), 'ivo', 'ivo-password');
    const tokens = await postForm(B.url('/oauth/token'), { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB, code_verifier: verifier }, { authorization: basic(web.clientId, web.clientSecret!) });
    expect(tokens.status).toBe(200);
    const userinfo = (at: TestInstance) => fetch(at.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${tokens.json.access_token}` } });
    expect((await userinfo(C)).status).toBe(200);
    const sub = (await A.lk.store.findUserByUsername('default', 'ivo'))!.id;
    await setDisabled(A.ctx, sub, true);
    try {
      expect((await userinfo(C)).status).toBe(401);
      const refreshed = await postForm(B.url('/oauth/token'), { grant_type: 'refresh_token', refresh_token: tokens.json.refresh_token }, { authorization: basic(web.clientId, web.clientSecret!) });
      expect(refreshed.json.error).toBe('invalid_grant');
      expect(new URL((await agent.request(authUrl(C, { prompt: 'none' }))).location!).searchParams.get('error')).toBe('login_required');
    } finally {
      await setDisabled(A.ctx, sub, false);
    }
  });
});

/** docs/operations.md: the back-channel abuse limits (rateLimitPerIp, rateLimitPerClient) are counted in the database, for all instances together. */
describe('abuse limits are counted together by all instances', () => {
  let cluster: Awaited<ReturnType<typeof startTestInstances>>;
  let m2m: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    cluster = await startTestInstances(3, { rateLimitPerIp: 4 });
    m2m = await cluster.instances[0]!.client({ grant_types: ['client_credentials'] });
  });
  afterAll(() => cluster?.close());

  it('rateLimitPerIp: requests from one address spread over three instances are refused after the limit, wherever they land', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await postForm(cluster.instances[i % 3]!.url('/oauth/revoke'), { token: `unknown-${i}` }, { authorization: basic(m2m.clientId, m2m.clientSecret!) });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429, 429]);
  });
});

/**
 * The resource-server library (latchkey/resource-server) run as several instances of one API behind a load balancer:
 * RFC 9449 §11.1 wants a DPoP proof used once at the resource, so the instances remember accepted proofs in one store
 * they share (`dpopReplayStore`), as Latchkey's own instances share the database.
 */
describe('resource-server library: API instances share one DPoP replay store', () => {
  let s: TestServer;
  let app: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer();
    app = await s.client({ grant_types: ['client_credentials'], scope: 'items:read', access_token_format: 'jwt' });
  });
  afterAll(() => s?.close());

  /** One store reachable by both verifiers, atomic as Redis SET NX would be (both live in this process here). */
  function sharedStore(): DpopReplayStore {
    const seen = new Map<string, number>();
    return {
      async remember(key, expiresAt) {
        const until = seen.get(key);
        if (until !== undefined && until > Date.now()) return false;
        seen.set(key, expiresAt);
        return true;
      },
    };
  }

  it('RFC 9449 §11.1: a proof accepted by one instance of the API is a replay at another instance', async () => {
    const k = await dpopKey();
    const proofAtToken = await k.proof('POST', s.url('/oauth/token'), '', { ath: null });
    const issued = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', scope: 'items:read' }, { authorization: basic(app.clientId, app.clientSecret!), dpop: proofAtToken });
    expect(issued.status).toBe(200);
    expect(issued.json.token_type).toBe('DPoP');
    const token = issued.json.access_token as string;
    const store = sharedStore();
    const instances = [1, 2].map(() => createTokenVerifier({ issuer: s.issuer, audience: [s.issuer, app.clientId], dpopReplayStore: store }));
    const api = 'https://api.example/items';
    const proof = await k.proof('GET', api, token);
    const request = { method: 'GET', url: '/items', headers: { host: 'api.example', authorization: `DPoP ${token}`, dpop: proof }, encrypted: true };
    const first = await instances[0]!.verify(request);
    expect(first.bindings).toEqual([{ type: 'dpop', jkt: k.jkt }]);
    const replay = await instances[1]!.verify(request).then(() => undefined, (e: unknown) => e);
    expect(replay).toBeInstanceOf(TokenRejection);
    expect(replay).toMatchObject({ error: 'invalid_dpop_proof', description: 'the DPoP proof was already used', status: 401 });
  });
});
