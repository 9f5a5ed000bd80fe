import { SIGNING_ALGS } from '../tokens/jwt.js';
import { REQUEST_OBJECT_ALGS } from './authorization/request-object.js';
import { RESPONSE_MODES } from './authorization/request.js';
import { CIBA_DELIVERY_MODES, CIBA_GRANT, REGISTRABLE_RESPONSE_TYPES } from './client-metadata.js';
import { ASYMMETRIC_ASSERTION_ALGS, HMAC_ASSERTION_ALGS } from './client-assertion.js';
import { supportedClientAuthMethods } from './client-auth.js';
import type { ClientSettings } from './client-settings.js';
import { endpointsOf, mtlsAliasBase, type EngineContext, type TenantSettings } from './context.js';
import { grantHandlers } from './token/index.js';
import { DPOP_ALGS } from './bearer.js';
import { ENCRYPTION_ALGS, ENCRYPTION_ENCS } from './response-encryption.js';
import { FAPI_ALGS, FAPI_AUTH_METHODS } from './fapi.js';
import { MFA_ACR } from './accounts.js';

/**
 * Authorization server metadata (RFC 8414 §2) and OpenID Provider metadata (OIDC Discovery §3).
 * Lists exactly what is implemented: grant types come from the grant table, so nothing is advertised that
 * has no handler.
 */
export interface DiscoveryOptions {
  /** The server's client settings: which authentication methods work, whether registration is on. */
  clients?: ClientSettings;
  /** Tenant settings that change what is offered (PAR required, account creation). */
  settings?: Partial<TenantSettings>;
}

export function discoveryDocument(issuer: string, kind: 'openid' | 'oauth', opts: DiscoveryOptions = {}): Record<string, unknown> {
  const settings = opts.settings ?? {};
  const e = endpointsOf(issuer);
  const grants = Object.keys(grantHandlers);
  const hasCodeFlow = grants.includes('authorization_code');
  const doc: Record<string, unknown> = { issuer };
  if (hasCodeFlow) doc.authorization_endpoint = e.authorization;
  doc.token_endpoint = e.token;
  doc.jwks_uri = e.jwks;
  if (hasCodeFlow) {
    doc.userinfo_endpoint = e.userinfo;
    doc.scopes_supported = ['openid', 'profile', 'email', 'address', 'phone', 'offline_access'];
    // Every type works for a client that registered it; implicit ones stay off until a client does (RFC 9700 §2.1.2).
    doc.response_types_supported = [...REGISTRABLE_RESPONSE_TYPES];
    doc.response_modes_supported = [...RESPONSE_MODES]; // OAuth 2.0 Form Post Response Mode; JARM §3
    doc.authorization_signing_alg_values_supported = [...SIGNING_ALGS]; // JARM §3
    doc.authorization_encryption_alg_values_supported = [...ENCRYPTION_ALGS]; // JARM §3: response-encryption.ts
    doc.authorization_encryption_enc_values_supported = [...ENCRYPTION_ENCS];
    doc.code_challenge_methods_supported = ['S256'];
    doc.authorization_response_iss_parameter_supported = true; // RFC 9207
    doc.prompt_values_supported = ['none', 'login', 'consent', 'select_account', ...(settings.allowRegistration ? ['create'] : [])];
    doc.pushed_authorization_request_endpoint = e.pushedAuthorizationRequest; // RFC 9126 §5
    doc.require_pushed_authorization_requests = settings.requirePushedAuthorizationRequests ?? false;
    // RP-Initiated, Front-Channel and Back-Channel Logout 1.0
    doc.end_session_endpoint = e.endSession;
    doc.frontchannel_logout_supported = true;
    doc.frontchannel_logout_session_supported = true;
    doc.backchannel_logout_supported = true;
    doc.backchannel_logout_session_supported = true;
  } else {
    doc.response_types_supported = [];
  }
  // implicit has no token-endpoint handler: it is listed because response_types with token/id_token work.
  doc.grant_types_supported = hasCodeFlow ? [...grants.slice(0, 1), 'implicit', ...grants.slice(1)] : grants;
  doc.device_authorization_endpoint = e.deviceAuthorization; // RFC 8628 §4
  // OpenID CIBA Core §4: poll and ping; no signed requests (no backchannel_authentication_request_signing_alg_values_supported), no user codes.
  if (grants.includes(CIBA_GRANT)) {
    doc.backchannel_authentication_endpoint = e.backchannelAuthentication;
    doc.backchannel_token_delivery_modes_supported = [...CIBA_DELIVERY_MODES];
    doc.backchannel_user_code_parameter_supported = false;
  }
  doc.token_endpoint_auth_methods_supported = supportedClientAuthMethods(opts.clients, { publicClients: hasCodeFlow });
  // RFC 8414 §2: REQUIRED when client_secret_jwt or private_key_jwt is listed.
  doc.token_endpoint_auth_signing_alg_values_supported = [...ASYMMETRIC_ASSERTION_ALGS, ...HMAC_ASSERTION_ALGS];
  doc.dpop_signing_alg_values_supported = [...DPOP_ALGS]; // RFC 9449 §5.1
  // RFC 9396 §10: only when types are configured (otherwise authorization_details is ignored, so nothing works).
  if (settings.authorizationDetailsTypes?.length) doc.authorization_details_types_supported = [...new Set(settings.authorizationDetailsTypes)];
  // RFC 8705 §3.3: only when a client certificate can reach us (an HTTPS listener or a trusted proxy header).
  if (opts.clients?.certificatesAvailable) doc.tls_client_certificate_bound_access_tokens = true;
  doc.introspection_endpoint = e.introspection; // RFC 7662, RFC 8414 §2
  doc.introspection_endpoint_auth_methods_supported = supportedClientAuthMethods(opts.clients, { publicClients: false }); // RFC 7662 §2.1
  doc.introspection_endpoint_auth_signing_alg_values_supported = doc.token_endpoint_auth_signing_alg_values_supported;
  doc.introspection_signing_alg_values_supported = [...SIGNING_ALGS]; // RFC 9701 §7
  doc.introspection_encryption_alg_values_supported = [...ENCRYPTION_ALGS]; // RFC 9701 §7
  doc.introspection_encryption_enc_values_supported = [...ENCRYPTION_ENCS];
  doc.revocation_endpoint = e.revocation; // RFC 7009, RFC 8414 §2
  doc.revocation_endpoint_auth_methods_supported = doc.token_endpoint_auth_methods_supported; // RFC 7009 §2.1: public clients too
  doc.revocation_endpoint_auth_signing_alg_values_supported = doc.token_endpoint_auth_signing_alg_values_supported;
  // RFC 8705 §5: where clients using mutual TLS send their requests, when a separate mTLS host is configured.
  const aliasBase = mtlsAliasBase(opts.clients, issuer);
  if (aliasBase !== undefined) {
    const a = endpointsOf(aliasBase);
    doc.mtls_endpoint_aliases = {
      token_endpoint: a.token,
      ...(hasCodeFlow ? { userinfo_endpoint: a.userinfo, pushed_authorization_request_endpoint: a.pushedAuthorizationRequest } : {}),
      introspection_endpoint: a.introspection,
      revocation_endpoint: a.revocation,
      device_authorization_endpoint: a.deviceAuthorization,
      ...(grants.includes(CIBA_GRANT) ? { backchannel_authentication_endpoint: a.backchannelAuthentication } : {}),
    };
  }
  // RFC 8414 §2, RFC 7591: only when registration is enabled.
  if (opts.clients && opts.clients.registration !== 'off') doc.registration_endpoint = e.registration;
  if (kind === 'openid' || hasCodeFlow) {
    doc.subject_types_supported = ['public', 'pairwise']; // OIDC Core §8; pairwise: src/engine/subject.ts
    doc.id_token_signing_alg_values_supported = [...SIGNING_ALGS];
    doc.userinfo_signing_alg_values_supported = [...SIGNING_ALGS]; // OIDC Core §5.3.2, userinfo_signed_response_alg
    // OIDC Discovery §3, OIDC Core §10.2: encryption to the client's public keys only (no dir, no secret-derived A*KW).
    doc.id_token_encryption_alg_values_supported = [...ENCRYPTION_ALGS];
    doc.id_token_encryption_enc_values_supported = [...ENCRYPTION_ENCS];
    doc.userinfo_encryption_alg_values_supported = [...ENCRYPTION_ALGS];
    doc.userinfo_encryption_enc_values_supported = [...ENCRYPTION_ENCS];
    doc.claims_supported = [
      'sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'acr', 'amr', 'azp', 'at_hash', 'c_hash', 'sid',
      'name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture',
      'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at', 'email', 'email_verified', 'address',
      'phone_number', 'phone_number_verified',
    ];
    doc.claims_parameter_supported = true; // OIDC Core §5.5
    // The built-in password sign-in's, and two-step sign-in's (services/mfa.ts: a password and an authenticator app's code).
    doc.acr_values_supported = [settings.defaultAcr ?? 'urn:latchkey:acr:password', MFA_ACR];
    doc.request_parameter_supported = true; // RFC 9101 §10.5
    // OIDC Discovery §3 defaults this to true, so it is always said: by-reference fetching is off unless enabled.
    doc.request_uri_parameter_supported = settings.allowRemoteRequestUri ?? false;
    if (settings.allowRemoteRequestUri) doc.require_request_uri_registration = true;
    // 'none' is accepted only from clients that registered request_object_signing_alg "none", and never when the
    // tenant requires signed request objects (RFC 9101 §10.5).
    doc.request_object_signing_alg_values_supported = settings.requireSignedRequestObject ? [...REQUEST_OBJECT_ALGS] : [...REQUEST_OBJECT_ALGS, 'none'];
    // RFC 9101 §10.5: "If omitted, the default value is false"; said either way, like require_pushed_authorization_requests.
    doc.require_signed_request_object = settings.requireSignedRequestObject ?? false;
  }
  if (settings.fapiProfile === '2.0') narrowToFapi(doc);
  return JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
}

/**
 * RFC 8414 §2: the metadata describes the server as configured, so under the tenant-wide profile it lists only what
 * every client is held to: PAR required and no request_uri by reference (FAPI 2.0 §5.3.2.2), the code flow only and
 * no password grant, private_key_jwt or mTLS (§5.3.2.1), PS256/ES256/EdDSA for everything signed (§5.4.1).
 */
function narrowToFapi(doc: Record<string, unknown>): void {
  const only = (key: string, allowed: readonly string[]) => {
    if (Array.isArray(doc[key])) doc[key] = (doc[key] as string[]).filter((v) => allowed.includes(v));
  };
  if (doc.authorization_endpoint !== undefined) doc.require_pushed_authorization_requests = true;
  // A request_uri by reference (OIDC Core §6.2) is a request that was not pushed, refused under the profile (LK7460).
  if (doc.request_uri_parameter_supported === true) doc.request_uri_parameter_supported = false;
  delete doc.require_request_uri_registration;
  only('response_types_supported', ['code']);
  doc.grant_types_supported = (doc.grant_types_supported as string[]).filter((g) => g !== 'implicit' && g !== 'password');
  for (const k of ['token_endpoint_auth_methods_supported', 'introspection_endpoint_auth_methods_supported', 'revocation_endpoint_auth_methods_supported']) only(k, FAPI_AUTH_METHODS);
  for (const k of [
    'token_endpoint_auth_signing_alg_values_supported', 'introspection_endpoint_auth_signing_alg_values_supported', 'revocation_endpoint_auth_signing_alg_values_supported',
    'dpop_signing_alg_values_supported', 'request_object_signing_alg_values_supported', 'id_token_signing_alg_values_supported',
    'userinfo_signing_alg_values_supported', 'authorization_signing_alg_values_supported', 'introspection_signing_alg_values_supported',
  ]) only(k, FAPI_ALGS);
}

/**
 * The metadata documents a tenant serves, from the same inputs wherever they are served (the /.well-known routes,
 * the fast path, the Core API's service/configuration): RFC 8414 §2 / OIDC Discovery §3 describe the server as it
 * is configured. Built once per engine context, as ready-to-send strings.
 */
const tenantDocuments = new WeakMap<object, { openid: string; oauth: string }>();
export function tenantMetadataDocuments(ctx: Pick<EngineContext, 'tenant' | 'clients'>): { openid: string; oauth: string } {
  let d = tenantDocuments.get(ctx);
  if (!d) {
    const opts: DiscoveryOptions = { clients: ctx.clients, settings: ctx.tenant.settings };
    d = {
      openid: JSON.stringify(discoveryDocument(ctx.tenant.issuer, 'openid', opts)),
      oauth: JSON.stringify(discoveryDocument(ctx.tenant.issuer, 'oauth', opts)),
    };
    tenantDocuments.set(ctx, d);
  }
  return d;
}
