// Token exchange (RFC 8693 §4.1) with a session-bound user's token as actor_token (OIDC Core §11): the exchanged token
// ends when the actor's browser session ends (logged out, past sessionTtl, idle past sessionIdleTtl), by the one rule
// every session-bound token goes by (sessions.ts readBoundSession), not only when the actor's grant is revoked. The
// subject's session already ends it (session_binding). Tokens without such an actor pay nothing for it at lookup.
// Engine calls only; test/e2e/token-exchange-actor-session.test.ts signs in through the UI and uses HTTP clients.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorization, authorizationIssue } from '../../src/engine/authorization/index.js';
import type { EngineContext } from '../../src/engine/context.js';
import { token } from '../../src/engine/token/index.js';
import { registerResourceServer } from '../../src/services/resources.js';
import type { Store } from '../../src/store/types.js';
import { lookupToken } from '../../src/tokens/lookup.js';
import { createSession } from '../../src/ui/session.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

type Creds = { clientId: string; clientSecret?: string };
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const IDT = 'urn:ietf:params:oauth:token-type:id_token';
const API1 = 'https://api1.example/';
const CB = 'https://app.example/cb';
const MINUTE = 60_000;

describe('token exchange: a session-bound user actor\'s session ends the exchanged token (OIDC Core §11, RFC 8693 §4.1)', () => {
  let t: TestLatchkey;
  let clock = Date.UTC(2033, 2, 1);
  let app: Creds; // its users' tokens are subject and actor tokens; it delegates between them
  let svc1: Creds; // API 1's service: exchanges the tokens it receives for API 1
  const users: Record<string, string> = {};

  beforeAll(async () => {
    t = await openTestLatchkey({ sessionTtl: 4 * 3600, sessionIdleTtl: 3600, accessTokenTtl: 8 * 3600 }, { clock: () => clock });
    await registerResourceServer(t.ctx, { identifier: API1, scope: 'api1' });
    app = await t.client({
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials', GRANT], redirect_uris: [CB], scope: 'openid offline_access api1', skip_consent: true,
      token_exchange: { subject_token_types: [AT, IDT], actor_token_types: [AT, IDT], impersonation: true, delegation: true },
    });
    svc1 = await t.client({
      grant_types: ['client_credentials', GRANT], scope: 'api1',
      token_exchange: { subject_token_types: [AT], actor_token_types: [AT], subject_token_audiences: [API1], impersonation: true, delegation: true },
    });
    for (const name of ['alice', 'bob']) users[name] = await t.user(name, `${name}-password`);
  });
  afterAll(() => t.close());

  const now = () => Math.floor(clock / 1000);
  const call = (c: Creds, params: Record<string, string>, ctx: EngineContext = t.ctx) =>
    token({ parameters: new URLSearchParams(params).toString(), clientId: c.clientId, clientSecret: c.clientSecret }, ctx);
  const ok = async (r: ReturnType<typeof call>) => {
    const res = await r;
    expect(res.action, res.resultMessage).toBe('OK');
    return JSON.parse(res.responseContent!) as Record<string, string>;
  };
  const active = async (tok: string) => (await lookupToken(t.ctx, tok)).active;

  /** `who` signs in (a new Latchkey browser session) and authorizes app for `scope`: a grant with that session's sid. */
  async function signIn(who: string, scope: string): Promise<{ tokens: Record<string, string>; sid: string; grantId: string }> {
    const { session } = await createSession(t.ctx, users[who]!);
    const verifier = 'v'.repeat(50);
    const p = new URLSearchParams({
      response_type: 'code', client_id: app.clientId, redirect_uri: CB, scope, nonce: 'n', resource: API1,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    });
    const a = await authorization({ parameters: p.toString() }, t.ctx);
    expect(a.ticket, a.resultMessage).toBeTruthy();
    const issued = await authorizationIssue({ ticket: a.ticket!, subject: users[who]!, authTime: now(), sid: session.sid, latchkeySession: true }, t.ctx);
    const code = new URL(issued.responseContent as string).searchParams.get('code')!;
    const grantId = (await t.ctx.store.findCode(t.ctx.tenant.id, t.ctx.hasher.hash(code)))!.grantId;
    const tokens = await ok(call(app, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }));
    return { tokens, sid: session.sid, grantId };
  }

  /** app: alice's token as subject, the given actor token, for API 1. */
  const delegate = (subject: string, actor: string, actorType = AT) =>
    ok(call(app, { grant_type: GRANT, subject_token: subject, subject_token_type: AT, actor_token: actor, actor_token_type: actorType, resource: API1 }));

  it('OIDC Core §11, RFC 8693 §4.1: the actor\'s session ended (its grant not revoked): the exchanged token is inactive; the subject\'s and the actor\'s offline tokens are not', async () => {
    const alice = await signIn('alice', 'openid offline_access api1'); // not session-bound
    const bob = await signIn('bob', 'openid api1'); // session-bound
    const x = await delegate(alice.tokens.access_token!, bob.tokens.access_token!);
    expect(await active(x.access_token!)).toBe(true);
    expect((await lookupToken(t.ctx, x.access_token!)).record!.data.actor_sessions).toEqual([{ sid: bob.sid, latchkey: true }]);
    expect(await t.ctx.store.endSessionBySid(t.ctx.tenant.id, bob.sid, now())).toBe(true);
    const state = await lookupToken(t.ctx, x.access_token!);
    expect(state).toMatchObject({ active: false, sessionEnded: true });
    expect((await t.ctx.store.findGrant(t.ctx.tenant.id, bob.grantId))!.revokedAt).toBeNull(); // the session alone ended it
    expect(await active(alice.tokens.access_token!)).toBe(true);
    // The ended session's tokens are no actor any more, nor can the exchanged token be a subject.
    const again = await call(app, { grant_type: GRANT, subject_token: alice.tokens.access_token!, subject_token_type: AT, actor_token: bob.tokens.access_token!, actor_token_type: AT, resource: API1 });
    expect(again.resultCode).toBe('LK6022');
    expect((await call(svc1, { grant_type: GRANT, subject_token: x.access_token!, subject_token_type: AT, resource: API1 })).resultCode).toBe('LK6021');
  });

  it('OIDC Core §11: the actor\'s session gone idle (sessionIdleTtl) ends the exchanged token, though both grants stand and it is unexpired', async () => {
    const alice = await signIn('alice', 'openid offline_access api1');
    const bob = await signIn('bob', 'openid api1');
    const x = await delegate(alice.tokens.access_token!, bob.tokens.access_token!);
    clock += 50 * MINUTE;
    expect(await active(x.access_token!)).toBe(true);
    clock += 11 * MINUTE; // idle 61 minutes; the token has hours left
    expect(await active(x.access_token!)).toBe(false);
    expect(await active(alice.tokens.access_token!)).toBe(true);
  });

  it('OIDC Core §11: a session-bound ID token as actor_token ends the exchanged token with its session too', async () => {
    const alice = await signIn('alice', 'openid offline_access api1');
    const bob = await signIn('bob', 'openid api1');
    const x = await delegate(alice.tokens.access_token!, bob.tokens.id_token!, IDT);
    expect(await active(x.access_token!)).toBe(true);
    await t.ctx.store.endSessionBySid(t.ctx.tenant.id, bob.sid, now());
    expect(await active(x.access_token!)).toBe(false);
  });

  it('OIDC Core §11: an actor with offline_access is not session-bound: the exchanged token outlives the actor\'s session', async () => {
    const alice = await signIn('alice', 'openid offline_access api1');
    const bob = await signIn('bob', 'openid offline_access api1');
    const x = await delegate(alice.tokens.access_token!, bob.tokens.access_token!);
    expect((await lookupToken(t.ctx, x.access_token!)).record!.data.actor_sessions).toBeUndefined();
    await t.ctx.store.endSessionBySid(t.ctx.tenant.id, bob.sid, now());
    expect(await active(x.access_token!)).toBe(true);
  });

  it('RFC 8693 §4.1: a token exchanged again keeps its prior actor\'s session: ending it ends every token down the chain', async () => {
    const alice = await signIn('alice', 'openid offline_access api1');
    const bob = await signIn('bob', 'openid api1');
    const x = await delegate(alice.tokens.access_token!, bob.tokens.access_token!);
    const y = await ok(call(svc1, { grant_type: GRANT, subject_token: x.access_token!, subject_token_type: AT, resource: API1 }));
    const z = await ok(call(svc1, { grant_type: GRANT, subject_token: y.access_token!, subject_token_type: AT, actor_token: (await ok(call(svc1, { grant_type: 'client_credentials', scope: 'api1' }))).access_token!, actor_token_type: AT, resource: API1 }));
    for (const tok of [x, y, z]) expect(await active(tok.access_token!)).toBe(true);
    await t.ctx.store.endSessionBySid(t.ctx.tenant.id, bob.sid, now());
    for (const tok of [x, y, z]) expect(await active(tok.access_token!)).toBe(false);
  });

  it('OIDC Core §11: the subject\'s session already ends the exchanged token (session_binding), whoever the actor is', async () => {
    const alice = await signIn('alice', 'openid api1'); // session-bound subject
    const cc = (await ok(call(app, { grant_type: 'client_credentials', scope: 'api1' }))).access_token!;
    const x = await delegate(alice.tokens.access_token!, cc);
    const data = (await lookupToken(t.ctx, x.access_token!)).record!.data;
    expect(data.session_binding).toEqual({ sid: alice.sid, latchkey: true });
    expect(data.actor_sessions).toBeUndefined();
    await t.ctx.store.endSessionBySid(t.ctx.tenant.id, alice.sid, now());
    expect(await active(x.access_token!)).toBe(false);
  });

  /** The store, counting the reads lookupToken makes of sessions and grants. */
  function counting(ctx: EngineContext): { ctx: EngineContext; reads: { sessions: number; grants: number } } {
    const reads = { sessions: 0, grants: 0 };
    const store = new Proxy(ctx.store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop === 'findSessionBySid') reads.sessions++;
        if (prop === 'findGrant') reads.grants++;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Store;
    return { ctx: { ...ctx, store }, reads };
  }

  it('a token exchanged with a client actor (or an offline user actor) costs lookupToken no session read; one with a session-bound user actor one session read', async () => {
    const alice = await signIn('alice', 'openid offline_access api1');
    const bobOffline = await signIn('bob', 'openid offline_access api1');
    const bobBound = await signIn('bob', 'openid api1');
    const cc = (await ok(call(app, { grant_type: 'client_credentials', scope: 'api1' }))).access_token!;
    const byClient = await delegate(alice.tokens.access_token!, cc);
    const byOffline = await delegate(alice.tokens.access_token!, bobOffline.tokens.access_token!);
    const byBound = await delegate(alice.tokens.access_token!, bobBound.tokens.access_token!);
    const reads = async (tok: string) => {
      const c = counting(t.ctx);
      expect((await lookupToken(c.ctx, tok)).active).toBe(true);
      return c.reads;
    };
    expect(await reads(byClient.access_token!)).toEqual({ sessions: 0, grants: 0 });
    expect(await reads(byOffline.access_token!)).toEqual({ sessions: 0, grants: 1 }); // its actor's grant (actor_grants)
    expect(await reads(byBound.access_token!)).toEqual({ sessions: 1, grants: 1 });
  });
});
