import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { createHash } from 'node:crypto';
import { startResourceServer, type TestResourceServer } from '../helpers/resource-server.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { validateClientMetadata } from '../../src/engine/client-metadata.js';
import { OAuthError } from '../../src/engine/errors.js';
import { authorization, authorizationIssue } from '../../src/engine/authorization/index.js';
import { registerResourceServer } from '../../src/services/resources.js';
import { createSession } from '../../src/ui/session.js';

type Creds = { clientId: string; clientSecret?: string };
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const RT = 'urn:ietf:params:oauth:token-type:refresh_token';
const IDT = 'urn:ietf:params:oauth:token-type:id_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const API1 = 'https://api1.example/';
const API2 = 'https://api2.example/';
const API3 = 'https://api3.example/';
const REDIRECT = 'https://app.example/cb';

describe('token exchange (RFC 8693)', () => {
  let s: TestServer;
  let now = Date.UTC(2032, 0, 1);
  let app: Creds; // the user's application: code flow, password grant, and exchanges of its own tokens
  let svc1: Creds; // API 1's service: accepts tokens for API 1, impersonation and delegation
  let svc2: Creds; // API 2's service: accepts tokens for API 2, delegation only (the default)
  let strict: Creds; // default policy: its own access tokens, delegation only
  let noDelegation: Creds;
  let api3: TestResourceServer;
  let ivySub: string;

  beforeAll(async () => {
    s = await startTestServer({}, { clock: () => now });
    await registerResourceServer(s.ctx, { identifier: API1, scope: 'api1' });
    await registerResourceServer(s.ctx, { identifier: API2, scope: 'api2' });
    await registerResourceServer(s.ctx, { identifier: API3, scope: 'api3', access_token_format: 'jwt' });
    app = await s.client({
      grant_types: ['authorization_code', 'password', 'refresh_token', GRANT], insecure_password_grant: true, scope: 'openid offline_access api1 api2 api3',
      redirect_uris: [REDIRECT],
      token_exchange: { subject_token_types: [AT, RT, IDT, JWT], impersonation: true },
    });
    svc1 = await s.client({
      grant_types: ['client_credentials', GRANT], scope: 'api1 api2 api3 svc', access_token_format: 'jwt',
      token_exchange: { subject_token_types: [AT, JWT], actor_token_types: [AT], subject_token_audiences: [API1], impersonation: true, delegation: true },
    });
    svc2 = await s.client({
      grant_types: ['client_credentials', GRANT], scope: 'api1 api2 api3 svc', resources: [API2, API3],
      token_exchange: { subject_token_types: [AT, JWT], subject_token_audiences: [API2] },
    });
    strict = await s.client({ grant_types: ['client_credentials', GRANT], scope: 'api1 api2' });
    noDelegation = await s.client({ grant_types: ['client_credentials', GRANT], scope: 'api1 api2', token_exchange: { subject_token_audiences: [API1], impersonation: true, delegation: false } });
    ivySub = await s.user('ivy', 'ivy-password');
    api3 = await startResourceServer(s.issuer, API3);
  });
  afterAll(async () => {
    await api3.close();
    await s.close();
  });

  const post = (c: Creds, body: Record<string, string>) => postForm(s.url('/oauth/token'), body, { authorization: basic(c.clientId, c.clientSecret!) });
  const exchange = (c: Creds, body: Record<string, string>) => post(c, { grant_type: GRANT, ...body });
  const introspect = (tok: string) => postForm(s.url('/oauth/introspect'), { token: tok }, { authorization: basic(svc1.clientId, svc1.clientSecret!) });
  /**
   * Ivy signs in to the app, granting it `scope` for APIs 1 and 2 (and 3 when asked); the app then refreshes
   * for a token at `resource` only (RFC 8707 §2.2; several: a token for each of them), with an ID token (no sid: the
   * password grant has no session) and a refresh token.
   */
  const userTokens = async (resource: string | string[] = API1, scope = 'openid offline_access api1 api2') => {
    const resources = [API1, API2, ...(scope.includes('api3') ? [API3] : [])];
    const body = new URLSearchParams([['grant_type', 'password'], ['username', 'ivy'], ['password', 'ivy-password'], ['scope', scope], ...resources.map((r) => ['resource', r])]);
    const first = await postForm(s.url('/oauth/token'), body.toString(), { authorization: basic(app.clientId, app.clientSecret!) });
    expect(first.status, first.text).toBe(200);
    const refresh = new URLSearchParams([['grant_type', 'refresh_token'], ['refresh_token', first.json.refresh_token], ...[resource].flat().map((r) => ['resource', r])]);
    const r = await postForm(s.url('/oauth/token'), refresh.toString(), { authorization: basic(app.clientId, app.clientSecret!) });
    expect(r.status, r.text).toBe(200);
    return r.json;
  };
  /**
   * Ivy signs in to the app in a browser session (the authorization endpoint's two steps, as the built-in pages call
   * them) and the app redeems the code over HTTP: the ID token carries the session's sid, which leads to the grant.
   */
  const signedIn = async (scope = 'openid offline_access api1 api2', sid?: string) => {
    sid ??= (await createSession(s.ctx, ivySub)).session.sid;
    const verifier = 'v'.repeat(50);
    const p = new URLSearchParams({
      response_type: 'code', client_id: app.clientId, redirect_uri: REDIRECT, scope, state: 's', nonce: 'n',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    });
    const a = await authorization({ parameters: p.toString() }, s.ctx);
    expect(a.ticket, a.resultMessage).toBeTruthy();
    const issued = await authorizationIssue({ ticket: a.ticket!, subject: ivySub, authTime: Math.floor(now / 1000), sid }, s.ctx);
    const code = new URL(issued.responseContent as string).searchParams.get('code')!;
    const r = await post(app, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier });
    expect(r.status, r.text).toBe(200);
    return { ...r.json, sid } as Record<string, string>;
  };
  const ownToken = async (c: Creds) => (await post(c, { grant_type: 'client_credentials', scope: 'svc' })).json.access_token as string;

  it('RFC 8414 §2: discovery lists the token-exchange grant', async () => {
    const d = await (await fetch(s.url('/.well-known/openid-configuration'))).json();
    expect(d.grant_types_supported).toContain(GRANT);
  });

  it('RFC 8693 §2.2.1: impersonation: API 1 trades the user\'s token for one at API 2 (issued_token_type, no act)', async () => {
    const user = await userTokens([API1, API2]); // the app's token for both APIs: API 1 may pass on its api2 part
    const r = await exchange(svc1, { subject_token: user.access_token, subject_token_type: AT, resource: API2 });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ issued_token_type: AT, token_type: 'Bearer', scope: 'api2' });
    const claims = decodeJwt(r.json.access_token);
    expect(claims).toMatchObject({ sub: ivySub, aud: API2, client_id: svc1.clientId, scope: 'api2' });
    expect(claims.act).toBeUndefined();
    // RFC 8693: never longer-lived than the token it came from.
    expect(claims.exp!).toBeLessThanOrEqual(decodeJwt(user.id_token).exp! + 3600);
  });

  it('RFC 8693 §4.1: delegation: with an actor token, the new token says who acts (act.sub)', async () => {
    const user = await userTokens([API1, API2]);
    const r = await exchange(svc1, { subject_token: user.access_token, subject_token_type: AT, actor_token: await ownToken(svc1), actor_token_type: AT, audience: API2 });
    expect(r.status, r.text).toBe(200);
    const claims = decodeJwt(r.json.access_token);
    expect(claims).toMatchObject({ sub: ivySub, aud: API2, scope: 'api2', act: { sub: svc1.clientId } });
    expect((await introspect(r.json.access_token)).json).toMatchObject({ active: true, sub: ivySub, act: { sub: svc1.clientId } });
  });

  it('RFC 8693 §4.1: an exchanged token exchanged again nests the prior actor; a resource server validates the result', async () => {
    // RFC 9700 §2.3: each hop passes on at most what it received, so the app's token carries the whole journey.
    const user = await userTokens([API1, API2, API3], 'openid offline_access api1 api2 api3');
    // Hop 1: API 1's service calls API 2 for Ivy, with what API 2 needs to call API 3.
    const hop1body = new URLSearchParams([
      ['grant_type', GRANT], ['subject_token', user.access_token], ['subject_token_type', AT], ['actor_token', await ownToken(svc1)], ['actor_token_type', AT],
      ['resource', API2], ['resource', API3],
    ]);
    const hop1 = await postForm(s.url('/oauth/token'), hop1body.toString(), { authorization: basic(svc1.clientId, svc1.clientSecret!) });
    expect(hop1.status, hop1.text).toBe(200);
    expect(decodeJwt(hop1.json.access_token)).toMatchObject({ aud: [API2, API3], scope: 'api2 api3', act: { sub: svc1.clientId } });
    // Hop 2: API 2's service calls API 3 with the token it received, as a JWT.
    const hop2 = await exchange(svc2, {
      subject_token: hop1.json.access_token, subject_token_type: JWT, actor_token: await ownToken(svc2), actor_token_type: AT,
      resource: API3, requested_token_type: JWT,
    });
    expect(hop2.status, hop2.text).toBe(200);
    expect(hop2.json).toMatchObject({ issued_token_type: JWT, scope: 'api3' });
    const res = await api3.call(hop2.json.access_token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.claims).toMatchObject({ sub: ivySub, aud: API3, client_id: svc2.clientId, act: { sub: svc2.clientId, act: { sub: svc1.clientId } } });
    // Hop 3: and once more; introspection shows the whole chain, newest actor outermost.
    const hop3 = await exchange(svc2, { subject_token: hop2.json.access_token, subject_token_type: AT, actor_token: await ownToken(svc2), actor_token_type: AT, resource: API3 });
    expect(hop3.status, hop3.text).toBe(200);
    expect((await introspect(hop3.json.access_token)).json).toMatchObject({
      active: true, sub: ivySub, aud: API3, scope: 'api3', act: { sub: svc2.clientId, act: { sub: svc2.clientId, act: { sub: svc1.clientId } } },
    });
  });

  it('RFC 8693 §2.1: the new token never exceeds what the user granted, nor what the exchanging client may hold', async () => {
    const user = await userTokens([API1, API2]); // granted api1 and api2, not api3
    const hop1 = await exchange(svc1, { subject_token: user.access_token, subject_token_type: AT, actor_token: await ownToken(svc1), actor_token_type: AT, resource: API2 });
    const r = await exchange(svc2, { subject_token: hop1.json.access_token, subject_token_type: AT, actor_token: await ownToken(svc2), actor_token_type: AT, resource: API3, scope: 'api3' });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('invalid_scope');
    // noDelegation is not registered for api3, even when the user granted it and the token carries it.
    const wide = await userTokens([API1, API3], 'openid offline_access api1 api2 api3');
    expect(decodeJwt(wide.access_token).scope).toContain('api3');
    const w = await exchange(noDelegation, { subject_token: wide.access_token, subject_token_type: AT, resource: API3, scope: 'api3' });
    expect(w.json.error).toBe('invalid_scope');
  });

  it('RFC 8693 §2.1: a JWT asked for with requested_token_type jwt is validated by the target resource server', async () => {
    const user = await userTokens(API3, 'api3');
    const r = await exchange(app, { subject_token: user.access_token, subject_token_type: AT, resource: API3, requested_token_type: JWT });
    expect(r.status, r.text).toBe(200);
    const res = await api3.call(r.json.access_token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.claims).toMatchObject({ sub: ivySub, aud: API3, client_id: app.clientId });
  });

  it('RFC 7519 §4.1.7: a JWT access token\'s jti is no subject_token; the JWT itself is', async () => {
    const user = await userTokens(API3, 'api3');
    const jti = decodeJwt(user.access_token).jti as string;
    expect(typeof jti).toBe('string');
    const refused = await exchange(app, { subject_token: jti, subject_token_type: AT, resource: API3 });
    expect(refused.status, refused.text).toBe(400);
    expect(refused.json.error).toBe('invalid_request');
    expect((await exchange(app, { subject_token: user.access_token, subject_token_type: AT, resource: API3 })).status).toBe(200);
  });

  it('RFC 8693 §3: the app exchanges its refresh token and its ID token; an ID token yields what its grant allows, nothing more', async () => {
    const user = await userTokens(API1, 'openid offline_access api1 api2');
    const fromRt = await exchange(app, { subject_token: user.refresh_token, subject_token_type: RT, resource: API2 });
    expect(fromRt.status, fromRt.text).toBe(200);
    expect(fromRt.json.scope).toBe('api2');
    // The ID token of a sign-in (its sid leads to the grant): what that grant holds, api2 not among it.
    const web = await signedIn('openid api1');
    const fromIdt = await exchange(app, { subject_token: web.id_token!, subject_token_type: IDT, resource: API1 });
    expect(fromIdt.status, fromIdt.text).toBe(200);
    expect(fromIdt.json.scope).toBe('api1');
    expect((await introspect(fromIdt.json.access_token)).json).toMatchObject({ active: true, sub: ivySub, aud: API1 });
    expect((await exchange(app, { subject_token: web.id_token!, subject_token_type: IDT, resource: API2, scope: 'api2' })).json.error).toBe('invalid_scope');
    // Within the grant, OpenID scopes too, when asked for (as for the client's own access and refresh tokens).
    expect((await exchange(app, { subject_token: web.id_token!, subject_token_type: IDT, scope: 'openid' })).json.scope).toBe('openid');
    // The jwt type takes an ID token too.
    expect((await exchange(app, { subject_token: web.id_token!, subject_token_type: JWT, resource: API1 })).status).toBe(200);
    // The password grant's ID token has no sid: nothing leads to its grant, so it is refused.
    const noSid = await exchange(app, { subject_token: user.id_token, subject_token_type: IDT, resource: API1 });
    expect(noSid.status).toBe(400);
    expect(noSid.json.error).toBe('invalid_request');
  });

  it('RFC 8693 §2.2.2: tokens the policy does not accept are invalid_request', async () => {
    const user = await userTokens();
    const cases: [Creds, Record<string, string>, RegExp][] = [
      // subject_token_type not allowed for this client (default policy: access tokens only)
      [strict, { subject_token: user.id_token, subject_token_type: IDT }, /subject_token_type/],
      // unknown token type
      [svc1, { subject_token: user.access_token, subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' }, /subject_token_type/],
      // the user's token is for API 1, and strict lists no subject_token_audiences
      [strict, { subject_token: user.access_token, subject_token_type: AT, actor_token: await ownToken(strict), actor_token_type: AT }, /subject_token is invalid/],
      // impersonation not allowed (no actor_token) for strict
      [strict, { subject_token: await ownToken(strict), subject_token_type: AT }, /only with an actor_token/],
      // delegation not allowed for noDelegation
      [noDelegation, { subject_token: user.access_token, subject_token_type: AT, actor_token: await ownToken(noDelegation), actor_token_type: AT }, /may not use an actor_token/],
      // a refresh token of another client
      [svc1, { subject_token: user.refresh_token, subject_token_type: AT }, /subject_token is invalid/],
      // the type does not match the token
      [app, { subject_token: user.access_token, subject_token_type: RT }, /subject_token is invalid/],
      // an ID token issued to another client
      [svc1, { subject_token: user.id_token, subject_token_type: JWT }, /subject_token is invalid/],
      // garbage
      [svc1, { subject_token: 'not-a-token', subject_token_type: AT }, /subject_token is invalid/],
      // an actor token that is not one of ours, or revoked
      [svc1, { subject_token: user.access_token, subject_token_type: AT, actor_token: 'not-a-token', actor_token_type: AT }, /actor_token is invalid/],
      // actor_token without its type, and the type without the token
      [svc1, { subject_token: user.access_token, subject_token_type: AT, actor_token: user.access_token }, /go together|sent together/],
      [svc1, { subject_token: user.access_token, subject_token_type: AT, actor_token_type: AT }, /sent together/],
      // a token type we cannot issue
      [svc1, { subject_token: user.access_token, subject_token_type: AT, requested_token_type: RT }, /requested_token_type/],
      // missing subject_token
      [svc1, { subject_token_type: AT }, /subject_token/],
    ];
    for (const [c, body, why] of cases) {
      const r = await exchange(c, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error, JSON.stringify(body)).toBe('invalid_request');
      expect(r.json.error_description, JSON.stringify(body)).toMatch(why);
    }
  });

  it('RFC 8693 §2.2.2: a target the client may not have is invalid_target', async () => {
    const user = await userTokens();
    expect((await exchange(svc1, { subject_token: user.access_token, subject_token_type: AT, audience: 'https://unknown.example/' })).json.error).toBe('invalid_target');
    expect((await exchange(svc1, { subject_token: user.access_token, subject_token_type: AT, audience: 'api2' })).json.error).toBe('invalid_target');
    expect((await exchange(svc1, { subject_token: user.access_token, subject_token_type: AT, resource: 'https://api2.example/#x' })).json.error).toBe('invalid_target');
    // svc2's resources allow-list has no API 1.
    const both = await userTokens([API1, API2]);
    const w = await exchange(svc1, { subject_token: both.access_token, subject_token_type: AT, actor_token: await ownToken(svc1), actor_token_type: AT, resource: API2 });
    expect(w.status, w.text).toBe(200);
    // RFC 9068 §2.2.3: a token for API 2 needs some api2 scope; an API 1 token carries none (resources.ts LK6007).
    expect((await exchange(svc1, { subject_token: user.access_token, subject_token_type: AT, resource: API2 })).json).toMatchObject({ error: 'invalid_target' });
    expect((await exchange(svc2, { subject_token: w.json.access_token, subject_token_type: AT, actor_token: await ownToken(svc2), actor_token_type: AT, resource: API1 })).json.error).toBe('invalid_target');
  });

  it('RFC 8693 §2.2.2: revoked and expired subject tokens are refused; revoking the user\'s grant revokes what was exchanged from it', async () => {
    const user = await userTokens([API1, API2]);
    const r = await exchange(svc1, { subject_token: user.access_token, subject_token_type: AT, resource: API2 });
    expect((await introspect(r.json.access_token)).json.active).toBe(true);
    await postForm(s.url('/oauth/revoke'), { token: user.refresh_token }, { authorization: basic(app.clientId, app.clientSecret!) });
    expect((await introspect(r.json.access_token)).json.active).toBe(false);
    expect((await exchange(svc1, { subject_token: user.access_token, subject_token_type: AT })).json.error).toBe('invalid_request');
    const later = await userTokens();
    const web = await signedIn('openid api1');
    expect((await exchange(app, { subject_token: web.id_token!, subject_token_type: IDT })).status).toBe(200);
    now += 3601 * 1000;
    try {
      expect((await exchange(svc1, { subject_token: later.access_token, subject_token_type: AT })).json.error).toBe('invalid_request');
      expect((await exchange(app, { subject_token: web.id_token!, subject_token_type: IDT })).json.error).toBe('invalid_request');
    } finally {
      now -= 3601 * 1000;
    }
  });

  it('client metadata: the grant needs a confidential client and a policy that allows something', () => {
    expect(() => validateClientMetadata({ grant_types: [GRANT], token_endpoint_auth_method: 'none' })).toThrow(OAuthError);
    expect(() => validateClientMetadata({ grant_types: [GRANT], token_exchange: { delegation: false, impersonation: false } })).toThrow(OAuthError);
    expect(() => validateClientMetadata({ grant_types: [GRANT], token_exchange: { subject_token_types: ['urn:x'] } })).toThrow(OAuthError);
    expect(() => validateClientMetadata({ grant_types: ['client_credentials'], token_exchange: {} })).toThrow(OAuthError);
    expect(validateClientMetadata({ grant_types: [GRANT] }).metadata.tokenExchange).toEqual({
      subjectTokenTypes: [AT], actorTokenTypes: [AT], subjectTokenAudiences: [], delegation: true, impersonation: false,
    });
  });

  it('RFC 7591: a dynamically registering client cannot set up token exchange, the password grant or its own lifetimes', () => {
    const dynamic = { dynamic: { allowedScopes: ['openid'] } };
    expect(() => validateClientMetadata({ grant_types: [GRANT] }, dynamic)).toThrow(OAuthError);
    // Operator-only fields are dropped from a dynamic registration (RFC 7591 §2: the server MAY ignore metadata).
    expect(() => validateClientMetadata({ grant_types: ['password'], insecure_password_grant: true, redirect_uris: [] }, dynamic)).toThrow(/insecure_password_grant/);
    const m = validateClientMetadata({ redirect_uris: ['https://rp.example/cb'], access_token_lifetime: 999_999, refresh_token_rotation: false, resources: [API1] }, dynamic).metadata;
    expect(m.accessTokenLifetime).toBeUndefined();
    expect(m.refreshTokenRotation).toBeUndefined();
    expect(m.resources).toEqual([API1]); // narrowing itself is the client's own business
  });

  it('RFC 6749 §5.2: a client without the grant is unauthorized_client', async () => {
    const cc = await s.client({ grant_types: ['client_credentials'], scope: 'api1' });
    const r = await exchange(cc, { subject_token: 'x', subject_token_type: AT });
    expect(r.json.error).toBe('unauthorized_client');
  });
});
