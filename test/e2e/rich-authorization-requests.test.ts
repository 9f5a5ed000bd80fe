import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { createTenant } from '../../src/services/tenants.js';
import { registerClient } from '../../src/services/clients.js';

const CB = 'https://rp.example/cb';
const TYPES = ['payment_initiation', 'account_information'];
const insecure = { [oauth.allowInsecureRequests]: true } as const;
const PAY = { type: 'payment_initiation', actions: ['initiate', 'status'], locations: ['https://bank.example/payments'], instructedAmount: { currency: 'EUR', amount: '123.50' }, creditorName: 'Merchant A' };
const ACCOUNTS = { type: 'account_information', actions: ['list_accounts', 'read_balances'], locations: ['https://bank.example/accounts'] };

/** OAuth 2.0 Rich Authorization Requests (RFC 9396) over HTTP, with oauth4webapi as the client. */
describe('RFC 9396 Rich Authorization Requests over HTTP', () => {
  let s: TestServer;
  let rp: { clientId: string; clientSecret?: string };
  let keys: CryptoKeyPair;
  let as: oauth.AuthorizationServer;
  let client: oauth.Client;
  let auth: oauth.ClientAuth;
  let agent: Agent;

  beforeAll(async () => {
    s = await startTestServer({ authorizationDetailsTypes: TYPES });
    keys = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'rp-key', alg: 'ES256', use: 'sig' };
    rp = await s.client({
      redirect_uris: [CB], scope: 'openid payments', jwks: { keys: [jwk] }, access_token_format: 'jwt',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'], authorization_details_types: TYPES,
    });
    await s.user('rita', 'rita-password');
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
    client = { client_id: rp.clientId };
    auth = oauth.ClientSecretBasic(rp.clientSecret!);
    agent = new Agent(s.issuer);
  });
  afterAll(() => s.close());

  /** Through the built-in pages to the client's redirect URI; returns the consent page seen on the way, if any. */
  async function signInAndApprove(url: string): Promise<{ cb: URL; consentHtml?: string }> {
    let r = await agent.follow(url);
    if (r.html.includes('name="password"')) r = await agent.login(r, 'rita', 'rita-password');
    let consentHtml: string | undefined;
    if (r.html.includes('/consent')) {
      consentHtml = r.html;
      r = await agent.consent(r, 'approve');
    }
    if (!r.location) throw new Error(`expected a redirect to the client, got ${r.status}: ${r.html.slice(0, 300)}`);
    return { cb: new URL(r.location), consentHtml };
  }

  async function codeFlow(details: unknown[], extra: Record<string, string> = {}) {
    const verifier = oauth.generateRandomCodeVerifier();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: rp.clientId, redirect_uri: CB, response_type: 'code', scope: 'payments', state: 'st',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      authorization_details: JSON.stringify(details), ...extra,
    }).toString();
    const { cb, consentHtml } = await signInAndApprove(url.toString());
    const params = oauth.validateAuthResponse(as, client, cb, 'st');
    return { params, verifier, consentHtml };
  }

  it('RFC 9396 §10: discovery lists the supported types', () => {
    expect(as.authorization_details_types_supported).toEqual(TYPES);
  });

  it('RFC 9396 §3, §7: requested details are shown for consent and returned with the tokens; the JWT access token carries them (§9.1)', async () => {
    const { params, verifier, consentHtml } = await codeFlow([PAY, ACCOUNTS]);
    expect(consentHtml).toContain('payment_initiation');
    expect(consentHtml).toContain('list_accounts, read_balances');
    const res = await oauth.authorizationCodeGrantRequest(as, client, auth, params, CB, verifier, insecure);
    const tok = await oauth.processAuthorizationCodeResponse(as, client, res);
    expect(tok.authorization_details).toEqual([PAY, ACCOUNTS]);
    expect(decodeJwt(tok.access_token).authorization_details).toEqual([PAY, ACCOUNTS]);

    // RFC 9396 §9.2: introspection says the same.
    const intro = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, tok.access_token, { ...insecure, requestJwtResponse: false }));
    expect(intro.authorization_details).toEqual([PAY, ACCOUNTS]);

    // RFC 9396 §6, §7: a refresh may narrow to some of them; without the parameter it gets them all again.
    const narrowed = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, tok.refresh_token!, { ...insecure, additionalParameters: { authorization_details: JSON.stringify([ACCOUNTS]) } }));
    expect(narrowed.authorization_details).toEqual([ACCOUNTS]);
    expect(decodeJwt(narrowed.access_token).authorization_details).toEqual([ACCOUNTS]);
    const again = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, narrowed.refresh_token!, insecure));
    expect(again.authorization_details).toEqual([PAY, ACCOUNTS]);
  });

  it('RFC 9396 §6: the code may be redeemed for a subset; one never granted is invalid_authorization_details', async () => {
    const { params, verifier } = await codeFlow([PAY, ACCOUNTS]);
    const wider = await postForm(s.url('/oauth/token'), {
      grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: CB, code_verifier: verifier,
      authorization_details: JSON.stringify([{ ...PAY, instructedAmount: { currency: 'EUR', amount: '10000.00' } }]),
    }, { authorization: basic(rp.clientId, rp.clientSecret!) });
    expect(wider.status).toBe(400);
    expect(wider.json.error).toBe('invalid_authorization_details');
    const res = await oauth.authorizationCodeGrantRequest(as, client, auth, params, CB, verifier, { ...insecure, additionalParameters: { authorization_details: JSON.stringify([PAY]) } });
    expect((await oauth.processAuthorizationCodeResponse(as, client, res)).authorization_details).toEqual([PAY]);
  });

  it('RFC 9396 §3: a remembered consent does not cover authorization details; the user is asked again', async () => {
    // The flows above recorded rita's consent to the scope; a request with details still shows the page.
    const { consentHtml } = await codeFlow([ACCOUNTS]);
    expect(consentHtml).toContain('account_information');
    // Without details, the remembered consent is enough.
    const verifier = oauth.generateRandomCodeVerifier();
    const plain = await agent.follow(`${as.authorization_endpoint}?` + new URLSearchParams({
      client_id: rp.clientId, redirect_uri: CB, response_type: 'code', scope: 'payments', state: 'st',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }));
    expect(plain.location).toMatch(/^https:\/\/rp\.example\/cb\?code=/);
  });

  it('RFC 9396 §2.2: the consent page shows client-chosen fields escaped, never as markup', async () => {
    const hostile = {
      type: 'payment_initiation', identifier: '<b id="x">acct</b>', actions: ['<script>alert(1)</script>'],
      creditorName: '</pre><script>alert(2)</script>', '<img src=x onerror=alert(3)>': 'k',
    };
    const { consentHtml } = await codeFlow([hostile]);
    expect(consentHtml).toBeDefined();
    expect(consentHtml).not.toContain('<script>alert');
    expect(consentHtml).not.toContain('<img src=x');
    expect(consentHtml).not.toContain('<b id=');
    expect(consentHtml).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(consentHtml).toContain('&lt;b id=&quot;x&quot;&gt;acct&lt;/b&gt;');
    expect(consentHtml).toContain('&lt;img src=x onerror=alert(3)&gt;');
  });

  it('RFC 9396 §5: a bad value at the authorization endpoint is redirected as invalid_authorization_details', async () => {
    const r = await agent.follow(`${as.authorization_endpoint}?` + new URLSearchParams({
      client_id: rp.clientId, redirect_uri: CB, response_type: 'code', scope: 'payments', state: 'bad',
      code_challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()), code_challenge_method: 'S256',
      authorization_details: JSON.stringify([{ type: 'payment_initiation', actions: 'initiate' }]),
    }));
    const u = new URL(r.location!);
    expect(u.searchParams.get('error')).toBe('invalid_authorization_details');
    expect(u.searchParams.get('state')).toBe('bad');
    expect(u.searchParams.get('iss')).toBe(s.issuer);
  });

  it('RFC 9396 §3, RFC 9126: authorization_details may be pushed; a bad value is refused at the PAR endpoint with 400', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const body = new URLSearchParams({
      redirect_uri: CB, response_type: 'code', scope: 'payments', state: 'par', authorization_details: JSON.stringify([PAY]),
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const pushed = await oauth.processPushedAuthorizationResponse(as, client, await oauth.pushedAuthorizationRequest(as, client, auth, body, insecure));
    const { cb } = await signInAndApprove(`${as.authorization_endpoint}?` + new URLSearchParams({ client_id: rp.clientId, request_uri: pushed.request_uri }));
    const params = oauth.validateAuthResponse(as, client, cb, 'par');
    const tok = await oauth.processAuthorizationCodeResponse(as, client, await oauth.authorizationCodeGrantRequest(as, client, auth, params, CB, verifier, insecure));
    expect(tok.authorization_details).toEqual([PAY]);

    const bad = await postForm(s.url('/oauth/par'), { redirect_uri: CB, response_type: 'code', scope: 'payments', authorization_details: '[{"type":"photo_sharing"}]' }, { authorization: basic(rp.clientId, rp.clientSecret!) });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe('invalid_authorization_details');
  });

  it('RFC 9396 §3, RFC 9101: in a request object authorization_details is a JSON array', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const params = new URLSearchParams({
      redirect_uri: CB, response_type: 'code', scope: 'payments', state: 'jar', authorization_details: JSON.stringify([ACCOUNTS]),
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const request = await oauth.issueRequestObject(as, client, params, { key: keys.privateKey, kid: 'rp-key' });
    expect(decodeJwt(request).authorization_details).toEqual([ACCOUNTS]); // oauth4webapi sends the array itself
    const { cb } = await signInAndApprove(`${as.authorization_endpoint}?` + new URLSearchParams({ client_id: rp.clientId, request }));
    const code = oauth.validateAuthResponse(as, client, cb, 'jar');
    const tok = await oauth.processAuthorizationCodeResponse(as, client, await oauth.authorizationCodeGrantRequest(as, client, auth, code, CB, verifier, insecure));
    expect(tok.authorization_details).toEqual([ACCOUNTS]);
  });

  it('RFC 9396 §3, RFC 8628: the /device page shows the device\'s authorization details, escaped; the tokens carry them', async () => {
    const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
    const dev = await s.client({ grant_types: [DEVICE], scope: 'payments', token_endpoint_auth_method: 'none' });
    const hostile = { ...ACCOUNTS, identifier: '<i>acct</i>' };
    const started = await postForm(s.url('/oauth/device_authorization'), { client_id: dev.clientId, scope: 'payments', authorization_details: JSON.stringify([hostile]) });
    expect(started.status, started.text).toBe(200);
    const userCode: string = started.json.user_code;
    const device = new Agent(s.issuer);
    const login = await device.follow(`/device?user_code=${encodeURIComponent(userCode)}`);
    const codePage = await device.follow(Agent.formAction(login.html, '/device/login'), { form: { csrf: Agent.formValue(login.html, 'csrf')!, user_code: userCode, username: 'rita', password: 'rita-password' } });
    const confirm = await device.follow('/device', { form: { csrf: Agent.formValue(codePage.html, 'csrf')!, user_code: userCode } });
    expect(confirm.html).toContain('account_information');
    expect(confirm.html).toContain('&lt;i&gt;acct&lt;/i&gt;');
    expect(confirm.html).not.toContain('<i>acct');
    const done = await device.follow('/device/confirm', { form: { csrf: Agent.formValue(confirm.html, 'csrf')!, binding: Agent.formValue(confirm.html, 'binding')!, user_code: userCode, decision: 'approve' } });
    expect(done.status).toBe(200);
    const tok = await postForm(s.url('/oauth/token'), { grant_type: DEVICE, device_code: started.json.device_code, client_id: dev.clientId });
    expect(tok.status, tok.text).toBe(200);
    expect(tok.json.authorization_details).toEqual([hostile]);
  });

  it('RFC 9396 §6: client_credentials takes authorization_details directly', async () => {
    const res = await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ authorization_details: JSON.stringify([ACCOUNTS]) }), insecure);
    const tok = await oauth.processClientCredentialsResponse(as, client, res);
    expect(tok.authorization_details).toEqual([ACCOUNTS]);
    expect(decodeJwt(tok.access_token).authorization_details).toEqual([ACCOUNTS]);
    const plain = await oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams(), insecure));
    expect(plain.authorization_details).toBeUndefined();
    expect(decodeJwt(plain.access_token).authorization_details).toBeUndefined();
  });
});

describe('RFC 9396 off (no types configured)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('RFC 9396 §10: nothing is advertised, and a token request\'s authorization_details is ignored (RFC 6749 §3.1)', async () => {
    const meta = await (await fetch(s.url('/.well-known/openid-configuration'))).json();
    expect(meta.authorization_details_types_supported).toBeUndefined();
    const oauthMeta = await (await fetch(s.url('/.well-known/oauth-authorization-server'))).json();
    expect(oauthMeta.authorization_details_types_supported).toBeUndefined();
    const c = await s.client({ grant_types: ['client_credentials'], scope: 'api' });
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', authorization_details: 'not json' }, { authorization: basic(c.clientId, c.clientSecret!) });
    expect(r.status, r.text).toBe(200);
    expect(r.json.authorization_details).toBeUndefined();
  });

  it('RFC 9396 §10: a tenant may turn it on for itself (settings.authorizationDetailsTypes); a malformed setting is refused', async () => {
    await createTenant(s.lk, { id: 'bank', settings: { authorizationDetailsTypes: ['payment_initiation'] } });
    const meta = await (await fetch(s.url('/t/bank/.well-known/openid-configuration'))).json();
    expect(meta.authorization_details_types_supported).toEqual(['payment_initiation']);
    const ctx = await s.lk.context('bank');
    const { json } = await registerClient(ctx, { redirect_uris: [CB], authorization_details_types: ['payment_initiation'] });
    expect(json.authorization_details_types).toEqual(['payment_initiation']);
    await expect(createTenant(s.lk, { id: 'bank2', settings: { authorizationDetailsTypes: ['has space'] } })).rejects.toThrow(/authorizationDetailsTypes/);
  });

  it('RFC 9396 §10: registering authorization_details_types is refused when the server supports none', async () => {
    await expect(s.client({ redirect_uris: [CB], authorization_details_types: ['payment_initiation'] })).rejects.toThrow(/authorization_details_types/);
  });
});
