import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { setDisabled } from '../../src/services/users.js';
import { Agent } from '../helpers/agent.js';
import { core } from '../helpers/core-api.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CIBA = 'urn:openid:params:grant-type:ciba';

/** A loopback receiver for pings and announcements: every POST it got, answered 204. */
async function receiver() {
  const got: { path: string; headers: Record<string, string | string[] | undefined>; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ path: req.url ?? '', headers: req.headers, body });
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  /** The first POST to path (whose body passes `match`), waiting for it: notifications are not awaited by the server. */
  const next = async (path: string, match: (body: string) => boolean = () => true) => {
    for (let i = 0; i < 100; i++) {
      const hit = got.find((g) => g.path === path && match(g.body));
      if (hit) {
        got.splice(got.indexOf(hit), 1);
        return hit;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`nothing was posted to ${path}`);
  };
  return { base, got, next, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** An announcement's body is a JWT: one for this user (and binding message, when given). */
const about = (sub: string, bindingMessage?: string) => (body: string) => {
  const p = decodeJwt(body);
  return p.sub === sub && (bindingMessage === undefined || p.binding_message === bindingMessage);
};

describe('OpenID CIBA Core 1.0 through HTTP: poll and ping modes, the /ciba page, announcements and the Core API', () => {
  let s: TestServer;
  let rx: Awaited<ReturnType<typeof receiver>>;
  let poller: { clientId: string; clientSecret?: string };
  let pinger: { clientId: string; clientSecret?: string };
  let other: { clientId: string; clientSecret?: string };
  let alice: string;
  let service: string;

  beforeAll(async () => {
    rx = await receiver();
    s = await startTestServer({ cibaPollInterval: 1, cibaNotifyUrl: `${rx.base}/announce`, insecureAllowHttpJwksUri: true });
    poller = await s.client({ client_name: 'Call Centre', grant_types: [CIBA, 'refresh_token'], backchannel_token_delivery_mode: 'poll', scope: 'openid profile offline_access' });
    pinger = await s.client({
      client_name: 'Kiosk', grant_types: [CIBA], backchannel_token_delivery_mode: 'ping', backchannel_client_notification_endpoint: `${rx.base}/ping`, scope: 'openid profile',
    });
    other = await s.client({ grant_types: ['client_credentials'], scope: 'openid' });
    alice = await s.user('alice', 'alice-password', { name: 'Alice' });
    await s.user('bob', 'bob-password', { name: 'Bob' });
    service = (await createServiceToken(s.lk, { serviceId: 'default', name: 'authentication device' })).token;
  });
  // Each test reads the announcements and pings of its own requests.
  beforeEach(() => {
    rx.got.length = 0;
  });
  afterAll(async () => {
    await s.close();
    await rx.close();
  });

  const start = (c: { clientId: string; clientSecret?: string }, params: Record<string, string>) =>
    postForm(s.url('/oauth/bc-authorize'), params, { authorization: basic(c.clientId, c.clientSecret!) });
  const redeem = (c: { clientId: string; clientSecret?: string }, authReqId: string) =>
    postForm(s.url('/oauth/token'), { grant_type: CIBA, auth_req_id: authReqId }, { authorization: basic(c.clientId, c.clientSecret!) });
  /** Sign in on /ciba as a user and return the page listing their requests. */
  const signedIn = async (username: string) => {
    const agent = new Agent(s.issuer);
    const login = await agent.follow('/ciba');
    expect(login.html).toContain('sign-in requests waiting for you');
    const page = await agent.follow(Agent.formAction(login.html, '/ciba/login'), {
      form: { csrf: Agent.formValue(login.html, 'csrf')!, username, password: `${username}-password` },
    });
    expect(page.status).toBe(200);
    return { agent, page, csrf: Agent.formValue(login.html, 'csrf')! };
  };
  /** Allow or deny the request shown with this binding message on the signed-in user's page. */
  const decide = async (agent: Agent, html: string, bindingMessage: string, decision: 'approve' | 'deny') => {
    // Matched on the message's own element: a random csrf or request value can contain the text "D0".
    const section = html.split('<section class="ciba-request">').find((p) => p.includes(`<strong class="binding-message">${bindingMessage}</strong>`));
    expect(section, `a request showing ${bindingMessage}`).toBeDefined();
    return agent.follow('/ciba', { form: { csrf: Agent.formValue(section!, 'csrf')!, request: Agent.formValue(section!, 'request')!, decision } });
  };

  it('CIBA Core §4: discovery advertises the endpoint, the poll and ping modes and the grant; no user codes, no signed requests', async () => {
    const d = (await (await fetch(s.url('/.well-known/openid-configuration'))).json()) as Record<string, unknown>;
    expect(d.backchannel_authentication_endpoint).toBe(s.url('/oauth/bc-authorize'));
    expect(d.backchannel_token_delivery_modes_supported).toEqual(['poll', 'ping']);
    expect(d.backchannel_user_code_parameter_supported).toBe(false);
    expect(d).not.toHaveProperty('backchannel_authentication_request_signing_alg_values_supported');
    expect(d.grant_types_supported).toContain(CIBA);
  });

  it('poll mode with openid-client: pending until the user allows it on /ciba (binding message shown), then tokens and an ID token for that user', async () => {
    const config = await client.discovery(new URL(s.issuer), poller.clientId, undefined, client.ClientSecretBasic(poller.clientSecret!), { execute: [client.allowInsecureRequests] });
    const started = await client.initiateBackchannelAuthentication(config, { scope: 'openid profile offline_access', login_hint: 'alice', binding_message: 'W4SCT' });
    expect(started.expires_in).toBe(300);
    expect(started.interval).toBe(1);
    expect(started.auth_req_id.length).toBeGreaterThanOrEqual(22); // ≥ 128 bits
    const early = await redeem(poller, started.auth_req_id);
    expect(early.status).toBe(400);
    expect(early.json.error).toBe('authorization_pending');

    const { agent, page } = await signedIn('alice');
    expect(page.html).toContain('<bdi>Call Centre</bdi> asks you to sign in');
    expect(page.html).toContain('<strong class="binding-message">W4SCT</strong>');
    const done = await decide(agent, page.html, 'W4SCT', 'approve');
    expect(done.html).toContain('Sign-in allowed');

    const tokens = await client.pollBackchannelAuthenticationGrant(config, started);
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeTruthy(); // offline_access, and the client has the refresh_token grant
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(alice);
    expect(claims.aud).toBe(poller.clientId);
    expect(claims).not.toHaveProperty('sid'); // the phone's browser session is not the client's
    const info = await client.fetchUserInfo(config, tokens.access_token, alice);
    expect(info.name).toBe('Alice');
    // Decided: no longer listed.
    expect((await agent.follow('/ciba')).html).toContain('There is nothing waiting for you');
  });

  it('CIBA Core §11: denied on the page is access_denied; polling too fast is slow_down', async () => {
    const started = await start(poller, { scope: 'openid', login_hint: 'alice', binding_message: 'DENY-ME' });
    expect(started.status, started.text).toBe(200);
    const first = await redeem(poller, started.json.auth_req_id);
    expect(first.json.error).toBe('authorization_pending');
    const fast = await redeem(poller, started.json.auth_req_id);
    expect(fast.json.error).toBe('slow_down');
    const { agent, page } = await signedIn('alice');
    expect((await decide(agent, page.html, 'DENY-ME', 'deny')).html).toContain('Request denied');
    const denied = await redeem(poller, started.json.auth_req_id);
    expect(denied.status).toBe(400);
    expect(denied.json.error).toBe('access_denied');
  });

  it('a request is listed, and decided, only for the user it names; another client cannot redeem it', async () => {
    const started = await start(poller, { scope: 'openid', login_hint: 'alice', binding_message: 'ALICE-ONLY' });
    const mine = await signedIn('alice');
    const bob = await signedIn('bob');
    expect(bob.page.html).not.toContain('ALICE-ONLY');
    // Bob posts Alice's request handle with his own page's CSRF token.
    const section = mine.page.html.split('<section class="ciba-request">').find((p) => p.includes('ALICE-ONLY'))!;
    const attempt = await bob.agent.follow('/ciba', { form: { csrf: bob.csrf, request: Agent.formValue(section, 'request')!, decision: 'approve' } });
    expect(attempt.status).toBe(400);
    expect(attempt.html).toContain('no longer waiting for you');
    expect((await redeem(poller, started.json.auth_req_id)).json.error).toBe('authorization_pending');
    // Without the page's CSRF token nothing is decided.
    const forged = await mine.agent.follow('/ciba', { form: { request: Agent.formValue(section, 'request')!, decision: 'approve' } });
    expect(forged.status).toBe(403);
    // The pinger is another CIBA client: the auth_req_id is not its.
    const stolen = await redeem(pinger, started.json.auth_req_id);
    expect(stolen.json.error).toBe('invalid_grant');
  });

  it('the announcement at cibaNotifyUrl is a JWT signed with the issuer\'s keys; the Core API decides with its ticket; a redeemed auth_req_id used again revokes its tokens', async () => {
    const started = await start(poller, { scope: 'openid profile', login_hint: 'alice', binding_message: 'CORE-API', acr_values: 'urn:example:strong' });
    expect(started.status, started.text).toBe(200);
    const posted = await rx.next('/announce', about(alice, 'CORE-API'));
    expect(posted.headers['content-type']).toBe('application/jwt');
    const { payload, protectedHeader } = await jwtVerify(posted.body, createRemoteJWKSet(new URL(s.url('/.well-known/jwks.json'))), {
      issuer: s.issuer, audience: `${rx.base}/announce`, typ: 'latchkey-ciba-request+jwt',
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toMatchObject({ sub: alice, username: 'alice', client_id: poller.clientId, client_name: 'Call Centre', scope: 'openid profile', binding_message: 'CORE-API', acr_values: 'urn:example:strong', approval_uri: s.url('/ciba') });
    expect(payload).not.toHaveProperty('auth_req_id'); // the client's, not the device's
    const ticket = payload.ticket as string;
    // Not for another user.
    const wrong = await core(s, 'default', 'backchannel/complete', { ticket, result: 'AUTHORIZED', subject: 'someone-else' }, service);
    expect(wrong.json.action).toBe('NOT_EXIST');
    const done = await core(s, 'default', 'backchannel/complete', { ticket, result: 'AUTHORIZED', subject: alice, acr: 'urn:example:strong', amr: ['hwk'] }, service);
    expect(done.json.action, done.text).toBe('SUCCESS');
    const again = await core(s, 'default', 'backchannel/complete', { ticket, result: 'ACCESS_DENIED' }, service);
    expect(again.json.action).toBe('NOT_EXIST'); // decided once
    const tokens = await redeem(poller, started.json.auth_req_id);
    expect(tokens.status, tokens.text).toBe(200);
    expect(decodeJwt(tokens.json.id_token)).toMatchObject({ sub: alice, acr: 'urn:example:strong', amr: ['hwk'] });
    const reused = await redeem(poller, started.json.auth_req_id);
    expect(reused.status).toBe(400);
    expect(reused.json.error).toBe('invalid_grant');
    const introspected = await postForm(s.url('/oauth/introspect'), { token: tokens.json.access_token }, { authorization: basic(poller.clientId, poller.clientSecret!) });
    expect(introspected.json.active).toBe(false);
  });

  it('ping mode (CIBA Core §10.2): the client\'s notification endpoint gets its bearer token and {auth_req_id} once the user decides; then the token endpoint answers', async () => {
    const missing = await start(pinger, { scope: 'openid', login_hint: 'alice' });
    expect(missing.status).toBe(400);
    expect(missing.json.error).toBe('invalid_request');
    expect(missing.json.error_description).toContain('client_notification_token');
    const started = await start(pinger, { scope: 'openid', login_hint: 'alice', binding_message: 'PING', client_notification_token: 'ping-secret-8e1f0c2d9a7b' });
    expect(started.status, started.text).toBe(200);
    const { agent, page } = await signedIn('alice');
    await decide(agent, page.html, 'PING', 'approve');
    const ping = await rx.next('/ping');
    expect(ping.headers.authorization).toBe('Bearer ping-secret-8e1f0c2d9a7b');
    expect(ping.headers['content-type']).toBe('application/json');
    expect(JSON.parse(ping.body)).toEqual({ auth_req_id: started.json.auth_req_id });
    const tokens = await redeem(pinger, started.json.auth_req_id);
    expect(tokens.status, tokens.text).toBe(200);
    expect(decodeJwt(tokens.json.id_token).sub).toBe(alice);
    // A denial is pinged too; the token endpoint then says access_denied.
    const second = await start(pinger, { scope: 'openid', login_hint: 'alice', binding_message: 'PING-2', client_notification_token: 'ping-secret-2' });
    const page2 = await signedIn('alice');
    await decide(page2.agent, page2.page.html, 'PING-2', 'deny');
    expect(JSON.parse((await rx.next('/ping')).body)).toEqual({ auth_req_id: second.json.auth_req_id });
    expect((await redeem(pinger, second.json.auth_req_id)).json.error).toBe('access_denied');
  });

  it('id_token_hint names the user; requested_expiry shortens the request\'s lifetime, never lengthens it', async () => {
    const first = await start(poller, { scope: 'openid', login_hint: 'alice', binding_message: 'HINT-1' });
    const a = await core(s, 'default', 'backchannel/complete', { ticket: decodeJwt((await rx.next('/announce', about(alice, 'HINT-1'))).body).ticket as string, result: 'AUTHORIZED' }, service);
    expect(a.json.action).toBe('SUCCESS');
    const idToken = (await redeem(poller, first.json.auth_req_id)).json.id_token as string;
    const hinted = await start(poller, { scope: 'openid', id_token_hint: idToken, requested_expiry: '60', binding_message: 'HINT-2' });
    expect(hinted.status, hinted.text).toBe(200);
    expect(hinted.json.expires_in).toBe(60);
    expect(decodeJwt((await rx.next('/announce', about(alice, 'HINT-2'))).body).sub).toBe(alice);
    const long = await start(poller, { scope: 'openid', login_hint: 'alice', requested_expiry: '86400' });
    expect(long.json.expires_in).toBe(300);
  });

  it('CIBA Core §13: each malformed request gets its error, and nothing is stored', async () => {
    const pendingOf = async () => (await s.ctx.store.listPendingDeviceCodesOf(s.ctx.tenant.id, alice, Math.floor(Date.now() / 1000), 100)).length;
    const before = await pendingOf();
    const cases: [Record<string, string>, string, string?][] = [
      [{ scope: 'openid' }, 'invalid_request', 'exactly one of'],
      [{ scope: 'openid', login_hint: 'alice', id_token_hint: 'x' }, 'invalid_request', 'exactly one of'],
      [{ scope: 'openid', login_hint_token: 'x' }, 'invalid_request', 'login_hint_token is not supported'],
      [{ scope: 'openid', id_token_hint: 'not-a-jwt' }, 'invalid_request', 'id_token_hint'],
      [{ scope: 'openid', login_hint: 'nobody' }, 'unknown_user_id'],
      [{ scope: 'profile', login_hint: 'alice' }, 'invalid_scope', 'openid'],
      [{ login_hint: 'alice' }, 'invalid_scope', 'openid'],
      [{ scope: 'openid', login_hint: 'alice', binding_message: 'x'.repeat(101) }, 'invalid_binding_message'],
      [{ scope: 'openid', login_hint: 'alice', binding_message: 'line\nbreak' }, 'invalid_binding_message'],
      [{ scope: 'openid', login_hint: 'alice', requested_expiry: '0' }, 'invalid_request', 'requested_expiry'],
      [{ scope: 'openid', login_hint: 'alice', requested_expiry: '1.5' }, 'invalid_request', 'requested_expiry'],
      [{ scope: 'openid', login_hint: 'alice', request: 'eyJhbGciOiJub25lIn0.e30.' }, 'invalid_request', 'signed authentication requests'],
      [{ scope: 'openid', login_hint: 'alice', user_code: '1234' }, 'invalid_request', 'user_code'],
    ];
    for (const [params, error, words] of cases) {
      const r = await start(poller, params);
      expect(r.status, JSON.stringify(params)).toBe(400);
      expect(r.json.error, JSON.stringify(params)).toBe(error);
      if (words) expect(r.json.error_description).toContain(words);
    }
    expect(await pendingOf()).toBe(before);
    // unauthorized_client: a client without the grant; invalid_client (401): a wrong secret.
    const noGrant = await start(other, { scope: 'openid', login_hint: 'alice' });
    expect(noGrant.status).toBe(400);
    expect(noGrant.json.error).toBe('unauthorized_client');
    const wrongSecret = await postForm(s.url('/oauth/bc-authorize'), { scope: 'openid', login_hint: 'alice' }, { authorization: basic(poller.clientId, 'not-the-secret') });
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.json.error).toBe('invalid_client');
    // RFC 9110 §15.5.6: POST only.
    const get = await fetch(s.url('/oauth/bc-authorize'));
    expect(get.status).toBe(405);
    // An unknown auth_req_id at the token endpoint.
    expect((await redeem(poller, 'no-such-request')).json.error).toBe('invalid_grant');
  });

  it('a user disabled while a request waits: the request is denied, and a disabled user cannot be named', async () => {
    const carol = await s.user('carol', 'carol-password');
    const started = await start(poller, { scope: 'openid', login_hint: 'carol' });
    expect(started.status, started.text).toBe(200);
    await setDisabled(s.ctx, carol, true);
    expect((await redeem(poller, started.json.auth_req_id)).json.error).toBe('access_denied');
    const again = await start(poller, { scope: 'openid', login_hint: 'carol' });
    expect(again.json.error).toBe('unknown_user_id');
  });

  it('push bombing: a sixth request of one client waiting for one user is access_denied (403) until one is decided; another client is not held back', async () => {
    await s.user('dave', 'dave-password');
    const asks = [];
    for (let i = 0; i < 5; i++) asks.push(await start(poller, { scope: 'openid', login_hint: 'dave', binding_message: `D${i}` }));
    expect(asks.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    const sixth = await start(poller, { scope: 'openid', login_hint: 'dave' });
    expect(sixth.status).toBe(403);
    expect(sixth.json.error).toBe('access_denied');
    expect((await start(pinger, { scope: 'openid', login_hint: 'dave', client_notification_token: 'tok' })).status).toBe(200);
    const { agent, page } = await signedIn('dave');
    await decide(agent, page.html, 'D0', 'deny');
    expect((await start(poller, { scope: 'openid', login_hint: 'dave' })).status).toBe(200);
  });

  it('oauth4webapi (spec-strict) accepts the backchannel authentication response and the CIBA token response', async () => {
    const issuer = new URL(s.issuer);
    const insecure = { [oauth.allowInsecureRequests]: true } as const;
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
    const c: oauth.Client = { client_id: poller.clientId };
    const auth = oauth.ClientSecretBasic(poller.clientSecret!);
    const erin = await s.user('erin', 'erin-password');
    const res = await oauth.backchannelAuthenticationRequest(as, c, auth, { scope: 'openid', login_hint: 'erin' }, insecure);
    const started = await oauth.processBackchannelAuthenticationResponse(as, c, res);
    const ticket = decodeJwt((await rx.next('/announce', about(erin))).body).ticket as string;
    expect((await core(s, 'default', 'backchannel/complete', { ticket, result: 'AUTHORIZED', subject: erin }, service)).json.action).toBe('SUCCESS');
    const tokenRes = await oauth.backchannelAuthenticationGrantRequest(as, c, auth, started.auth_req_id, insecure);
    const tokens = await oauth.processBackchannelAuthenticationGrantResponse(as, c, tokenRes);
    expect(tokens.access_token).toBeTruthy();
    expect(oauth.getValidatedIdTokenClaims(tokens)?.sub).toBe(erin);
  });
});

describe('CIBA under the default outbound address policy (insecureRemoteFetchAddresses public)', () => {
  let s: TestServer;
  let rx: Awaited<ReturnType<typeof receiver>>;

  beforeAll(async () => {
    rx = await receiver();
    s = await startTestServer({ insecureRemoteFetchAddresses: 'public', cibaNotifyUrl: `${rx.base}/announce`, insecureAllowHttpJwksUri: true });
    await s.user('alice', 'alice-password');
  });
  afterAll(async () => {
    await s.close();
    await rx.close();
  });

  it('the operator\'s cibaNotifyUrl on a private address is reached; a client\'s ping endpoint there is refused at registration', async () => {
    const c = await s.client({ grant_types: [CIBA], backchannel_token_delivery_mode: 'poll', scope: 'openid' });
    const r = await postForm(s.url('/oauth/bc-authorize'), { scope: 'openid', login_hint: 'alice', binding_message: 'PRIVATE' }, { authorization: basic(c.clientId, c.clientSecret!) });
    expect(r.status, r.text).toBe(200);
    expect(decodeJwt((await rx.next('/announce')).body).binding_message).toBe('PRIVATE');
    await expect(s.client({ grant_types: [CIBA], backchannel_token_delivery_mode: 'ping', backchannel_client_notification_endpoint: `${rx.base}/ping`, scope: 'openid' }))
      .rejects.toMatchObject({ message: expect.stringContaining('backchannel_client_notification_endpoint') });
  });
});
