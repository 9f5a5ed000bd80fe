import { isIP } from 'node:net';
import { z } from 'zod';
import type { ClientMetadata, ClientRecord, TokenEndpointAuthMethod } from '../store/types.js';
import { SIGNING_ALGS } from '../tokens/jwt.js';
import { ASYMMETRIC_ASSERTION_ALGS, HMAC_ASSERTION_ALGS } from './client-assertion.js';
import { OAuthError } from './errors.js';
import { isResourceIndicator } from './resources.js';
import { defaultExchangePolicy, EXCHANGE_INPUT_TYPES, TOKEN_EXCHANGE_GRANT } from './token/exchange-policy.js';
import { parseRfc4514 } from './mtls.js';
import { sectorKeyOf } from './subject.js';
import { isLocalMachineHost, isLoopbackHost } from './hosts.js';
import { checkOriginValue } from './cors.js';
import { algMember, DEFAULT_ENCRYPTION_ENC, ENCRYPTED_RESPONSES, ENCRYPTION_ALGS, ENCRYPTION_ENCS, selectEncryptionKey } from './response-encryption.js';
import { hostRefusedWithoutDns, type RemoteAddressPolicy } from './remote.js';
import { AUTHORIZATION_DETAILS_TYPE } from './authorization-details.js';
import { checkFapiMetadata, FAPI_PROFILES } from './fapi.js';

/**
 * Grant and response types a client may register today. `password` (RFC 6749 §4.3) only together with
 * `insecure_password_grant: true`: RFC 9700 §2.4 says the grant MUST NOT be used, so it takes a knowing opt-in.
 */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'; // RFC 8628 §3.4
export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba'; // OpenID CIBA Core §4
/** CIBA Core §4, §5: the token delivery modes served (push is not: FAPI-CIBA forbids it, and it sends tokens to a URL). */
export const CIBA_DELIVERY_MODES = ['poll', 'ping'] as const;
export const REGISTRABLE_GRANTS = [
  'authorization_code', 'refresh_token', 'client_credentials', 'implicit', DEVICE_CODE_GRANT, 'password', TOKEN_EXCHANGE_GRANT, CIBA_GRANT,
] as const;
/**
 * OIDC Core §3 and OAuth 2.0 Multiple Response Type Encoding Practices §3-§5, in canonical order. Implicit and
 * hybrid types are off unless a client registers them (RFC 9700 §2.1.2 discourages the implicit grant).
 */
export const REGISTRABLE_RESPONSE_TYPES = ['code', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token', 'token'] as const;

/** A response_type with its values in canonical order (code, id_token, token); undefined when not a known combination. */
export function normalizeResponseType(value: string): string | undefined {
  const parts = value.split(' ').filter(Boolean);
  const order = ['code', 'id_token', 'token'];
  if (new Set(parts).size !== parts.length || parts.some((p) => !order.includes(p))) return undefined;
  const canonical = order.filter((o) => parts.includes(o)).join(' ');
  return (REGISTRABLE_RESPONSE_TYPES as readonly string[]).includes(canonical) ? canonical : undefined;
}

export const STANDARD_SCOPES = ['openid', 'profile', 'email', 'address', 'phone', 'offline_access'];

const scopeToken = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const lifetime = z.number().int().positive().max(10 * 365 * 86400);

/** Every token endpoint authentication method a client may register (RFC 7591 §2, RFC 7523, RFC 8705). */
export const TOKEN_ENDPOINT_AUTH_METHODS = [
  'client_secret_basic', 'client_secret_post', 'none', 'client_secret_jwt', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth',
] as const satisfies readonly TokenEndpointAuthMethod[];
/** Methods whose client holds a client_secret. */
export const SECRET_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt'];

/**
 * RFC 3986 §2: no URI holds a control character, DEL or whitespace, and a lone surrogate is no character at all;
 * `new URL` strips tabs and newlines and percent-encodes the rest, so a value that parses can still carry them and be
 * registered as something other than what any request will send. Every URI metadata value is refused with them.
 */
const UNSAFE_URI_CHARS = /[\u0000-\u0020\u007f\s]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSAFE_URI_MESSAGE = 'must not contain control characters, whitespace or lone surrogates (RFC 3986 §2)';
export const hasUnsafeUriChars = (v: string): boolean => UNSAFE_URI_CHARS.test(v);
/** A URI metadata value: a string without control characters, whitespace or lone surrogates. */
const uriString = () => z.string().refine((v) => !hasUnsafeUriChars(v), UNSAFE_URI_MESSAGE);
/** A human-facing link (logo, home page, terms, policy): http(s) only, never javascript: or data:. */
const webUrl = uriString().max(2000).url().refine((v) => /^https?:\/\//i.test(v), 'must be an http(s) URL')
  // Shown to users as links and images on the sign-in and consent pages: as unambiguous as a redirect URI (httpUriFlaw).
  .refine((v) => !URL.canParse(v) || httpUriFlaw(v, new URL(v)) === undefined, 'must be scheme://host… with no userinfo (RFC 9110 §4.2.4) and no "\\"');
/** A public JWK (RFC 7517 §4): private members are refused, so a client cannot hand us its private key by mistake. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const jwkSchema = z
  .record(z.string(), z.unknown())
  .refine((k) => typeof k.kty === 'string', 'every key needs a kty')
  .refine((k) => !PRIVATE_JWK_MEMBERS.some((m) => m in k), 'must hold public keys only (no d, p, q, k …)');

/** RFC 7591 §2 client metadata on the wire (snake_case), plus Latchkey's policy fields. Unknown fields are ignored. */
const wireSchema = z.object({
  client_id: z.string().regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 printable ASCII characters').optional(),
  client_secret: z.string().min(32, 'an operator-supplied secret must be at least 32 characters (DESIGN: secrets are high-entropy)').max(512).optional(),
  client_name: z.string().max(200).optional(),
  logo_uri: webUrl.optional(),
  client_uri: webUrl.optional(),
  // OIDC Registration §2: where a third party sends the browser to have the RP start a login (OIDC Core §4); "MUST use
  // the https scheme". Latchkey never follows it itself: it is stored and returned.
  initiate_login_uri: webUrl.refine((v) => /^https:\/\//i.test(v), 'must use https (OIDC Registration §2)').optional(),
  contacts: z.array(z.string().max(320)).max(20).optional(),
  redirect_uris: z.array(uriString()).max(50).optional(),
  post_logout_redirect_uris: z.array(uriString()).max(50).optional(),
  backchannel_logout_uri: uriString().url().max(2000).optional(),
  backchannel_logout_session_required: z.boolean().optional(),
  frontchannel_logout_uri: uriString().url().max(2000).optional(),
  frontchannel_logout_session_required: z.boolean().optional(),
  // OpenID CIBA Core §4: how this client gets its tokens, and where a ping goes.
  backchannel_token_delivery_mode: z.string().max(20).optional(),
  backchannel_client_notification_endpoint: uriString().url().max(2000).optional(),
  backchannel_authentication_request_signing_alg: z.string().max(20).optional(),
  backchannel_user_code_parameter: z.boolean().optional(),
  grant_types: z.array(z.string()).max(10).optional(),
  response_types: z.array(z.string()).max(10).optional(),
  scope: z.string().max(2000).optional(),
  token_endpoint_auth_method: z.enum(TOKEN_ENDPOINT_AUTH_METHODS).optional(),
  application_type: z.enum(['web', 'native']).optional(),
  id_token_signed_response_alg: z.enum(SIGNING_ALGS).optional(),
  require_pkce: z.boolean().optional(),
  skip_consent: z.boolean().optional(),
  session_refresh_tokens: z.boolean().optional(),
  access_token_format: z.enum(['opaque', 'jwt']).optional(),
  introspection_signed_response_alg: z.enum(SIGNING_ALGS).optional(),
  introspection_own_tokens_only: z.boolean().optional(),
  resources: z.array(uriString().max(2000)).max(50).optional(),
  authorization_details_types: z.array(z.string().regex(AUTHORIZATION_DETAILS_TYPE, 'must be printable ASCII without spaces, at most 200 characters')).max(50).optional(), // RFC 9396 §10
  access_token_lifetime: lifetime.optional(),
  id_token_lifetime: lifetime.optional(),
  refresh_token_lifetime: lifetime.optional(),
  refresh_token_idle_lifetime: z.number().int().min(0).max(10 * 365 * 86400).optional(),
  refresh_token_rotation: z.boolean().optional(),
  refresh_token_reuse_interval: z.number().int().min(0).max(300).optional(),
  insecure_password_grant: z.boolean().optional(),
  token_exchange: z
    .object({
      subject_token_types: z.array(z.string()).max(10).optional(),
      actor_token_types: z.array(z.string()).max(10).optional(),
      subject_token_audiences: z.array(z.string().max(2000)).max(50).optional(),
      delegation: z.boolean().optional(),
      impersonation: z.boolean().optional(),
    })
    .strict()
    .optional(),
  authorization_signed_response_alg: z.enum(SIGNING_ALGS).optional(),
  require_pushed_authorization_requests: z.boolean().optional(),
  // FAPI 2.0 Security Profile enforced for this client (engine/fapi.ts; operator only).
  fapi_profile: z.enum(FAPI_PROFILES).optional(),
  request_object_signing_alg: z.enum([...SIGNING_ALGS, 'none']).optional(),
  request_uris: z.array(uriString().url().refine((u) => u.startsWith('https://'), 'must be https URLs')).max(20).optional(),
  // client authentication (RFC 7591 §2, RFC 7523, RFC 8705 §2.1.2, OIDC Registration §2)
  token_endpoint_auth_signing_alg: z.enum([...ASYMMETRIC_ASSERTION_ALGS, ...HMAC_ASSERTION_ALGS]).optional(),
  jwks: z.object({ keys: z.array(jwkSchema).min(1).max(100) }).optional(),
  jwks_uri: uriString().max(2000).url().optional(),
  tls_client_auth_subject_dn: z.string().min(1).max(1000).optional(),
  tls_client_auth_san_dns: z.string().min(1).max(255).optional(),
  tls_client_auth_san_uri: uriString().min(1).max(2000).url().optional(),
  tls_client_auth_san_ip: z.string().refine((v) => isIP(v) !== 0, 'must be an IPv4 or IPv6 address').optional(),
  tls_client_auth_san_email: z.string().min(3).max(320).regex(/^[^@\s]+@[^@\s]+$/, 'must be an email address').optional(),
  tos_uri: webUrl.optional(),
  policy_uri: webUrl.optional(),
  software_id: z.string().min(1).max(200).optional(),
  software_version: z.string().min(1).max(200).optional(),
  software_statement: z.string().max(16 * 1024).optional(),
  dpop_bound_access_tokens: z.boolean().optional(), // RFC 9449 §5.2
  tls_client_certificate_bound_access_tokens: z.boolean().optional(), // RFC 8705 §3.4
  // OIDC Registration §2: subject identifiers (OIDC Core §8) and signed UserInfo (OIDC Core §5.3.2)
  subject_type: z.enum(['public', 'pairwise']).optional(),
  sector_identifier_uri: uriString().max(2000).url().optional(),
  userinfo_signed_response_alg: z.enum(SIGNING_ALGS).optional(),
  require_signed_request_object: z.boolean().optional(), // RFC 9101 §10.5
  // OIDC Registration §2: max_age when a request sends none; auth_time in ID tokens (always sent here).
  default_max_age: z.number().int().min(0).max(10 * 365 * 86400).optional(),
  require_auth_time: z.boolean().optional(),
  // RFC 8693 §4.4: the may_act claim of this client's access tokens (operator only).
  access_token_may_act: z.object({ sub: z.string().min(1).max(255) }).strict().optional(),
  // CORS (Fetch standard): the web origins of a browser-based client (engine/cors.ts); Hydra's name for it.
  allowed_cors_origins: z.array(z.string().max(2000)).max(50).optional(),
  // Encrypted responses (OIDC Registration §2, JARM §2.2, RFC 9701 §6): engine/response-encryption.ts
  id_token_encrypted_response_alg: z.enum(ENCRYPTION_ALGS).optional(),
  id_token_encrypted_response_enc: z.enum(ENCRYPTION_ENCS).optional(),
  userinfo_encrypted_response_alg: z.enum(ENCRYPTION_ALGS).optional(),
  userinfo_encrypted_response_enc: z.enum(ENCRYPTION_ENCS).optional(),
  authorization_encrypted_response_alg: z.enum(ENCRYPTION_ALGS).optional(),
  authorization_encrypted_response_enc: z.enum(ENCRYPTION_ENCS).optional(),
  introspection_encrypted_response_alg: z.enum(ENCRYPTION_ALGS).optional(),
  introspection_encrypted_response_enc: z.enum(ENCRYPTION_ENCS).optional(),
});

export type ClientMetadataInput = z.input<typeof wireSchema>;

function invalid(msg: string): OAuthError {
  return new OAuthError('invalid_client_metadata', msg, { resultCode: 'LK8024' });
}

function invalidRedirect(uri: string, why: string, field = 'redirect_uris'): OAuthError {
  return new OAuthError('invalid_redirect_uri', `${field}: ${JSON.stringify(uri.slice(0, 200))} ${why}`, { resultCode: 'LK8025' });
}

/**
 * Redirect URI rules by client type:
 * - every URI is absolute without a fragment (RFC 6749 §3.1.2);
 * - web clients use https, or http on the loopback interface for development (RFC 6749 §3.1.2.1);
 * - native clients (RFC 8252 §7) use a private-use scheme named after a domain they control, reversed (§7.1:
 *   it contains a period), a claimed https URI (§7.2), or http on a loopback address (§7.3; localhost works
 *   but is not recommended, §8.3);
 * - schemes that run code or read files are never accepted.
 */
function checkRedirectUri(uri: string, applicationType: 'web' | 'native', field = 'redirect_uris'): void {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw invalidRedirect(uri, 'is not an absolute URI', field);
  }
  if (u.hash || uri.includes('#')) throw invalidRedirect(uri, 'must not have a fragment (RFC 6749 §3.1.2)', field);
  if (/^(javascript|data|vbscript|file|blob|about|filesystem):$/i.test(u.protocol)) throw invalidRedirect(uri, 'uses a forbidden scheme', field);
  if (u.protocol === 'http:' || u.protocol === 'https:') {
    const flaw = httpUriFlaw(uri, u);
    if (flaw) throw invalidRedirect(uri, flaw, field);
  }
  if (u.protocol === 'https:') return;
  if (u.protocol === 'http:') {
    if (isLoopbackHost(u.hostname)) return;
    throw invalidRedirect(uri, 'must use https (http is only allowed on the loopback interface: 127.0.0.1, [::1], localhost)', field);
  }
  if (applicationType === 'web') throw invalidRedirect(uri, 'must use https: custom schemes are for native clients (application_type native)', field);
  // RFC 8252 §7.1: a private-use scheme is a reversed domain name, so it contains a period.
  if (!u.protocol.slice(0, -1).includes('.')) {
    throw invalidRedirect(uri, 'uses a private-use scheme that is not a reversed domain name (RFC 8252 §7.1: e.g. com.example.app:/cb)', field);
  }
}

/**
 * An http(s) URI this server sends browsers to, or calls, as the URL parser and every other reader see it alike:
 * - RFC 9110 §4.2.4: a sender MUST NOT generate userinfo in an http(s) URI; "https://good.example@evil.example/"
 *   only obscures the authority;
 * - RFC 9110 §4.2.2: https (and http) URIs have an authority with a host: "https:evil.example/cb" and "https:///cb"
 *   are read as some host by WHATWG parsers and as none by RFC 3986 ones;
 * - RFC 3986 §2: "\\" is no URI character; WHATWG parsers read it as "/", others as data.
 */
function httpUriFlaw(uri: string, u: URL): string | undefined {
  if (!/^https?:\/\/[^/\\?#]/i.test(uri)) return 'must be scheme://host… with an authority (RFC 9110 §4.2.2)';
  if (uri.includes('\\')) return 'must not contain "\\" (RFC 3986 §2)';
  const authority = /^https?:\/\/([^/?#]*)/i.exec(uri)![1]!;
  if (u.username || u.password || authority.includes('@')) return 'must not contain userinfo (RFC 9110 §4.2.4)';
  return undefined;
}

/**
 * RFC 9700 §4.1.3: exact string match, with one exception. RFC 8252 §7.3: for a native client's loopback IP
 * redirect URI, the port is chosen at run time, so any port matches.
 */
export function redirectUriMatches(client: Pick<ClientMetadata, 'redirectUris' | 'applicationType'>, sent: string): boolean {
  if (client.redirectUris.includes(sent)) return true;
  if (client.applicationType !== 'native') return false;
  // Compared as strings with only the port taken out: no URL normalisation may make two different URIs equal.
  const portless = (uri: string) => {
    const m = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?([/?][^#]*)?$/.exec(uri);
    // RFC 3986 §3.2.3 with RFC 6335 §6: "any port" is any valid one, 1-65535 (99999 or 0 names no listener).
    if (!m || (m[2] !== undefined && !(Number(m[2]) >= 1 && Number(m[2]) <= 65535))) return undefined;
    return `http://${m[1]}${m[3] ?? ''}`;
  };
  const key = portless(sent);
  return key !== undefined && client.redirectUris.some((r) => portless(r) === key);
}

/**
 * OIDC Registration §2 (application_type): "Web Clients using the OAuth Implicit Grant Type MUST only register URLs
 * using the https scheme as redirect_uris; they MUST NOT use localhost as the hostname": the tokens travel in the
 * URI, so no plain-http development exception and no loopback host (any local process could listen there).
 */
function checkImplicitWebRedirectUri(uri: string): void {
  const u = new URL(uri);
  if (u.protocol !== 'https:') throw invalidRedirect(uri, 'must use https: a web client using the implicit grant (response types with id_token or token) registers https URIs only (OIDC Registration §2)');
  if (isLocalMachineHost(u.hostname)) {
    throw invalidRedirect(uri, 'must not be on localhost or a loopback address: a web client using the implicit grant registers a real host (OIDC Registration §2)');
  }
}

/** Options for validateClientMetadata. */
export interface ValidateOptions {
  /**
   * Dynamic registration (RFC 7591): the client chose the metadata, so operator-only fields (client_id,
   * client_secret, skip_consent) are ignored and only these scopes may be registered.
   */
  dynamic?: {
    allowedScopes: readonly string[];
    /**
     * RFC 7592 §2.2 (the server MAY ignore or replace values): a client updating its stored record. The operator's
     * values of OPERATOR_ONLY_FIELDS (wire names) replace whatever the client sent, and the grant types and scopes
     * already on the record stay allowed though a new registration would be refused them: dropped, not added.
     */
    stored?: {
      operatorValues: Record<string, unknown>; grantTypes: readonly string[]; scope: readonly string[]; resources?: readonly string[];
      /** The sector (redirect URI host) of a stored pairwise client with the device grant and no sector_identifier_uri (an operator's setup). */
      pairwiseDeviceSector?: string;
    };
  };
  /** Authentication methods this server can verify (discovery's list); others are invalid_client_metadata. */
  supportedAuthMethods?: readonly string[];
  /** Accept http:// jwks_uri values (configuration insecureAllowHttpJwksUri). */
  allowHttpJwksUri?: boolean;
  /** Accept http:// sector_identifier_uri values (configuration insecureAllowHttpSectorIdentifierUri). */
  allowHttpSectorIdentifierUri?: boolean;
  /** false: no client certificate can reach this server (no HTTPS listener, no trusted proxy header). */
  certificatesAvailable?: boolean;
  /** RFC 9396 §10: the authorization details types the server supports; authorization_details_types must be among them. Unchecked when absent. */
  authorizationDetailsTypes?: readonly string[];
  /** The outbound address policy (insecureRemoteFetchAddresses) the URIs this server calls must pass; unchecked when absent. */
  remoteFetchPolicy?: RemoteAddressPolicy;
  /** The tenant holds every client to the FAPI 2.0 profile (fapiProfile): validated as if fapi_profile were "2.0". */
  fapi?: boolean;
}

/**
 * Front-Channel Logout 1.0 §2: "The domain, port, and scheme of this URL MUST be the same as that of a registered
 * Redirection URI value": the logout page the OP frames belongs to the RP the user was sent back to, not to anyone
 * the client names. Compared as the URL parser normalises them (case, default ports).
 */
function checkFrontchannelLogoutOrigin(uri: string | undefined, redirectUris: readonly string[], applicationType: 'web' | 'native' = 'web'): void {
  if (uri === undefined) return;
  const f = new URL(uri);
  const same = redirectUris.some((r) => {
    try {
      const u = new URL(r);
      // RFC 8252 §7.3: a native client's loopback http redirect URI takes any port (redirectUriMatches), so its port names no listener.
      const anyPort = applicationType === 'native' && u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === '[::1]');
      return u.protocol === f.protocol && u.hostname === f.hostname && (anyPort || u.port === f.port);
    } catch {
      return false;
    }
  });
  if (!same) {
    throw new OAuthError(
      'invalid_client_metadata',
      'frontchannel_logout_uri: its scheme, host and port must be those of a registered redirect URI (Front-Channel Logout 1.0 §2)',
      { resultCode: 'LK7283' },
    );
  }
}

/**
 * URIs this server itself calls (jwks_uri, sector_identifier_uri, request_uris, backchannel_logout_uri) go through the
 * outbound address policy (remote.ts, insecureRemoteFetchAddresses). One the policy refuses outright would fail at
 * every call (a back-channel logout silently, long after registration), so it is refused now, by the same rule the
 * fetch applies. Only what that rule decides without DNS (an IP literal, a localhost name): a host name resolves at
 * each connection, where it is judged again.
 */
function checkServerCalledUris(m: z.output<typeof wireSchema>, opts: ValidateOptions): void {
  const called: [string, string | undefined][] = [
    ['jwks_uri', m.jwks_uri], ['sector_identifier_uri', m.sector_identifier_uri], ['backchannel_logout_uri', m.backchannel_logout_uri],
    ['backchannel_client_notification_endpoint', m.backchannel_client_notification_endpoint],
    ...(m.request_uris ?? []).map((u): [string, string] => ['request_uris', u]),
  ];
  // A fetch refuses a URL with userinfo (WHATWG fetch: credentials in the URL), so each call would fail: refused now.
  for (const [field, uri] of called) {
    const flaw = uri !== undefined && /^https?:/i.test(uri) ? httpUriFlaw(uri, new URL(uri)) : undefined;
    if (flaw) throw invalid(`${field}: ${flaw}`);
  }
  const policy = opts.remoteFetchPolicy;
  if (!policy) return;
  for (const [field, uri] of called) {
    if (uri === undefined) continue;
    const host = new URL(uri).hostname;
    if (hostRefusedWithoutDns(host, policy)) {
      throw new OAuthError(
        'invalid_client_metadata',
        `${field}: this server never connects to ${host} (its outbound address policy, insecureRemoteFetchAddresses, is ${policy}), so it could not call ${JSON.stringify(uri.slice(0, 200))}`,
        { resultCode: 'LK7282' },
      );
    }
  }
}

/** Fields only an operator (CLI, admin API) sets; a dynamically registering client cannot (RFC 7591 §2: MAY ignore). */
export const OPERATOR_ONLY_FIELDS = [
  'client_id', 'client_secret', 'skip_consent',
  // Token services: weaker or longer-lived tokens, the password grant and exchange policy are the operator's call.
  'insecure_password_grant', 'token_exchange', 'access_token_lifetime', 'id_token_lifetime', 'refresh_token_lifetime',
  'refresh_token_idle_lifetime', 'refresh_token_rotation', 'refresh_token_reuse_interval',
  // Whether it may introspect other clients' tokens (RFC 7662 §4): the operator's call, which no update lifts.
  'introspection_own_tokens_only',
  // Who may act for the subject of its tokens (RFC 8693 §4.4): a statement resource servers and exchanges rely on.
  'access_token_may_act',
  // The FAPI 2.0 profile (engine/fapi.ts) is the operator's policy over the client: a client dropping it by an RFC 7592
  // update would lift every rule it enforces, and one setting it itself would only mirror what metadata can say.
  'fapi_profile',
] as const;

const TLS_SUBJECT_FIELDS = [
  'tls_client_auth_subject_dn', 'tls_client_auth_san_dns', 'tls_client_auth_san_uri', 'tls_client_auth_san_ip', 'tls_client_auth_san_email',
] as const;

/** Client authentication metadata: each method with exactly what it needs (RFC 7591 §2, RFC 7523, RFC 8705). */
function checkAuthMetadata(m: z.output<typeof wireSchema>, method: TokenEndpointAuthMethod, opts: ValidateOptions): void {
  if (opts.supportedAuthMethods && !opts.supportedAuthMethods.includes(method)) {
    throw invalid(`token_endpoint_auth_method: ${method} is not enabled on this server (supported: ${opts.supportedAuthMethods.join(', ')})`);
  }
  // RFC 7591 §2: jwks and jwks_uri MUST NOT both be present.
  if (m.jwks && m.jwks_uri) throw invalid('jwks and jwks_uri are mutually exclusive: register one, not both (RFC 7591 §2)');
  if (m.jwks_uri !== undefined) {
    const u = new URL(m.jwks_uri);
    if (u.hash) throw invalid('jwks_uri must not have a fragment');
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && opts.allowHttpJwksUri)) throw invalid('jwks_uri must use https');
  }
  if ((method === 'private_key_jwt' || method === 'self_signed_tls_client_auth') && !m.jwks && !m.jwks_uri) {
    throw invalid(`token_endpoint_auth_method ${method} needs the client's keys: jwks or jwks_uri`);
  }
  const tlsFields = TLS_SUBJECT_FIELDS.filter((f) => m[f] !== undefined);
  if (method === 'tls_client_auth') {
    // RFC 8705 §2.1.2: exactly one of them.
    if (tlsFields.length !== 1) throw invalid(`tls_client_auth needs exactly one of ${TLS_SUBJECT_FIELDS.join(', ')} (RFC 8705 §2.1.2)`);
    if (m.tls_client_auth_subject_dn !== undefined && !parseRfc4514(m.tls_client_auth_subject_dn)) {
      throw invalid('tls_client_auth_subject_dn: not an RFC 4514 distinguished name (e.g. CN=client,O=Example,C=NZ)');
    }
  } else if (tlsFields.length) {
    throw invalid(`${tlsFields[0]} goes with token_endpoint_auth_method tls_client_auth`);
  }
  const alg = m.token_endpoint_auth_signing_alg;
  if (alg !== undefined) {
    if (method === 'client_secret_jwt' && !(HMAC_ASSERTION_ALGS as readonly string[]).includes(alg)) {
      throw invalid('token_endpoint_auth_signing_alg: client_secret_jwt uses an HMAC alg (HS256, HS384, HS512)');
    }
    if (method === 'private_key_jwt' && !(ASYMMETRIC_ASSERTION_ALGS as readonly string[]).includes(alg)) {
      throw invalid('token_endpoint_auth_signing_alg: private_key_jwt uses an asymmetric alg (RS256, PS256, ES256, EdDSA, …)');
    }
    if (method !== 'client_secret_jwt' && method !== 'private_key_jwt') {
      throw invalid('token_endpoint_auth_signing_alg goes with client_secret_jwt or private_key_jwt');
    }
  }
  if (m.client_secret !== undefined && !SECRET_METHODS.includes(method)) throw invalid(`a client using ${method} has no client_secret`);
}

/**
 * OIDC Registration §2 and OIDC Core §8.1: sector_identifier_uri is an https URL (checked against its document
 * later, when it is fetched: client-records.ts); a pairwise client needs one sector, so redirect URIs on several
 * hosts need a sector_identifier_uri.
 */
function checkSubjectType(m: z.output<typeof wireSchema>, redirectUris: string[], opts: ValidateOptions, grantTypes: readonly string[] = []): void {
  if (m.sector_identifier_uri !== undefined) {
    const u = new URL(m.sector_identifier_uri);
    if (u.hash) throw invalid('sector_identifier_uri must not have a fragment');
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && opts.allowHttpSectorIdentifierUri)) throw invalid('sector_identifier_uri must use https (OIDC Registration §2)');
  }
  if (m.subject_type === 'pairwise' && m.sector_identifier_uri === undefined) {
    // OIDC Core §8.1: the sector is the host component, so https://rp.example and https://rp.example:8443 are one.
    const hosts = new Set(redirectUris.map((r) => sectorKeyOf(new URL(r)) ?? ''));
    if (hosts.size === 0) throw invalid('subject_type pairwise needs redirect_uris or a sector_identifier_uri to name its sector (OIDC Core §8.1)');
    // A private-use scheme (com.example.app:/cb) has no host: every such app would share the empty sector and so
    // the same subs, which pairwise exists to prevent.
    if (hosts.has('')) throw invalid('subject_type pairwise with a redirect URI that has no host needs a sector_identifier_uri (OIDC Core §8.1)');
    if (hosts.size > 1) throw invalid('subject_type pairwise with redirect_uris on several hosts needs a sector_identifier_uri (OIDC Core §8.1)');
    // Likewise every native app redirecting to the loopback interface (RFC 8252 §7.3) would share the sector
    // 127.0.0.1 with every other: a client registering itself must name its sector. (An operator may choose to.)
    if (opts.dynamic && redirectUris.some((r) => isLocalMachineHost(new URL(r).hostname))) {
      throw invalid('subject_type pairwise with a loopback redirect URI needs a sector_identifier_uri (OIDC Core §8.1): every app on this machine would share its sector');
    }
    // OIDC Core §8.1 takes the sector from the redirect URI's host because the codes and tokens go there, which is what
    // shows the client is that host's. The device grant (RFC 8628) sends nothing to a redirect URI: a client naming
    // https://victim.example/cb would get, by the device flow, the subs victim.example's clients get. Its sector comes
    // from a sector_identifier_uri instead (the document's host, OIDC Registration §5). Kept if the operator gave it.
    // Kept means the same sector: a client whose stored record had the device grant but public subjects, or another
    // sector, would otherwise become pairwise in any redirect URI host's sector by an update (RFC 7592).
    if (opts.dynamic && grantTypes.includes(DEVICE_CODE_GRANT) && (opts.dynamic.stored?.pairwiseDeviceSector === undefined || !hosts.has(opts.dynamic.stored.pairwiseDeviceSector))) {
      throw invalid(`subject_type pairwise with the ${DEVICE_CODE_GRANT} grant needs a sector_identifier_uri (OIDC Core §8.1): that grant sends nothing to the redirect URIs, so they do not show whose sector it is`);
    }
  }
}

/**
 * OpenID CIBA Core §4: a client with the CIBA grant names its token delivery mode (poll or ping here), and a ping
 * client its https notification endpoint. Signed authentication requests (§7.1.1) and user codes (§7.1) are not
 * offered (discovery says so), so a client asking for them is refused rather than left to fail at every request.
 * CIBA pushes a sign-in prompt to a named user: who may do that is the operator's call, as for token exchange.
 */
function checkCibaMetadata(
  m: z.output<typeof wireSchema>, method: TokenEndpointAuthMethod, grantTypes: readonly string[], opts: ValidateOptions,
): { mode: 'poll' | 'ping'; notificationEndpoint?: string } | undefined {
  const mode = m.backchannel_token_delivery_mode;
  if (!grantTypes.includes(CIBA_GRANT)) {
    const stray = (['backchannel_token_delivery_mode', 'backchannel_client_notification_endpoint'] as const).find((f) => m[f] !== undefined);
    if (stray && !opts.dynamic) throw invalid(`${stray}: the client must register the ${CIBA_GRANT} grant (CIBA Core §4)`);
    return undefined;
  }
  if (opts.dynamic && !opts.dynamic.stored?.grantTypes.includes(CIBA_GRANT)) throw invalid('grant_types: CIBA is set up by an operator, not by dynamic registration');
  // CIBA Core §4 (the client authenticates at the backchannel authentication endpoint, §7.1).
  if (method === 'none') throw invalid('a public client (token_endpoint_auth_method none) cannot use CIBA (CIBA Core §7.1: the client authenticates)');
  if (mode === undefined) throw invalid(`backchannel_token_delivery_mode is required with the ${CIBA_GRANT} grant: poll or ping (CIBA Core §4)`);
  if (!(CIBA_DELIVERY_MODES as readonly string[]).includes(mode)) throw invalid(`backchannel_token_delivery_mode: ${JSON.stringify(mode)} is not supported (supported: ${CIBA_DELIVERY_MODES.join(', ')})`);
  if (m.backchannel_authentication_request_signing_alg !== undefined) {
    throw invalid('backchannel_authentication_request_signing_alg: signed authentication requests are not supported (CIBA Core §7.1.1; discovery lists no algs)');
  }
  if (m.backchannel_user_code_parameter === true) throw invalid('backchannel_user_code_parameter: user codes are not supported (backchannel_user_code_parameter_supported is false)');
  const endpoint = m.backchannel_client_notification_endpoint;
  if (mode === 'poll') {
    if (endpoint !== undefined) throw invalid('backchannel_client_notification_endpoint goes with backchannel_token_delivery_mode ping');
    return { mode: 'poll' };
  }
  // CIBA Core §4: REQUIRED for ping, and it MUST be https.
  if (endpoint === undefined) throw invalid('backchannel_client_notification_endpoint is required with backchannel_token_delivery_mode ping (CIBA Core §4)');
  const u = new URL(endpoint);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && opts.allowHttpJwksUri)) throw invalid('backchannel_client_notification_endpoint must use https (CIBA Core §4)');
  if (u.hash) throw invalid('backchannel_client_notification_endpoint must not have a fragment');
  return { mode: 'ping', notificationEndpoint: endpoint };
}

/**
 * RFC 9101 §10.5: a client that requires signed request objects must be able to send one: not with
 * request_object_signing_alg none (refused under the requirement), and not without keys to verify it with (only
 * asymmetric algs are accepted: request-object.ts).
 */
function checkSignedRequestObjectMetadata(m: z.output<typeof wireSchema>): void {
  if (m.require_signed_request_object !== true) return;
  if (m.request_object_signing_alg === 'none') {
    throw invalid('require_signed_request_object: true contradicts request_object_signing_alg none (RFC 9101 §10.5)');
  }
  if (!m.jwks && !m.jwks_uri) throw invalid('require_signed_request_object needs the client\'s keys to verify request objects with: jwks or jwks_uri');
}

/**
 * allowed_cors_origins: each value an origin exactly as a browser sends it in Origin (cors.ts checkOriginValue), and,
 * as for redirect URIs (RFC 6749 §3.1.2.1), https or http on the loopback interface for development.
 */
function checkCorsOrigin(value: string): void {
  const bad = (why: string) => new OAuthError('invalid_client_metadata', `allowed_cors_origins: ${JSON.stringify(value.slice(0, 200))} ${why}`, { resultCode: 'LK7200' });
  const checked = checkOriginValue(value);
  if (!checked.ok) throw bad(checked.why);
  const u = new URL(value);
  if (u.protocol === 'http:' && !isLoopbackHost(u.hostname)) throw bad('must use https (http is only allowed on the loopback interface: 127.0.0.1, [::1], localhost)');
}

export interface ValidatedMetadata {
  clientId?: string;
  clientSecret?: string;
  metadata: ClientMetadata;
}

/**
 * OIDC Registration §2: request_object_encryption_alg/enc ask the server to decrypt request objects, which needs
 * encryption keys of the server's own; Latchkey has none (discovery lists no request_object_encryption_* values), so a
 * client asking for it must find out at registration rather than have its encrypted request objects refused later
 * (RFC 7591 §3.2.2: a value the server does not accept is invalid_client_metadata, not silently dropped). Encrypted
 * responses are supported: checkResponseEncryptionMetadata.
 */
export const ENCRYPTION_METADATA_FIELDS = ['request_object_encryption_alg', 'request_object_encryption_enc'] as const;

function refuseEncryptionMetadata(raw: unknown): void {
  if (typeof raw !== 'object' || raw === null) return;
  for (const field of ENCRYPTION_METADATA_FIELDS) {
    // null is "no value" (RFC 7592 §2.2 treats omitted fields as null), so it asks for nothing.
    const v = (raw as Record<string, unknown>)[field];
    if (v !== undefined && v !== null) throw invalid(`${field}: encryption is not supported`);
  }
}

/**
 * OIDC Registration §2, JARM §2.2, RFC 9701 §6: an *_encrypted_response_enc needs its *_alg ("MUST also be
 * provided"). A client asking for encrypted responses needs a public key to encrypt to: jwks or jwks_uri. Inline
 * keys are checked now (one usable for the alg: response-encryption.ts canEncryptWith); a jwks_uri is not fetched at
 * registration (its keys may rotate, or be published later) and is checked at each use, where a missing key is
 * refused with invalid_client_metadata rather than answered unencrypted.
 */
function checkResponseEncryptionMetadata(m: z.output<typeof wireSchema>): void {
  for (const kind of ENCRYPTED_RESPONSES) {
    const alg = m[`${kind}_encrypted_response_alg`];
    if (m[`${kind}_encrypted_response_enc`] !== undefined && alg === undefined) {
      throw invalid(`${kind}_encrypted_response_enc needs ${algMember(kind)} (OIDC Registration §2)`);
    }
    if (alg === undefined) continue;
    if (!m.jwks && !m.jwks_uri) throw invalid(`${algMember(kind)} needs the client's public keys to encrypt to: jwks or jwks_uri`);
    if (m.jwks && !selectEncryptionKey(m.jwks.keys, alg)) {
      throw invalid(`${algMember(kind)} ${alg}: jwks holds no key to encrypt to with it (use "enc" or none; ${alg.startsWith('RSA') ? 'an RSA key of at least 2048 bits' : 'an EC P-256/P-384/P-521 or OKP X25519 key'})`);
    }
  }
}

/** C0 and C1 control characters and DEL: no metadata value (name, contact, key member, DN …) holds one. */
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
/** Bidirectional embeddings, overrides and isolates: inside client_name they reorder the page text around the name. */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/;

/**
 * No string of the metadata, at any depth (member names too), holds a control character: none is meaningful in a
 * name, contact, DN or key member, they are display spoofing on the consent page, and a U+0000 cannot be read back
 * through PostgreSQL's json (the clients row would be stored, then every RFC 7592 update and delete of it fail). Run on
 * the parsed metadata: only members this server registers (RFC 7591 §2 has unknown ones ignored, and not stored).
 * client_name, shown to users as who is asking, also holds no bidirectional override (Unicode UAX #9, "Trojan Source").
 */
function refuseControlCharacters(raw: unknown): void {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return;
  const scan = (v: unknown, path: string): void => {
    if (typeof v === 'string') {
      if (CONTROL_CHARS.test(v)) throw invalid(`${path}: must not contain control characters`);
    } else if (Array.isArray(v)) {
      v.forEach((e, i) => scan(e, `${path}.${i}`));
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, e] of Object.entries(v)) {
        if (CONTROL_CHARS.test(k)) throw invalid(`${path}: member names must not contain control characters`);
        scan(e, `${path}.${k}`);
      }
    }
  };
  for (const [k, v] of Object.entries(raw)) scan(v, k);
  const name = (raw as Record<string, unknown>).client_name;
  if (typeof name === 'string' && BIDI_CONTROLS.test(name)) {
    throw invalid('client_name: must not contain bidirectional embedding, override or isolate characters (U+202A-U+202E, U+2066-U+2069)');
  }
}

/**
 * RFC 7592 §2.2: a field left out of an update is "null or empty", the client's request to delete it, so a member
 * sent as JSON null means the same: no value (a registration treats it as absent too). Top-level members only.
 */
export function withoutNullMembers(input: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== null));
}

/** RFC 7591 §2: the field names a client may send, for messages. */
export function metadataFieldNames(): string[] {
  return Object.keys(wireSchema.shape);
}

/**
 * Validate RFC 7591 metadata and apply defaults (RFC 7591 §2: grant_types defaults to authorization_code,
 * response_types to code, token_endpoint_auth_method to client_secret_basic). Throws OAuthError
 * invalid_client_metadata / invalid_redirect_uri with a message naming the field.
 */
export function validateClientMetadata(input: unknown, opts: ValidateOptions = {}): ValidatedMetadata {
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) input = withoutNullMembers(input as Record<string, unknown>);
  let raw = input;
  if (opts.dynamic && typeof input === 'object' && input !== null && !Array.isArray(input)) {
    raw = {
      ...Object.fromEntries(Object.entries(input).filter(([k]) => !(OPERATOR_ONLY_FIELDS as readonly string[]).includes(k))),
      // RFC 7662 §4: anyone may register where registration is open; a client that registered itself is no resource
      // server the operator chose, so it introspects only its own tokens unless the operator says otherwise.
      ...(opts.dynamic.stored ? {} : { introspection_own_tokens_only: true }),
      ...opts.dynamic.stored?.operatorValues,
    };
    // RFC 8707 allow-list: a client may narrow its own list, never widen it. An update that leaves it out keeps the
    // stored list (omitting it would otherwise mean "every API", lifting what the operator set).
    const stored = opts.dynamic.stored?.resources;
    const sent = (input as Record<string, unknown>).resources;
    if (stored) (raw as Record<string, unknown>).resources = Array.isArray(sent) ? sent.filter((r) => stored.includes(r as string)) : [...stored];
  }
  refuseEncryptionMetadata(raw);
  const parsed = wireSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.') || 'metadata';
    if (issue.path[0] === 'redirect_uris') throw new OAuthError('invalid_redirect_uri', `${field}: ${issue.message}`, { resultCode: 'LK8025' });
    throw invalid(`${field}: ${issue.message}`);
  }
  const m = parsed.data;
  refuseControlCharacters(m); // after the schema: URI fields keep their own messages (invalid_redirect_uri …)
  const method = m.token_endpoint_auth_method ?? 'client_secret_basic';
  const applicationType = m.application_type ?? 'web';
  const grantTypes = [...new Set(m.grant_types ?? ['authorization_code'])];
  for (const g of grantTypes) {
    if (!(REGISTRABLE_GRANTS as readonly string[]).includes(g)) throw invalid(`grant_types: ${g} is not supported`);
  }
  const responseTypes: string[] = [];
  for (const r of m.response_types ?? (grantTypes.includes('authorization_code') ? ['code'] : [])) {
    const canonical = normalizeResponseType(r);
    if (!canonical) throw invalid(`response_types: ${r} is not supported`);
    if (!responseTypes.includes(canonical)) responseTypes.push(canonical);
  }
  // RFC 7591 §2.1 (and OIDC Registration §2 for id_token): grant_types and response_types must agree, both ways.
  const withCode = responseTypes.some((r) => r.split(' ').includes('code'));
  const withFront = responseTypes.some((r) => r.split(' ').some((p) => p === 'token' || p === 'id_token'));
  if (withCode !== grantTypes.includes('authorization_code')) {
    throw invalid('response_types with "code" go with grant_types "authorization_code" (RFC 7591 §2.1)');
  }
  if (withFront !== grantTypes.includes('implicit')) {
    throw invalid('response_types with "token" or "id_token" go with grant_types "implicit" (RFC 7591 §2.1)');
  }
  if (method === 'none' && grantTypes.includes('client_credentials')) {
    throw invalid('a public client (token_endpoint_auth_method none) cannot use client_credentials');
  }
  if (method === 'none' && m.client_secret) throw invalid('a public client has no client_secret');
  checkAuthMetadata(m, method, opts);
  const fapi = m.fapi_profile !== undefined || opts.fapi === true;
  checkFapiMetadata(m, method, grantTypes, responseTypes, opts.fapi === true && m.fapi_profile === undefined); // FAPI 2.0 §5.3.2, §5.4
  // RFC 9449 §5.2, RFC 8705 §3.4: a client that asks for sender-constrained access tokens gets no bearer token from
  // the authorization endpoint either (nothing there can bind one: no DPoP proof, no client certificate).
  if (withFront && responseTypes.some((r) => r.split(' ').includes('token')) && (m.dpop_bound_access_tokens === true || m.tls_client_certificate_bound_access_tokens === true)) {
    throw invalid('response_types with "token" issue unbound access tokens, which a client with dpop_bound_access_tokens or tls_client_certificate_bound_access_tokens must not get');
  }
  // RFC 8705 §3.4 with RFC 7591 §2: a client whose every token request would fail for want of a certificate is
  // refused at registration, as discovery leaves tls_client_certificate_bound_access_tokens out (RFC 8705 §3.3).
  if (m.tls_client_certificate_bound_access_tokens === true && opts.certificatesAvailable === false) {
    throw invalid('tls_client_certificate_bound_access_tokens: no client certificate can reach this server (no HTTPS listener and no trusted proxy certificate header)');
  }
  const redirectUris = [...new Set(m.redirect_uris ?? [])];
  if ((grantTypes.includes('authorization_code') || grantTypes.includes('implicit')) && redirectUris.length === 0) {
    throw new OAuthError('invalid_redirect_uri', 'redirect_uris: at least one is required for the authorization_code and implicit grants');
  }
  for (const u of redirectUris) checkRedirectUri(u, applicationType);
  if (applicationType === 'web' && (withFront || grantTypes.includes('implicit'))) for (const u of redirectUris) checkImplicitWebRedirectUri(u);
  for (const u of m.post_logout_redirect_uris ?? []) checkRedirectUri(u, applicationType, 'post_logout_redirect_uris');
  // Back-Channel Logout §2.2 / Front-Channel Logout §2: absolute http(s) URIs without a fragment.
  for (const [field, u] of [['backchannel_logout_uri', m.backchannel_logout_uri], ['frontchannel_logout_uri', m.frontchannel_logout_uri]] as const) {
    if (u !== undefined && (!/^https?:\/\//.test(u) || u.includes('#'))) throw invalid(`${field}: must be an http(s) URI without a fragment`);
    const flaw = u === undefined || !/^https?:\/\//.test(u) ? undefined : httpUriFlaw(u, new URL(u));
    if (flaw) throw invalid(`${field}: ${flaw}`);
    // Back-Channel Logout §2.2 / Front-Channel Logout §2: http only "provided that the Client Type is confidential".
    if (u !== undefined && u.startsWith('http://') && method === 'none') throw invalid(`${field}: a public client (token_endpoint_auth_method none) must use https; http is only for confidential clients`);
  }
  checkSubjectType(m, redirectUris, opts, grantTypes);
  const allowedCorsOrigins = m.allowed_cors_origins === undefined ? undefined : [...new Set(m.allowed_cors_origins)];
  for (const o of allowedCorsOrigins ?? []) checkCorsOrigin(o);
  checkServerCalledUris(m, opts);
  checkFrontchannelLogoutOrigin(m.frontchannel_logout_uri, redirectUris, applicationType);
  checkSignedRequestObjectMetadata(m);
  checkResponseEncryptionMetadata(m);
  const defaultScope = opts.dynamic ? opts.dynamic.allowedScopes : STANDARD_SCOPES;
  const scope = m.scope === undefined ? [...defaultScope] : [...new Set(m.scope.split(' ').filter(Boolean))];
  for (const s of scope) if (!scopeToken.test(s)) throw invalid(`scope: ${JSON.stringify(s)} is not a valid scope token`);
  if (grantTypes.includes('password') && m.insecure_password_grant !== true) {
    throw invalid('grant_types: password needs insecure_password_grant: true (RFC 9700 §2.4 says the grant MUST NOT be used)');
  }
  if (grantTypes.includes('password') && opts.dynamic && !opts.dynamic.stored?.grantTypes.includes('password')) {
    throw invalid('grant_types: the password grant is set up by an operator, not by dynamic registration');
  }
  const exchange = grantTypes.includes(TOKEN_EXCHANGE_GRANT);
  if (exchange && method === 'none') throw invalid('a public client (token_endpoint_auth_method none) cannot use token exchange');
  if (exchange && opts.dynamic && !opts.dynamic.stored?.grantTypes.includes(TOKEN_EXCHANGE_GRANT)) throw invalid('grant_types: token exchange is set up by an operator, not by dynamic registration');
  const ciba = checkCibaMetadata(m, method, grantTypes, opts);
  const resources = m.resources === undefined ? undefined : [...new Set(m.resources)];
  for (const r of resources ?? []) {
    if (!isResourceIndicator(r)) throw invalid(`resources: ${JSON.stringify(r.slice(0, 100))} is not an absolute URI without a fragment (RFC 8707 §2)`);
  }
  const authorizationDetailsTypes = m.authorization_details_types === undefined ? undefined : [...new Set(m.authorization_details_types)];
  for (const t of authorizationDetailsTypes ?? []) {
    // RFC 9396 §10: the types the client uses; one the server does not support could never be requested.
    if (opts.authorizationDetailsTypes && !opts.authorizationDetailsTypes.includes(t)) {
      throw new OAuthError('invalid_client_metadata', `authorization_details_types: ${JSON.stringify(t.slice(0, 100))} is not supported by this server`, { resultCode: 'LK7354' });
    }
  }
  // RFC 9700 §4.14.2: a public client's refresh tokens are not sender-constrained here, so they must rotate.
  if (method === 'none' && m.refresh_token_rotation === false) throw invalid('refresh_token_rotation: public clients always rotate refresh tokens (RFC 9700 §4.14.2)');
  let tokenExchange: ClientMetadata['tokenExchange'];
  if (exchange) {
    const d = defaultExchangePolicy();
    const te = m.token_exchange ?? {};
    tokenExchange = {
      subjectTokenTypes: [...new Set(te.subject_token_types ?? d.subjectTokenTypes)],
      actorTokenTypes: [...new Set(te.actor_token_types ?? d.actorTokenTypes)],
      subjectTokenAudiences: [...new Set(te.subject_token_audiences ?? d.subjectTokenAudiences)],
      delegation: te.delegation ?? d.delegation,
      impersonation: te.impersonation ?? d.impersonation,
    };
    for (const t of [...tokenExchange.subjectTokenTypes, ...tokenExchange.actorTokenTypes]) {
      if (!EXCHANGE_INPUT_TYPES.includes(t)) throw invalid(`token_exchange: token type ${JSON.stringify(t.slice(0, 100))} is not supported`);
    }
    if (!tokenExchange.delegation && !tokenExchange.impersonation) throw invalid('token_exchange: allow delegation, impersonation or both');
  } else if (m.token_exchange !== undefined && !opts.dynamic) {
    // Not refused in a dynamic update: there it is the operator's stored policy (a client's own value is stripped),
    // and it simply goes when the client drops the grant.
    throw invalid(`token_exchange: the client must register the ${TOKEN_EXCHANGE_GRANT} grant`);
  }
  if (opts.dynamic) {
    const refused = scope.filter((s) => !opts.dynamic!.allowedScopes.includes(s) && !opts.dynamic!.stored?.scope.includes(s));
    if (refused.length) throw invalid(`scope: ${refused.join(' ')} may not be registered dynamically (allowed: ${opts.dynamic.allowedScopes.join(' ')})`);
  }

  const metadata: ClientMetadata = {
    clientName: m.client_name,
    logoUri: m.logo_uri,
    clientUri: m.client_uri,
    initiateLoginUri: m.initiate_login_uri,
    contacts: m.contacts,
    redirectUris,
    postLogoutRedirectUris: m.post_logout_redirect_uris,
    backchannelLogoutUri: m.backchannel_logout_uri,
    backchannelLogoutSessionRequired: m.backchannel_logout_session_required,
    frontchannelLogoutUri: m.frontchannel_logout_uri,
    frontchannelLogoutSessionRequired: m.frontchannel_logout_session_required,
    backchannelTokenDeliveryMode: ciba?.mode,
    backchannelClientNotificationEndpoint: ciba?.notificationEndpoint,
    grantTypes,
    responseTypes,
    scope,
    tokenEndpointAuthMethod: method,
    applicationType,
    // OIDC Registration §2 (RS256 by default); FAPI 2.0 §5.4.1: ES256 for a FAPI client.
    idTokenSignedResponseAlg: m.id_token_signed_response_alg ?? (fapi ? 'ES256' : 'RS256'),
    requirePkce: method === 'none' || fapi ? true : (m.require_pkce ?? false), // RFC 9700 §2.1.1; FAPI 2.0 §5.3.2.2
    skipConsent: m.skip_consent ?? false,
    sessionRefreshTokens: m.session_refresh_tokens,
    accessTokenFormat: m.access_token_format,
    introspectionSignedResponseAlg: m.introspection_signed_response_alg,
    introspectionOwnTokensOnly: m.introspection_own_tokens_only,
    resources,
    authorizationDetailsTypes,
    accessTokenLifetime: m.access_token_lifetime,
    idTokenLifetime: m.id_token_lifetime,
    refreshTokenLifetime: m.refresh_token_lifetime,
    refreshTokenIdleLifetime: m.refresh_token_idle_lifetime,
    refreshTokenRotation: m.refresh_token_rotation,
    refreshTokenReuseInterval: m.refresh_token_reuse_interval,
    insecurePasswordGrant: m.insecure_password_grant,
    tokenExchange,
    authorizationSignedResponseAlg: m.authorization_signed_response_alg ?? (fapi ? 'ES256' : undefined), // FAPI 2.0 §5.4.1 (JARM)
    // FAPI 2.0 §5.3.2.2: PAR required; said in the client's metadata too (RFC 9126 §6).
    requirePushedAuthorizationRequests: fapi ? true : m.require_pushed_authorization_requests,
    fapiProfile: m.fapi_profile,
    jwks: m.jwks as ClientMetadata['jwks'],
    jwksUri: m.jwks_uri,
    requestObjectSigningAlg: m.request_object_signing_alg,
    requestUris: m.request_uris,
    tokenEndpointAuthSigningAlg: m.token_endpoint_auth_signing_alg,
    tlsClientAuthSubjectDn: m.tls_client_auth_subject_dn,
    tlsClientAuthSanDns: m.tls_client_auth_san_dns,
    tlsClientAuthSanUri: m.tls_client_auth_san_uri,
    tlsClientAuthSanIp: m.tls_client_auth_san_ip,
    tlsClientAuthSanEmail: m.tls_client_auth_san_email,
    tosUri: m.tos_uri,
    policyUri: m.policy_uri,
    softwareId: m.software_id,
    softwareVersion: m.software_version,
    softwareStatement: m.software_statement,
    dpopBoundAccessTokens: m.dpop_bound_access_tokens,
    tlsClientCertificateBoundAccessTokens: m.tls_client_certificate_bound_access_tokens,
    subjectType: m.subject_type,
    sectorIdentifierUri: m.sector_identifier_uri,
    userinfoSignedResponseAlg: m.userinfo_signed_response_alg,
    requireSignedRequestObject: m.require_signed_request_object,
    defaultMaxAge: m.default_max_age,
    requireAuthTime: m.require_auth_time,
    accessTokenMayAct: m.access_token_may_act && { sub: m.access_token_may_act.sub },
    allowedCorsOrigins,
    // OIDC Registration §2, JARM §2.2, RFC 9701 §6: enc defaults to A128CBC-HS256 when only the alg is given.
    idTokenEncryptedResponseAlg: m.id_token_encrypted_response_alg,
    idTokenEncryptedResponseEnc: m.id_token_encrypted_response_alg && (m.id_token_encrypted_response_enc ?? DEFAULT_ENCRYPTION_ENC),
    userinfoEncryptedResponseAlg: m.userinfo_encrypted_response_alg,
    userinfoEncryptedResponseEnc: m.userinfo_encrypted_response_alg && (m.userinfo_encrypted_response_enc ?? DEFAULT_ENCRYPTION_ENC),
    authorizationEncryptedResponseAlg: m.authorization_encrypted_response_alg,
    authorizationEncryptedResponseEnc: m.authorization_encrypted_response_alg && (m.authorization_encrypted_response_enc ?? DEFAULT_ENCRYPTION_ENC),
    introspectionEncryptedResponseAlg: m.introspection_encrypted_response_alg,
    introspectionEncryptedResponseEnc: m.introspection_encrypted_response_alg && (m.introspection_encrypted_response_enc ?? DEFAULT_ENCRYPTION_ENC),
  };
  return { clientId: m.client_id, clientSecret: m.client_secret, metadata };
}

/** The client as RFC 7591 §3.2.1 metadata (never the secret hash). */
export function clientToJson(c: ClientRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    client_id: c.clientId,
    client_id_issued_at: c.createdAt,
    client_name: c.clientName,
    logo_uri: c.logoUri,
    client_uri: c.clientUri,
    initiate_login_uri: c.initiateLoginUri,
    contacts: c.contacts,
    redirect_uris: c.redirectUris,
    post_logout_redirect_uris: c.postLogoutRedirectUris,
    backchannel_logout_uri: c.backchannelLogoutUri,
    backchannel_logout_session_required: c.backchannelLogoutSessionRequired,
    frontchannel_logout_uri: c.frontchannelLogoutUri,
    frontchannel_logout_session_required: c.frontchannelLogoutSessionRequired,
    backchannel_token_delivery_mode: c.backchannelTokenDeliveryMode,
    backchannel_client_notification_endpoint: c.backchannelClientNotificationEndpoint,
    grant_types: c.grantTypes,
    response_types: c.responseTypes,
    scope: c.scope.join(' '),
    token_endpoint_auth_method: c.tokenEndpointAuthMethod,
    application_type: c.applicationType,
    id_token_signed_response_alg: c.idTokenSignedResponseAlg,
    require_pkce: c.requirePkce,
    skip_consent: c.skipConsent,
    session_refresh_tokens: c.sessionRefreshTokens,
    access_token_format: c.accessTokenFormat,
    introspection_signed_response_alg: c.introspectionSignedResponseAlg,
    introspection_own_tokens_only: c.introspectionOwnTokensOnly,
    resources: c.resources,
    authorization_details_types: c.authorizationDetailsTypes,
    access_token_lifetime: c.accessTokenLifetime,
    id_token_lifetime: c.idTokenLifetime,
    refresh_token_lifetime: c.refreshTokenLifetime,
    refresh_token_idle_lifetime: c.refreshTokenIdleLifetime,
    refresh_token_rotation: c.refreshTokenRotation,
    refresh_token_reuse_interval: c.refreshTokenReuseInterval,
    insecure_password_grant: c.insecurePasswordGrant,
    token_exchange: c.tokenExchange && {
      subject_token_types: c.tokenExchange.subjectTokenTypes,
      actor_token_types: c.tokenExchange.actorTokenTypes,
      subject_token_audiences: c.tokenExchange.subjectTokenAudiences,
      delegation: c.tokenExchange.delegation,
      impersonation: c.tokenExchange.impersonation,
    },
    authorization_signed_response_alg: c.authorizationSignedResponseAlg,
    require_pushed_authorization_requests: c.requirePushedAuthorizationRequests,
    fapi_profile: c.fapiProfile,
    jwks: c.jwks,
    jwks_uri: c.jwksUri,
    request_object_signing_alg: c.requestObjectSigningAlg,
    request_uris: c.requestUris,
    token_endpoint_auth_signing_alg: c.tokenEndpointAuthSigningAlg,
    tls_client_auth_subject_dn: c.tlsClientAuthSubjectDn,
    tls_client_auth_san_dns: c.tlsClientAuthSanDns,
    tls_client_auth_san_uri: c.tlsClientAuthSanUri,
    tls_client_auth_san_ip: c.tlsClientAuthSanIp,
    tls_client_auth_san_email: c.tlsClientAuthSanEmail,
    tos_uri: c.tosUri,
    policy_uri: c.policyUri,
    software_id: c.softwareId,
    software_version: c.softwareVersion,
    software_statement: c.softwareStatement,
    dpop_bound_access_tokens: c.dpopBoundAccessTokens,
    tls_client_certificate_bound_access_tokens: c.tlsClientCertificateBoundAccessTokens,
    subject_type: c.subjectType,
    sector_identifier_uri: c.sectorIdentifierUri,
    userinfo_signed_response_alg: c.userinfoSignedResponseAlg,
    require_signed_request_object: c.requireSignedRequestObject,
    default_max_age: c.defaultMaxAge,
    require_auth_time: c.requireAuthTime,
    access_token_may_act: c.accessTokenMayAct && { sub: c.accessTokenMayAct.sub },
    allowed_cors_origins: c.allowedCorsOrigins,
    id_token_encrypted_response_alg: c.idTokenEncryptedResponseAlg,
    id_token_encrypted_response_enc: c.idTokenEncryptedResponseEnc,
    userinfo_encrypted_response_alg: c.userinfoEncryptedResponseAlg,
    userinfo_encrypted_response_enc: c.userinfoEncryptedResponseEnc,
    authorization_encrypted_response_alg: c.authorizationEncryptedResponseAlg,
    authorization_encrypted_response_enc: c.authorizationEncryptedResponseEnc,
    introspection_encrypted_response_alg: c.introspectionEncryptedResponseAlg,
    introspection_encrypted_response_enc: c.introspectionEncryptedResponseEnc,
  };
  // RFC 7591 §3.2.1: REQUIRED when a secret was issued; 0 = it does not expire.
  if (c.secretHash) out.client_secret_expires_at = 0;
  return JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
}

/** The RFC 7591 metadata schema (wire names), for documents generated from it (the admin API's OpenAPI). */
export const clientMetadataSchema = wireSchema;
