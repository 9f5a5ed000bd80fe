import { exportJWK, generateKeyPair, UnsecuredJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminToken } from '../../src/services/management-tokens.js';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
const jsonBody = (method: string, body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

/**
 * RFC 9101 §10.5 (require_signed_request_object) through HTTP: oauth4webapi builds the signed request objects
 * (JAR) and pushes them (RFC 9126 §3); jose builds the unsigned (alg none) ones.
 */
describe('require_signed_request_object (RFC 9101 §10.5) through HTTP', () => {
  let s: TestServer;
  let keys: CryptoKeyPair;
  let jwk: Record<string, unknown>;
  let as: oauth.AuthorizationServer;
  let agent: Agent;
  let strict: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
    keys = await generateKeyPair('ES256', { extractable: true });
    jwk = { ...(await exportJWK(keys.publicKey)), kid: 'rp-key-1', alg: 'ES256', use: 'sig' };
    strict = await s.client({ redirect_uris: [CB], skip_consent: true, jwks: { keys: [jwk] }, require_signed_request_object: true });
    await s.user('alice', 'alice-password');
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
    agent = new Agent(s.issuer);
    // Sign alice in once, through a signed request: later requests need no login page.
    const jwt = await sign(strict.clientId, { redirect_uri: CB, response_type: 'code', scope: 'openid' });
    await agent.authorize(authorizeUrl({ client_id: strict.clientId, request: jwt }), 'alice', 'alice-password');
  });
  afterAll(() => s.close());

  const sign = (clientId: string, params: Record<string, string>, server = as) =>
    oauth.issueRequestObject(server, { client_id: clientId }, params, { key: keys.privateKey, kid: 'rp-key-1' });
  const unsigned = (clientId: string, params: Record<string, string>, issuer = s.issuer) =>
    new UnsecuredJWT({ ...params, client_id: clientId, iss: clientId, aud: issuer }).encode();
  const authorizeUrl = (params: Record<string, string>, issuer = s.issuer) => `${issuer}/oauth/authorize?` + new URLSearchParams(params);

  it('RFC 9101 §10.5: without the server setting, discovery says require_signed_request_object false and still lists none', () => {
    expect(as.require_signed_request_object).toBe(false);
    expect(as.request_object_signing_alg_values_supported).toContain('none');
  });

  describe('a client registered with require_signed_request_object', () => {
    it('RFC 9101 §10.5: a plain authorization request is refused with invalid_request, redirected to the client with state; the same request signed by oauth4webapi is served', async () => {
      const r = await agent.follow(authorizeUrl({ client_id: strict.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'plain' }));
      const u = new URL(r.location!);
      expect(u.origin + u.pathname).toBe(CB);
      expect(u.searchParams.get('error')).toBe('invalid_request');
      expect(u.searchParams.get('state')).toBe('plain');
      expect(u.searchParams.get('code')).toBeNull();
      const verifier = oauth.generateRandomCodeVerifier();
      const jwt = await sign(strict.clientId, {
        redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'signed',
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      });
      const cb = new URL((await agent.follow(authorizeUrl({ client_id: strict.clientId, request: jwt }))).location!);
      const client: oauth.Client = { client_id: strict.clientId };
      const params = oauth.validateAuthResponse(as, client, cb, 'signed');
      const res = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(strict.clientSecret!), params, CB, verifier, insecure);
      expect((await oauth.processAuthorizationCodeResponse(as, client, res)).access_token).toBeTruthy();
    });

    it('RFC 9101 §10.5, §7: an alg none request object is invalid_request_object: redirected only through a registered redirect_uri sent beside it, else shown to the user', async () => {
      const ro = unsigned(strict.clientId, { redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'inner' });
      const page = await agent.follow(authorizeUrl({ client_id: strict.clientId, request: ro }));
      expect(page.status).toBe(400);
      expect(page.location).toBeUndefined();
      expect(page.html).toContain('invalid_request_object');
      const beside = await agent.follow(authorizeUrl({ client_id: strict.clientId, request: ro, redirect_uri: CB, state: 'outer' }));
      const u = new URL(beside.location!);
      expect(u.searchParams.get('error')).toBe('invalid_request_object');
      expect(u.searchParams.get('state')).toBe('outer');
    });

    it('RFC 9126 §2.3, §3: the PAR endpoint refuses plain parameters and unsigned request objects with 400 invalid_request; a signed one pushed with oauth4webapi authorizes', async () => {
      const push = (params: Record<string, string>) => postForm(s.url('/oauth/par'), params, { authorization: basic(strict.clientId, strict.clientSecret!) });
      const plain = await push({ redirect_uri: CB, response_type: 'code', scope: 'openid' });
      expect([plain.status, plain.json.error]).toEqual([400, 'invalid_request']);
      const none = await push({ request: unsigned(strict.clientId, { redirect_uri: CB, response_type: 'code', scope: 'openid' }) });
      expect([none.status, none.json.error]).toEqual([400, 'invalid_request']);
      // oauth4webapi's own PAR call with plain parameters is refused the same way.
      const client: oauth.Client = { client_id: strict.clientId };
      const res = await oauth.pushedAuthorizationRequest(as, client, oauth.ClientSecretBasic(strict.clientSecret!), { redirect_uri: CB, response_type: 'code', scope: 'openid' }, insecure);
      await expect(oauth.processPushedAuthorizationResponse(as, client, res)).rejects.toMatchObject({ error: 'invalid_request' });
      const jwt = await sign(strict.clientId, { redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'pushed' });
      const signed = await oauth.pushedAuthorizationRequest(as, client, oauth.ClientSecretBasic(strict.clientSecret!), { request: jwt }, insecure);
      const pushed = await oauth.processPushedAuthorizationResponse(as, client, signed);
      const cb = new URL((await agent.follow(authorizeUrl({ client_id: strict.clientId, request_uri: pushed.request_uri }))).location!);
      expect(cb.searchParams.get('state')).toBe('pushed');
      expect(cb.searchParams.get('code')).toBeTruthy();
    });
  });

  describe('dynamic registration (RFC 7591, RFC 7592)', () => {
    it('RFC 9101 §10.5: require_signed_request_object is registered, read back, and changed by an update; it then applies', async () => {
      const reg = await call(s.url('/oauth/register'), jsonBody('POST', { redirect_uris: [CB], jwks: { keys: [jwk] }, require_signed_request_object: true }));
      expect(reg.status).toBe(201);
      expect(reg.body.require_signed_request_object).toBe(true);
      const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
      const read = await call(reg.body.registration_client_uri, { headers: bearer(reg.body.registration_access_token) });
      expect(read.body.require_signed_request_object).toBe(true);
      const plainUrl = authorizeUrl({ client_id: reg.body.client_id, redirect_uri: CB, response_type: 'code', scope: 'openid' });
      // RFC 9700 §4.11.2: an openly registered client's request error is shown, not redirected to its redirect URI.
      const refused = await agent.follow(plainUrl);
      expect([refused.status, refused.location]).toEqual([400, undefined]);
      expect(refused.html).toContain('Error: invalid_request');
      const put = await call(
        reg.body.registration_client_uri,
        jsonBody('PUT', { client_id: reg.body.client_id, redirect_uris: [CB], jwks: { keys: [jwk] }, require_signed_request_object: false }, bearer(reg.body.registration_access_token)),
      );
      expect(put.status).toBe(200);
      expect(put.body.require_signed_request_object).toBe(false);
      // No longer required: the plain request reaches consent (a dynamically registered client is third party).
      const after = await agent.follow(plainUrl);
      expect(after.location).toBeUndefined();
      expect(after.html).toContain('/consent');
    });

    it('RFC 9101 §10.5, RFC 7591 §3.2.2: a non-boolean value, alg none, or no keys is invalid_client_metadata', async () => {
      for (const meta of [
        { redirect_uris: [CB], jwks: { keys: [jwk] }, require_signed_request_object: 'true' },
        { redirect_uris: [CB], jwks: { keys: [jwk] }, require_signed_request_object: true, request_object_signing_alg: 'none' },
        { redirect_uris: [CB], require_signed_request_object: true },
      ]) {
        const r = await call(s.url('/oauth/register'), jsonBody('POST', meta));
        expect([r.status, r.body.error]).toEqual([400, 'invalid_client_metadata']);
        expect(r.body.error_description).toContain('require_signed_request_object');
      }
    });
  });

  describe('admin API', () => {
    it('RFC 9101 §10.5: an operator sets require_signed_request_object on a client and requireSignedRequestObject on a tenant', async () => {
      const admin = (await createAdminToken(s.lk, { name: 'signed-ro' })).token;
      const auth = { authorization: `Bearer ${admin}` };
      const c = await call(s.url('/admin/tenants/default/clients'), jsonBody('POST', { redirect_uris: [CB], jwks: { keys: [jwk] }, require_signed_request_object: true }, auth));
      expect(c.status).toBe(201);
      expect(c.body.require_signed_request_object).toBe(true);
      expect((await call(s.url(`/admin/tenants/default/clients/${c.body.client_id}`), { headers: auth })).body.require_signed_request_object).toBe(true);
      const t = await call(s.url('/admin/tenants'), jsonBody('POST', { id: 'jar-only', settings: { requireSignedRequestObject: true } }, auth));
      expect(t.status).toBe(201);
      const d = await (await fetch(s.url('/t/jar-only/.well-known/openid-configuration'))).json();
      expect(d.require_signed_request_object).toBe(true);
      const bad = await call(s.url('/admin/tenants'), jsonBody('POST', { id: 'jar-bad', settings: { requireSignedRequestObject: 'yes' } }, auth));
      expect(bad.status).toBe(400);
    });
  });
});

describe('requireSignedRequestObject, the server setting (RFC 9101 §10.5) through HTTP', () => {
  let s: TestServer;
  let keys: CryptoKeyPair;
  let as: oauth.AuthorizationServer;
  let signer: { clientId: string; clientSecret?: string };
  let noneClient: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer({ requireSignedRequestObject: true });
    keys = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k', alg: 'ES256', use: 'sig' };
    signer = await s.client({ redirect_uris: [CB], skip_consent: true, jwks: { keys: [jwk] } });
    noneClient = await s.client({ redirect_uris: [CB], skip_consent: true, request_object_signing_alg: 'none' });
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  });
  afterAll(() => s.close());

  it('RFC 9101 §10.5: both metadata documents say require_signed_request_object true, and none is no longer an accepted alg', async () => {
    expect(as.require_signed_request_object).toBe(true);
    expect(as.request_object_signing_alg_values_supported).not.toContain('none');
    const oauthDoc = await (await fetch(s.url('/.well-known/oauth-authorization-server'))).json();
    expect(oauthDoc.require_signed_request_object).toBe(true);
    expect(oauthDoc.request_object_signing_alg_values_supported).not.toContain('none');
  });

  it('RFC 9101 §10.5: every client is refused plain parameters (redirected invalid_request) and unsigned objects, even one registered for alg none', async () => {
    const agent = new Agent(s.issuer);
    const plain = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: signer.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'x' }));
    const u = new URL(plain.location!);
    expect(u.searchParams.get('error')).toBe('invalid_request');
    expect(u.searchParams.get('state')).toBe('x');
    const ro = new UnsecuredJWT({ redirect_uri: CB, response_type: 'code', scope: 'openid' }).encode();
    const none = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: noneClient.clientId, request: ro }));
    expect(none.status).toBe(400);
    expect(none.html).toContain('invalid_request_object');
    const pushed = await postForm(s.url('/oauth/par'), { request: ro }, { authorization: basic(noneClient.clientId, noneClient.clientSecret!) });
    expect([pushed.status, pushed.json.error]).toEqual([400, 'invalid_request']);
  });

  it('RFC 9101 §10.5: a signed request object still works, by value and pushed', async () => {
    const agent = new Agent(s.issuer);
    const jwt = await oauth.issueRequestObject(as, { client_id: signer.clientId }, { redirect_uri: CB, response_type: 'code', scope: 'openid' }, { key: keys.privateKey, kid: 'k' });
    const page = await agent.follow(`${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: signer.clientId, request: jwt }));
    expect(page.status).toBe(200);
    expect(page.html).toContain('name="password"'); // accepted: the user is asked to sign in
    const client: oauth.Client = { client_id: signer.clientId };
    const res = await oauth.pushedAuthorizationRequest(as, client, oauth.ClientSecretBasic(signer.clientSecret!), { request: jwt }, insecure);
    expect((await oauth.processPushedAuthorizationResponse(as, client, res)).request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:/);
  });
});
