import type { ClientRecord } from '../../store/types.js';
import { verifyOwnIdToken } from '../../tokens/verify-own.js';
import type { EngineContext } from '../context.js';
import { OAuthError } from '../errors.js';
import { Params, parseScope } from '../params.js';
import { loadResources, resourceParams } from '../resources.js';

/**
 * The validated authorization request, as kept with its ticket between the two steps.
 * Wire names are converted once, here.
 */
export interface AuthorizationRequest {
  clientId: string;
  /** The redirect_uri used for the response (the registered one when the request omitted it). */
  redirectUri: string;
  /** Whether redirect_uri was sent: RFC 6749 §4.1.3 then requires it, identical, at the token endpoint. */
  redirectUriSent: boolean;
  responseType: string;
  responseMode: 'query';
  scope: string[];
  state?: string;
  nonce?: string;
  codeChallenge?: string;
  codeChallengeMethod?: 'S256';
  prompt: string[];
  maxAge?: number;
  loginHint?: string;
  /** sub of a valid id_token_hint. */
  idTokenHintSub?: string;
  uiLocales?: string[];
  claimsLocales?: string[];
  acrValues?: string[];
  display?: string;
  /** RFC 8707 §2.1: the resource servers the whole grant is for (empty: none named). */
  resources?: string[];
}

/** State threaded through the checks: what is known so far. */
export interface CheckState {
  params: Params;
  ctx: EngineContext;
  client?: ClientRecord;
  /** Set once client_id and redirect_uri are verified; from then on errors are redirected (RFC 6749 §4.1.2.1). */
  redirectUri?: string;
  request: Partial<AuthorizationRequest>;
}

export type Check = (s: CheckState) => void | Promise<void>;

const PKCE_VALUE = /^[A-Za-z0-9._~-]{43,128}$/; // RFC 7636 §4.1, §4.2
const PROMPTS = ['none', 'login', 'consent', 'select_account'];

/* Each check is small and named; authorization/index.ts composes them in one table. */

export const checkClient: Check = async (s) => {
  const id = s.params.get('client_id');
  if (!id) throw new OAuthError('invalid_request', 'missing client_id', { resultCode: 'LK3003' });
  const client = id.length <= 255 ? await s.ctx.store.findClient(s.ctx.tenant.id, id) : undefined;
  if (!client) throw new OAuthError('invalid_request', 'unknown client', { resultCode: 'LK3003' });
  s.client = client;
  s.request.clientId = client.clientId;
};

/** RFC 9700 §4.1.3: exact string match against a registered URI; OIDC Core §3.1.2.1: required for OpenID requests. */
export const checkRedirectUri: Check = (s) => {
  const client = s.client!;
  const sent = s.params.get('redirect_uri');
  if (sent !== undefined) {
    if (!client.redirectUris.includes(sent)) {
      throw new OAuthError('invalid_request', 'redirect_uri is not registered for this client', { resultCode: 'LK3004' });
    }
    s.redirectUri = sent;
    s.request.redirectUriSent = true;
  } else {
    const openid = (s.params.get('scope') ?? '').split(' ').includes('openid');
    // RFC 6749 §3.1.2.3: may be omitted only when exactly one is registered; OIDC requires it.
    if (openid || client.redirectUris.length !== 1) {
      throw new OAuthError('invalid_request', 'missing redirect_uri', { resultCode: 'LK3004' });
    }
    s.redirectUri = client.redirectUris[0]!;
    s.request.redirectUriSent = false;
  }
  s.request.redirectUri = s.redirectUri;
  // From here errors can safely go back to the client; state must travel with them.
  s.request.state = s.params.get('state');
};

/** OIDC Core §6: request objects are not supported yet, and discovery says so. */
export const checkRequestObject: Check = (s) => {
  if (s.params.has('request')) throw new OAuthError('request_not_supported', 'the request parameter is not supported');
  if (s.params.has('request_uri')) throw new OAuthError('request_uri_not_supported', 'the request_uri parameter is not supported');
};

export const checkResponseType: Check = (s) => {
  const rt = s.params.get('response_type');
  if (!rt) throw new OAuthError('invalid_request', 'missing response_type', { resultCode: 'LK0003' });
  const normalized = rt.split(' ').filter(Boolean).sort().join(' ');
  if (normalized !== 'code') throw new OAuthError('unsupported_response_type', `response_type ${JSON.stringify(rt.slice(0, 40))} is not supported`, { resultCode: 'LK3009' });
  if (!s.client!.responseTypes.includes(normalized) || !s.client!.grantTypes.includes('authorization_code')) {
    throw new OAuthError('unauthorized_client', 'the client may not use this response_type', { resultCode: 'LK1007' });
  }
  s.request.responseType = normalized;
};

export const checkResponseMode: Check = (s) => {
  const mode = s.params.get('response_mode');
  if (mode !== undefined && mode !== 'query') {
    throw new OAuthError('invalid_request', `response_mode ${JSON.stringify(mode.slice(0, 40))} is not supported`);
  }
  s.request.responseMode = 'query';
};

/**
 * RFC 6749 §3.3: the server may partially ignore the requested scope. Scopes the client may not use are
 * dropped (the token response then says what was granted) rather than failing the whole sign-in.
 */
export const checkScope: Check = (s) => {
  const requested = parseScope(s.params.get('scope'));
  s.request.scope = requested.filter((sc) => s.client!.scope.includes(sc));
};

/** RFC 7636 §4.3, §4.4.1; RFC 9700 §2.1.1: S256 only, required for public clients and clients configured so. */
export const checkPkce: Check = (s) => {
  const challenge = s.params.get('code_challenge');
  const method = s.params.get('code_challenge_method');
  if (challenge === undefined) {
    if (method !== undefined) throw new OAuthError('invalid_request', 'code_challenge_method without code_challenge', { resultCode: 'LK3010' });
    if (s.client!.requirePkce || s.client!.tokenEndpointAuthMethod === 'none') {
      throw new OAuthError('invalid_request', 'PKCE is required: send code_challenge with code_challenge_method=S256', { resultCode: 'LK3010' });
    }
    return;
  }
  // RFC 7636 §4.3 defaults the method to plain; plain is not supported (RFC 9700 §2.1.1).
  if (method !== 'S256') throw new OAuthError('invalid_request', 'code_challenge_method must be S256', { resultCode: 'LK3010' });
  if (!PKCE_VALUE.test(challenge)) throw new OAuthError('invalid_request', 'code_challenge is malformed', { resultCode: 'LK3010' });
  s.request.codeChallenge = challenge;
  s.request.codeChallengeMethod = 'S256';
};

/** OIDC Core §3.1.2.1: prompt values; `none` must stand alone. */
export const checkPrompt: Check = (s) => {
  const prompt = [...new Set((s.params.get('prompt') ?? '').split(' ').filter(Boolean))];
  for (const p of prompt) if (!PROMPTS.includes(p)) throw new OAuthError('invalid_request', `unsupported prompt value ${JSON.stringify(p.slice(0, 40))}`);
  if (prompt.includes('none') && prompt.length > 1) throw new OAuthError('invalid_request', 'prompt=none cannot be combined with other values');
  s.request.prompt = prompt;
};

export const checkMaxAge: Check = (s) => {
  const v = s.params.get('max_age');
  if (v === undefined) return;
  if (!/^\d{1,10}$/.test(v)) throw new OAuthError('invalid_request', 'max_age must be a non-negative integer');
  s.request.maxAge = Number(v);
};

/** Recorded as sent, for the login page and the ID token. */
export const checkHints: Check = (s) => {
  const p = s.params;
  s.request.nonce = p.get('nonce');
  s.request.loginHint = p.get('login_hint');
  s.request.display = p.get('display');
  const list = (v: string | undefined) => (v === undefined ? undefined : v.split(' ').filter(Boolean));
  s.request.uiLocales = list(p.get('ui_locales'));
  s.request.claimsLocales = list(p.get('claims_locales'));
  s.request.acrValues = list(p.get('acr_values'));
  if (s.request.nonce !== undefined && s.request.nonce.length > 512) throw new OAuthError('invalid_request', 'nonce is too long');
};

/** OIDC Core §3.1.2.1: an ID token we issued, expired or not, naming the user the client expects. */
export const checkIdTokenHint: Check = async (s) => {
  const hint = s.params.get('id_token_hint');
  if (hint === undefined) return;
  const payload = await verifyOwnIdToken(s.ctx, hint, { allowExpired: true, audience: s.client!.clientId });
  if (!payload) {
    throw new OAuthError('invalid_request', 'id_token_hint is not a valid ID token issued by this provider to this client');
  }
  s.request.idTokenHintSub = payload.sub;
};

/**
 * RFC 8707 §2.1: `resource` may repeat; each must be an absolute URI without a fragment, a registered resource
 * server, and allowed for the client, else invalid_target (redirected: client and redirect_uri are verified).
 * The code then carries the granted set; the token request may name it or a subset (RFC 8707 §2.2).
 */
export const checkResource: Check = async (s) => {
  const named = resourceParams(s.params);
  await loadResources(s.ctx, s.client!, named);
  s.request.resources = named;
};
