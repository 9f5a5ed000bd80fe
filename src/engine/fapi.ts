import type { ClientRecord, TokenEndpointAuthMethod } from '../store/types.js';
import { OAuthError } from './errors.js';
import type { Check } from './authorization/request.js';
import type { TenantSettings } from './context.js';

/*
 * The FAPI 2.0 Security Profile (OpenID Foundation, final, 2025), enforced per client: a client the operator registered
 * with `fapi_profile: "2.0"`, or every client of a tenant whose fapiProfile is "2.0" (isFapi), gets only what the
 * profile's authorization server requirements (§5.3.2, §5.4) allow. Under the tenant-wide profile, a client registered
 * before it was turned on is refused where it steps outside it (LK7468), never silently changed.
 * Each rule lives where the protocol step is (registration, PAR, authorization, token, client authentication, DPoP);
 * this module holds the profile's parameters and the checks that exist only for it. What the deployment decides
 * (TLS versions and cipher suites, §5.2.1; key sizes of the client's keys as issued) is not checked here:
 * docs/clients.md "FAPI 2.0 Security Profile".
 */

/** The profile values `fapi_profile` takes. */
export const FAPI_PROFILES = ['2.0'] as const;
export type FapiProfile = (typeof FAPI_PROFILES)[number];

/** FAPI 2.0 §5.4.1: the JWS algorithms for everything signed under the profile. EdDSA with Ed25519 only. */
export const FAPI_ALGS = ['PS256', 'ES256', 'EdDSA'] as const;

/** Whether a JWS alg is one the profile allows (FAPI 2.0 §5.4.1). */
export const isFapiAlg = (alg: string): boolean => (FAPI_ALGS as readonly string[]).includes(alg);

/** FAPI 2.0 §5.3.2.1: confidential clients only, authenticated with mTLS (RFC 8705 §2) or private_key_jwt. */
export const FAPI_AUTH_METHODS: readonly TokenEndpointAuthMethod[] = ['private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'];

/** FAPI 2.0 §5.3.2.2: authorization codes live at most 60 seconds. */
export const FAPI_CODE_LIFETIME = 60;

/** Whether the profile holds for this client: its own fapi_profile, or the tenant's fapiProfile for every client. */
export const isFapi = (client: Pick<ClientRecord, 'fapiProfile'> | undefined, settings?: Pick<TenantSettings, 'fapiProfile'>): boolean =>
  client?.fapiProfile === '2.0' || settings?.fapiProfile === '2.0';

/** The algs a FAPI client may use, or undefined (no narrowing) for any other client. */
export const fapiAlgs = (client: Pick<ClientRecord, 'fapiProfile'> | undefined, settings?: Pick<TenantSettings, 'fapiProfile'>): readonly string[] | undefined =>
  (isFapi(client, settings) ? FAPI_ALGS : undefined);

/**
 * FAPI 2.0 §5.4.1: what this server signs for a client that registered no alg: ES256 under the profile, else the
 * spec's own default (RS256 for JARM, RFC 9701).
 */
export const signingAlgFor = <A extends string>(registered: A | undefined, fapi: boolean, specDefault: A): A | 'ES256' => registered ?? (fapi ? 'ES256' : specDefault);

/**
 * FAPI 2.0 §5.4.1: the signing algs a client registered that the profile forbids, for a client registered before its
 * tenant turned the profile on (registration refuses them from then on: checkFapiMetadata).
 */
export function forbiddenRegisteredAlgs(client: Pick<ClientRecord, 'scope' | 'idTokenSignedResponseAlg' | 'userinfoSignedResponseAlg' | 'authorizationSignedResponseAlg' | 'introspectionSignedResponseAlg'>): string[] {
  const registered = {
    id_token_signed_response_alg: idTokenAlgOutsideProfile(client),
    userinfo_signed_response_alg: client.userinfoSignedResponseAlg,
    authorization_signed_response_alg: client.authorizationSignedResponseAlg,
    introspection_signed_response_alg: client.introspectionSignedResponseAlg,
  };
  return Object.entries(registered).filter(([, alg]) => alg !== undefined && !isFapiAlg(alg)).map(([k, alg]) => `${k} ${alg}`);
}

/**
 * FAPI 2.0 §5.4.1: the ID-token alg a client registered outside the profile (RS256 was the default before it), or
 * undefined. Only a client registered for openid is ever issued an ID token: a plain OAuth client's stored default signs nothing.
 */
export function idTokenAlgOutsideProfile(client: Pick<ClientRecord, 'scope' | 'idTokenSignedResponseAlg'>): string | undefined {
  const alg = client.idTokenSignedResponseAlg;
  return client.scope.includes('openid') && !isFapiAlg(alg) ? alg : undefined;
}

function contradictsProfile(msg: string, tenantWide: boolean): OAuthError {
  return new OAuthError('invalid_client_metadata', `${tenantWide ? 'the tenant\'s FAPI 2.0 profile (fapiProfile)' : 'fapi_profile 2.0'}: ${msg}`, { resultCode: 'LK7467' });
}

/** The wire metadata checkFapiMetadata reads (validated by the schema already). */
export interface FapiMetadataView {
  fapi_profile?: FapiProfile;
  require_pushed_authorization_requests?: boolean;
  require_pkce?: boolean;
  request_object_signing_alg?: string;
  token_endpoint_auth_signing_alg?: string;
  id_token_signed_response_alg?: string;
  userinfo_signed_response_alg?: string;
  authorization_signed_response_alg?: string;
  introspection_signed_response_alg?: string;
  redirect_uris?: string[];
  application_type?: string;
}

/**
 * FAPI 2.0 §5.3.2.2: authorization responses never cross the network unencrypted: no http redirect URI, except a
 * native client's loopback one (RFC 8252 §7.3). A web client's http://localhost (a development URI the general rules
 * allow, RFC 6749 §3.1.2.1) is not. The first such URI, or undefined.
 */
export function plainHttpRedirect(redirectUris: readonly string[], applicationType: string | undefined): string | undefined {
  if (applicationType === 'native') return undefined;
  return redirectUris.find((u) => /^http:/i.test(u));
}

/**
 * Registration (and every update, RFC 7592) of a FAPI client: metadata that contradicts the profile is refused
 * (RFC 7591 §3.2.2 invalid_client_metadata), never silently changed. Run after the general metadata checks.
 * `tenantWide`: every client of the tenant is held to the profile (fapiProfile), whatever its fapi_profile says.
 */
export function checkFapiMetadata(m: FapiMetadataView, method: TokenEndpointAuthMethod, grantTypes: readonly string[], responseTypes: readonly string[], tenantWide = false): void {
  if (m.fapi_profile === undefined && !tenantWide) return;
  const contradicts = (msg: string) => contradictsProfile(msg, tenantWide);
  // FAPI 2.0 §5.3.2.1: confidential clients, authenticated by mTLS or private_key_jwt.
  if (!FAPI_AUTH_METHODS.includes(method)) throw contradicts(`token_endpoint_auth_method must be one of ${FAPI_AUTH_METHODS.join(', ')}, not ${method}`);
  // FAPI 2.0 §5.3.2.1: the resource owner password credentials grant is rejected.
  if (grantTypes.includes('password')) throw contradicts('the password grant is not allowed');
  // FAPI 2.0 §5.3.2.2: the authorization code flow with response type code only (no implicit, no hybrid).
  if (grantTypes.includes('implicit') || responseTypes.some((r) => r !== 'code')) throw contradicts('response_types must be ["code"] (no implicit or hybrid flow)');
  // FAPI 2.0 §5.3.2.2: every authorization request is pushed (RFC 9126).
  if (m.require_pushed_authorization_requests === false) throw contradicts('require_pushed_authorization_requests cannot be false');
  // FAPI 2.0 §5.3.2.2: PKCE with S256 is required.
  if (m.require_pkce === false) throw contradicts('require_pkce cannot be false');
  const http = plainHttpRedirect(m.redirect_uris ?? [], m.application_type);
  if (http !== undefined) throw contradicts(`redirect_uris must use https (http only for a native client's loopback URI, RFC 8252 §7.3), not ${http.slice(0, 100)}`);
  // FAPI 2.0 §5.4.1: PS256, ES256 or EdDSA for what the client signs and what it asks us to sign.
  for (const field of ['request_object_signing_alg', 'token_endpoint_auth_signing_alg', 'id_token_signed_response_alg', 'userinfo_signed_response_alg', 'authorization_signed_response_alg', 'introspection_signed_response_alg'] as const) {
    const alg = m[field];
    if (alg !== undefined && !isFapiAlg(alg)) throw contradicts(`${field} must be one of ${FAPI_ALGS.join(', ')}, not ${alg}`);
  }
}

/**
 * FAPI 2.0 §5.3.2.2: what a FAPI client's pushed authorization request must hold beyond the general checks. Runs in
 * the PAR column only: the authorization endpoint refuses a FAPI client's request that was not pushed (LK7460,
 * checkPushedRequired), so whatever it processes passed this.
 */
export const checkFapiPushedRequest: Check = (s) => {
  if (!isFapi(s.client, s.ctx.tenant.settings)) return;
  // FAPI 2.0 §5.3.2.2: response type code only. Registration refuses others under the profile; a client registered
  // with a hybrid type before the tenant turned the profile on is refused here.
  const responseType = s.params.get('response_type');
  if (responseType !== undefined && responseType !== 'code') {
    throw new OAuthError('unsupported_response_type', 'only response_type code is allowed (FAPI 2.0)', { resultCode: 'LK7468' });
  }
  // FAPI 2.0 §5.4.1: what we would sign for a client registered before its tenant turned the profile on.
  const algs = forbiddenRegisteredAlgs(s.client!);
  if (algs.length) {
    throw new OAuthError('unauthorized_client', `this client's registration is outside the FAPI 2.0 profile (${algs.join(', ')}; ${FAPI_ALGS.join(', ')} only): update it`, { resultCode: 'LK7468' });
  }
  // FAPI 2.0 §5.3.2.2: an http redirect URI of a client registered before its tenant turned the profile on.
  if (s.redirectUri !== undefined && plainHttpRedirect([s.redirectUri], s.client!.applicationType) !== undefined) {
    throw new OAuthError('unauthorized_client', 'this client\'s redirect_uri uses http, outside the FAPI 2.0 profile (https, or a native client\'s loopback URI): update it', { resultCode: 'LK7468' });
  }
  // FAPI 2.0 §5.3.2.2: redirect_uri in every pushed request (it is then bound to the code, RFC 6749 §4.1.3).
  if (!s.request.redirectUriSent) throw new OAuthError('invalid_request', 'redirect_uri is required in a pushed authorization request (FAPI 2.0)', { resultCode: 'LK7461' });
  // FAPI 2.0 §5.3.2.2: PKCE with S256 (checkPkce refuses other methods; this refuses its absence).
  if (s.params.get('code_challenge') === undefined) {
    throw new OAuthError('invalid_request', 'PKCE is required: send code_challenge with code_challenge_method=S256 (FAPI 2.0)', { resultCode: 'LK7462' });
  }
  // FAPI 2.0 §5.4.1: a request object, when one is sent, is signed with PS256, ES256 or EdDSA (never none, never RS256).
  if (s.requestObjectAlg !== undefined && !isFapiAlg(s.requestObjectAlg)) {
    throw new OAuthError('invalid_request_object', `request object alg ${JSON.stringify(s.requestObjectAlg.slice(0, 20))} is not allowed (FAPI 2.0: ${FAPI_ALGS.join(', ')})`, { resultCode: 'LK7463' });
  }
};
