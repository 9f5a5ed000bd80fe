import { z } from 'zod';
import type { ClientMetadata, ClientRecord } from '../store/types.js';
import { SIGNING_ALGS } from '../tokens/jwt.js';
import { OAuthError } from './errors.js';

/** Grant and response types a client may register today. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'; // RFC 8628 §3.4
export const REGISTRABLE_GRANTS = ['authorization_code', 'refresh_token', 'client_credentials', 'implicit', DEVICE_CODE_GRANT] as const;
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

/** Private or symmetric key members: a client's registered key set holds public keys only. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const jwkSchema = z.record(z.string(), z.unknown()).refine((k) => typeof k.kty === 'string', 'every key needs kty')
  .refine((k) => !PRIVATE_JWK_MEMBERS.some((m) => m in k), 'keys must be public (no private or symmetric key material)');
export const STANDARD_SCOPES = ['openid', 'profile', 'email', 'address', 'phone', 'offline_access'];

const scopeToken = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** RFC 7591 §2 client metadata on the wire (snake_case), plus Latchkey's policy fields. Unknown fields are ignored. */
const wireSchema = z.object({
  client_id: z.string().regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 printable ASCII characters').optional(),
  client_secret: z.string().min(32, 'an operator-supplied secret must be at least 32 characters (DESIGN: secrets are high-entropy)').max(512).optional(),
  client_name: z.string().max(200).optional(),
  logo_uri: z.string().url().optional(),
  client_uri: z.string().url().optional(),
  contacts: z.array(z.string().max(320)).max(20).optional(),
  redirect_uris: z.array(z.string()).max(50).optional(),
  post_logout_redirect_uris: z.array(z.string()).max(50).optional(),
  backchannel_logout_uri: z.string().url().max(2000).optional(),
  backchannel_logout_session_required: z.boolean().optional(),
  frontchannel_logout_uri: z.string().url().max(2000).optional(),
  frontchannel_logout_session_required: z.boolean().optional(),
  grant_types: z.array(z.string()).max(10).optional(),
  response_types: z.array(z.string()).max(10).optional(),
  scope: z.string().max(2000).optional(),
  token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post', 'none']).optional(),
  application_type: z.enum(['web', 'native']).optional(),
  id_token_signed_response_alg: z.enum(SIGNING_ALGS).optional(),
  require_pkce: z.boolean().optional(),
  skip_consent: z.boolean().optional(),
  session_refresh_tokens: z.boolean().optional(),
  access_token_format: z.enum(['opaque', 'jwt']).optional(),
  introspection_signed_response_alg: z.enum(SIGNING_ALGS).optional(),
  introspection_own_tokens_only: z.boolean().optional(),
  authorization_signed_response_alg: z.enum(SIGNING_ALGS).optional(),
  require_pushed_authorization_requests: z.boolean().optional(),
  jwks: z.object({ keys: z.array(jwkSchema).max(20) }).optional(),
  jwks_uri: z.string().url().refine((u) => u.startsWith('https://'), 'must be an https URL').optional(),
  request_object_signing_alg: z.enum([...SIGNING_ALGS, 'none']).optional(),
  request_uris: z.array(z.string().url().refine((u) => u.startsWith('https://'), 'must be https URLs')).max(20).optional(),
});

export type ClientMetadataInput = z.input<typeof wireSchema>;

function invalid(msg: string): OAuthError {
  return new OAuthError('invalid_client_metadata', msg);
}

/** RFC 6749 §3.1.2: absolute URI, no fragment. RFC 8252 §7: native apps may use custom schemes and loopback. */
function checkRedirectUri(uri: string, applicationType: 'web' | 'native'): void {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new OAuthError('invalid_redirect_uri', `redirect_uri ${JSON.stringify(uri)} is not an absolute URI`);
  }
  if (u.hash || uri.includes('#')) throw new OAuthError('invalid_redirect_uri', `redirect_uri ${JSON.stringify(uri)} must not have a fragment`);
  if (applicationType === 'web' && u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new OAuthError('invalid_redirect_uri', `redirect_uri ${JSON.stringify(uri)}: web clients use http(s) URIs`);
  }
  if (/^(javascript|data|vbscript|file):$/i.test(u.protocol)) {
    throw new OAuthError('invalid_redirect_uri', `redirect_uri ${JSON.stringify(uri)} uses a forbidden scheme`);
  }
}

export interface ValidatedMetadata {
  clientId?: string;
  clientSecret?: string;
  metadata: ClientMetadata;
}

/**
 * Validate RFC 7591 metadata and apply defaults (RFC 7591 §2: grant_types defaults to authorization_code,
 * response_types to code, token_endpoint_auth_method to client_secret_basic). Throws OAuthError
 * invalid_client_metadata / invalid_redirect_uri with a message naming the field.
 */
export function validateClientMetadata(input: unknown): ValidatedMetadata {
  const parsed = wireSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalid(`${issue.path.join('.') || 'metadata'}: ${issue.message}`);
  }
  const m = parsed.data;
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
  if (m.jwks && m.jwks_uri) throw invalid('jwks and jwks_uri cannot both be registered (RFC 7591 §2)');
  if (method === 'none' && grantTypes.includes('client_credentials')) {
    throw invalid('a public client (token_endpoint_auth_method none) cannot use client_credentials');
  }
  if (method === 'none' && m.client_secret) throw invalid('a public client has no client_secret');
  const redirectUris = [...new Set(m.redirect_uris ?? [])];
  if ((grantTypes.includes('authorization_code') || grantTypes.includes('implicit')) && redirectUris.length === 0) {
    throw new OAuthError('invalid_redirect_uri', 'redirect_uris: at least one is required for the authorization_code and implicit grants');
  }
  for (const u of redirectUris) checkRedirectUri(u, applicationType);
  for (const u of m.post_logout_redirect_uris ?? []) checkRedirectUri(u, applicationType);
  // Back-Channel Logout §2.2 / Front-Channel Logout §2: absolute http(s) URIs without a fragment.
  for (const [field, u] of [['backchannel_logout_uri', m.backchannel_logout_uri], ['frontchannel_logout_uri', m.frontchannel_logout_uri]] as const) {
    if (u !== undefined && (!/^https?:\/\//.test(u) || u.includes('#'))) throw invalid(`${field}: must be an http(s) URI without a fragment`);
  }
  const scope = m.scope === undefined ? [...STANDARD_SCOPES] : [...new Set(m.scope.split(' ').filter(Boolean))];
  for (const s of scope) if (!scopeToken.test(s)) throw invalid(`scope: ${JSON.stringify(s)} is not a valid scope token`);

  const metadata: ClientMetadata = {
    clientName: m.client_name,
    logoUri: m.logo_uri,
    clientUri: m.client_uri,
    contacts: m.contacts,
    redirectUris,
    postLogoutRedirectUris: m.post_logout_redirect_uris,
    backchannelLogoutUri: m.backchannel_logout_uri,
    backchannelLogoutSessionRequired: m.backchannel_logout_session_required,
    frontchannelLogoutUri: m.frontchannel_logout_uri,
    frontchannelLogoutSessionRequired: m.frontchannel_logout_session_required,
    grantTypes,
    responseTypes,
    scope,
    tokenEndpointAuthMethod: method,
    applicationType,
    idTokenSignedResponseAlg: m.id_token_signed_response_alg ?? 'RS256', // OIDC Registration §2
    requirePkce: method === 'none' ? true : (m.require_pkce ?? false), // RFC 9700 §2.1.1
    skipConsent: m.skip_consent ?? false,
    sessionRefreshTokens: m.session_refresh_tokens,
    accessTokenFormat: m.access_token_format,
    introspectionSignedResponseAlg: m.introspection_signed_response_alg,
    introspectionOwnTokensOnly: m.introspection_own_tokens_only,
    authorizationSignedResponseAlg: m.authorization_signed_response_alg,
    requirePushedAuthorizationRequests: m.require_pushed_authorization_requests,
    jwks: m.jwks as ClientMetadata['jwks'],
    jwksUri: m.jwks_uri,
    requestObjectSigningAlg: m.request_object_signing_alg,
    requestUris: m.request_uris,
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
    contacts: c.contacts,
    redirect_uris: c.redirectUris,
    post_logout_redirect_uris: c.postLogoutRedirectUris,
    backchannel_logout_uri: c.backchannelLogoutUri,
    backchannel_logout_session_required: c.backchannelLogoutSessionRequired,
    frontchannel_logout_uri: c.frontchannelLogoutUri,
    frontchannel_logout_session_required: c.frontchannelLogoutSessionRequired,
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
    authorization_signed_response_alg: c.authorizationSignedResponseAlg,
    require_pushed_authorization_requests: c.requirePushedAuthorizationRequests,
    jwks: c.jwks,
    jwks_uri: c.jwksUri,
    request_object_signing_alg: c.requestObjectSigningAlg,
    request_uris: c.requestUris,
  };
  if (c.secretHash) out.client_secret_expires_at = 0;
  return JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
}
