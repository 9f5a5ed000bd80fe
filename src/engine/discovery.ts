import { SIGNING_ALGS } from '../tokens/jwt.js';
import { endpointsOf } from './context.js';
import { grantHandlers } from './token/index.js';

/**
 * Authorization server metadata (RFC 8414 §2) and OpenID Provider metadata (OIDC Discovery §3).
 * Lists exactly what is implemented: grant types come from the grant table, so nothing is advertised that
 * has no handler.
 */
export function discoveryDocument(issuer: string, kind: 'openid' | 'oauth'): Record<string, unknown> {
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
    doc.response_types_supported = ['code'];
    doc.response_modes_supported = ['query'];
    doc.code_challenge_methods_supported = ['S256'];
    doc.authorization_response_iss_parameter_supported = true; // RFC 9207
    doc.prompt_values_supported = ['none', 'login', 'consent', 'select_account'];
    // RP-Initiated, Front-Channel and Back-Channel Logout 1.0
    doc.end_session_endpoint = e.endSession;
    doc.frontchannel_logout_supported = true;
    doc.frontchannel_logout_session_supported = true;
    doc.backchannel_logout_supported = true;
    doc.backchannel_logout_session_supported = true;
  } else {
    doc.response_types_supported = [];
  }
  doc.grant_types_supported = grants;
  doc.token_endpoint_auth_methods_supported = ['client_secret_basic', 'client_secret_post', ...(hasCodeFlow ? ['none'] : [])];
  doc.introspection_endpoint = e.introspection; // RFC 7662, RFC 8414 §2
  doc.introspection_endpoint_auth_methods_supported = ['client_secret_basic', 'client_secret_post']; // no public clients (RFC 7662 §2.1)
  doc.introspection_signing_alg_values_supported = [...SIGNING_ALGS]; // RFC 9701 §7
  doc.revocation_endpoint = e.revocation; // RFC 7009, RFC 8414 §2
  doc.revocation_endpoint_auth_methods_supported = doc.token_endpoint_auth_methods_supported; // RFC 7009 §2.1: public clients too
  if (kind === 'openid' || hasCodeFlow) {
    doc.subject_types_supported = ['public'];
    doc.id_token_signing_alg_values_supported = [...SIGNING_ALGS];
    doc.userinfo_signing_alg_values_supported = undefined;
    doc.claims_supported = [
      'sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'acr', 'amr', 'azp', 'at_hash', 'sid',
      'name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture',
      'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at', 'email', 'email_verified', 'address',
      'phone_number', 'phone_number_verified',
    ];
    doc.claims_parameter_supported = false;
    doc.request_parameter_supported = false;
    doc.request_uri_parameter_supported = false;
  }
  return JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
}
