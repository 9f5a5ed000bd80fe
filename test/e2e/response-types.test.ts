import { createHash } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const ALL_TYPES = ['code', 'id_token', 'token id_token', 'code id_token', 'code token', 'code id_token token', 'token'];
const insecure = { [oauth.allowInsecureRequests]: true } as const;

/** OIDC Core §3.3.2.11, computed here independently of src/: left half of SHA-256 of the ASCII value, base64url. */
const halfSha256 = (v: string) => createHash('sha256').update(v, 'ascii').digest().subarray(0, 16).toString('base64url');

/** Response parameters from wherever the mode put them. */
const fragment = (u: URL) => new URLSearchParams(u.hash.slice(1));

describe('every response type and response mode, through HTTP', () => {
  let s: TestServer;
  let rp: { clientId: string; clientSecret?: string };
  let es: { clientId: string; clientSecret?: string };
  let codeOnly: { clientId: string; clientSecret?: string };
  let aliceSub: string;
  let agent: Agent;
  let as: oauth.AuthorizationServer;
  let jwks: ReturnType<typeof createRemoteJWKSet>;

  const authUrl = (clientId: string, p: Record<string, string>) =>
    `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: clientId, redirect_uri: CB, state: 'st', ...p });

  const verifyIdToken = async (token: string, audience: string, nonce?: string): Promise<JWTPayload> => {
    const { payload } = await jwtVerify(token, jwks, { issuer: s.issuer, audience });
    if (nonce !== undefined) expect(payload.nonce).toBe(nonce);
    return payload;
  };

  beforeAll(async () => {
    s = await startTestServer();
    const implicitMeta = { redirect_uris: [CB], grant_types: ['authorization_code', 'implicit', 'refresh_token'], response_types: ALL_TYPES, skip_consent: true };
    rp = await s.client({ client_name: 'Hybrid RP', ...implicitMeta, scope: 'openid profile email phone offline_access api' });
    es = await s.client({ ...implicitMeta, id_token_signed_response_alg: 'ES256', authorization_signed_response_alg: 'ES256' });
    codeOnly = await s.client({ redirect_uris: [CB], skip_consent: true });
    aliceSub = await s.user('alice', 'alice-password', { name: 'Alice Liddell', email: 'alice@example.com', email_verified: true, phone_number: '+1 555 0100' });
    agent = new Agent(s.issuer);
    // Sign in once; every later request in this browser is answered without a page (skip_consent clients).
    await agent.authorize(authUrl(codeOnly.clientId, { response_type: 'code', scope: 'openid' }), 'alice', 'alice-password');
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
    jwks = createRemoteJWKSet(new URL(as.jwks_uri!));
  });
  afterAll(() => s.close());

  const go = async (url: string) => {
    const r = await agent.follow(url);
    expect(r.status, r.html.slice(0, 300)).toBe(303);
    return new URL(r.location!);
  };

  it('discovery lists the seven response types, the response modes, and implicit among the grant types', () => {
    expect(as.response_types_supported).toEqual(['code', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token', 'token']);
    expect(as.response_modes_supported).toEqual(['query', 'fragment', 'form_post', 'query.jwt', 'fragment.jwt', 'form_post.jwt', 'jwt']);
    expect(as.grant_types_supported).toContain('implicit');
    expect(as.authorization_response_iss_parameter_supported).toBe(true);
    expect(as.authorization_signing_alg_values_supported).toContain('RS256');
  });

  it('OIDC Core §3.2.2.5, §5.4: response_type=id_token returns an ID token in the fragment with nonce and the scope\'s claims', async () => {
    const u = await go(authUrl(rp.clientId, { response_type: 'id_token', scope: 'openid email', nonce: 'n-1' }));
    expect(u.search).toBe('');
    const p = fragment(u);
    expect(p.get('state')).toBe('st');
    expect(p.get('iss')).toBe(s.issuer); // RFC 9207
    expect(p.get('access_token')).toBeNull();
    expect(p.get('code')).toBeNull();
    const idt = await verifyIdToken(p.get('id_token')!, rp.clientId, 'n-1');
    expect(idt.sub).toBe(aliceSub);
    expect(idt.email).toBe('alice@example.com'); // no access token: the email scope's claims are in the ID token
    expect(idt.at_hash).toBeUndefined();
    expect(idt.c_hash).toBeUndefined();
    expect(idt.acr).toBe('urn:latchkey:acr:password');
  });

  it('OIDC Core §3.2.2.10: id_token token carries at_hash of the access token, which works at UserInfo; no refresh token', async () => {
    const u = await go(authUrl(rp.clientId, { response_type: 'token id_token', scope: 'openid email offline_access', nonce: 'n-2' }));
    const p = fragment(u);
    expect(p.get('token_type')).toBe('Bearer');
    expect(Number(p.get('expires_in'))).toBeGreaterThan(0);
    expect(p.get('refresh_token')).toBeNull(); // RFC 6749 §4.2.2
    const at = p.get('access_token')!;
    const idt = await verifyIdToken(p.get('id_token')!, rp.clientId, 'n-2');
    expect(idt.at_hash).toBe(halfSha256(at));
    expect(idt.email).toBeUndefined(); // with an access token the claims come from UserInfo (OIDC Core §5.4)
    const info = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${at}` } });
    expect((await info.json()).email).toBe('alice@example.com');
  });

  it('OIDC Core §3.3.2.11: code id_token is validated by oauth4webapi (c_hash, nonce, state) and the code redeems', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const nonce = oauth.generateRandomNonce();
    const state = oauth.generateRandomState();
    const u = await go(authUrl(rp.clientId, {
      response_type: 'code id_token', scope: 'openid profile', nonce, state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }));
    const client: oauth.Client = { client_id: rp.clientId };
    const params = await oauth.validateCodeIdTokenResponse(as, client, u, nonce, state, undefined, insecure);
    const idt = await verifyIdToken(fragment(u).get('id_token')!, rp.clientId, nonce);
    expect(idt.c_hash).toBe(halfSha256(params.get('code')!));
    expect(idt.at_hash).toBeUndefined();
    expect(idt.name).toBeUndefined(); // an access token follows from the token endpoint: claims via UserInfo
    const res = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(rp.clientSecret!), params, CB, verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, res, { expectedNonce: nonce, requireIdToken: true });
    expect(oauth.getValidatedIdTokenClaims(tokens)!.sub).toBe(aliceSub);
  });

  it('Multiple Response Types §3: code token returns a code and an access token, no ID token; nonce is not required', async () => {
    const u = await go(authUrl(rp.clientId, { response_type: 'code token', scope: 'openid' }));
    const p = fragment(u);
    expect(p.get('code')).toBeTruthy();
    expect(p.get('access_token')).toBeTruthy();
    expect(p.get('id_token')).toBeNull();
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: p.get('code')!, redirect_uri: CB }, { authorization: basic(rp.clientId, rp.clientSecret!) });
    expect(r.status).toBe(200);
    expect(r.json.id_token).toBeTruthy();
  });

  it('OIDC Core §3.3.2.11: code id_token token carries both c_hash and at_hash (ES256 client, hashes with SHA-256)', async () => {
    const u = await go(authUrl(es.clientId, { response_type: 'code id_token token', scope: 'openid', nonce: 'n-3' }));
    const p = fragment(u);
    const token = p.get('id_token')!;
    expect(decodeProtectedHeader(token).alg).toBe('ES256');
    const idt = await verifyIdToken(token, es.clientId, 'n-3');
    expect(idt.c_hash).toBe(halfSha256(p.get('code')!));
    expect(idt.at_hash).toBe(halfSha256(p.get('access_token')!));
  });

  it('RFC 6749 §4.2.2: token (OAuth only) returns an access token with its scope; openid is refused for it', async () => {
    const u = await go(authUrl(rp.clientId, { response_type: 'token', scope: 'api' }));
    const p = fragment(u);
    expect(p.get('scope')).toBe('api');
    expect(p.get('id_token')).toBeNull();
    const intro = await postForm(s.url('/oauth/introspect'), { token: p.get('access_token')! }, { authorization: basic(rp.clientId, rp.clientSecret!) });
    expect(intro.json).toMatchObject({ active: true, scope: 'api', client_id: rp.clientId });
    const bad = fragment(await go(authUrl(rp.clientId, { response_type: 'token', scope: 'openid api' })));
    expect(bad.get('error')).toBe('invalid_request');
  });

  it('OIDC Core §3.2.2.1: without nonce an ID-token response type fails, and the error goes in the fragment with state', async () => {
    const u = await go(authUrl(rp.clientId, { response_type: 'id_token', scope: 'openid' }));
    expect(u.search).toBe('');
    const p = fragment(u);
    expect(p.get('error')).toBe('invalid_request');
    expect(p.get('state')).toBe('st');
    expect(p.get('iss')).toBe(s.issuer);
  });

  it('Multiple Response Types §5: response_mode=query is refused for token responses, and the error is not put in the query', async () => {
    const u = await go(authUrl(rp.clientId, { response_type: 'id_token token', scope: 'openid', nonce: 'n', response_mode: 'query' }));
    expect(u.search).toBe('');
    expect(fragment(u).get('error')).toBe('invalid_request');
  });

  it('RFC 7591 §2.1: a client registered only for code cannot use implicit or hybrid types (unauthorized_client)', async () => {
    const u = await go(authUrl(codeOnly.clientId, { response_type: 'code id_token', scope: 'openid', nonce: 'n' }));
    expect(fragment(u).get('error')).toBe('unauthorized_client');
  });

  it('response_mode=fragment for code puts the code in the fragment', async () => {
    const u = await go(authUrl(codeOnly.clientId, { response_type: 'code', scope: 'openid', response_mode: 'fragment' }));
    expect(u.search).toBe('');
    expect(fragment(u).get('code')).toBeTruthy();
  });

  describe('form_post (OAuth 2.0 Form Post Response Mode)', () => {
    it('§2: an HTML form posting the parameters to the redirect URI, with a CSP allowing one script file and the client origin only', async () => {
      const r = await agent.follow(authUrl(rp.clientId, { response_type: 'code id_token', scope: 'openid', nonce: 'n-4', response_mode: 'form_post' }));
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/html/);
      const csp = r.headers.get('content-security-policy')!;
      expect(csp).toContain(`script-src ${s.issuer}/assets/form-post.js;`);
      expect(csp).toContain('form-action https://rp.example;');
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.html).toContain(`<form method="post" action="${CB}">`);
      expect(r.html).not.toMatch(/<script>[^<]/); // no inline script
      const field = (n: string) => Agent.formValue(r.html, n);
      expect(field('state')).toBe('st');
      expect(field('iss')).toBe(s.issuer);
      const idt = await verifyIdToken(field('id_token')!, rp.clientId, 'n-4');
      expect(idt.c_hash).toBe(halfSha256(field('code')!));
      const js = await fetch(s.url('/assets/form-post.js'));
      expect(js.headers.get('content-type')).toMatch(/javascript/);
      expect(await js.text()).toContain('submit');
    });

    it('errors after the redirect URI is verified are form-posted too', async () => {
      const r = await agent.follow(authUrl(rp.clientId, { response_type: 'code', scope: 'openid', response_mode: 'form_post', prompt: 'bogus' }));
      expect(r.status).toBe(200);
      expect(Agent.formValue(r.html, 'error')).toBe('invalid_request');
      expect(Agent.formValue(r.html, 'state')).toBe('st');
    });
  });

  describe('JARM (JWT Secured Authorization Response Mode)', () => {
    it('§2.3.1 query.jwt: oauth4webapi validates the signed response and the code redeems', async () => {
      const verifier = oauth.generateRandomCodeVerifier();
      const state = oauth.generateRandomState();
      const u = await go(authUrl(rp.clientId, {
        response_type: 'code', scope: 'openid', state, response_mode: 'query.jwt',
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      }));
      expect([...u.searchParams.keys()]).toEqual(['response']); // RFC 9207 §2.4: iss is inside the JWT
      const client: oauth.Client = { client_id: rp.clientId };
      const params = await oauth.validateJwtAuthResponse(as, client, u, state, insecure);
      const res = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(rp.clientSecret!), params, CB, verifier, insecure);
      expect((await oauth.processAuthorizationCodeResponse(as, client, res)).access_token).toBeTruthy();
      const { payload, protectedHeader } = await jwtVerify(u.searchParams.get('response')!, jwks, { issuer: s.issuer, audience: rp.clientId });
      expect(protectedHeader.alg).toBe('RS256'); // the default authorization_signed_response_alg
      expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(600);
    });

    it('§2.3.4 jwt: fragment.jwt for token responses, signed with the client\'s ES256', async () => {
      const u = await go(authUrl(es.clientId, { response_type: 'id_token token', scope: 'openid', nonce: 'n-5', response_mode: 'jwt' }));
      expect(u.search).toBe('');
      const jwt = fragment(u).get('response')!;
      const { payload, protectedHeader } = await jwtVerify(jwt, jwks, { issuer: s.issuer, audience: es.clientId });
      expect(protectedHeader.alg).toBe('ES256');
      expect(payload.state).toBe('st');
      const idt = await verifyIdToken(payload.id_token as string, es.clientId, 'n-5');
      expect(idt.at_hash).toBe(halfSha256(payload.access_token as string));
    });

    it('§2.3.3 form_post.jwt posts one response field', async () => {
      const r = await agent.follow(authUrl(rp.clientId, { response_type: 'code', scope: 'openid', response_mode: 'form_post.jwt' }));
      expect(r.status).toBe(200);
      const { payload } = await jwtVerify(Agent.formValue(r.html, 'response')!, jwks, { issuer: s.issuer, audience: rp.clientId });
      expect(payload.code).toBeTruthy();
      expect(Agent.formValue(r.html, 'state')).toBeUndefined();
    });

    it('§2.4: errors are JWTs in the same mode (prompt=none without a session: login_required)', async () => {
      const fresh = new Agent(s.issuer);
      const r = await fresh.follow(authUrl(rp.clientId, { response_type: 'code', scope: 'openid', response_mode: 'query.jwt', prompt: 'none' }));
      const u = new URL(r.location!);
      const { payload } = await jwtVerify(u.searchParams.get('response')!, jwks, { issuer: s.issuer, audience: rp.clientId });
      expect(payload).toMatchObject({ error: 'login_required', state: 'st' });
      await expect(oauth.validateJwtAuthResponse(as, { client_id: rp.clientId }, u, 'st', insecure)).rejects.toThrow();
    });

    it('§2.3.1: query.jwt is refused for token responses (we do not encrypt responses)', async () => {
      const u = await go(authUrl(rp.clientId, { response_type: 'id_token', scope: 'openid', nonce: 'n', response_mode: 'query.jwt' }));
      expect(u.search).toBe('');
      const { payload } = await jwtVerify(fragment(u).get('response')!, jwks, { issuer: s.issuer, audience: rp.clientId });
      expect(payload.error).toBe('invalid_request'); // still a JWT, but in the fragment
    });
  });
});
