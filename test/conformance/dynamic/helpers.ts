/**
 * Set-up for the dynamic plan (oidcc-dynamic-certification-test-plan, "Dynamic OP"): its modules run with
 * `client_registration=dynamic_client` and `client_auth_type=private_key_jwt`, so every client here is registered
 * over HTTP at the registration endpoint from discovery, the way the suite's OIDCCCreateDynamicClientRegistrationRequest
 * builds it (a fresh RS256 key with a kid, its public JWK Set inline, private_key_jwt, response_types [code],
 * grant_types [authorization_code], redirect_uris, contacts), and authenticates at the token endpoint with a JWT
 * signed by that key through openid-client's PrivateKeyJwt. As in the suite (AddPrivateKeyJWTClientAuthentication…),
 * the assertion's aud is the token endpoint; `oidcc-ensure-client-assertion-with-iss-aud-succeeds` uses the issuer.
 *
 * What the RP publishes (its jwks_uri, its sector_identifier_uri document) is served by a loopback HTTP server
 * (`rpServer`); the provider is configured to fetch those over plain http on loopback (insecureAllowHttpJwksUri,
 * insecureAllowHttpSectorIdentifierUri: development options that log a warning). Request objects by reference
 * must come from registered https URLs, so those are answered by a stub for that one URL, as in the basic plan.
 */
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { afterAll, beforeAll, expect } from 'vitest';
import type { ConfigInput } from '../../../src/config/schema.js';
import { subjectFor } from '../../../src/engine/subject.js';
import type { Agent } from '../../helpers/agent.js';
import { authorize, type AuthorizationOutcome, CB, redeem, startConformance, validateIdToken, type Conformance } from '../helpers.js';

/** Provider options the dynamic plan needs: open registration, request_uri by reference, loopback RP documents. */
export const DYNAMIC_CONFIG: ConfigInput = {
  registration: 'open',
  allowRemoteRequestUri: true,
  insecureAllowHttpJwksUri: true,
  insecureAllowHttpSectorIdentifierUri: true,
  // The suite's RP names the token endpoint as the assertion audience: a legacy value since draft-ietf-oauth-rfc7523bis.
  insecureLegacyClientAssertionAudience: true,
};

/** The RP's key pair for private_key_jwt (GenerateRS256ClientJWKsWithKeyID). */
export interface RpKey {
  privateKey: CryptoKey;
  /** The public JWK, with kid, alg and use. */
  jwk: JWK;
}

let kidCounter = 0;
export async function rpKey(alg: 'RS256' | 'ES256' = 'RS256'): Promise<RpKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: `rp-key-${process.pid}-${++kidCounter}`, alg, use: 'sig' };
  return { privateKey, jwk };
}

/** A loopback HTTP server standing for the RP's own web server: documents by path, with a hit counter. */
export interface RpServer {
  base: string;
  /** Serve `body` (JSON unless it is a string) at `path`. */
  serve(path: string, body: unknown, contentType?: string): string;
  hits(path: string): number;
  close(): Promise<void>;
}

export async function startRpServer(): Promise<RpServer> {
  const docs = new Map<string, { body: string; type: string; hits: number }>();
  const srv: Server = createServer((req, res) => {
    const doc = docs.get((req.url ?? '').split('?')[0]!);
    if (!doc) return void res.writeHead(404).end();
    doc.hits++;
    res.writeHead(200, { 'content-type': doc.type }).end(doc.body);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  return {
    base,
    serve(path, body, contentType = 'application/json') {
      docs.set(path, { body: typeof body === 'string' ? body : JSON.stringify(body), type: contentType, hits: docs.get(path)?.hits ?? 0 });
      return base + path;
    },
    hits: (path) => docs.get(path)?.hits ?? 0,
    close: () => new Promise((r) => srv.close(() => r())),
  };
}

/** A dynamically registered client: the registration response, and the key it authenticates with. */
export interface DynamicClient {
  clientId: string;
  key: RpKey;
  /** The registration response (RFC 7591 §3.2.1) as received. */
  registered: Record<string, any>;
}

export interface RegistrationOptions {
  /** Replace the inline jwks by this jwks_uri (OIDCCRegistrationJwksUri: AddJwksUriToDynamicRegistrationRequest). */
  jwksUri?: string;
  key?: RpKey;
}

export interface Dynamic extends Conformance {
  rpServer: RpServer;
  /** The suite's registration request (OIDCCCreateDynamicClientRegistrationRequest) with `extra` merged in. */
  registrationRequest(key: RpKey, extra?: Record<string, unknown>, opts?: RegistrationOptions): Record<string, unknown>;
  /** POST a registration request; the raw answer (the modules that expect an error look at it). */
  registerRaw(body: Record<string, unknown>): Promise<{ status: number; contentType: string; body: Record<string, any> }>;
  /** Register (CallDynamicRegistrationEndpointAndVerifySuccessfulResponse: 201, JSON) and return the client. */
  register(extra?: Record<string, unknown>, opts?: RegistrationOptions): Promise<DynamicClient>;
  /** openid-client for a dynamic client, authenticating with private_key_jwt (aud: the token endpoint, unless `aud` is given). */
  dynamicRp(c: DynamicClient, metadata?: Partial<client.ClientMetadata>, opts?: { aud?: 'issuer' | 'token_endpoint'; key?: RpKey }): Promise<client.Configuration>;
}

export async function startDynamic(overrides: ConfigInput = {}): Promise<Dynamic> {
  const rpServer = await startRpServer();
  let t: Conformance;
  try {
    t = await startConformance({ ...DYNAMIC_CONFIG, ...overrides });
  } catch (e) {
    await rpServer.close();
    throw e;
  }
  // AbstractOIDCCDynamicRegistrationTest: dynamic registration requires discovery, and a registration endpoint in it.
  expect(typeof t.discovery.registration_endpoint).toBe('string');
  const registrationRequest = (key: RpKey, extra: Record<string, unknown> = {}, opts: RegistrationOptions = {}) => ({
    client_name: 'Latchkey conformance RP (dynamic)',
    grant_types: ['authorization_code'],
    ...(opts.jwksUri ? { jwks_uri: opts.jwksUri } : { jwks: { keys: [key.jwk] } }),
    token_endpoint_auth_method: 'private_key_jwt',
    response_types: ['code'],
    redirect_uris: [CB],
    contacts: ['certification@oidf.example'],
    ...extra,
  });
  const registerRaw = async (body: Record<string, unknown>) => {
    const res = await fetch(t.discovery.registration_endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: (await res.json()) as Record<string, any> };
  };
  return {
    ...t,
    rpServer,
    registrationRequest,
    registerRaw,
    async register(extra = {}, opts = {}) {
      const key = opts.key ?? (await rpKey());
      const r = await registerRaw(registrationRequest(key, extra, opts));
      expect(r.status, JSON.stringify(r.body)).toBe(201); // EnsureHttpStatusCodeIs201
      expect(r.contentType).toMatch(/^application\/json/); // EnsureContentTypeJson
      expect(typeof r.body.client_id).toBe('string');
      return { clientId: r.body.client_id, key, registered: r.body };
    },
    dynamicRp(c, metadata = {}, opts = {}) {
      const key = opts.key ?? c.key;
      const aud = opts.aud === 'issuer' ? t.issuer : t.discovery.token_endpoint;
      const auth = client.PrivateKeyJwt({ key: key.privateKey, kid: key.jwk.kid }, {
        [client.modifyAssertion]: (_header: Record<string, unknown>, payload: Record<string, unknown>) => {
          payload.aud = aud;
        },
      });
      return client.discovery(new URL(t.issuer), c.clientId, metadata, auth, { execute: [client.allowInsecureRequests] });
    },
    async close() {
      await t.close();
      await rpServer.close();
    },
  };
}

/** Start one provider (with the dynamic plan's options) for a test file; call the getter inside tests. */
export function useDynamic(overrides: ConfigInput = {}): () => Dynamic {
  let d: Dynamic | undefined;
  beforeAll(async () => {
    d = await startDynamic(overrides);
  });
  afterAll(async () => {
    await d?.close();
  });
  return () => d!;
}

export interface DynamicFlow {
  config: client.Configuration;
  browser: Agent;
  a: AuthorizationOutcome;
  tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
  idt: Awaited<ReturnType<typeof validateIdToken>>;
}

/**
 * AbstractOIDCCServerTest's flow for a dynamic client: authorize (the scripted user logs in and consents), redeem
 * the code with private_key_jwt, validate the ID token (signature by kid, iss, aud, nonce, sub).
 */
export async function dynamicCodeFlow(
  d: Dynamic,
  c: DynamicClient,
  opts: {
    metadata?: Partial<client.ClientMetadata>;
    extra?: Record<string, string>;
    browser?: Agent;
    checks?: client.AuthorizationCodeGrantChecks;
    aud?: 'issuer' | 'token_endpoint';
    /** The sub the ID token must carry (default: the test user's public sub). */
    sub?: string;
  } = {},
): Promise<DynamicFlow> {
  const config = await d.dynamicRp(c, opts.metadata, { aud: opts.aud });
  const browser = opts.browser ?? d.browser();
  const a = await authorize(config, browser, opts.extra);
  expect(a.callback.searchParams.get('error'), a.callback.href).toBeNull();
  const tokens = await redeem(config, a, opts.checks);
  const idt = await validateIdToken(d, tokens.id_token!, c.clientId, a.nonce, opts.sub ?? d.sub);
  return { config, browser, a, tokens, idt };
}

/**
 * Redeem a code sending `redirectUri` exactly as registered, with oauth4webapi (openid-client derives the
 * redirect_uri from the callback URL with its whole query stripped, so it cannot send a registered query component;
 * the suite sends the registered URI as is).
 */
export async function redeemWithRedirectUri(d: Dynamic, c: DynamicClient, a: AuthorizationOutcome, redirectUri: string): Promise<oauth.TokenEndpointResponse> {
  const as = (await d.dynamicRp(c)).serverMetadata();
  const cl: oauth.Client = { client_id: c.clientId };
  const params = oauth.validateAuthResponse(as, cl, a.callback, a.state);
  const auth = oauth.PrivateKeyJwt({ key: c.key.privateKey, kid: c.key.jwk.kid }, {
    [oauth.modifyAssertion]: (_h: Record<string, unknown>, p: Record<string, unknown>) => {
      p.aud = d.discovery.token_endpoint;
    },
  });
  const res = await oauth.authorizationCodeGrantRequest(as, cl, auth, params, redirectUri, oauth.nopkce, { [oauth.allowInsecureRequests]: true });
  return oauth.processAuthorizationCodeResponse(as, cl, res, { expectedNonce: a.nonce, requireIdToken: true });
}

/** The sub a registered client should see for the test user (OIDC Core §8: its own, when it registered pairwise). */
export async function expectedSub(d: Dynamic, c: DynamicClient): Promise<string> {
  const record = await d.s.ctx.store.findClient(d.s.ctx.tenant.id, c.clientId);
  return subjectFor(d.s.ctx, record, d.sub);
}

/**
 * The RP's request_uri endpoint (AbstractOIDCCRequestUriServerTest.handleRequestUriRequest): request_uris must be
 * registered https URLs, so the one URL is answered in-process (content type application/jose, as the suite
 * serves it) by replacing the server's outbound fetch (the one behind its SSRF address guard); every other fetch
 * goes through the guard as before. Returns the undo function.
 */
export function serveRequestUri(d: Dynamic, uri: string, object: string): () => void {
  const settings = d.s.ctx.clients!.keySet;
  const realFetch = settings.fetch!;
  settings.fetch = ((url: string | URL | Request, init?: RequestInit) =>
    String(url) === uri.split('#')[0] ? Promise.resolve(new Response(object, { headers: { 'content-type': 'application/jose' } })) : realFetch(url, init)) as typeof fetch;
  return () => {
    settings.fetch = realFetch;
  };
}

/** CreateRandomRequestUri: an https request_uri on the RP, unique per test. */
export const randomRequestUri = () => `https://rp.example/requests/${client.randomState()}.jwt`;
