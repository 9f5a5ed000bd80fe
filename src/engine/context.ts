import type { TenantKeys } from '../keys/keystore.js';
import type { SecretBox } from '../keys/secret-box.js';
import type { Store } from '../store/types.js';
import type { Hasher, RandomSource } from '../tokens/handles.js';
import type { EngineLogger } from './result.js';
import type { ClientSettings } from './client-settings.js';
import type { AccountSource } from './accounts.js';
import type { EncryptionKey } from './response-encryption.js';
import type { OAuthError } from './errors.js';

/** Per-tenant policy the engine reads. Defaults come from the server config; a tenant may override. */
export interface TenantSettings {
  accessTokenTtl: number;
  idTokenTtl: number;
  refreshTokenTtl: number;
  authorizationCodeTtl: number;
  interactionTtl: number;
  sessionTtl: number;
  sessionIdleTtl: number;
  accessTokenFormat: 'opaque' | 'jwt';
  loginRateLimit: number;
  loginRateWindow: number;
  /** Refresh token idle lifetime, seconds; 0 = none (only the absolute refreshTokenTtl). */
  refreshTokenIdleTtl: number;
  /** RFC 9700 §4.14.2: a new refresh token on every use (public clients always rotate). */
  refreshTokenRotation: boolean;
  /** Seconds after a rotation during which the old refresh token is accepted once more; 0 = never. */
  refreshTokenReuseInterval: number;
  /** RFC 9126 §4: authorization requests must be pushed. */
  requirePushedAuthorizationRequests?: boolean;
  /** Lifetime of a pushed request_uri, seconds (≤ 60). */
  pushedAuthorizationRequestTtl?: number;
  /** RFC 9101 §5.2: fetch request objects from registered https request_uris. */
  allowRemoteRequestUri?: boolean;
  /** prompt=create: users may create an account from the sign-in flow. */
  allowRegistration?: boolean;
  /** acr of the built-in password sign-in. */
  defaultAcr?: string;
  deviceCodeTtl?: number;
  deviceCodeInterval?: number;
  userCodeRateLimit?: number;
  /** OpenID CIBA Core §7.3: the longest (and default) expires_in of a backchannel authentication request, seconds. */
  cibaRequestTtl?: number;
  /** CIBA Core §7.3: the poll interval, seconds. */
  cibaPollInterval?: number;
  /** Where each new CIBA request is announced for the user's authentication device (engine/ciba.ts); none: the /ciba page only. */
  cibaNotifyUrl?: string;
  /** Failed logins per address within loginRateWindow (default loginRateLimit). */
  loginRateLimitPerIp?: number;
  /** Abuse limits (src/engine/abuse-limit.ts): requests per client, per address, window seconds. */
  rateLimitPerClient?: number;
  rateLimitPerIp?: number;
  rateLimitWindow?: number;
  /** RFC 9449 §8, §9: DPoP proofs must carry a server nonce. */
  dpopNonces?: boolean;
  /** RFC 9449 §11.1: accepted distance of a DPoP proof's iat from now, seconds (default 60). */
  dpopProofWindow?: number;
  /** RFC 7662 §4: only a token's own client and the introspection_clients its resource servers name may introspect it. */
  introspectionNamedClientsOnly?: boolean;
  /** RFC 9101 §10.5: every client's authorization requests must be signed request objects (server metadata require_signed_request_object). */
  requireSignedRequestObject?: boolean;
  /** FAPI 2.0 Security Profile for every client of the tenant (engine/fapi.ts); 'off' or absent: only clients with fapi_profile. */
  fapiProfile?: 'off' | '2.0';
  /**
   * draft-ietf-oauth-rfc7523bis: a client assertion's aud is the issuer alone; this also admits the URL of the endpoint
   * called and the token endpoint URL, each as a single string (older clients). Never an array with other members.
   */
  insecureLegacyClientAssertionAudience?: boolean;
  /** RFC 9396: the authorization details types supported (authorization_details_types_supported); empty or absent = off. */
  authorizationDetailsTypes?: string[];
}

export interface EngineContext {
  tenant: { id: string; issuer: string; settings: TenantSettings };
  store: Store;
  keys: () => Promise<TenantKeys>;
  hasher: Hasher;
  /** Milliseconds since the epoch; injected so tests control time. */
  clock: () => number;
  random: RandomSource;
  log?: EngineLogger;
  /** Encrypts the secrets that must stay recoverable (client_secret_jwt); the Latchkey object holds the key. */
  secrets?: SecretBox;
  /** Server-wide client policy: certificate trust, client key fetching, dynamic registration. */
  clients?: ClientSettings;
  /**
   * Set by the token endpoint for one request: the key the tokens it mints are bound to (RFC 7800 cnf: jkt from a
   * DPoP proof, RFC 9449 §6; x5t#S256 from the client certificate, RFC 8705 §3.1).
   */
  confirmation?: { jkt?: string; 'x5t#S256'?: string };
  /** Accounts of an application embedding Latchkey (createLatchkey), used instead of the users table for claims. */
  accounts?: AccountSource;
  /**
   * Set by the token endpoint for one request (OIDC Core §10.2): the client's ID token encryption key, or the refusal
   * when it has no usable one, resolved before any store transaction: minting an ID token never fetches a jwks_uri.
   */
  idTokenEncryption?: EncryptionKey | OAuthError;
  /**
   * Outbound notifications the engine asks for and does not wait on (CIBA ping callbacks and request announcements):
   * sent by the server through its address-guarded fetch, with a timeout and a few retries. Absent: none are sent.
   */
  notify?: (message: OutboundMessage) => void;
}

/** One POST the engine wants made (EngineContext.notify). */
export interface OutboundMessage {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** For the logs: what it is (ciba_ping, ciba_request). */
  kind: string;
  tenantId: string;
  clientId?: string;
  /**
   * The operator's own URL (configuration: cibaNotifyUrl), not one a client registered: it is not held to the outbound
   * address policy (insecureRemoteFetchAddresses), which keeps clients from aiming the server at private addresses;
   * an operator's receiver is usually on one.
   */
  operatorUrl?: boolean;
}

export const nowSeconds = (ctx: Pick<EngineContext, 'clock'>): number => Math.floor(ctx.clock() / 1000);

/** How far ahead of our clock a host's authTime may be (its clock against ours), seconds: as for client assertions. */
export const AUTH_TIME_SKEW = 30;

/**
 * OIDC Core §2: auth_time is when the user authenticated, so not after now, give or take the host's clock. A host's
 * authTime (Core API, library issue, device/complete, password issue) later than that is refused (LK7390): the usual
 * cause is milliseconds given for seconds, a value that would satisfy every max_age and prompt=login check for
 * ages (authorization/index.ts authenticatedRecentlyEnough) and put an auth_time years ahead in the ID token.
 */
export function futureAuthTime(ctx: Pick<EngineContext, 'clock'>, authTime: number | undefined): string | undefined {
  if (authTime === undefined || authTime <= nowSeconds(ctx) + AUTH_TIME_SKEW) return undefined;
  return `authTime ${authTime} is in the future (epoch seconds are expected, not milliseconds)`;
}

/**
 * RFC 8705 §5: the base that replaces this issuer in its mTLS endpoint aliases (configuration mtlsBaseUrl), or
 * undefined when it has none. A tenant whose issuer lies under the server's gets its aliases under the same base.
 */
export function mtlsAliasBase(clients: Pick<ClientSettings, 'mtls'> | undefined, issuer: string): string | undefined {
  const mtls = clients?.mtls;
  if (!mtls || !(issuer === mtls.issuer || issuer.startsWith(`${mtls.issuer}/`))) return undefined;
  return mtls.baseUrl + issuer.slice(mtls.issuer.length);
}

/** Every URL the server prints is built from the issuer, never from the request's Host header. */
export function endpointsOf(issuer: string) {
  return {
    authorization: `${issuer}/oauth/authorize`,
    token: `${issuer}/oauth/token`,
    userinfo: `${issuer}/oauth/userinfo`,
    introspection: `${issuer}/oauth/introspect`,
    revocation: `${issuer}/oauth/revoke`,
    jwks: `${issuer}/.well-known/jwks.json`,
    endSession: `${issuer}/oauth/logout`,
    login: `${issuer}/login`,
    consent: `${issuer}/consent`,
    pushedAuthorizationRequest: `${issuer}/oauth/par`,
    deviceAuthorization: `${issuer}/oauth/device_authorization`,
    device: `${issuer}/device`,
    backchannelAuthentication: `${issuer}/oauth/bc-authorize`, // OpenID CIBA Core §7
    ciba: `${issuer}/ciba`,
    formPostScript: `${issuer}/assets/form-post.js`,
    registration: `${issuer}/oauth/register`,
  };
}
