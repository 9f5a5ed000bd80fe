// Token exchange (RFC 8693): what a subject or actor token may stand for. Each party must be live (its grant, its
// user), an ID token only ever yields what the grant it came from holds, a token passed to another client carries
// no more than itself (RFC 9700 §2.3), an actor is the requesting client (or its own signed-in user), and act always
// names who acts now (RFC 8693 §4.1). Exchanges go through oauth4webapi's generic token endpoint request.
import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorization, authorizationIssue } from '../../src/engine/authorization/index.js';
import { registerResourceServer } from '../../src/services/resources.js';
import { listUserGrants, revokeUserGrant, setDisabled } from '../../src/services/users.js';
import { createSession } from '../../src/ui/session.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

type Creds = { clientId: string; clientSecret?: string };
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const RT = 'urn:ietf:params:oauth:token-type:refresh_token';
const IDT = 'urn:ietf:params:oauth:token-type:id_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const API1 = 'https://api1.example/';
const API2 = 'https://api2.example/';
const REDIRECT = 'https://app.example/cb';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe('token exchange: the parties behind subject and actor tokens', () => {
  let s: TestServer;
  let as: oauth.AuthorizationServer;
  const now = Date.UTC(2032, 0, 1);
  let app: Creds; // the user's application: its own tokens, ID tokens, refresh tokens; user actors of its own
  let svc1: Creds; // API 1's service: the tokens it receives for API 1
  let svc2: Creds; // API 2's service: the tokens it receives for API 2
  const users: Record<string, string> = {};

  beforeAll(async () => {
    s = await startTestServer({}, { clock: () => now });
    as = await oauth.processDiscoveryResponse(new URL(s.issuer), await oauth.discoveryRequest(new URL(s.issuer), insecure));
    await registerResourceServer(s.ctx, { identifier: API1, scope: 'api1' });
    await registerResourceServer(s.ctx, { identifier: API2, scope: 'api2' });
    app = await s.client({
      grant_types: ['authorization_code', 'password', 'refresh_token', GRANT], insecure_password_grant: true, redirect_uris: [REDIRECT],
      scope: 'openid offline_access api1 api2', userinfo_signed_response_alg: 'RS256',
      token_exchange: { subject_token_types: [AT, RT, IDT, JWT], actor_token_types: [AT, IDT], impersonation: true, delegation: true },
    });
    svc1 = await s.client({
      grant_types: ['client_credentials', GRANT], scope: 'api1 api2', access_token_format: 'jwt',
      token_exchange: { subject_token_types: [AT, JWT], actor_token_types: [AT], subject_token_audiences: [API1], impersonation: true, delegation: true },
    });
    svc2 = await s.client({
      grant_types: ['client_credentials', GRANT], scope: 'api1 api2', access_token_format: 'jwt',
      token_exchange: { subject_token_types: [AT, JWT], actor_token_types: [AT], subject_token_audiences: [API2], impersonation: true, delegation: true },
    });
    for (const name of ['ivy', 'alice', 'bob']) users[name] = await s.user(name, `${name}-password-123`);
  });
  afterAll(() => s?.close());

  /** An exchange by `c` through oauth4webapi: the token response, or the OAuth error it answered. */
  async function exchange(c: Creds, params: Record<string, string | string[]>): Promise<{ ok: true; body: oauth.TokenEndpointResponse } | { ok: false; error: string; description?: string }> {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const one of [v].flat()) p.append(k, one);
    const client: oauth.Client = { client_id: c.clientId };
    const response = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(c.clientSecret!), GRANT, p, insecure);
    try {
      return { ok: true, body: await oauth.processGenericTokenEndpointResponse(as, client, response) };
    } catch (e) {
      if (e instanceof oauth.ResponseBodyError) return { ok: false, error: e.error, description: e.error_description };
      throw e;
    }
  }
  const tokenOf = (r: Awaited<ReturnType<typeof exchange>>) => {
    if (!r.ok) throw new Error(`exchange refused: ${r.error} ${r.description}`);
    return r.body;
  };
  const post = (c: Creds, body: Record<string, string> | string) => postForm(s.url('/oauth/token'), body, { authorization: basic(c.clientId, c.clientSecret!) });
  const introspect = async (t: string) => (await postForm(s.url('/oauth/introspect'), { token: t }, { authorization: basic(svc1.clientId, svc1.clientSecret!) })).json;
  const ownToken = async (c: Creds) => (await post(c, { grant_type: 'client_credentials', scope: 'api1' })).json.access_token as string;
  /** The password grant for `who`, for the given resources (a token for all of them, RFC 8707). */
  const password = async (who: string, resources: string[], scope = `openid offline_access ${resources.map((r) => (r === API1 ? 'api1' : 'api2')).join(' ')}`) => {
    const body = new URLSearchParams([['grant_type', 'password'], ['username', who], ['password', `${who}-password-123`], ['scope', scope], ...resources.map((r) => ['resource', r])]);
    const r = await post(app, body.toString());
    expect(r.status, r.text).toBe(200);
    return r.json as Record<string, string>;
  };
  /** `who` signs in to the app in a browser session and consents to `scope`: the ID token carries the session's sid. */
  const signedIn = async (who: string, scope: string) => {
    const { session } = await createSession(s.ctx, users[who]!);
    const verifier = 'v'.repeat(50);
    const p = new URLSearchParams({
      response_type: 'code', client_id: app.clientId, redirect_uri: REDIRECT, scope, state: 's', nonce: 'n',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    });
    const a = await authorization({ parameters: p.toString() }, s.ctx);
    const issued = await authorizationIssue({ ticket: a.ticket!, subject: users[who]!, authTime: now / 1000, sid: session.sid }, s.ctx);
    const code = new URL(issued.responseContent as string).searchParams.get('code')!;
    const r = await post(app, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier });
    expect(r.status, r.text).toBe(200);
    return r.json as Record<string, string>;
  };
  const grantOf = async (who: string, scope: string) => (await listUserGrants(s.ctx, users[who]!)).find((g) => g.clientId === app.clientId && g.revokedAt === null && g.scope.join(' ') === scope)!;

  it('RFC 8693 §2.1, RFC 9700 §2.3: an ID token yields only what the grant it was issued from holds (consent to openid alone gives no API scope)', async () => {
    const t = await signedIn('ivy', 'openid');
    const r = await exchange(app, { subject_token: t.id_token!, subject_token_type: IDT, scope: 'api1', resource: API1 });
    expect(r).toMatchObject({ ok: false, error: 'invalid_scope' });
    // With consent to api1, it is there.
    const consented = await signedIn('ivy', 'openid api1');
    expect(tokenOf(await exchange(app, { subject_token: consented.id_token!, subject_token_type: IDT, scope: 'api1', resource: API1 }))).toMatchObject({ scope: 'api1', issued_token_type: AT });
  });

  it('RFC 8693 §2.1: a token exchanged from an ID token joins its grant: revoking the grant revokes it, and the ID token yields nothing more', async () => {
    const t = await signedIn('alice', 'openid api2');
    const x = tokenOf(await exchange(app, { subject_token: t.id_token!, subject_token_type: IDT, resource: API2 }));
    expect(x.scope).toBe('api2');
    expect((await introspect(x.access_token)).active).toBe(true);
    const grant = await grantOf('alice', 'openid api2');
    await revokeUserGrant(s.ctx, users.alice!, grant.id);
    expect((await introspect(x.access_token)).active).toBe(false);
    // The ID token itself is still unexpired and validly signed; its grant is gone.
    expect(await exchange(app, { subject_token: t.id_token!, subject_token_type: IDT, resource: API2 })).toMatchObject({ ok: false, error: 'invalid_request' });
  });

  it('RFC 8693 §2.1, accounts.ts: a disabled user\'s ID token, access and refresh tokens are exchanged for nothing', async () => {
    const t = await signedIn('bob', 'openid offline_access api1');
    const pw = await password('bob', [API1]);
    expect((await exchange(app, { subject_token: t.id_token!, subject_token_type: IDT, resource: API1 })).ok).toBe(true);
    await setDisabled(s.ctx, users.bob!, true);
    try {
      for (const [token, type] of [[t.id_token!, IDT], [pw.access_token!, AT], [pw.refresh_token!, RT]] as const) {
        expect(await exchange(app, { subject_token: token, subject_token_type: type, resource: API1 }), type).toMatchObject({ ok: false, error: 'invalid_request' });
      }
    } finally {
      await setDisabled(s.ctx, users.bob!, false);
    }
  });

  it('RFC 9700 §2.3: a resource server passes on at most what the token it received carries; the client of the grant may have the rest', async () => {
    // Granted api1 and api2; the app narrows a token to API 1 and api1 (RFC 8707 §2.2) and sends it there.
    const pw = await password('ivy', [API1, API2]);
    const narrowed = (await post(app, { grant_type: 'refresh_token', refresh_token: pw.refresh_token!, resource: API1, scope: 'api1' })).json;
    expect(narrowed.scope).toBe('api1');
    expect(await exchange(svc1, { subject_token: narrowed.access_token, subject_token_type: AT, scope: 'api2', resource: API2 })).toMatchObject({ ok: false, error: 'invalid_scope' });
    // Unasked, it gets no token for API 2 either: one without api2 would name an API it holds nothing at (RFC 9068 §2.2.3, LK6007).
    expect(await exchange(svc1, { subject_token: narrowed.access_token, subject_token_type: AT, resource: API2 })).toMatchObject({ ok: false, error: 'invalid_target' });
    // The app, whose grant it is, may trade its own token for api2.
    expect(tokenOf(await exchange(app, { subject_token: narrowed.access_token, subject_token_type: AT, scope: 'api2', resource: API2 })).scope).toBe('api2');
    // And a token exchanged to svc1 from the app's grant is svc1's, yet not of svc1's grant: it stays within itself.
    const both = await password('ivy', [API1, API2]);
    const hop = tokenOf(await exchange(svc1, { subject_token: both.access_token!, subject_token_type: AT, resource: API2 }));
    expect(hop.scope).toBe('api2');
    expect(await exchange(svc1, { subject_token: hop.access_token, subject_token_type: AT, resource: API1, scope: 'api1' })).toMatchObject({ ok: false, error: 'invalid_scope' });
  });

  it('RFC 8693 §2.1: an actor token must be the exchanging client\'s own: another user\'s token it received is refused (no spliced delegation)', async () => {
    const alice = await password('alice', [API1]);
    const bob = await password('bob', [API1]);
    const spliced = await exchange(svc1, { subject_token: alice.access_token!, subject_token_type: AT, actor_token: bob.access_token!, actor_token_type: AT, resource: API1 });
    expect(spliced).toMatchObject({ ok: false, error: 'invalid_request' });
    expect((spliced as { description?: string }).description).toMatch(/actor_token/);
    // Its own client token is the actor it is.
    const own = tokenOf(await exchange(svc1, { subject_token: alice.access_token!, subject_token_type: AT, actor_token: await ownToken(svc1), actor_token_type: AT, resource: API1 }));
    expect(decodeJwt(own.access_token)).toMatchObject({ sub: users.alice, act: { sub: svc1.clientId } });
    // A token svc1 was issued that stands for another client (svc2's own token for API 1, exchanged by svc1) is
    // svc1's, but presenting it as actor would name svc2 as the one acting: refused.
    const svc2AsSubject = tokenOf(await exchange(svc1, { subject_token: await ownToken(svc2), subject_token_type: AT, resource: API1 }));
    expect(decodeJwt(svc2AsSubject.access_token)).toMatchObject({ sub: svc2.clientId, client_id: svc1.clientId });
    expect(await exchange(svc1, { subject_token: alice.access_token!, subject_token_type: AT, actor_token: svc2AsSubject.access_token, actor_token_type: AT, resource: API1 }))
      .toMatchObject({ ok: false, error: 'invalid_request' });
  });

  it('RFC 8693 §4.1: a user of the exchanging client may be the actor; the new token dies with the actor\'s grant as well as the subject\'s', async () => {
    const ivy = await password('ivy', [API1]);
    const bob = await signedIn('bob', 'openid api1'); // Bob signed in to the app itself: his ID token is the app's
    const x = tokenOf(await exchange(app, { subject_token: ivy.access_token!, subject_token_type: AT, actor_token: bob.id_token!, actor_token_type: IDT, resource: API1 }));
    expect(await introspect(x.access_token)).toMatchObject({ active: true, sub: users.ivy, act: { sub: users.bob } });
    // API 1's service exchanges it on: Bob is a prior actor there, and that token depends on his grant as well.
    const hop = tokenOf(await exchange(svc1, { subject_token: x.access_token, subject_token_type: AT, resource: API1 }));
    expect(decodeJwt(hop.access_token)).toMatchObject({ sub: users.ivy, act: { sub: svc1.clientId, act: { sub: users.bob } } });
    await revokeUserGrant(s.ctx, users.bob!, (await grantOf('bob', 'openid api1')).id);
    expect((await introspect(x.access_token)).active).toBe(false);
    expect((await introspect(hop.access_token)).active).toBe(false);
    // And Ivy's own token, exchanged at the same time without Bob, is unaffected.
    expect((await introspect(ivy.access_token!)).active).toBe(true);
  });

  it('OIDC Core §2, RFC 8725 §3.11: a signed UserInfo response (no exp) is not an ID token; nothing is issued from it', async () => {
    const pw = await password('ivy', [API1]);
    const ui = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${pw.access_token}` } });
    expect(ui.headers.get('content-type')).toMatch(/application\/jwt/);
    const signed = await ui.text();
    expect(decodeJwt(signed).exp).toBeUndefined();
    for (const type of [IDT, JWT]) {
      expect(await exchange(app, { subject_token: signed, subject_token_type: type, resource: API1 }), type).toMatchObject({ ok: false, error: 'invalid_request' });
    }
  });

  it('RFC 9700 §4.14.2: a rotated refresh token presented to token exchange revokes its family, as at the refresh grant', async () => {
    const pw = await password('alice', [API1]);
    const rotated = await post(app, { grant_type: 'refresh_token', refresh_token: pw.refresh_token! });
    expect(rotated.status).toBe(200);
    const r = await exchange(app, { subject_token: pw.refresh_token!, subject_token_type: RT, resource: API1 });
    expect(r).toMatchObject({ ok: false, error: 'invalid_request' });
    // The successor is revoked with its family, and so is the access token issued with it.
    const next = await post(app, { grant_type: 'refresh_token', refresh_token: rotated.json.refresh_token });
    expect(next.json.error).toBe('invalid_grant');
    expect((await introspect(rotated.json.access_token)).active).toBe(false);
    // Another client presenting it touches nothing (it is not that client's token).
    const other = await password('alice', [API1]);
    const again = await post(app, { grant_type: 'refresh_token', refresh_token: other.refresh_token! });
    expect((await exchange(svc1, { subject_token: other.refresh_token!, subject_token_type: AT })).ok).toBe(false);
    expect((await post(app, { grant_type: 'refresh_token', refresh_token: again.json.refresh_token })).status).toBe(200);
  });

  it('RFC 8693 §4.1: impersonating a delegated token makes the requesting client the current actor (the prior chain nested), never the prior actor', async () => {
    const pw = await password('ivy', [API1, API2]);
    const hop1 = tokenOf(await exchange(svc1, { subject_token: pw.access_token!, subject_token_type: AT, actor_token: await ownToken(svc1), actor_token_type: AT, resource: API2 }));
    expect(decodeJwt(hop1.access_token).act).toEqual({ sub: svc1.clientId });
    // svc2 receives it at API 2 and exchanges it without an actor_token.
    const hop2 = tokenOf(await exchange(svc2, { subject_token: hop1.access_token, subject_token_type: AT, resource: API2 }));
    expect(decodeJwt(hop2.access_token)).toMatchObject({ sub: users.ivy, client_id: svc2.clientId, act: { sub: svc2.clientId, act: { sub: svc1.clientId } } });
    expect(await introspect(hop2.access_token)).toMatchObject({ active: true, act: { sub: svc2.clientId, act: { sub: svc1.clientId } } });
    // svc1 re-targeting its own delegated token: it is still the current actor, the chain unchanged.
    const again = tokenOf(await exchange(svc1, { subject_token: hop1.access_token, subject_token_type: AT, resource: API2 }));
    expect(decodeJwt(again.access_token).act).toEqual({ sub: svc1.clientId });
  });
});
