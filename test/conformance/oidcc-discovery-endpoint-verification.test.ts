// oidcc-discovery-endpoint-verification (OIDCCDiscoveryEndpointVerification, OP-Discovery-*): the config plan's one
// module. Beyond the suite's static checks, every value advertised is exercised: "Discovery lists exactly what works".
import * as client from 'openid-client';
import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { basic, openTestLatchkey } from '../helpers/server.js';
import { buildApp } from '../../src/http/app.js';
import { authorizationUrl, CB, codeFlow, type Conformance, completeAuthorization, useConformance, USER } from './helpers.js';

const DISCOVERY_PATH = '/.well-known/openid-configuration';
/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const sameSet = (a: string, b: string) => a.split(' ').sort().join(' ') === b.split(' ').sort().join(' ');

describe('oidcc-discovery-endpoint-verification', () => {
  const T = useConformance();

  describe('the document (the suite\'s checks)', () => {
    it('OIDC Discovery §4: the document is 200 application/json, and issuer is where it was fetched from (§4.3, RFC 8414 §2)', async () => {
      const t = T();
      const res = await fetch(t.issuer + DISCOVERY_PATH);
      expect(res.status).toBe(200); // EnsureDiscoveryEndpointResponseStatusCodeIs200
      expect(res.headers.get('content-type')).toMatch(/^application\/json/); // CheckDiscoveryEndpointReturnedJsonContentType
      const d = await res.json();
      expect(d.issuer).toBe(t.issuer); // CheckDiscEndpointIssuer: identical, not just equivalent
      const u = new URL(d.issuer); // CheckDiscEndpointIssuerIsValidUrl: no query, no fragment
      expect(u.search).toBe('');
      expect(u.hash).toBe('');
    });

    it('OIDC Discovery §3: every REQUIRED member is present, with the right type', () => {
      const d = T().discovery;
      for (const m of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri']) expect(typeof d[m], m).toBe('string');
      for (const m of ['response_types_supported', 'subject_types_supported', 'id_token_signing_alg_values_supported']) {
        expect(Array.isArray(d[m]), m).toBe(true);
        expect(d[m].length, m).toBeGreaterThan(0);
      }
      expect(typeof d.userinfo_endpoint).toBe('string'); // RECOMMENDED; the suite warns without it
      // Every *_endpoint and jwks_uri is an absolute URL under the issuer (built from it, never from Host).
      for (const [k, v] of Object.entries(d)) if (k.endsWith('_endpoint') || k === 'jwks_uri') expect(String(v).startsWith(d.issuer + '/'), k).toBe(true);
    });

    it('OIDC Discovery §3, Core §3: response types include OpenID ones; a dynamic OP needs code, id_token and "token id_token" (as sets)', () => {
      const types = T().discovery.response_types_supported as string[];
      for (const needed of ['code', 'id_token', 'token id_token']) expect(types.some((ty) => sameSet(ty, needed)), needed).toBe(true);
    });

    it('OIDC Discovery §3: subject_types_supported, RS256 for ID tokens, grant types with authorization_code and implicit', () => {
      const d = T().discovery;
      for (const st of d.subject_types_supported) expect(['public', 'pairwise']).toContain(st); // CheckDiscEndpointSubjectTypesSupported
      expect(d.id_token_signing_alg_values_supported).toContain('RS256'); // OIDC Core §15.1
      expect(d.id_token_signing_alg_values_supported).not.toContain('none');
      expect(d.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'implicit'])); // OIDCCCheckDiscEndpointGrantTypesSupported
      if (d.userinfo_signing_alg_values_supported !== undefined) expect(Array.isArray(d.userinfo_signing_alg_values_supported)).toBe(true);
      if (d.registration_endpoint !== undefined) expect(String(d.registration_endpoint).startsWith(d.issuer + '/')).toBe(true);
    });

    it('OIDC Discovery §3, RFC 6749 §3.3: scopes_supported contains openid and only valid scope tokens; no bad locales', () => {
      const d = T().discovery;
      expect(d.scopes_supported).toContain('openid'); // CheckDiscEndpointScopesSupportedContainsOpenId
      for (const s of d.scopes_supported) expect(s).toMatch(SCOPE_TOKEN); // CheckDiscEndpointScopesSupportedSyntax
      for (const m of ['ui_locales_supported', 'claims_locales_supported']) {
        if (d[m] !== undefined) for (const tag of d[m]) expect(tag).toMatch(/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/); // BCP 47
      }
    });

    it('OIDC Discovery §3: request, request_uri and claims parameter support are booleans; RS256 among request object algs; claims_supported an array', () => {
      const d = T().discovery;
      for (const m of ['request_parameter_supported', 'request_uri_parameter_supported', 'claims_parameter_supported']) expect(typeof d[m], m).toBe('boolean');
      expect(d.request_object_signing_alg_values_supported).toContain('RS256'); // CheckDiscEndpointRequestObjectSigningAlgValuesSupportedIncludesRS256
      expect(Array.isArray(d.claims_supported)).toBe(true); // OIDCCCheckDiscEndpointClaimsSupported
      expect(Array.isArray(d.code_challenge_methods_supported)).toBe(true); // RFC 8414 §2
    });

    it('RFC 7517 §4-§5, RFC 7518 §6.3.2.1: jwks_uri serves usable public keys, each with a unique kid, none private or symmetric', async () => {
      const t = T();
      const res = await fetch(t.discovery.jwks_uri);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/(jwk-set\+)?json/);
      const { keys } = (await res.json()) as { keys: JWK[] };
      const kids = keys.map((k) => k.kid);
      expect(new Set(kids).size).toBe(keys.length); // OIDC Core §10.1: kids tell keys apart
      for (const k of keys) {
        expect(typeof k.kty).toBe('string');
        expect(typeof k.kid).toBe('string');
        for (const m of PRIVATE_MEMBERS) expect(k, `${k.kid} has ${m}`).not.toHaveProperty(m); // EnsureServerJwksDoesNotContainPrivateOrSymmetricKeys
        for (const m of ['n', 'e', 'x', 'y'] as const) if (k[m] !== undefined) expect(k[m]).toMatch(/^[A-Za-z0-9_-]+$/); // unpadded base64url
        if (k.use !== undefined) expect(k.use).toBe('sig');
        expect(typeof k.alg).toBe('string');
        await expect(importJWK(k, k.alg)).resolves.toBeTruthy(); // ValidateServerJWKs
      }
    });

    it('CheckDiscEndpointAllEndpointsAreHttps: with an https issuer every endpoint URL is https (all are built from the issuer)', async () => {
      const t = await openTestLatchkey({ issuer: 'https://op.example' });
      const app = await buildApp(t.lk, { logger: false });
      try {
        const r = await app.inject({ url: DISCOVERY_PATH, headers: { host: 'evil.example' } });
        const d = r.json();
        expect(d.issuer).toBe('https://op.example');
        const urls = Object.entries(d).filter(([k]) => k.endsWith('_endpoint') || k === 'jwks_uri');
        expect(urls.length).toBeGreaterThan(5);
        for (const [k, v] of urls) expect(String(v), k).toMatch(/^https:\/\/op\.example\//);
      } finally {
        await app.close();
        await t.close();
      }
    });
  });

  describe('everything advertised works ("Discovery lists exactly what works")', () => {
    it('OIDC Core §3, Multiple Response Types §3-§5: a client can register each advertised response_type and gets that response', async () => {
      const t = T();
      const types = t.discovery.response_types_supported as string[];
      for (const rt of types) {
        const parts = rt.split(' ');
        const c = await t.client({
          grant_types: [...(parts.includes('code') ? ['authorization_code'] : []), ...(parts.some((p) => p !== 'code') ? ['implicit'] : [])],
          response_types: [rt],
        });
        // response_type=token alone is OAuth 2.0's implicit grant, not an OpenID one (no openid scope).
        const scope = rt === 'token' ? 'profile' : 'openid';
        const browser = t.browser();
        const page = await browser.follow(authorizationUrl(t, c.clientId, { response_type: rt, redirect_uri: CB, scope, state: 'st', nonce: 'nn' }));
        const cb = await completeAuthorization(browser, page);
        const params = parts.length === 1 && rt === 'code' ? cb.searchParams : new URLSearchParams(cb.hash.slice(1));
        expect(params.get('error'), `${rt}: ${params.get('error_description')}`).toBeNull();
        expect(params.get('state')).toBe('st');
        expect(params.has('code'), rt).toBe(parts.includes('code'));
        expect(params.has('access_token'), rt).toBe(parts.includes('token'));
        expect(params.has('id_token'), rt).toBe(parts.includes('id_token'));
        if (params.has('id_token')) {
          const { payload } = await jwtVerify(params.get('id_token')!, t.jwks, { issuer: t.issuer, audience: c.clientId });
          expect(payload.nonce).toBe('nn');
        }
      }
    });

    it('OAuth 2.0 Form Post and JARM: each advertised response_mode delivers a code response that way', async () => {
      const t = T();
      const c = await t.client();
      const browser = t.browser();
      await completeAuthorization(browser, await browser.follow(authorizationUrl(t, c.clientId, { response_type: 'code', redirect_uri: CB, scope: 'openid' })));
      for (const mode of t.discovery.response_modes_supported as string[]) {
        const r = await browser.follow(authorizationUrl(t, c.clientId, { response_type: 'code', redirect_uri: CB, scope: 'openid', state: 'm', response_mode: mode }));
        let got: URLSearchParams;
        if (mode.startsWith('form_post')) {
          expect(r.status, mode).toBe(200);
          expect(r.html).toContain(`action="${CB}"`);
          got = new URLSearchParams([...r.html.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
        } else {
          const u = new URL(r.location!);
          got = mode.startsWith('fragment') ? new URLSearchParams(u.hash.slice(1)) : u.searchParams;
        }
        if (mode.endsWith('jwt')) {
          const { payload } = await jwtVerify(got.get('response')!, t.jwks, { issuer: t.issuer, audience: c.clientId }); // JARM §2.1
          got = new URLSearchParams(Object.entries(payload).map(([k, v]) => [k, String(v)]));
        }
        expect(got.get('code'), mode).toBeTruthy();
        expect(got.get('state'), mode).toBe('m');
      }
    });

    it('OIDC Core §3.1.3.7: every advertised id_token_signing_alg yields an ID token that verifies against the JWKS by kid', async () => {
      const t = T();
      for (const alg of t.discovery.id_token_signing_alg_values_supported as string[]) {
        const c = await t.client({ id_token_signed_response_alg: alg });
        // openid-client accepts only the alg the client registered, so it is told.
        const { tokens } = await codeFlow(t, c, { metadata: { id_token_signed_response_alg: alg } });
        expect(decodeProtectedHeader(tokens.id_token!).alg).toBe(alg);
        const { payload } = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(t.discovery.jwks_uri)), { issuer: t.issuer, audience: c.clientId, algorithms: [alg] });
        expect(payload.sub).toBe(t.sub);
      }
    });

    it('OIDC Core §9, RFC 6749 §2.3: every advertised token_endpoint_auth_method authenticates a client at the token endpoint', async () => {
      const t = T();
      for (const method of t.discovery.token_endpoint_auth_methods_supported as string[]) {
        // private_key_jwt needs the client's public key registered; the assertion is signed with its private half.
        const pair = method === 'private_key_jwt' ? await generateKeyPair('ES256') : undefined;
        const jwk = pair ? { ...(await exportJWK(pair.publicKey)), alg: 'ES256', kid: 'k1', use: 'sig' } : undefined;
        const c = await t.client({ token_endpoint_auth_method: method, ...(jwk ? { jwks: { keys: [jwk] } } : {}) });
        const verifier = client.randomPKCECodeVerifier();
        const browser = t.browser();
        const page = await browser.follow(authorizationUrl(t, c.clientId, {
          response_type: 'code', redirect_uri: CB, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
        }));
        const code = (await completeAuthorization(browser, page)).searchParams.get('code')!;
        const form: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier };
        const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
        if (method === 'client_secret_basic') headers.authorization = basic(c.clientId, c.clientSecret);
        else if (method === 'client_secret_post') Object.assign(form, { client_id: c.clientId, client_secret: c.clientSecret });
        else if (method === 'none') form.client_id = c.clientId;
        else if (method === 'client_secret_jwt' || method === 'private_key_jwt') {
          // RFC 7523 §2.2, §3: a JWT with iss = sub = client_id, aud = the issuer (draft-ietf-oauth-rfc7523bis), exp and a fresh jti.
          const assertion = new SignJWT({ jti: randomUUID() })
            .setProtectedHeader(method === 'private_key_jwt' ? { alg: 'ES256', kid: 'k1' } : { alg: 'HS256' })
            .setIssuer(c.clientId).setSubject(c.clientId).setAudience(t.issuer).setIssuedAt().setExpirationTime('60s');
          Object.assign(form, {
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: await assertion.sign(pair ? pair.privateKey : new TextEncoder().encode(c.clientSecret)),
          });
        } else throw new Error(`advertised token_endpoint_auth_method ${method} has no test here`);
        const res = await fetch(t.discovery.token_endpoint, { method: 'POST', headers, body: new URLSearchParams(form) });
        expect(res.status, method).toBe(200);
      }
    });

    it('OIDC Discovery §3: every advertised grant type works (a new grant must add its case here)', async () => {
      const t = T();
      const cases: Record<string, (t: Conformance) => Promise<void>> = {
        authorization_code: async (t) => void (await codeFlow(t, await t.client())),
        implicit: async (t) => {
          const c = await t.client({ grant_types: ['implicit'], response_types: ['id_token token'] });
          const browser = t.browser();
          const cb = await completeAuthorization(browser, await browser.follow(authorizationUrl(t, c.clientId, { response_type: 'id_token token', redirect_uri: CB, scope: 'openid', nonce: 'n' })));
          expect(new URLSearchParams(cb.hash.slice(1)).get('access_token')).toBeTruthy();
        },
        refresh_token: async (t) => {
          const c = await t.client();
          const { config, tokens } = await codeFlow(t, c, { extra: { scope: 'openid offline_access', prompt: 'consent' } });
          expect((await client.refreshTokenGrant(config, tokens.refresh_token!)).access_token).toBeTruthy();
        },
        client_credentials: async (t) => {
          const c = await t.client({ grant_types: ['client_credentials'], redirect_uris: [], scope: 'api:read' });
          const res = await fetch(t.discovery.token_endpoint, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(c.clientId, c.clientSecret) },
            body: new URLSearchParams({ grant_type: 'client_credentials' }),
          });
          expect(res.status).toBe(200);
          expect((await res.json()).scope).toBe('api:read');
        },
        'urn:ietf:params:oauth:grant-type:device_code': deviceGrant,
        'urn:openid:params:grant-type:ciba': cibaGrant,
        // RFC 6749 §4.3: advertised because a client may opt in; it works for one that did.
        password: async (t) => {
          const c = await t.client({ grant_types: ['password'], redirect_uris: [], insecure_password_grant: true, scope: 'openid' });
          const res = await fetch(t.discovery.token_endpoint, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(c.clientId, c.clientSecret) },
            body: new URLSearchParams({ grant_type: 'password', username: USER.username, password: USER.password, scope: 'openid' }),
          });
          expect(res.status).toBe(200);
          expect((await res.json()).id_token).toBeTruthy();
        },
        // RFC 8693: a client trades its own access token (impersonation allowed by its policy).
        'urn:ietf:params:oauth:grant-type:token-exchange': async (t) => {
          const grant = 'urn:ietf:params:oauth:grant-type:token-exchange';
          const c = await t.client({ grant_types: ['client_credentials', grant], redirect_uris: [], scope: 'api:read', token_exchange: { impersonation: true } });
          const post = async (body: Record<string, string>) => fetch(t.discovery.token_endpoint, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(c.clientId, c.clientSecret) },
            body: new URLSearchParams(body),
          });
          const own = await (await post({ grant_type: 'client_credentials' })).json();
          const res = await post({ grant_type: grant, subject_token: own.access_token, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
          expect(res.status).toBe(200);
          expect((await res.json()).issued_token_type).toBe('urn:ietf:params:oauth:token-type:access_token');
        },
      };
      for (const grant of t.discovery.grant_types_supported as string[]) {
        expect(cases, `advertised grant ${grant} has no test here`).toHaveProperty([grant]);
        await cases[grant]!(t);
      }
    });

    it('OIDC Core §3.1.2.1: every advertised prompt value is accepted (none answers login_required without a session)', async () => {
      const t = T();
      const c = await t.client();
      for (const prompt of t.discovery.prompt_values_supported as string[]) {
        const r = await t.browser().follow(authorizationUrl(t, c.clientId, { response_type: 'code', redirect_uri: CB, scope: 'openid', state: 'p', prompt }));
        if (prompt === 'none') expect(new URL(r.location!).searchParams.get('error')).toBe('login_required');
        else expect(r.html, prompt).toContain('name="password"');
      }
    });

    it('OIDC Discovery §3: every advertised scope can be requested and is granted', async () => {
      const t = T();
      const scopes = (t.discovery.scopes_supported as string[]).join(' ');
      const { tokens } = await codeFlow(t, await t.client(), { extra: { scope: scopes, prompt: 'consent' } });
      expect(sameSet(tokens.scope!, scopes)).toBe(true);
    });
  });
});

/** OpenID CIBA Core: the client names the user, who allows it on /ciba; the client polls for tokens. */
async function cibaGrant(t: Conformance): Promise<void> {
  const grant = 'urn:openid:params:grant-type:ciba';
  const c = await t.client({ grant_types: [grant], redirect_uris: [], scope: 'openid', backchannel_token_delivery_mode: 'poll' });
  const auth = { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(c.clientId, c.clientSecret) };
  const r = await (await fetch(t.discovery.backchannel_authentication_endpoint, { method: 'POST', headers: auth, body: new URLSearchParams({ scope: 'openid', login_hint: USER.username }) })).json();
  const browser = new Agent(t.issuer);
  const login = await browser.follow('/ciba');
  const page = await browser.follow(Agent.formAction(login.html, '/ciba/login'), {
    form: { csrf: Agent.formValue(login.html, 'csrf')!, username: USER.username, password: USER.password },
  });
  await browser.follow('/ciba', { form: { csrf: Agent.formValue(page.html, 'csrf')!, request: Agent.formValue(page.html, 'request')!, decision: 'approve' } });
  t.advance(r.interval ?? 5);
  const res = await fetch(t.discovery.token_endpoint, { method: 'POST', headers: auth, body: new URLSearchParams({ grant_type: grant, auth_req_id: r.auth_req_id }) });
  expect(res.status).toBe(200);
  expect((await res.json()).id_token).toBeTruthy();
}

/** RFC 8628: a device asks for a code, the user approves it on /device, the device polls for tokens. */
async function deviceGrant(t: Conformance): Promise<void> {
  const grant = 'urn:ietf:params:oauth:grant-type:device_code';
  const c = await t.client({ grant_types: [grant], redirect_uris: [], scope: 'openid' });
  const auth = { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(c.clientId, c.clientSecret) };
  const d = await (await fetch(t.discovery.device_authorization_endpoint, { method: 'POST', headers: auth, body: new URLSearchParams({ scope: 'openid' }) })).json();
  const browser = new Agent(t.issuer);
  const login = await browser.follow(d.verification_uri_complete);
  const codePage = await browser.follow(Agent.formAction(login.html, '/device/login'), {
    form: { csrf: Agent.formValue(login.html, 'csrf')!, user_code: Agent.formValue(login.html, 'user_code')!, username: USER.username, password: USER.password },
  });
  const confirm = await browser.follow('/device', { form: { csrf: Agent.formValue(codePage.html, 'csrf')!, user_code: d.user_code } });
  await browser.follow('/device/confirm', { form: { csrf: Agent.formValue(confirm.html, 'csrf')!, binding: Agent.formValue(confirm.html, 'binding')!, user_code: Agent.formValue(confirm.html, 'user_code')!, decision: 'approve' } });
  t.advance(d.interval ?? 5);
  const res = await fetch(t.discovery.token_endpoint, { method: 'POST', headers: auth, body: new URLSearchParams({ grant_type: grant, device_code: d.device_code }) });
  expect(res.status).toBe(200);
  expect((await res.json()).id_token).toBeTruthy();
}
