// Pairwise subjects (OIDC Core §8.1) where a pairwise sub comes back to the server: a pairwise client's ID token as
// a token-exchange subject or actor token (RFC 8693), an id_token_hint read by a host (library, Core API),
// introspection (RFC 7662 §2.2), and the logout tie (RP-Initiated Logout §2). The server must find the local user
// behind the pairwise sub (through the session the ID token was issued in), or refuse: never take the pairwise
// value for a local user id.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorization } from '../../src/engine/authorization/index.js';
import { endSessionRequest, logoutTiedToSession } from '../../src/engine/logout.js';
import { subjectFor } from '../../src/engine/subject.js';
import { token } from '../../src/engine/token/index.js';
import { createLatchkey, registerClient, type LatchkeyInstance } from '../../src/index.js';
import { registerResourceServer } from '../../src/services/resources.js';
import { mintIdToken } from '../../src/tokens/id-token.js';
import { lookupToken } from '../../src/tokens/lookup.js';
import { core, testService, type TestService } from '../helpers/core-api.js';
import { basic, dropTestDatabase, postForm, startTestServer, testDatabaseUrl, type TestServer } from '../helpers/server.js';
import { CB, type Conformance, redeem, startAuthorization, startConformance, USER, userinfoGet } from '../conformance/helpers.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const IDT = 'urn:ietf:params:oauth:token-type:id_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const API = 'https://api.pairwise.example/';

describe('pairwise subjects coming back to the server', () => {
  let t: Conformance;
  let rs: { clientId: string; clientSecret: string };
  let bobSub: string;

  beforeAll(async () => {
    t = await startConformance();
    await registerResourceServer(t.s.ctx, { identifier: API, scope: 'api' });
    rs = await t.client({ grant_types: ['client_credentials'], redirect_uris: [] });
    bobSub = await t.s.user('bob', 'bob-password');
  });
  afterAll(() => t?.close());

  const exchanger = (meta: Record<string, unknown> = {}) =>
    t.client({
      subject_type: 'pairwise', grant_types: ['authorization_code', 'refresh_token', GRANT], scope: 'openid api', access_token_format: 'jwt',
      token_exchange: { subject_token_types: [AT, IDT, JWT], actor_token_types: [AT, IDT], impersonation: true, delegation: true },
      ...meta,
    });
  const exchange = (c: { clientId: string; clientSecret: string }, body: Record<string, string>) =>
    postForm(t.s.url('/oauth/token'), { grant_type: GRANT, ...body }, { authorization: basic(c.clientId, c.clientSecret) });
  const introspect = async (tok: string) =>
    (await postForm(t.s.url('/oauth/introspect'), { token: tok }, { authorization: basic(rs.clientId, rs.clientSecret) })).json;

  /** A code flow through the built-in pages (so the ID token carries the session's sid), as `who`. */
  async function signIn(c: { clientId: string; clientSecret: string }, who: { username: string; password: string } = USER, extra: Record<string, string> = {}) {
    const config = await t.rp(c);
    const browser = t.browser();
    const started = await startAuthorization(config, browser, { scope: 'openid api', ...extra });
    let r = started.page;
    if (r.html.includes('name="password"')) r = await browser.login(r, who.username, who.password);
    if (r.html.includes('/consent')) r = await browser.consent(r, 'approve');
    const tokens = await redeem(config, { ...started, callback: new URL(r.location!) });
    return { tokens, browser, config };
  }

  it('OIDC Core §8.1, RFC 8693 §2.1: a pairwise client\'s ID token exchanged is a token for the local user (the client\'s sub everywhere, never a hash of it)', async () => {
    const c = await exchanger();
    const { tokens } = await signIn(c);
    const pairwise = tokens.claims()!.sub;
    expect(pairwise).not.toBe(t.sub);
    expect(tokens.claims()!.sid).toBeTruthy();
    for (const type of [IDT, JWT]) {
      const r = await exchange(c, { subject_token: tokens.id_token!, subject_token_type: type, resource: API });
      expect(r.status, r.text).toBe(200);
      // The row is the local user's: UserInfo, consent, logout and revocation all find them by it.
      expect((await lookupToken(t.s.ctx, r.json.access_token)).record?.subject).toBe(t.sub);
      expect(decodeJwt(r.json.access_token).sub).toBe(pairwise); // RFC 9068 §2.2: as the client knows the user
      expect(await introspect(r.json.access_token)).toMatchObject({ active: true, sub: pairwise, aud: API });
    }
  });

  it('OIDC Core §5.3: an access token exchanged from a pairwise access token works at UserInfo, for the right user', async () => {
    const c = await exchanger();
    const { tokens } = await signIn(c);
    const r = await exchange(c, { subject_token: tokens.access_token, subject_token_type: AT, scope: 'openid' });
    expect(r.status, r.text).toBe(200);
    const info = await userinfoGet(t, r.json.access_token);
    expect(info.status).toBe(200);
    expect((await info.json()).sub).toBe(tokens.claims()!.sub);
  });

  it('RFC 8693 §2.2.2: a pairwise ID token whose user cannot be traced through its sid is refused (invalid_request), never issued for', async () => {
    const c = await exchanger();
    const { tokens } = await signIn(c);
    const record = (await t.s.ctx.store.findClient(t.s.ctx.tenant.id, c.clientId))!;
    const sid = tokens.claims()!.sid as string;
    const cases = {
      'no sid': await mintIdToken(t.s.ctx, { client: record, subject: t.sub }),
      'an unknown sid': await mintIdToken(t.s.ctx, { client: record, subject: t.sub, sid: 'no-such-session' }),
      // Genuinely signed, but the session it names is another user's: the sub must map from that session's user.
      'another user\'s sub with this session\'s sid': await mintIdToken(t.s.ctx, { client: record, subject: bobSub, sid }),
      // The local sub itself is not a pairwise client's sub: it is not taken as a user id either.
      'the local sub': await mintIdToken(t.s.ctx, { client: { ...record, subjectType: 'public' }, subject: t.sub, sid }),
    };
    for (const [name, idt] of Object.entries(cases)) {
      const r = await exchange(c, { subject_token: idt, subject_token_type: IDT, resource: API });
      expect(r.status, name).toBe(400);
      expect(r.json.error, name).toBe('invalid_request');
    }
    // The genuine one still works.
    expect((await exchange(c, { subject_token: tokens.id_token!, subject_token_type: IDT, resource: API })).status).toBe(200);
  });

  it('RFC 8693 §4.1, OIDC Core §8: a pairwise ID token as actor_token: act.sub is the actor as this client knows them, re-expressed for a client of another sector', async () => {
    const c = await exchanger();
    const ivy = await signIn(c);
    const bob = await signIn(c, { username: 'bob', password: 'bob-password' });
    const bobPairwise = bob.tokens.claims()!.sub;
    expect(bobPairwise).not.toBe(bobSub);
    const r = await exchange(c, { subject_token: ivy.tokens.access_token, subject_token_type: AT, actor_token: bob.tokens.id_token!, actor_token_type: IDT, resource: API });
    expect(r.status, r.text).toBe(200);
    expect(decodeJwt(r.json.access_token)).toMatchObject({ sub: ivy.tokens.claims()!.sub, act: { sub: bobPairwise } });
    expect(await introspect(r.json.access_token)).toMatchObject({ sub: ivy.tokens.claims()!.sub, act: { sub: bobPairwise } });
    // API's service, a pairwise client of another sector, exchanges the token it received: it sees both users as
    // it knows them (its own pairwise subs), the prior actor nested (RFC 8693 §4.1).
    const svc = await t.client({
      subject_type: 'pairwise', redirect_uris: ['https://svc.elsewhere.example/cb'], grant_types: ['client_credentials', GRANT], scope: 'api', access_token_format: 'jwt',
      token_exchange: { subject_token_types: [AT, JWT], actor_token_types: [AT], subject_token_audiences: [API], impersonation: true, delegation: true },
    });
    const own = (await postForm(t.s.url('/oauth/token'), { grant_type: 'client_credentials', scope: 'api' }, { authorization: basic(svc.clientId, svc.clientSecret) })).json.access_token;
    const hop = await exchange(svc, { subject_token: r.json.access_token, subject_token_type: AT, actor_token: own, actor_token_type: AT, resource: API });
    expect(hop.status, hop.text).toBe(200);
    const svcRecord = (await t.s.ctx.store.findClient(t.s.ctx.tenant.id, svc.clientId))!;
    const inSvcSector = (local: string) => subjectFor(t.s.ctx, svcRecord, local);
    expect(inSvcSector(bobSub)).not.toBe(bobPairwise);
    expect(decodeJwt(hop.json.access_token)).toMatchObject({ sub: inSvcSector(t.sub), act: { sub: svc.clientId, act: { sub: inSvcSector(bobSub) } } });
    expect(await introspect(hop.json.access_token)).toMatchObject({ sub: inSvcSector(t.sub), act: { sub: svc.clientId, act: { sub: inSvcSector(bobSub) } } });
  });

  it('RFC 7662 §2.2, OIDC Core §8.1: introspection leaves username out next to a pairwise sub (it would correlate the user across sectors)', async () => {
    const c = await exchanger();
    const { tokens } = await signIn(c);
    const body = await introspect(tokens.access_token);
    expect(body).toMatchObject({ active: true, sub: tokens.claims()!.sub });
    expect(body).not.toHaveProperty('username');
    expect(JSON.stringify(body)).not.toContain(USER.username);
    // A public client's token still names the user.
    const pub = await signIn(await t.client({ scope: 'openid api' }));
    expect(await introspect(pub.tokens.access_token)).toMatchObject({ active: true, sub: t.sub, username: USER.username });
  });

  it('OIDC Core §3.1.2.1, §8.1: the engine traces a pairwise id_token_hint back to the local user (expectedSubject); idTokenHintSub stays the client\'s view', async () => {
    const c = await exchanger();
    const { tokens } = await signIn(c);
    const params = (extra: Record<string, string>) => new URLSearchParams({ response_type: 'code', client_id: c.clientId, redirect_uri: CB, scope: 'openid', nonce: 'n', ...extra }).toString();
    const r = await authorization({ parameters: params({ id_token_hint: tokens.id_token! }) }, t.s.ctx);
    expect(r).toMatchObject({ action: 'INTERACTION', idTokenHintSub: tokens.claims()!.sub, expectedSubject: t.sub });
    // A claims sub value alone has no session to trace it through: not guessed.
    const claims = await authorization({ parameters: params({ claims: JSON.stringify({ id_token: { sub: { value: tokens.claims()!.sub } } }) }) }, t.s.ctx);
    expect(claims.action).toBe('INTERACTION');
    expect(claims.expectedSubject).toBeUndefined();
    // A public client: the sub is the local one.
    const pub = await signIn(await t.client());
    const p = await authorization({ parameters: new URLSearchParams({ response_type: 'code', client_id: decodeJwt(pub.tokens.id_token!).aud as string, redirect_uri: CB, scope: 'openid', id_token_hint: pub.tokens.id_token! }).toString() }, t.s.ctx);
    expect(p).toMatchObject({ idTokenHintSub: t.sub, expectedSubject: t.sub });
  });

  it('RP-Initiated Logout §2, OIDC Core §8.1: the engine decides the tie: a pairwise hint ties by sid only, a public one by sid or else by sub', async () => {
    const c = await t.client({ subject_type: 'pairwise', post_logout_redirect_uris: ['https://rp.example/bye'] });
    const { tokens } = await signIn(c);
    const sid = tokens.claims()!.sid as string;
    const session = (await t.s.ctx.store.findSessionBySid(t.s.ctx.tenant.id, sid))!;
    expect(session.subject).toBe(t.sub);
    const end = (hint: string) => endSessionRequest({ parameters: new URLSearchParams({ id_token_hint: hint }).toString() }, t.s.ctx);
    expect(logoutTiedToSession(await end(tokens.id_token!), session)).toBe(true);
    expect(logoutTiedToSession(await end(tokens.id_token!), { ...session, sid: 'another-session' })).toBe(false);
    const record = (await t.s.ctx.store.findClient(t.s.ctx.tenant.id, c.clientId))!;
    // Without a sid a pairwise sub does not tie (the user is asked), even though it is this user's.
    const noSid = await end(await mintIdToken(t.s.ctx, { client: record, subject: t.sub }));
    expect(noSid.hintSub).toBeUndefined();
    expect(logoutTiedToSession(noSid, session)).toBe(false);
    // A public client's hint without sid ties by the local sub.
    const pubClient = await t.client();
    const pub = (await t.s.ctx.store.findClient(t.s.ctx.tenant.id, pubClient.clientId))!;
    expect(logoutTiedToSession(await end(await mintIdToken(t.s.ctx, { client: pub, subject: t.sub })), session)).toBe(true);
    expect(logoutTiedToSession(await end(await mintIdToken(t.s.ctx, { client: pub, subject: bobSub })), session)).toBe(false);
    // logout_hint alone never ties.
    const hinted = await endSessionRequest({ parameters: new URLSearchParams({ client_id: c.clientId, logout_hint: tokens.claims()!.sub }).toString() }, t.s.ctx);
    expect(logoutTiedToSession(hinted, session)).toBe(false);
  });
});

describe('pairwise id_token_hint for a host: the Core API', () => {
  let s: TestServer;
  let svc: TestService;
  let creds: { clientId: string; clientSecret?: string };
  const now = () => Math.floor(Date.now() / 1000);
  const form = (p: Record<string, string>) => new URLSearchParams(p).toString();

  beforeAll(async () => {
    s = await startTestServer();
    svc = await testService(s, 'svc-pairwise', 'https://pairwise-svc.example');
    creds = await svc.client({ redirect_uris: [CB], grant_types: ['authorization_code'], scope: 'openid', subject_type: 'pairwise' });
  });
  afterAll(() => s?.close());

  const call = (path: string, body: unknown) => core(s, svc.id, path, body, svc.token);
  const authz = (extra: Record<string, string> = {}) =>
    call('auth/authorization', { parameters: form({ response_type: 'code', client_id: creds.clientId, redirect_uri: CB, scope: 'openid', state: 's', ...extra }) });
  async function idTokenFor(subject: string, sid?: string): Promise<string> {
    const ticket = (await authz()).json.ticket;
    const issued = await call('auth/authorization/issue', { ticket, subject, authTime: now(), ...(sid ? { sid } : {}) });
    const code = new URL(issued.json.responseContent).searchParams.get('code')!;
    const r = await call('auth/token', { parameters: form({ grant_type: 'authorization_code', code, redirect_uri: CB }), authorization: basic(creds.clientId, creds.clientSecret!) });
    expect(r.json.action).toBe('OK');
    return JSON.parse(r.json.responseContent).id_token;
  }

  it('OIDC Core §8.1: auth/authorization answers expectedSubject (the host\'s user id) for a pairwise id_token_hint issued with the host\'s sid; idTokenHintSub keeps its meaning', async () => {
    const hint = await idTokenFor('alice', 'host-session-1');
    const pairwise = decodeJwt(hint).sub;
    expect(pairwise).not.toBe('alice');
    const r = await authz({ id_token_hint: hint });
    expect(r.json).toMatchObject({ action: 'INTERACTION', idTokenHintSub: pairwise, expectedSubject: 'alice' });
    // Issuing for another user is refused (login_required at the client), for the expected one it works.
    const wrong = await call('auth/authorization/issue', { ticket: r.json.ticket, subject: 'mallory', authTime: now() });
    expect(new URL(wrong.json.responseContent).searchParams.get('error')).toBe('login_required');
    const right = await call('auth/authorization/issue', { ticket: (await authz({ id_token_hint: hint })).json.ticket, subject: 'alice', authTime: now() });
    expect(new URL(right.json.responseContent).searchParams.get('code')).toBeTruthy();
  });

  it('OIDC Core §8.1: without a sid in the hint, a pairwise sub cannot be traced: expectedSubject is absent, never the pairwise value', async () => {
    const hint = await idTokenFor('alice');
    const r = await authz({ id_token_hint: hint });
    expect(r.json.action).toBe('INTERACTION');
    expect(r.json.idTokenHintSub).toBe(decodeJwt(hint).sub);
    expect(r.json).not.toHaveProperty('expectedSubject');
  });
});

describe('pairwise id_token_hint for a host: the library (createLatchkey)', () => {
  let dir: string;
  let databaseUrl: string;
  let auth: LatchkeyInstance;
  let rp: { clientId: string; clientSecret: string };
  const secret = () => randomBytes(32).toString('base64url');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-pairwise-'));
    databaseUrl = await testDatabaseUrl(dir);
    auth = await createLatchkey({
      config: { issuer: 'https://host.example/auth', dataDir: dir, databaseUrl, keyEncryptionKey: secret(), logLevel: 'silent' },
      findAccount: (sub) => (sub === 'u-1' || sub === 'u-2' ? { name: sub } : null),
      interactionUrl: 'https://host.example/login',
      backgroundJobs: false,
    });
    const { json } = await registerClient(await auth.context(), { redirect_uris: [CB], grant_types: ['authorization_code'], scope: 'openid', subject_type: 'pairwise', skip_consent: true });
    rp = { clientId: json.client_id as string, clientSecret: json.client_secret as string };
  });
  afterAll(async () => {
    await auth?.close();
    await dropTestDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (extra: Record<string, string> = {}) => {
    const r = await authorization({ parameters: new URLSearchParams({ response_type: 'code', client_id: rp.clientId, redirect_uri: CB, scope: 'openid', ...extra }).toString() }, await auth.context());
    expect(r.action, r.resultMessage).toBe('INTERACTION');
    return r.ticket!;
  };
  async function idTokenFor(subject: string, sid?: string): Promise<string> {
    const issued = await auth.issue({ ticket: await start(), subject, sid });
    const code = new URL(issued.responseContent).searchParams.get('code')!;
    const r = await token({ parameters: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CB }).toString(), clientId: rp.clientId, clientSecret: rp.clientSecret }, await auth.context());
    expect(r.action, r.resultMessage).toBe('OK');
    return JSON.parse(r.responseContent).id_token;
  }

  it('OIDC Core §3.1.2.1, §8.1: interaction() gives expectedSubject as the host\'s user id; namesAnotherUser() answers by the engine\'s rule, sid or not', async () => {
    const withSid = await idTokenFor('u-1', 'host-sid-9');
    const d = (await auth.interaction(await start({ id_token_hint: withSid })))!;
    expect(d.idTokenHintSub).toBe(decodeJwt(withSid).sub);
    expect(d.idTokenHintSub).not.toBe('u-1');
    expect(d.expectedSubject).toBe('u-1');
    expect(await auth.namesAnotherUser(d.ticket, 'u-1')).toBe(false);
    expect(await auth.namesAnotherUser(d.ticket, 'u-2')).toBe(true);
    // No sid: nothing to trace through, but the check still answers.
    const noSid = await idTokenFor('u-2');
    const e = (await auth.interaction(await start({ id_token_hint: noSid })))!;
    expect(e.expectedSubject).toBeUndefined();
    expect(await auth.namesAnotherUser(e.ticket, 'u-2')).toBe(false);
    expect(await auth.namesAnotherUser(e.ticket, 'u-1')).toBe(true);
    // A claims sub value (the client's view) is checked the same way.
    const f = (await auth.interaction(await start({ claims: JSON.stringify({ id_token: { sub: { value: decodeJwt(withSid).sub } } }) })))!;
    expect(await auth.namesAnotherUser(f.ticket, 'u-1')).toBe(false);
    expect(await auth.namesAnotherUser(f.ticket, 'u-2')).toBe(true);
    expect(await auth.namesAnotherUser('no-such-ticket', 'u-1')).toBeUndefined();
  });
});
