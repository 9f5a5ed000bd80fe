import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { registerResourceServer } from '../../src/services/resources.js';

const CB = 'https://rp.example/cb';
const CAL = 'https://cal.example/';
const CONTACTS = 'https://contacts.example/';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

/** Resource indicators (RFC 8707) through the other ways into an authorization: PAR, request objects, implicit, device. */
describe('resource indicators with PAR, request objects, the implicit flow and the device grant', () => {
  let s: TestServer;
  let rp: { clientId: string; clientSecret?: string };
  let keys: CryptoKeyPair;
  let as: oauth.AuthorizationServer;
  let agent: Agent;

  beforeAll(async () => {
    s = await startTestServer();
    await registerResourceServer(s.ctx, { identifier: CAL, scope: 'calendar' });
    await registerResourceServer(s.ctx, { identifier: CONTACTS, scope: 'contacts' });
    keys = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'rp-key-1', alg: 'ES256', use: 'sig' };
    rp = await s.client({
      redirect_uris: [CB], skip_consent: true, jwks: { keys: [jwk] }, access_token_format: 'jwt', scope: 'openid calendar contacts',
      grant_types: ['authorization_code', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code'], response_types: ['code', 'token'],
    });
    await s.user('rita', 'rita-password');
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
    agent = new Agent(s.issuer);
    await agent.authorize(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: rp.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid' }), 'rita', 'rita-password');
  });
  afterAll(() => s.close());

  const redeem = (code: string, extra: Record<string, string> = {}) =>
    postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code, redirect_uri: CB, ...extra }, { authorization: basic(rp.clientId, rp.clientSecret!) });
  const follow = async (url: string) => new URL((await agent.follow(url)).location!);

  it('RFC 9126 + RFC 8707 §2.1: pushed resources (repeated) make the grant; the code redeems for a subset', async () => {
    const body = new URLSearchParams([
      ['redirect_uri', CB], ['response_type', 'code'], ['scope', 'calendar contacts'], ['state', 'p'], ['resource', CAL], ['resource', CONTACTS],
    ]);
    const pushed = await postForm(s.url('/oauth/par'), body.toString(), { authorization: basic(rp.clientId, rp.clientSecret!) });
    expect(pushed.status, pushed.text).toBe(201);
    const cb = await follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: rp.clientId, request_uri: pushed.json.request_uri }));
    const both = await redeem(cb.searchParams.get('code')!);
    expect(decodeJwt(both.json.access_token).aud).toEqual([CAL, CONTACTS]);
    const bad = await postForm(s.url('/oauth/par'), { redirect_uri: CB, response_type: 'code', scope: 'calendar', resource: 'https://nope.example/' }, { authorization: basic(rp.clientId, rp.clientSecret!) });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe('invalid_target');
  });

  it('RFC 9449 §10.1, RFC 8707 §2: a DPoP proof at the PAR endpoint only adds dpop_jkt: every pushed resource is kept', async () => {
    const client: oauth.Client = { client_id: rp.clientId };
    const auth = oauth.ClientSecretBasic(rp.clientSecret!);
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const verifier = oauth.generateRandomCodeVerifier();
    const body = new URLSearchParams([
      ['redirect_uri', CB], ['response_type', 'code'], ['scope', 'calendar contacts'], ['resource', CAL], ['resource', CONTACTS],
      ['code_challenge', await oauth.calculatePKCECodeChallenge(verifier)], ['code_challenge_method', 'S256'],
    ]);
    const pushed = await oauth.processPushedAuthorizationResponse(as, client, await oauth.pushedAuthorizationRequest(as, client, auth, body, { ...insecure, DPoP }));
    const cb = await follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: rp.clientId, request_uri: pushed.request_uri }));
    const params = oauth.validateAuthResponse(as, client, cb, oauth.expectNoState);
    // The second pushed resource is part of the grant: a token for it alone is issued (RFC 8707 §2.2).
    const res = await oauth.authorizationCodeGrantRequest(as, client, auth, params, CB, verifier, { ...insecure, DPoP, additionalParameters: { resource: CONTACTS } });
    const tok = await oauth.processAuthorizationCodeResponse(as, client, res);
    expect(tok.token_type).toBe('dpop');
    expect(decodeJwt(tok.access_token).aud).toBe(CONTACTS);
  });

  it('RFC 8707 §2.1: in a request object, several resources are a JSON array', async () => {
    const real = await new SignJWT({ client_id: rp.clientId, redirect_uri: CB, response_type: 'code', scope: 'calendar contacts', state: 'ro', resource: [CAL, CONTACTS] })
      .setProtectedHeader({ alg: 'ES256', kid: 'rp-key-1', typ: 'oauth-authz-req+jwt' })
      .setIssuer(rp.clientId).setAudience(s.issuer).setIssuedAt().setExpirationTime('5m').setJti(crypto.randomUUID())
      .sign(keys.privateKey);
    const cb = await follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: rp.clientId, request: real }));
    expect(cb.searchParams.get('state')).toBe('ro');
    const r = await redeem(cb.searchParams.get('code')!, { resource: CONTACTS });
    expect(r.status, r.text).toBe(200);
    expect(decodeJwt(r.json.access_token)).toMatchObject({ aud: CONTACTS, scope: 'contacts' });
  });

  it('RFC 8707 §2.1: in the implicit flow the requested resource is the access token\'s audience', async () => {
    const u = await follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: rp.clientId, redirect_uri: CB, response_type: 'token', scope: 'calendar contacts', state: 'i', resource: CAL }));
    const p = new URLSearchParams(u.hash.slice(1));
    expect(p.get('scope')).toBe('calendar');
    expect(decodeJwt(p.get('access_token')!)).toMatchObject({ aud: CAL, scope: 'calendar' });
  });

  it('RFC 8707 §2.2: a device_code request cannot name a resource the device authorization did not', async () => {
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'whatever', resource: CAL }, { authorization: basic(rp.clientId, rp.clientSecret!) });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('invalid_target');
  });
});
