import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TENANT } from '../../src/store/types.js';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const BYE = 'https://rp.example/bye';
const insecure = { [oauth.allowInsecureRequests]: true } as const;
const MINUTE = 60_000;
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const IDT_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

/**
 * OIDC Core §11 for the actor of a token exchange (RFC 8693 §4.1): a user acting through a grant made in a browser
 * session without offline_access acts only while that session lives, so a token exchanged with their token as
 * actor_token is inactive at introspection once their session has ended (logged out, or idle past sessionIdleTtl),
 * though neither grant is revoked and the token is unexpired. Users sign in through the built-in UI; the exchange
 * goes through oauth4webapi's generic token endpoint request, introspection through oauth4webapi.
 */
describe('OIDC Core §11, RFC 8693 §4.1: a token exchanged with a session-bound actor ends with the actor\'s session', () => {
  let s: TestServer;
  let clock = Date.UTC(2033, 5, 1);
  let as: oauth.AuthorizationServer;
  let app: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer({ sessionTtl: 4 * 3600, sessionIdleTtl: 3600, accessTokenTtl: 8 * 3600 }, { clock: () => clock });
    app = await s.client({
      redirect_uris: [CB], post_logout_redirect_uris: [BYE], skip_consent: true, session_refresh_tokens: true,
      grant_types: ['authorization_code', 'refresh_token', EXCHANGE], scope: 'openid profile offline_access api',
      token_exchange: { subject_token_types: [AT_TYPE], actor_token_types: [AT_TYPE, IDT_TYPE], delegation: true, impersonation: true },
    });
    await s.user('alice', 'alice-password');
    await s.user('bob', 'bob-password');
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  });
  afterAll(() => s.close());

  type Tokens = { access_token: string; refresh_token: string; id_token: string };

  /** `who` signs in through the UI in a fresh browser and the code is redeemed. */
  async function signIn(who: string, scope: string): Promise<{ tokens: Tokens; agent: Agent; sid: string }> {
    const agent = new Agent(s.issuer);
    const cb = await agent.authorize(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: app.clientId, redirect_uri: CB, response_type: 'code', scope }), who, `${who}-password`);
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB }, { authorization: basic(app.clientId, app.clientSecret!) });
    expect(r.status, r.text).toBe(200);
    return { tokens: r.json, agent, sid: decodeJwt(r.json.id_token).sid as string };
  }

  /** RFC 8693 through oauth4webapi: app delegates alice's token to the given actor token. */
  async function delegate(subject: string, actor: string, actorType = AT_TYPE): Promise<string> {
    const client: oauth.Client = { client_id: app.clientId };
    const params = new URLSearchParams({ subject_token: subject, subject_token_type: AT_TYPE, actor_token: actor, actor_token_type: actorType, scope: 'api' });
    const res = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(app.clientSecret!), EXCHANGE, params, insecure);
    return (await oauth.processGenericTokenEndpointResponse(as, client, res)).access_token;
  }

  /** RFC 7662 through oauth4webapi, by the token's own client. */
  async function active(tok: string): Promise<boolean> {
    const client = { client_id: app.clientId };
    const res = await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic(app.clientSecret!), tok, insecure);
    return (await oauth.processIntrospectionResponse(as, client, res)).active;
  }

  it('OIDC Core §11: the actor\'s session ended without its grants being revoked (a crash between the two writes of a logout): the exchanged token is inactive, the subject\'s token is not', async () => {
    const alice = await signIn('alice', 'openid offline_access api');
    const bob = await signIn('bob', 'openid profile api');
    const x = await delegate(alice.tokens.access_token, bob.tokens.access_token);
    expect(await active(x)).toBe(true);
    expect(await s.ctx.store.endSessionBySid(DEFAULT_TENANT, bob.sid, Math.floor(clock / 1000))).toBe(true);
    expect(await active(x)).toBe(false);
    expect(await active(alice.tokens.access_token)).toBe(true);
  });

  it('OIDC Core §11: the actor\'s session idle past sessionIdleTtl ends the exchanged token (an ID token as actor too); an offline_access actor\'s does not', async () => {
    const alice = await signIn('alice', 'openid offline_access api');
    const bob = await signIn('bob', 'openid profile api');
    const bobOffline = await signIn('bob', 'openid offline_access api');
    const byAccess = await delegate(alice.tokens.access_token, bob.tokens.access_token);
    const byIdToken = await delegate(alice.tokens.access_token, bob.tokens.id_token, IDT_TYPE);
    const byOffline = await delegate(alice.tokens.access_token, bobOffline.tokens.access_token);
    clock += 61 * MINUTE; // every session here is idle now; the tokens have hours left
    expect(await active(byAccess)).toBe(false);
    expect(await active(byIdToken)).toBe(false);
    expect(await active(byOffline)).toBe(true);
    expect(await active(alice.tokens.access_token)).toBe(true);
  });

  it('OIDC Core §11, RP-Initiated Logout: the actor logging out ends the exchanged token', async () => {
    const alice = await signIn('alice', 'openid offline_access api');
    const bob = await signIn('bob', 'openid profile api');
    const x = await delegate(alice.tokens.access_token, bob.tokens.access_token);
    expect(await active(x)).toBe(true);
    const out = await bob.agent.request(`${s.issuer}/oauth/logout?` + new URLSearchParams({ id_token_hint: bob.tokens.id_token, post_logout_redirect_uri: BYE }));
    expect(out.status).toBe(303);
    expect(await active(x)).toBe(false);
    expect(await active(alice.tokens.access_token)).toBe(true);
  });
});
