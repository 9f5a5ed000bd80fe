import { mintAccessToken } from '../../tokens/access-token.js';
import { OAuthError } from '../errors.js';
import { parseScope } from '../params.js';
import { loadResources, OIDC_SCOPES, resourceParams, tokenTarget } from '../resources.js';
import { jsonResult } from '../result.js';
import type { GrantHandler } from './types.js';
import { tokenRequestAuthorizationDetails } from '../authorization-details.js';

/**
 * RFC 6749 §4.4: the client requests an access token for itself. Only confidential clients (§4.4.2).
 * RFC 8707 §2.2: `resource` names the resource servers the token is for; the token is audience-restricted to
 * them and down-scoped to what they understand.
 */
export const clientCredentials: GrantHandler = async (params, { client, method }, ctx) => {
  if (method === 'none') {
    throw new OAuthError('unauthorized_client', 'public clients cannot use client_credentials', { resultCode: 'LK1007' });
  }
  // Scopes that only make sense with a user are never granted to a client acting on its own behalf.
  const allowed = client.scope.filter((s) => !OIDC_SCOPES.has(s));
  const requested = parseScope(params.get('scope'));
  for (const s of requested) {
    if (!allowed.includes(s)) throw new OAuthError('invalid_scope', `scope ${s} is not allowed for this client`, { resultCode: 'LK2003' });
  }
  const resources = await loadResources(ctx, client, resourceParams(params));
  // RFC 9396 §6: with no grant behind it, the client's own policy decides: the types it may use (§10).
  const authorizationDetails = tokenRequestAuthorizationDetails(ctx, params, client);
  // RFC 6749 §3.3: with no scope requested, the server applies a pre-defined default (here, all allowed).
  const scope = params.has('scope') ? requested : allowed;
  const target = await tokenTarget(ctx, client, { resources, scope, scopeRequested: params.has('scope') });
  const at = await mintAccessToken(ctx, {
    client,
    subject: null,
    scope: target.scope,
    audience: target.audience,
    format: target.format,
    lifetime: target.lifetime,
    grantId: null,
    authorizationDetails,
    extra: { gty: 'client_credentials' },
    outsideTransaction: true,
  });
  const body: Record<string, unknown> = { access_token: at.token, token_type: 'Bearer', expires_in: at.expiresIn };
  if (target.scope.length) body.scope = target.scope.join(' ');
  if (authorizationDetails) body.authorization_details = authorizationDetails; // RFC 9396 §7
  return jsonResult('OK', 200, 'LK2001', body);
};
