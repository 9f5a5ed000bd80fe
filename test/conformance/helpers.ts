/**
 * Shared set-up for the conformance suite (test/conformance/README.md): one test file per module of the OpenID
 * Foundation's OP test plans, each driving Latchkey over HTTP the way the certification suite does, with a real
 * relying-party library (openid-client) and the scripted user agent standing in for the tester's browser.
 *
 * What every module of the plans does first (AbstractOIDCCServerTest.configure): fetch discovery, sanity-check it,
 * fetch the JWKS and require a kid on every key. `startConformance` does the same, so each file starts from a
 * provider that passed those checks.
 */
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload, UnsecuredJWT } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, expect } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { Agent } from '../helpers/agent.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** The RP's redirect URI. The agent stops at the first redirect leaving the provider, so nothing listens here. */
export const CB = 'https://rp.example/cb';

/** The test user, with every OIDC Core §5.1 standard claim so each scope module can expect all of its claims. */
export const USER = {
  username: 'buffy',
  password: 'buffy-summers-1997',
  claims: {
    name: 'Buffy Summers', given_name: 'Buffy', family_name: 'Summers', middle_name: 'Anne', nickname: 'Buff',
    profile: 'https://rp.example/buffy', picture: 'https://rp.example/buffy.png', website: 'https://rp.example',
    gender: 'female', birthdate: '1981-01-19', zoneinfo: 'America/Los_Angeles', locale: 'en-US', updated_at: 1_700_000_000,
    email: 'buffy@sunnydale.example', email_verified: true,
    address: { street_address: '1630 Revello Drive', locality: 'Sunnydale', region: 'CA', postal_code: '95037', country: 'US' },
    phone_number: '+1 555 0197', phone_number_verified: false,
  },
};

/** OIDC Core §5.4 (and the suite's VerifyScopesReturnedInClaims): the claims each scope stands for. */
export const SCOPE_CLAIMS: Record<string, string[]> = {
  openid: ['sub'],
  profile: [
    'name', 'given_name', 'family_name', 'middle_name', 'nickname', 'profile', 'picture', 'website', 'gender',
    'birthdate', 'zoneinfo', 'locale', 'updated_at', 'preferred_username',
  ],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
};

export interface RegisteredClient {
  clientId: string;
  clientSecret: string;
}

export interface Conformance {
  s: TestServer;
  issuer: string;
  /** The test user's sub. */
  sub: string;
  /** The discovery document as fetched. */
  discovery: Record<string, any>;
  jwks: ReturnType<typeof createRemoteJWKSet>;
  /** Move the provider's clock forward (instead of sleeping, as the suite does with WaitFor2Seconds / WaitFor30Seconds). */
  advance(seconds: number): void;
  /** A static client as the tester would register it: client_secret_basic, redirect_uris [CB], code + refresh_token. */
  client(meta?: Record<string, unknown>): Promise<RegisteredClient>;
  /** openid-client's view of the provider for a client (plain HTTP allowed: the test server is on loopback). */
  rp(c: RegisteredClient, auth?: 'client_secret_basic' | 'client_secret_post', metadata?: Partial<client.ClientMetadata>): Promise<client.Configuration>;
  /** A fresh browser (no cookies), as the plans ask the tester to clear cookies before some modules. */
  browser(): Agent;
  close(): Promise<void>;
}

/** Start a provider with the test user, fetch and sanity-check its discovery document and JWKS. */
export async function startConformance(overrides: ConfigInput = {}): Promise<Conformance> {
  let offset = 0;
  const s = await startTestServer(overrides, { clock: () => Date.now() + offset * 1000 });
  try {
    const sub = await s.user(USER.username, USER.password, USER.claims);
    const res = await fetch(s.url('/.well-known/openid-configuration'));
    expect(res.status).toBe(200);
    const discovery = (await res.json()) as Record<string, any>;
    expect(discovery.issuer).toBe(s.issuer); // CheckServerConfiguration
    for (const e of ['authorization_endpoint', 'token_endpoint', 'jwks_uri']) expect(typeof discovery[e]).toBe('string');
    const keys = (await (await fetch(discovery.jwks_uri)).json()) as { keys: Record<string, unknown>[] };
    expect(keys.keys.length).toBeGreaterThan(0);
    for (const k of keys.keys) expect(typeof k.kid).toBe('string'); // CheckForKeyIdInServerJWKs, OIDC Core §10.1
    return {
      s,
      issuer: s.issuer,
      sub,
      discovery,
      jwks: createRemoteJWKSet(new URL(discovery.jwks_uri)),
      advance(seconds) {
        offset += seconds;
      },
      async client(meta = {}) {
        const c = await s.client({ client_name: 'Conformance RP', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], ...meta });
        return { clientId: c.clientId, clientSecret: c.clientSecret! };
      },
      rp(c, auth = 'client_secret_basic', metadata = {}) {
        const method = auth === 'client_secret_post' ? client.ClientSecretPost(c.clientSecret) : client.ClientSecretBasic(c.clientSecret);
        return client.discovery(new URL(s.issuer), c.clientId, metadata, method, { execute: [client.allowInsecureRequests] });
      },
      browser: () => new Agent(s.issuer),
      close: () => s.close(),
    };
  } catch (e) {
    await s.close();
    throw e;
  }
}

export interface AuthorizationOutcome {
  /** The redirect back to the client (the callback URL). */
  callback: URL;
  state: string;
  nonce?: string;
  /** The authorization request's parameters as sent. */
  params: Record<string, string>;
}

type Page = Awaited<ReturnType<Agent['follow']>>;

export interface StartedAuthorization extends Omit<AuthorizationOutcome, 'callback'> {
  /** What the browser got first: a login or consent page, or a redirect back to the client. */
  page: Page;
}

/**
 * The suite's CreateAuthorizationRequestSteps: response_type=code, scope=openid, a random state and nonce (unless
 * `nonce: false`), plus `extra`; sent by GET, or by POST as a form (OIDC Core §3.1.2.1). Stops at the first page.
 */
export async function startAuthorization(
  config: client.Configuration,
  browser: Agent,
  extra: Record<string, string> = {},
  opts: { nonce?: boolean; method?: 'GET' | 'POST' } = {},
): Promise<StartedAuthorization> {
  const params: Record<string, string> = { redirect_uri: CB, scope: 'openid', state: client.randomState(), ...(opts.nonce === false ? {} : { nonce: client.randomNonce() }), ...extra };
  const url = client.buildAuthorizationUrl(config, params);
  const page = opts.method === 'POST' ? await browser.follow(url.origin + url.pathname, { form: Object.fromEntries(url.searchParams) }) : await browser.follow(url.href);
  return { page, state: params.state!, nonce: params.nonce, params };
}

/** The user at the browser: logs in and approves consent when asked, until the provider redirects to the client. */
export async function completeAuthorization(browser: Agent, page: Page): Promise<URL> {
  let r = page;
  if (r.html.includes('name="password"')) r = await browser.login(r, USER.username, USER.password);
  if (r.html.includes('/consent')) r = await browser.consent(r, 'approve');
  if (!r.location) throw new Error(`expected a redirect to the client, got ${r.status}: ${r.html.slice(0, 300)}`);
  const callback = new URL(r.location);
  expect(callback.origin + callback.pathname).toBe(CB);
  return callback;
}

/** startAuthorization, then the user completes it: the redirect back to the client. */
export async function authorize(
  config: client.Configuration,
  browser: Agent,
  extra: Record<string, string> = {},
  opts: { nonce?: boolean; method?: 'GET' | 'POST' } = {},
): Promise<AuthorizationOutcome> {
  const { page, ...rest } = await startAuthorization(config, browser, extra, opts);
  return { ...rest, callback: await completeAuthorization(browser, page) };
}

/** An authorization request URL built by hand (modules that send what an RP library would not, or expect a page). */
export function authorizationUrl(t: Conformance, clientId: string, params: Record<string, string>): string {
  return `${t.discovery.authorization_endpoint}?` + new URLSearchParams({ client_id: clientId, ...params });
}

/** Redeem the code with openid-client, which checks state, iss (RFC 9207), nonce and the ID token's claims. */
export async function redeem(
  config: client.Configuration,
  a: AuthorizationOutcome,
  checks: client.AuthorizationCodeGrantChecks = {},
): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers> {
  return client.authorizationCodeGrant(config, a.callback, { expectedState: a.state, expectedNonce: a.nonce, idTokenExpected: true, ...checks });
}

/**
 * The suite's ID token validation (ValidateIdToken, ValidateIdTokenSignature, ValidateIdTokenSignatureUsingKid,
 * CheckForSubjectInIdToken, ValidateIdTokenNonce): verified by jose against the JWKS, the key chosen by kid;
 * iss, aud, exp and iat as OIDC Core §3.1.3.7 requires.
 */
export async function validateIdToken(
  t: Conformance,
  idToken: string,
  clientId: string,
  nonce?: string,
  /** The sub this client should see: the test user's (public), or a pairwise one (OIDC Core §8.1). */
  expectedSub: string = t.sub,
): Promise<{ payload: JWTPayload; alg: string; kid?: string }> {
  const header = decodeProtectedHeader(idToken);
  expect(typeof header.kid).toBe('string');
  const { payload } = await jwtVerify(idToken, t.jwks, { issuer: t.issuer, audience: clientId, clockTolerance: 60 });
  expect(payload.sub).toBe(expectedSub);
  expect(typeof payload.exp).toBe('number');
  expect(typeof payload.iat).toBe('number');
  if (Array.isArray(payload.aud) && payload.aud.length > 1) expect(payload.azp).toBe(clientId); // OIDC Core §2
  if (nonce !== undefined) expect(payload.nonce).toBe(nonce);
  else expect(payload.nonce).toBeUndefined();
  return { payload, alg: header.alg!, kid: header.kid };
}

export interface CodeFlow {
  config: client.Configuration;
  browser: Agent;
  a: AuthorizationOutcome;
  tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
  idt: Awaited<ReturnType<typeof validateIdToken>>;
}

/** The whole happy flow (OIDCCServerTest): authorize, redeem, validate the ID token. */
export async function codeFlow(
  t: Conformance,
  c: RegisteredClient,
  opts: {
    auth?: 'client_secret_basic' | 'client_secret_post';
    /** Client metadata openid-client should know (e.g. id_token_signed_response_alg). */
    metadata?: Partial<client.ClientMetadata>;
    browser?: Agent;
    extra?: Record<string, string>;
    nonce?: boolean;
    method?: 'GET' | 'POST';
    checks?: client.AuthorizationCodeGrantChecks;
  } = {},
): Promise<CodeFlow> {
  const config = await t.rp(c, opts.auth, opts.metadata);
  const browser = opts.browser ?? t.browser();
  const a = await authorize(config, browser, opts.extra, { nonce: opts.nonce, method: opts.method });
  expect(a.callback.searchParams.get('error')).toBeNull();
  const tokens = await redeem(config, a, opts.checks);
  const idt = await validateIdToken(t, tokens.id_token!, c.clientId, a.nonce);
  return { config, browser, a, tokens, idt };
}

/** RFC 6749 §5.2 / OIDC Core §3.1.3.4: an error from the token endpoint is a 400 JSON body with a registered code. */
export async function expectTokenError(res: Response, error: string): Promise<Record<string, unknown>> {
  expect(res.status).toBe(400);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body.error).toBe(error);
  // RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E (no CR, LF, tab, quote or backslash).
  if (body.error_description !== undefined) expect(body.error_description).toMatch(/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/);
  return body;
}

/** UserInfo by GET with the token in the Authorization header (OIDC Core §5.3.1). */
export const userinfoGet = (t: Conformance, token: string) => fetch(`${t.issuer}/oauth/userinfo`, { headers: { authorization: `Bearer ${token}` } });

/** The standard claims' JSON types (the suite's ValidateUserInfoStandardClaims, OIDC Core §5.1). */
export function expectStandardClaimTypes(claims: Record<string, unknown>): void {
  const booleans = ['email_verified', 'phone_number_verified'];
  for (const [k, v] of Object.entries(claims)) {
    if (k === 'address') expect(typeof v).toBe('object');
    else if (k === 'updated_at') expect(Number.isInteger(v)).toBe(true);
    else if (booleans.includes(k)) expect(typeof v).toBe('boolean');
    else if (Object.values(SCOPE_CLAIMS).flat().includes(k)) expect(typeof v).toBe('string');
  }
  if (typeof claims.birthdate === 'string') expect(claims.birthdate).toMatch(/^(\d{4}|\d{4}-\d{2}-\d{2}|0000-\d{2}-\d{2})$/);
}

/** Start one provider for a test file (beforeAll) and stop it after (afterAll); call the getter inside tests. */
export function useConformance(overrides: ConfigInput = {}): () => Conformance {
  let t: Conformance | undefined;
  beforeAll(async () => {
    t = await startConformance(overrides);
  });
  afterAll(async () => {
    await t?.close();
  });
  return () => t!;
}

/**
 * The scope modules (AbstractOIDCCScopesServerTest): a code flow asking for `scope`, then UserInfo must hold every
 * claim those scopes stand for (VerifyScopesReturnedInUserInfoClaims; the test user has them all), with the
 * standard claims' types, the ID token's sub, and nothing the scopes do not release (OIDC Core §5.4).
 */
export async function expectScopeClaims(t: Conformance, scope: string): Promise<Record<string, unknown>> {
  const c = await t.client();
  const { config, tokens, idt } = await codeFlow(t, c, { extra: { scope } });
  expect(tokens.scope?.split(' ').sort()).toEqual(scope.split(' ').sort());
  const info = (await client.fetchUserInfo(config, tokens.access_token, idt.payload.sub!)) as Record<string, unknown>;
  expect(info.sub).toBe(t.sub);
  expectStandardClaimTypes(info);
  const expected = scope.split(' ').flatMap((s) => SCOPE_CLAIMS[s] ?? []);
  for (const name of expected) expect(info, `claim ${name}`).toHaveProperty(name);
  expect(Object.keys(info).sort()).toEqual([...new Set(expected)].sort());
  return info;
}

/**
 * AbstractOIDCCSameAuthTwiceServerTest: a first authorization (with `first` parameters), then a second one in the
 * same browser with `second` parameters that must be answered without any page; both ID tokens must have the
 * same sub and, when present, the same auth_time (OIDC Core §2).
 */
export async function sameAuthTwice(
  t: Conformance,
  first: Record<string, string>,
  second: (firstIdToken: string) => Record<string, string>,
): Promise<{ firstClaims: JWTPayload; secondClaims: JWTPayload }> {
  const c = await t.client();
  const one = await codeFlow(t, c, { extra: first });
  t.advance(2);
  const two = await startAuthorization(one.config, one.browser, second(one.tokens.id_token!));
  expect(two.page.location, `expected no page, got: ${two.page.html.slice(0, 200)}`).toBeDefined();
  const callback = new URL(two.page.location!);
  expect(callback.searchParams.get('error')).toBeNull();
  const tokens = await redeem(one.config, { ...two, callback });
  const idt = await validateIdToken(t, tokens.id_token!, c.clientId, two.nonce);
  expect(idt.payload.sub).toBe(one.idt.payload.sub); // CheckIdTokenSubConsistentForSecondAuthorization
  if (one.idt.payload.auth_time !== undefined || idt.payload.auth_time !== undefined) {
    expect(idt.payload.auth_time).toBe(one.idt.payload.auth_time); // CheckIdTokenAuthTimeClaimsSameIfPresent
  }
  return { firstClaims: one.idt.payload, secondClaims: idt.payload };
}

/**
 * The suite's ConvertAuthorizationEndpointRequestToRequestObject + AddAudToRequestObject + AddIssToRequestObject +
 * SerializeRequestObjectWithNullAlgorithm: every parameter in an unsigned (alg none) request object.
 */
export function unsignedRequestObject(t: Conformance, clientId: string, params: Record<string, string>): string {
  return new UnsecuredJWT({ client_id: clientId, ...params }).setIssuer(clientId).setAudience(t.issuer).encode();
}

/**
 * BuildRequestObjectRedirectToAuthorizationEndpoint: the request object plus, outside it, the parameters OAuth 2.0
 * requires (OIDC Core §6.1: response_type, client_id, scope with openid; RFC 6749 §3.1.2.3: redirect_uri).
 */
export function requestObjectUrl(t: Conformance, clientId: string, inner: Record<string, string>, by: { request: string } | { request_uri: string }, outer: Record<string, string> = {}): string {
  const duplicated = { response_type: inner.response_type!, client_id: clientId, scope: inner.scope!, redirect_uri: inner.redirect_uri! };
  return authorizationUrl(t, clientId, { ...duplicated, ...outer, ...by });
}
