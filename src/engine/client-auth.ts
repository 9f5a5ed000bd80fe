import type { SecretBox } from '../keys/secret-box.js';
import type { ClientRecord, ClientStore, ReplayCacheStore } from '../store/types.js';
import type { Hasher } from '../tokens/handles.js';
import { assertionClientId, assertionMethod, JWT_BEARER_ASSERTION_TYPE, verifyClientAssertion } from './client-assertion.js';
import { clientJwks, clientKeySet } from './client-keys.js';
import type { ClientSettings } from './client-settings.js';
import type { EngineContext } from './context.js';
import { invalidClient, OAuthError } from './errors.js';
import { FAPI_AUTH_METHODS } from './fapi.js';
import { certificateMatchesClient, certificateMatchesJwks, chainsTo, parseCertificate, withinValidity } from './mtls.js';
import type { Params } from './params.js';

/** Client credentials as presented, before any check. */
export interface PresentedCredentials {
  /** From HTTP Basic, already decoded (see parseBasicAuth). */
  clientId?: string;
  clientSecret?: string;
  /** The TLS client certificate (PEM) of the connection, when there was one (RFC 8705 §2). */
  clientCertificate?: string;
}

/**
 * What client authentication needs. The first three suffice for the secret-based methods and `none`; the JWT
 * and certificate methods also need the rest, which clientAuthDeps(ctx, endpoint) fills in.
 */
export interface ClientAuthDeps {
  store: ClientStore & Partial<ReplayCacheStore>;
  hasher: Hasher;
  tenantId: string;
  issuer?: string;
  /** URL of the endpoint being called: also accepted as a client assertion audience. */
  endpoint?: string;
  clock?: () => number;
  secrets?: SecretBox;
  clients?: ClientSettings;
  /**
   * Also accept, as a single string, the legacy client assertion audiences: the URL of the endpoint called and the
   * token endpoint URL (tenant setting insecureLegacyClientAssertionAudience; see client-assertion.ts).
   */
  legacyAssertionAudience?: boolean;
  /** The tenant holds every client to the FAPI 2.0 profile (tenant setting fapiProfile; fapi.ts). */
  fapi?: boolean;
}

/** Everything client authentication needs, from an engine context. `endpoint` is the URL being called. */
export function clientAuthDeps(ctx: EngineContext, endpoint?: string): ClientAuthDeps {
  return {
    store: ctx.store,
    hasher: ctx.hasher,
    tenantId: ctx.tenant.id,
    issuer: ctx.tenant.issuer,
    endpoint,
    clock: ctx.clock,
    secrets: ctx.secrets,
    clients: ctx.clients,
    legacyAssertionAudience: ctx.tenant.settings.insecureLegacyClientAssertionAudience === true,
    fapi: ctx.tenant.settings.fapiProfile === '2.0',
  };
}

/**
 * RFC 6749 §2.3.1: the client id and secret are form-urlencoded before being put in the Basic header, so they
 * are decoded after base64. Returns undefined for a non-Basic scheme. A Basic header that is broken in any way
 * (no credentials, not base64, no colon, bad percent-encoding) is a failed authentication attempt with the header:
 * RFC 6749 §5.2 wants 401 invalid_client with a Basic challenge, as for a wrong secret.
 */
export function parseBasicAuth(header: string | undefined): PresentedCredentials | undefined {
  if (!header) return undefined;
  // RFC 7235 §2.1: the scheme is case-insensitive and separated from its credentials by whitespace.
  const m = /^Basic(?:[ \t]+([^]*))?$/i.exec(header);
  if (!m) return undefined;
  const malformed = (detail: string) => invalidClient('LK1005', `malformed Basic authorization header: ${detail}`);
  const credentials = (m[1] ?? '').trim();
  // RFC 7617 §2: base64 as RFC 4648 §4 defines it, the standard alphabet. The padding is accepted missing, as most
  // servers (Java's decoder, node-oidc-provider) accept it: the length alone tells what it would have been.
  if (!credentials || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/.test(credentials)) throw malformed('not base64');
  const decoded = Buffer.from(credentials, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) throw malformed('no colon');
  try {
    const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { clientId: dec(decoded.slice(0, i)), clientSecret: dec(decoded.slice(i + 1)) };
  } catch {
    throw malformed('bad percent-encoding');
  }
}

/**
 * Credentials from a request input: decoded Basic values if the caller gave them, else the raw header; plus
 * the TLS client certificate when the input carries one.
 */
export function presentedCredentials(input: {
  authorization?: string;
  clientId?: string;
  clientSecret?: string;
  clientCertificate?: string;
  repeatedAuthorization?: boolean;
}): PresentedCredentials | undefined {
  // RFC 6749 §2.3: one authentication method per request; two Authorization headers are ambiguous, whichever one a
  // parser kept (the token endpoint answers invalid_request, §5.2).
  if (input.repeatedAuthorization) throw new OAuthError('invalid_request', 'more than one Authorization header', { resultCode: 'LK7263' });
  const basic = input.clientId !== undefined ? { clientId: input.clientId, clientSecret: input.clientSecret ?? '' } : parseBasicAuth(input.authorization);
  if (!input.clientCertificate) return basic;
  return { ...basic, clientCertificate: input.clientCertificate };
}

/** Methods that prove the client by its TLS certificate; the request carries only client_id (RFC 8705 §2). */
const CERTIFICATE_METHODS: readonly string[] = ['tls_client_auth', 'self_signed_tls_client_auth'];

export interface AuthenticatedClient {
  client: ClientRecord;
  method: ClientRecord['tokenEndpointAuthMethod'];
}

/**
 * Authenticate the client of a back-channel request (token, introspection, revocation, PAR, device
 * authorization). Each client has exactly one registered method; any other method is invalid_client.
 * Failures never say whether the client exists.
 *
 * - client_secret_basic / client_secret_post: RFC 6749 §2.3.1; during a secret rotation the previous secret
 *   also works until its grace period ends.
 * - client_secret_jwt / private_key_jwt: RFC 7523 §2.2 and §3, OIDC Core §9 (see client-assertion.ts).
 * - tls_client_auth / self_signed_tls_client_auth: RFC 8705 §2; the request carries client_id, the connection
 *   the certificate.
 * - none: a public client identifies itself with client_id alone.
 */
export function authenticateClient(
  deps: ClientAuthDeps,
  presented: PresentedCredentials | undefined,
  params: Params,
): Promise<AuthenticatedClient> {
  const auth = authenticateByRegisteredMethod(deps, presented, params);
  // Outside the tenant-wide profile the registered method's answer is returned as it is: the token and introspection
  // endpoints' hot path gets no promise or turn of its own from this.
  return deps.fapi ? auth.then(fapiMethodOnly) : auth;
}

/**
 * FAPI 2.0 §5.3.2.1: under the tenant-wide profile (fapiProfile), a client registered with another method before it
 * was turned on is refused, not let through (registration refuses such methods from then on).
 */
function fapiMethodOnly(auth: AuthenticatedClient): AuthenticatedClient {
  if (!FAPI_AUTH_METHODS.includes(auth.method)) {
    throw invalidClient('LK7468', `client authentication ${auth.method} is not allowed under the FAPI 2.0 profile (${FAPI_AUTH_METHODS.join(', ')})`);
  }
  return auth;
}

async function authenticateByRegisteredMethod(
  deps: ClientAuthDeps,
  presented: PresentedCredentials | undefined,
  params: Params,
): Promise<AuthenticatedClient> {
  const bodyId = params.get('client_id');
  const bodySecret = params.get('client_secret');
  const assertionType = params.get('client_assertion_type');
  const assertion = params.get('client_assertion');
  const usedBasic = presented?.clientId !== undefined;
  const usedAssertion = assertion !== undefined || assertionType !== undefined;

  if ([usedBasic, bodySecret !== undefined, usedAssertion].filter(Boolean).length > 1) {
    // RFC 6749 §2.3: a client MUST NOT use more than one authentication method in each request.
    throw new OAuthError('invalid_request', 'more than one client authentication method used', { resultCode: 'LK1004' });
  }
  if (usedBasic && bodyId !== undefined && bodyId !== presented!.clientId) {
    throw new OAuthError('invalid_request', 'client_id does not match the authenticated client', { resultCode: 'LK1006' });
  }
  if (usedAssertion) return authenticateAssertion(deps, bodyId, assertionType, assertion);

  const clientId = usedBasic ? presented!.clientId! : bodyId;
  if (clientId === undefined) throw invalidClient('LK1001', 'no client identification');
  const client = await findClient(deps, clientId);
  const registered = client.tokenEndpointAuthMethod;

  if (!usedBasic && bodySecret === undefined) {
    // client_id alone: a public client, or one the TLS connection authenticates.
    if (registered === 'none') return { client, method: 'none' };
    if (CERTIFICATE_METHODS.includes(registered)) {
      await verifyCertificate(deps, client, presented?.clientCertificate);
      return { client, method: registered };
    }
    throw invalidClient('LK1003', `client registered ${registered}, used none`);
  }
  const method = usedBasic ? 'client_secret_basic' : 'client_secret_post';
  if (registered !== method) throw invalidClient('LK1003', `client registered ${registered}, used ${method}`);
  const secret = usedBasic ? presented!.clientSecret! : bodySecret!;
  if (!secretMatches(deps, client, secret)) throw invalidClient('LK1002', 'wrong secret');
  return { client, method };
}

async function findClient(deps: ClientAuthDeps, clientId: string): Promise<ClientRecord> {
  const client = clientId.length <= 255 ? await deps.store.findClient(deps.tenantId, clientId) : undefined;
  if (!client) throw invalidClient('LK1001', `unknown client ${JSON.stringify(clientId.slice(0, 64))}`);
  return client;
}

/** The current secret, or the previous one while its rotation grace lasts. */
function secretMatches(deps: ClientAuthDeps, client: ClientRecord, secret: string): boolean {
  if (client.secretHash && deps.hasher.verify(secret, client.secretHash)) return true;
  if (!client.previousSecretHash || client.previousSecretExpiresAt === undefined) return false;
  const now = Math.floor((deps.clock ?? Date.now)() / 1000);
  return client.previousSecretExpiresAt > now && deps.hasher.verify(secret, client.previousSecretHash);
}

/** RFC 7523 §2.2: client_assertion_type and client_assertion, the client identified by the assertion itself. */
async function authenticateAssertion(
  deps: ClientAuthDeps,
  bodyId: string | undefined,
  assertionType: string | undefined,
  assertion: string | undefined,
): Promise<AuthenticatedClient> {
  if (assertionType === undefined) throw new OAuthError('invalid_request', 'missing required parameter client_assertion_type', { resultCode: 'LK0003' });
  if (assertion === undefined) throw new OAuthError('invalid_request', 'missing required parameter client_assertion', { resultCode: 'LK0003' });
  if (assertionType !== JWT_BEARER_ASSERTION_TYPE) {
    throw invalidClient('LK8006', `unsupported client_assertion_type ${JSON.stringify(assertionType.slice(0, 80))}`);
  }
  const clientId = assertionClientId(assertion);
  if (bodyId !== undefined && bodyId !== clientId) {
    throw new OAuthError('invalid_request', 'client_id does not match the client assertion', { resultCode: 'LK1006' });
  }
  const client = await findClient(deps, clientId);
  const method = assertionMethod(assertion);
  if (client.tokenEndpointAuthMethod !== method) {
    throw invalidClient('LK1003', `client registered ${client.tokenEndpointAuthMethod}, used ${method}`);
  }
  await verifyClientAssertion(deps, client, assertion, method);
  return { client, method };
}

/** RFC 8705 §2.1 (a certificate from a trusted CA, matching the registered subject) or §2.2 (a registered certificate). */
async function verifyCertificate(deps: ClientAuthDeps, client: ClientRecord, pem: string | undefined): Promise<void> {
  const fail = (resultCode: 'LK8009' | 'LK8010' | 'LK8011' | 'LK8012', detail: string) => invalidClient(resultCode, detail);
  if (!pem) throw fail('LK8009', `${client.tokenEndpointAuthMethod}: no client certificate on the connection`);
  const cert = parseCertificate(pem);
  if (!cert) throw fail('LK8010', 'the client certificate does not parse');
  const nowMs = (deps.clock ?? Date.now)();
  if (!withinValidity(cert, nowMs)) throw fail('LK8010', 'the client certificate is expired or not yet valid');
  if (client.tokenEndpointAuthMethod === 'tls_client_auth') {
    if (!chainsTo(cert, deps.clients?.trustAnchors ?? [], nowMs)) throw fail('LK8010', 'the client certificate is not issued by a trusted CA (tlsClientCa)');
    if (!certificateMatchesClient(cert, client)) throw fail('LK8011', 'the client certificate does not match the registered subject');
    return;
  }
  let matched: boolean;
  try {
    const set = clientKeySet(client, deps.clients?.keySet);
    if (!set) throw new Error('client registered no jwks or jwks_uri');
    matched = await certificateMatchesJwks(cert, await clientJwks(set));
    // A certificate we have not seen may be new at the client's jwks_uri (rotation): refetch, rate-limited.
    if (!matched && 'reload' in set) matched = await certificateMatchesJwks(cert, await clientJwks(set, { refetch: true }));
  } catch (e) {
    throw fail('LK8012', `client keys unavailable: ${(e as Error).message}`);
  }
  if (!matched) throw fail('LK8012', 'the client certificate is not among the registered ones');
}

/**
 * The methods this server can verify, for discovery and registration: the certificate methods only when a client
 * certificate can reach us (HTTPS listener or trusted proxy header), tls_client_auth only with trusted CAs.
 */
export function supportedClientAuthMethods(settings: ClientSettings | undefined, opts: { publicClients?: boolean } = {}): string[] {
  const methods = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt'];
  if (settings?.certificatesAvailable && settings.trustAnchors.length) methods.push('tls_client_auth');
  if (settings?.certificatesAvailable) methods.push('self_signed_tls_client_auth');
  if (opts.publicClients !== false) methods.push('none');
  return methods;
}

/**
 * The client a back-channel request names, as it names it (RFC 6749 §2.3.1 Basic user name, RFC 7523 §3 client
 * assertion issuer, or the client_id parameter), before any authentication. Unverified on purpose, for uses that
 * only need the claim: CORS lets the pages of the client the request claims to come from read the answer to that very
 * request, a refusal too (engine/cors.ts); the audit trail records who a refused request said it was (http/audit.ts).
 */
export function clientNamedBy(input: { parameters: string; authorization?: string }): string | undefined {
  try {
    const basic = parseBasicAuth(input.authorization);
    if (basic?.clientId) return basic.clientId;
  } catch {
    // a broken Basic header names nobody
  }
  const params = new URLSearchParams(input.parameters);
  const ids = params.getAll('client_id');
  if (ids.length === 1 && ids[0]) return ids[0];
  const assertions = params.getAll('client_assertion');
  if (ids.length === 0 && assertions.length === 1) {
    try {
      return assertionClientId(assertions[0]!);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
