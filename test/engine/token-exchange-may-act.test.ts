// Token exchange (RFC 8693 §4.4): a subject token's may_act names the one party that may act for its subject. Latchkey
// issues it from the operator's client metadata access_token_may_act (in every access token of that client) and
// enforces it at the exchange: as the actor (delegation), or as the impersonating client (no actor_token), the
// token's own client excepted. Engine calls only; test/http/token-exchange-may-act.test.ts has the same over HTTP.
import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorization, authorizationIssue } from '../../src/engine/authorization/index.js';
import { validateClientMetadata } from '../../src/engine/client-metadata.js';
import { OAuthError } from '../../src/engine/errors.js';
import { token } from '../../src/engine/token/index.js';
import { registerResourceServer } from '../../src/services/resources.js';
import type { TokenRecord } from '../../src/store/types.js';
import { tokenKey } from '../../src/tokens/handles.js';
import { lookupToken } from '../../src/tokens/lookup.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

type Creds = { clientId: string; clientSecret?: string };
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const RT = 'urn:ietf:params:oauth:token-type:refresh_token';
const IDT = 'urn:ietf:params:oauth:token-type:id_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const API1 = 'https://api1.example/';
const API2 = 'https://api2.example/';
const CB = 'https://app.example/cb';

describe('token exchange: may_act (RFC 8693 §4.4)', () => {
  let t: TestLatchkey;
  let app: Creds; // its users' tokens say: only svc-one may act for them
  let jwtApp: Creds; // the same, as RFC 9068 JWT access tokens
  let admin: Creds; // its users' tokens say: only the user "bob" may act for them; bob signs in to it too
  let plain: Creds; // no may_act
  let svc1: Creds; // the one named
  let svc2: Creds; // another service that accepts tokens for API 1
  const users: Record<string, string> = {};

  const exchangeAll = { subject_token_types: [AT, RT, IDT, JWT], actor_token_types: [AT, IDT], subject_token_audiences: [API1], impersonation: true, delegation: true };

  beforeAll(async () => {
    t = await openTestLatchkey();
    await registerResourceServer(t.ctx, { identifier: API1, scope: 'api1' });
    await registerResourceServer(t.ctx, { identifier: API2, scope: 'api2' });
    svc1 = await t.client({ client_id: 'svc-one', grant_types: ['client_credentials', GRANT], scope: 'api1 api2', token_exchange: exchangeAll });
    svc2 = await t.client({ client_id: 'svc-two', grant_types: ['client_credentials', GRANT], scope: 'api1 api2', token_exchange: exchangeAll });
    const userApp = { grant_types: ['authorization_code', 'refresh_token', 'client_credentials', GRANT], redirect_uris: [CB], scope: 'openid offline_access api1 api2', skip_consent: true, token_exchange: exchangeAll };
    app = await t.client({ ...userApp, access_token_may_act: { sub: 'svc-one' } });
    jwtApp = await t.client({ ...userApp, access_token_format: 'jwt', access_token_may_act: { sub: 'svc-one' } });
    plain = await t.client(userApp);
    for (const name of ['alice', 'bob', 'carol']) users[name] = await t.user(name, `${name}-password`);
    admin = await t.client({ ...userApp, access_token_may_act: { sub: users.bob! } });
  });
  afterAll(() => t.close());

  const call = (c: Creds, params: Record<string, string>) =>
    token({ parameters: new URLSearchParams(params).toString(), clientId: c.clientId, clientSecret: c.clientSecret }, t.ctx);
  const exchange = (c: Creds, params: Record<string, string>) => call(c, { grant_type: GRANT, ...params });
  const body = (r: Awaited<ReturnType<typeof token>>) => JSON.parse(r.responseContent!) as Record<string, string>;
  const ok = (r: Awaited<ReturnType<typeof token>>) => {
    expect(r.action, r.resultMessage).toBe('OK');
    return body(r);
  };
  const ownToken = async (c: Creds) => ok(await call(c, { grant_type: 'client_credentials', scope: 'api1' })).access_token!;
  const rowOf = async (tok: string): Promise<TokenRecord> => {
    const state = await lookupToken(t.ctx, tok);
    expect(state.active).toBe(true);
    return state.record!;
  };

  /** `who` authorizes client `c` for `scope` (the code flow through the engine) and the code is redeemed. */
  async function userTokens(c: Creds, who: string, scope = 'openid offline_access api1', resource: string | undefined = API1): Promise<Record<string, string>> {
    const verifier = 'v'.repeat(50);
    const p = new URLSearchParams({
      response_type: 'code', client_id: c.clientId, redirect_uri: CB, scope, nonce: 'n',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    });
    if (resource) p.set('resource', resource);
    const a = await authorization({ parameters: p.toString() }, t.ctx);
    expect(a.ticket, a.resultMessage).toBeTruthy();
    const issued = await authorizationIssue({ ticket: a.ticket!, subject: users[who]!, authTime: Math.floor(Date.now() / 1000), sid: `sid-${who}-${c.clientId}` }, t.ctx);
    const code = new URL(issued.responseContent as string).searchParams.get('code')!;
    return ok(await call(c, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }));
  }

  function refused(r: Awaited<ReturnType<typeof token>>, resultCode: string) {
    expect(r.action, r.resultMessage).toBe('BAD_REQUEST');
    expect(r.resultCode).toBe(resultCode);
    expect(body(r).error).toBe('invalid_request');
    expect(body(r).error_description).toMatch(/may_act/);
  }

  it('RFC 8693 §4.4: access_token_may_act is an operator\'s client metadata; a client registering itself cannot set it', () => {
    const meta = { redirect_uris: [CB], access_token_may_act: { sub: 'svc-one' } };
    expect(validateClientMetadata(meta).metadata.accessTokenMayAct).toEqual({ sub: 'svc-one' });
    expect(validateClientMetadata({ ...meta }, { dynamic: { allowedScopes: ['openid'] } }).metadata.accessTokenMayAct).toBeUndefined();
    for (const bad of [{ sub: '' }, { sub: 'x', email: 'a@b.example' }, { iss: 'https://as.example' }, 'svc-one']) {
      expect(() => validateClientMetadata({ redirect_uris: [CB], access_token_may_act: bad })).toThrow(OAuthError);
    }
  });

  it('RFC 8693 §4.4: every access token of a client with access_token_may_act carries it (row, JWT); a client without it issues none', async () => {
    const opaque = await userTokens(app, 'alice');
    expect((await rowOf(opaque.access_token!)).data.may_act).toEqual({ sub: 'svc-one' });
    const jwt = await userTokens(jwtApp, 'alice');
    expect(decodeJwt(jwt.access_token!).may_act).toEqual({ sub: 'svc-one' });
    expect((await rowOf(jwt.access_token!)).data.may_act).toEqual({ sub: 'svc-one' });
    expect((await rowOf(await ownToken(app))).data.may_act).toEqual({ sub: 'svc-one' }); // client_credentials too
    expect((await rowOf((await userTokens(plain, 'alice')).access_token!)).data.may_act).toBeUndefined();
  });

  it('RFC 8693 §4.4: delegation with the party may_act names as actor is issued; with any other actor it is invalid_request (LK7220)', async () => {
    const user = await userTokens(app, 'alice');
    const issued = ok(await exchange(svc1, { subject_token: user.access_token!, subject_token_type: AT, actor_token: await ownToken(svc1), actor_token_type: AT, resource: API1 }));
    expect((await rowOf(issued.access_token!)).data.act).toEqual({ sub: 'svc-one' });
    refused(await exchange(svc2, { subject_token: user.access_token!, subject_token_type: AT, actor_token: await ownToken(svc2), actor_token_type: AT, resource: API1 }), 'LK7220');
    // The JWT form of the same policy, presented as the jwt type.
    const fromJwt = await userTokens(jwtApp, 'alice');
    expect((await exchange(svc1, { subject_token: fromJwt.access_token!, subject_token_type: JWT, actor_token: await ownToken(svc1), actor_token_type: AT, resource: API1 })).action).toBe('OK');
    refused(await exchange(svc2, { subject_token: fromJwt.access_token!, subject_token_type: JWT, actor_token: await ownToken(svc2), actor_token_type: AT, resource: API1 }), 'LK7220');
  });

  it('RFC 8693 §4.4: the token\'s own client delegating to an actor may_act does not name is refused too (LK7220)', async () => {
    const user = await userTokens(app, 'alice');
    refused(await exchange(app, { subject_token: user.access_token!, subject_token_type: AT, actor_token: await ownToken(app), actor_token_type: AT, resource: API1 }), 'LK7220');
  });

  it('RFC 8693 §4.4: impersonation (no actor_token) by the client may_act names is issued; by another client it is invalid_request (LK7221); the token\'s own client may still re-target it (§1.1)', async () => {
    const user = await userTokens(app, 'alice');
    expect((await exchange(svc1, { subject_token: user.access_token!, subject_token_type: AT, resource: API1 })).action).toBe('OK');
    refused(await exchange(svc2, { subject_token: user.access_token!, subject_token_type: AT, resource: API1 }), 'LK7221');
    const own = ok(await exchange(app, { subject_token: user.access_token!, subject_token_type: AT, resource: API1 }));
    expect(own.scope).toBe('api1');
  });

  it('RFC 8693 §4.4: a user named by may_act may act (the actor\'s sub as act.sub shows it); another user of the same client may not', async () => {
    const alice = await userTokens(admin, 'alice');
    const bob = await userTokens(admin, 'bob');
    const carol = await userTokens(admin, 'carol');
    const issued = ok(await exchange(admin, { subject_token: alice.access_token!, subject_token_type: AT, actor_token: bob.access_token!, actor_token_type: AT, resource: API1 }));
    expect((await rowOf(issued.access_token!)).data.act).toEqual({ sub: users.bob });
    refused(await exchange(admin, { subject_token: alice.access_token!, subject_token_type: AT, actor_token: carol.access_token!, actor_token_type: AT, resource: API1 }), 'LK7220');
    // An ID token as actor is the same party.
    expect((await exchange(admin, { subject_token: alice.access_token!, subject_token_type: AT, actor_token: bob.id_token!, actor_token_type: IDT, resource: API1 })).action).toBe('OK');
  });

  it('RFC 8693 §4.4: a refresh token or an ID token (no may_act of their own) goes by its client\'s access_token_may_act', async () => {
    const user = await userTokens(app, 'alice');
    for (const [subject_token, subject_token_type] of [[user.refresh_token!, RT], [user.id_token!, IDT]] as const) {
      refused(await exchange(app, { subject_token, subject_token_type, actor_token: await ownToken(app), actor_token_type: AT, resource: API1 }), 'LK7220');
      expect((await exchange(app, { subject_token, subject_token_type, resource: API1 })).action).toBe('OK'); // its own client, impersonating
    }
  });

  it('RFC 8693 §4.4: an access token minted before its client had a policy goes by the policy the operator adds later', async () => {
    const late = await t.client({ grant_types: ['authorization_code', 'refresh_token', GRANT], redirect_uris: [CB], scope: 'openid offline_access api1', skip_consent: true, token_exchange: exchangeAll });
    const before = (await userTokens(late, 'carol')).access_token!;
    expect((await rowOf(before)).data.may_act).toBeUndefined();
    const stored = (await t.ctx.store.findClient(t.ctx.tenant.id, late.clientId))!;
    await t.ctx.store.updateClient({ ...stored, accessTokenMayAct: { sub: 'svc-one' } });
    refused(await exchange(svc2, { subject_token: before, subject_token_type: AT, resource: API1 }), 'LK7221');
    expect((await exchange(svc1, { subject_token: before, subject_token_type: AT, resource: API1 })).action).toBe('OK');
  });

  it('RFC 8693 §4.4: a may_act with an iss names a party of that issuer: ours matches, another issuer\'s names nobody here; one without a sub names nobody', async () => {
    const user = await userTokens(plain, 'alice');
    const row = await rowOf(user.access_token!);
    const variant = async (mayAct: unknown) => {
      const tok = `may-act-variant-${Math.random().toString(36).slice(2)}-${'x'.repeat(30)}`;
      await t.ctx.store.insertToken({ ...row, hash: tokenKey(t.ctx.hasher, tok), data: { ...row.data, may_act: mayAct } });
      return tok;
    };
    const withActor = async (tok: string) => exchange(svc1, { subject_token: tok, subject_token_type: AT, actor_token: await ownToken(svc1), actor_token_type: AT, resource: API1 });
    expect((await withActor(await variant({ sub: 'svc-one', iss: t.ctx.tenant.issuer, email: 'ops@svc.example' }))).action).toBe('OK');
    refused(await withActor(await variant({ sub: 'svc-one', iss: 'https://elsewhere.example' })), 'LK7220');
    refused(await withActor(await variant({ iss: t.ctx.tenant.issuer })), 'LK7220');
    refused(await exchange(svc1, { subject_token: await variant({ sub: 'svc-one', iss: 'https://elsewhere.example' }), subject_token_type: AT, resource: API1 }), 'LK7221');
  });

  it('RFC 8693 §4.4: a subject token without may_act is exchanged as before, by any client the policy lets in', async () => {
    const user = await userTokens(plain, 'alice');
    expect((await exchange(svc2, { subject_token: user.access_token!, subject_token_type: AT, actor_token: await ownToken(svc2), actor_token_type: AT, resource: API1 })).action).toBe('OK');
    expect((await exchange(svc2, { subject_token: user.access_token!, subject_token_type: AT, resource: API1 })).action).toBe('OK');
  });

  it('RFC 8693 §4.1, §4.4: an exchanged token carries act naming the actor and the may_act of the client it is issued to; not the subject token\'s', async () => {
    const named = await t.client({ grant_types: ['client_credentials', GRANT], scope: 'api1 api2', token_exchange: exchangeAll, access_token_may_act: { sub: 'svc-two' } });
    const user = await userTokens(plain, 'alice');
    const issued = ok(await exchange(named, { subject_token: user.access_token!, subject_token_type: AT, actor_token: await ownToken(named), actor_token_type: AT, resource: API1 }));
    const data = (await rowOf(issued.access_token!)).data;
    expect(data.act).toEqual({ sub: named.clientId });
    expect(data.may_act).toEqual({ sub: 'svc-two' });
    // And it is enforced on the next hop: svc-two may act with it, svc-one may not.
    expect((await exchange(svc2, { subject_token: issued.access_token!, subject_token_type: AT, actor_token: await ownToken(svc2), actor_token_type: AT, resource: API1 })).action).toBe('OK');
    refused(await exchange(svc1, { subject_token: issued.access_token!, subject_token_type: AT, actor_token: await ownToken(svc1), actor_token_type: AT, resource: API1 }), 'LK7220');
    // From app's token (may_act svc-one), svc-one's new token carries no may_act: svc-one has none configured.
    const fromApp = ok(await exchange(svc1, { subject_token: (await userTokens(app, 'alice')).access_token!, subject_token_type: AT, resource: API1 }));
    expect((await rowOf(fromApp.access_token!)).data.may_act).toBeUndefined();
  });
});
