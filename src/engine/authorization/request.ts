import { decodeProtectedHeader } from 'jose';
import { isFapi } from '../fapi.js';
import type { ClientRecord } from '../../store/types.js';
import { verifyOwnIdToken } from '../../tokens/verify-own.js';
import { type ClaimsRequest, parseClaimsParameter } from '../claims.js';
import { CIBA_GRANT, DEVICE_CODE_GRANT, normalizeResponseType, redirectUriMatches } from '../client-metadata.js';
import { type EngineContext, nowSeconds } from '../context.js';
import { OAuthError } from '../errors.js';
import { Params, parseScope } from '../params.js';
import { loadResources, meaningfulResources, noMeaningfulResource, resourceParams } from '../resources.js';
import { localSubjectOf } from '../subject.js';
import { type AuthorizationDetail, clientAuthorizationDetailsTypes, parseAuthorizationDetails, supportedAuthorizationDetailsTypes } from '../authorization-details.js';
import { fetchRequestUri, PAR_URN_PREFIX, requestObjectParams, verifyRequestObject } from './request-object.js';
import { signedRequestObjectRequired, unsignedRequestObjectRefused } from './signed-request-object.js';

/** Where an authorization response goes (resolved: `jwt` becomes query.jwt or fragment.jwt, JARM §2.3.4). */
export type ResponseMode = 'query' | 'fragment' | 'form_post' | 'query.jwt' | 'fragment.jwt' | 'form_post.jwt';
export const RESPONSE_MODES = ['query', 'fragment', 'form_post', 'query.jwt', 'fragment.jwt', 'form_post.jwt', 'jwt'] as const;

/** The authorization-family endpoints that share the checks (a column each in AUTHORIZATION_CHECKS). */
export type AuthorizationEndpoint = 'authorization' | 'par' | 'device_authorization' | 'backchannel_authentication';

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
  /** Canonical order: code, id_token, token. */
  responseType: string;
  responseMode: ResponseMode;
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
  /** OIDC Core §5.5: the claims parameter. */
  claims?: ClaimsRequest;
  /** OIDC Core §5.5.1: the sub value the claims parameter insists on (the response must be for that user). */
  claimsSub?: string;
  /** RFC 9126: the request came through the pushed authorization request endpoint. */
  pushed?: boolean;
  /** RFC 9449 §10: the DPoP key thumbprint the code is bound to. */
  dpopJkt?: string;
  /** RFC 8707 §2.1: the resource servers the whole grant is for (empty: none named). */
  resources?: string[];
  /** RFC 9396 §2: the authorization details asked for (absent: none, or the feature is off). */
  authorizationDetails?: AuthorizationDetail[];
  /**
   * The local subject (the user id an issue step is given) that id_token_hint or a claims sub value names. The
   * names above are the client's view, a pairwise sub for a pairwise client (OIDC Core §8.1); this is the user
   * behind it, found through the hint's sid (subject.ts localSubjectOf). Absent: none named, or not found.
   */
  expectedSubject?: string;
}

/** State threaded through the checks: what is known so far. */
export interface CheckState {
  params: Params;
  ctx: EngineContext;
  client?: ClientRecord;
  /** Set once client_id and redirect_uri are verified; from then on errors are redirected (RFC 6749 §4.1.2.1). */
  redirectUri?: string;
  request: Partial<AuthorizationRequest>;
  endpoint?: AuthorizationEndpoint;
  /**
   * The alg of the verified request object the parameters came from ('none' when unsigned); for a pushed request,
   * the one verified at push time. Absent: plain parameters (RFC 9101 §10.5 require_signed_request_object).
   */
  requestObjectAlg?: string;
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

/**
 * RFC 9700 §4.1.3: exact string match against a registered URI (any port for a native client's loopback IP
 * URI, RFC 8252 §7.3); OIDC Core §3.1.2.1: required for OpenID requests.
 */
export const checkRedirectUri: Check = (s) => {
  const client = s.client!;
  const sent = s.params.get('redirect_uri');
  if (sent !== undefined) {
    if (!redirectUriMatches(client, sent)) {
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

/**
 * RFC 9101 §5, §7 and OIDC Core §3.1.2.6: once the client is known, an error about the request object or request_uri
 * goes back to the client as in RFC 6749 §4.1.2.1, so to the redirect_uri sent beside them when it is one the client
 * registered (never to one from inside the object), matched as checkRedirectUri matches it (RFC 8252 §7.3). Without
 * such a redirect_uri nothing is verified and the error is shown, not redirected.
 */
async function errorsToOuterRedirectUri(s: CheckState, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const outer = s.params.get('redirect_uri');
    if (e instanceof OAuthError && outer !== undefined && redirectUriMatches(s.client!, outer)) {
      s.redirectUri = outer;
      s.request.state = s.params.get('state');
    }
    throw e;
  }
}

/** RFC 9126 §4: a request_uri from the PAR endpoint stands for the parameters pushed, once, by the same client. */
export const checkPushedRequestUri: Check = (s) => errorsToOuterRedirectUri(s, () => pushedRequestUri(s));

async function pushedRequestUri(s: CheckState): Promise<void> {
  const uri = s.params.get('request_uri');
  if (uri === undefined || !uri.startsWith(PAR_URN_PREFIX)) return;
  if (s.params.has('request')) {
    throw new OAuthError('invalid_request', 'request and request_uri cannot both be sent', { resultCode: 'LK7009' });
  }
  const handle = uri.slice(PAR_URN_PREFIX.length);
  const now = nowSeconds(s.ctx);
  // RFC 9126 §4: only the client that pushed it may spend it; another client_id (anyone who saw the URN in a
  // browser) is refused without burning it, in the same conditional statement (never read-then-write).
  const rec = handle && handle.length <= 100 ? await s.ctx.store.consumePushedRequest(s.ctx.tenant.id, s.ctx.hasher.hash(handle), now, s.client!.clientId) : undefined;
  if (!rec || rec.expiresAt <= now || rec.clientId !== s.client!.clientId) {
    throw new OAuthError('invalid_request_uri', 'request_uri is unknown, expired or already used', { resultCode: 'LK7006' });
  }
  s.params = Params.parse(String(rec.data.parameters ?? ''), { allowRepeated: ['resource'] }); // RFC 8707 §2
  s.request.pushed = true;
  if (typeof rec.data.requestObjectAlg === 'string') s.requestObjectAlg = rec.data.requestObjectAlg; // RFC 9126 §3
}

/** RFC 9126 §4: PAR may be required per client (require_pushed_authorization_requests) or for the whole tenant. */
export const checkPushedRequired: Check = (s) => {
  if (s.request.pushed) return;
  // FAPI 2.0 §5.3.2.2: a FAPI client's requests are always pushed, whatever its other metadata says.
  if (isFapi(s.client, s.ctx.tenant.settings)) {
    throw new OAuthError('invalid_request', 'authorization requests of this client must be pushed to the pushed authorization request endpoint (FAPI 2.0)', { resultCode: 'LK7460' });
  }
  if (s.client!.requirePushedAuthorizationRequests || s.ctx.tenant.settings.requirePushedAuthorizationRequests) {
    throw new OAuthError('invalid_request', 'authorization requests must be pushed to the pushed authorization request endpoint', { resultCode: 'LK7007' });
  }
};

/** RFC 9126 §2.1: a pushed request cannot itself reference a request_uri. */
export const checkNoRequestUri: Check = (s) => {
  if (s.params.has('request_uri')) {
    throw new OAuthError('invalid_request', 'request_uri is not allowed in a pushed authorization request', { resultCode: 'LK7005' });
  }
};

/**
 * RFC 9101 §6.3: with `request` (or a fetched `request_uri`), only the request object's parameters are used,
 * and its client_id must be the one sent. OIDC Core §6.1 also sends response_type outside; when it is sent
 * there it must agree with the request object (parameters outside are otherwise ignored).
 */
export const checkRequestObject: Check = (s) => errorsToOuterRedirectUri(s, () => requestObject(s));

async function requestObject(s: CheckState): Promise<void> {
  if (s.request.pushed) return; // verified and unpacked when it was pushed
  const value = s.params.get('request');
  const uri = s.params.get('request_uri');
  if (value === undefined && uri === undefined) return;
  // RFC 9101 §5: not both (an error the client can be told at its registered redirect_uri, like the ones below).
  if (value !== undefined && uri !== undefined) {
    throw new OAuthError('invalid_request', 'request and request_uri cannot both be sent', { resultCode: 'LK7009' });
  }
  const jwt = value ?? (await fetchRequestUri(s.ctx, s.client!, uri!));
  const claims = await verifyRequestObject(s.ctx, s.client!, jwt);
  s.requestObjectAlg = String(decodeProtectedHeader(jwt).alg); // verified above
  if (s.requestObjectAlg === 'none' && signedRequestObjectRequired(s)) throw unsignedRequestObjectRefused(s); // RFC 9101 §10.5
  const inner = requestObjectParams(claims, s.client!.clientId);
  const outerType = s.params.get('response_type');
  const innerType = inner.get('response_type');
  if (outerType !== undefined && innerType !== undefined && normalizeResponseType(outerType) !== normalizeResponseType(innerType)) {
    throw new OAuthError('invalid_request', 'response_type differs from the one in the request object', { resultCode: 'LK7027' });
  }
  s.params = inner;
}

/** RFC 8628 §3.1: only clients registered for the device grant may start one. */
export const checkDeviceGrant: Check = (s) => {
  if (!s.client!.grantTypes.includes(DEVICE_CODE_GRANT)) {
    throw new OAuthError('unauthorized_client', 'the client may not use the device authorization grant', { resultCode: 'LK7026' });
  }
};

/** OpenID CIBA Core §7.2: only clients registered for the CIBA grant may make a backchannel authentication request. */
export const checkCibaGrant: Check = (s) => {
  if (!s.client!.grantTypes.includes(CIBA_GRANT)) {
    throw new OAuthError('unauthorized_client', 'the client may not use CIBA (it is not registered for the urn:openid:params:grant-type:ciba grant)', { resultCode: 'LK7481' });
  }
};

/**
 * OIDC Core §3 and Multiple Response Types §3-§5: the seven combinations, in any order. The client must have
 * registered the type, and the grants it implies (RFC 7591 §2.1: code → authorization_code, token/id_token → implicit).
 */
export const checkResponseType: Check = (s) => {
  const rt = s.params.get('response_type');
  if (!rt) throw new OAuthError('invalid_request', 'missing response_type', { resultCode: 'LK0003' });
  const normalized = normalizeResponseType(rt);
  if (!normalized) throw new OAuthError('unsupported_response_type', `response_type ${JSON.stringify(rt.slice(0, 40))} is not supported`, { resultCode: 'LK3009' });
  if (!clientMayUseResponseType(s.client!, normalized)) {
    throw new OAuthError('unauthorized_client', 'the client may not use this response_type', { resultCode: 'LK1007' });
  }
  s.request.responseType = normalized;
};

/** Whether the client registered this (normalized) response type and the grants it implies (RFC 7591 §2.1). */
export function clientMayUseResponseType(c: Pick<ClientRecord, 'responseTypes' | 'grantTypes'>, normalized: string): boolean {
  const parts = normalized.split(' ');
  return c.responseTypes.includes(normalized) &&
    (!parts.includes('code') || c.grantTypes.includes('authorization_code')) &&
    (!parts.some((p) => p !== 'code') || c.grantTypes.includes('implicit'));
}

/** Whether a response type puts tokens in the front channel (then query encoding is forbidden). */
export const returnsTokens = (responseType: string): boolean => responseType.split(' ').some((p) => p === 'token' || p === 'id_token');

/**
 * Multiple Response Types §2.1, §5: query by default for code, fragment for anything returning tokens, and
 * never query for those. JARM §2.3.4: `jwt` means query.jwt or fragment.jwt by the same rule; §2.3.1: query.jwt
 * is not allowed with tokens unless the response is encrypted (the client registered authorization_encrypted_response_alg).
 */
export const checkResponseMode: Check = (s) => {
  const mode = s.params.get('response_mode');
  const tokens = returnsTokens(s.request.responseType!);
  if (mode !== undefined && !(RESPONSE_MODES as readonly string[]).includes(mode)) {
    throw new OAuthError('invalid_request', `response_mode ${JSON.stringify(mode.slice(0, 40))} is not supported`, { resultCode: 'LK7001' });
  }
  const resolved = resolveResponseMode(mode, tokens);
  if (tokens && (resolved === 'query' || (resolved === 'query.jwt' && s.client?.authorizationEncryptedResponseAlg === undefined))) {
    throw new OAuthError('invalid_request', `response_mode ${mode} cannot carry tokens; use fragment or form_post`, { resultCode: 'LK7001' });
  }
  s.request.responseMode = resolved;
};

export function resolveResponseMode(mode: string | undefined, tokens: boolean): ResponseMode {
  if (mode === undefined) return tokens ? 'fragment' : 'query';
  if (mode === 'jwt') return tokens ? 'fragment.jwt' : 'query.jwt';
  return mode as ResponseMode;
}

/**
 * The mode an error goes back in, before checkResponseMode has run: the requested mode when it is valid and
 * safe, else the default for the response_type sent (fragment when it names token or id_token).
 */
export function errorResponseMode(s: CheckState): ResponseMode {
  if (s.request.responseMode) return s.request.responseMode;
  const rt = s.params.get('response_type') ?? '';
  const tokens = returnsTokens(rt);
  const mode = s.params.get('response_mode');
  if (mode !== undefined && (RESPONSE_MODES as readonly string[]).includes(mode)) {
    const resolved = resolveResponseMode(mode, tokens);
    if (!(tokens && resolved.startsWith('query'))) return resolved;
    if (resolved === 'query.jwt' && s.client?.authorizationEncryptedResponseAlg !== undefined) return resolved; // JARM §2.3.1
    return resolved.endsWith('.jwt') ? 'fragment.jwt' : 'fragment'; // a JARM client still gets a JWT
  }
  return tokens ? 'fragment' : 'query';
}

/**
 * RFC 6749 §3.3: the server may partially ignore the requested scope. Scopes the client may not use are
 * dropped (the token response then says what was granted) rather than failing the whole sign-in.
 */
export const checkScope: Check = (s) => {
  const requested = parseScope(s.params.get('scope'));
  s.request.scope = requested.filter((sc) => s.client!.scope.includes(sc));
};

/**
 * OIDC Core §3.2.2.1, §3.3.2.1: an ID token from the authorization endpoint needs the openid scope. `token` alone
 * is OAuth 2.0's implicit grant, not an OpenID Connect response type: it must not carry openid (use id_token token).
 */
export const checkResponseTypeScope: Check = (s) => {
  const rt = s.request.responseType!;
  const openid = s.request.scope!.includes('openid');
  if (rt.split(' ').includes('id_token') && !openid) {
    throw new OAuthError('invalid_request', `response_type ${rt} requires the openid scope`, { resultCode: 'LK7003' });
  }
  if (rt === 'token' && openid) {
    throw new OAuthError('invalid_request', 'response_type token is OAuth 2.0 only; OpenID Connect uses id_token token', { resultCode: 'LK7003' });
  }
};

/**
 * OIDC Core §11: offline_access asks for a refresh token, which only the token endpoint issues; a response type that
 * returns no authorization code MUST have the request ignored, so it is dropped from the scope (and so from the
 * consent, the grant, and the implicit access token; a grant without it also ends with the session, logout.ts).
 */
export const checkOfflineAccess: Check = (s) => {
  // Likewise for a client that may not use the refresh_token grant: it can never get the refresh token asked for,
  // and a grant marked offline would outlive the user's session for nothing.
  const noRefresh = !s.request.responseType!.split(' ').includes('code') || !s.client!.grantTypes.includes('refresh_token');
  if (noRefresh) s.request.scope = s.request.scope!.filter((sc) => sc !== 'offline_access');
};

/** RFC 7636 §4.3, §4.4.1; RFC 9700 §2.1.1: S256 only, required for public clients and clients configured so. */
export const checkPkce: Check = (s) => {
  // No code is issued (implicit): there is nothing for PKCE to bind.
  if (s.request.responseType !== undefined && !s.request.responseType.split(' ').includes('code')) return;
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
  // Initiating User Registration via OpenID Connect §4: create only where registration is offered (and advertised).
  const known = s.ctx.tenant.settings.allowRegistration ? [...PROMPTS, 'create'] : PROMPTS;
  for (const p of prompt) if (!known.includes(p)) throw new OAuthError('invalid_request', `unsupported prompt value ${JSON.stringify(p.slice(0, 40))}`);
  if (prompt.includes('none') && prompt.length > 1) throw new OAuthError('invalid_request', 'prompt=none cannot be combined with other values');
  s.request.prompt = prompt;
};

export const checkMaxAge: Check = (s) => {
  const v = s.params.get('max_age');
  // OIDC Registration §2: default_max_age stands in for an absent max_age; a max_age sent overrides it.
  if (v === undefined) {
    if (s.client?.defaultMaxAge !== undefined) s.request.maxAge = s.client.defaultMaxAge;
    return;
  }
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
  s.request.expectedSubject = await localSubjectOf(s.ctx, s.client, payload.sub, typeof payload.sid === 'string' ? payload.sid : undefined);
};

/**
 * RFC 8707 §2.1: `resource` may repeat; each must be an absolute URI without a fragment, a registered resource
 * server, and allowed for the client, else invalid_target (redirected: client and redirect_uri are verified).
 * The code then carries the granted set; the token request may name it or a subset (RFC 8707 §2.2).
 */
export const checkResource: Check = async (s) => {
  const named = resourceParams(s.params);
  const records = await loadResources(s.ctx, s.client!, named);
  // RFC 9068 §2.2.3 (resources.ts tokenTarget, LK6007): a resource none of whose scopes is asked for could only be
  // refused at the token endpoint, after the user approved (and, implicit, at the issue step): refused here instead.
  if (records.length > 0 && meaningfulResources(records, s.request.scope ?? []).length === 0) throw noMeaningfulResource(records);
  s.request.resources = named;
};

/** OIDC Core §3.2.2.1, §3.3.2.11: nonce is required whenever the authorization endpoint returns an ID token. */
export const checkNonce: Check = (s) => {
  if (s.request.responseType!.split(' ').includes('id_token') && s.request.nonce === undefined) {
    throw new OAuthError('invalid_request', 'nonce is required when an ID token is returned from the authorization endpoint', { resultCode: 'LK7002' });
  }
};

/**
 * OIDC Core §5.5: the claims parameter, kept for the ID token and UserInfo. A sub value (§5.5.1) names the only
 * user the response may be for; it must agree with id_token_hint when both are sent.
 */
export const checkClaims: Check = async (s) => {
  const raw = s.params.get('claims');
  if (raw === undefined) return;
  const claims = parseClaimsParameter(raw);
  s.request.claims = claims;
  const sub = claims.id_token?.sub?.value;
  if (sub !== undefined) {
    if (typeof sub !== 'string') throw new OAuthError('invalid_request', 'claims parameter: id_token.sub.value must be a string', { resultCode: 'LK7013' });
    if (s.request.idTokenHintSub !== undefined && s.request.idTokenHintSub !== sub) {
      throw new OAuthError('invalid_request', 'claims sub value and id_token_hint name different users', { resultCode: 'LK7013' });
    }
    s.request.claimsSub = sub;
    // A pairwise sub without a session to look it up in stays unresolved (OIDC Core §8.1: one-way).
    s.request.expectedSubject ??= await localSubjectOf(s.ctx, s.client, sub, undefined);
  }
};

/**
 * RFC 9396 §3: authorization_details, checked like scope: each object's type must be supported and allowed for the
 * client, the common fields well-typed (§2.2); a bad value is invalid_authorization_details (§5), redirected (client
 * and redirect_uri are verified by now). With no types configured the server does not implement RFC 9396, and the
 * parameter is ignored as any unknown parameter is (RFC 6749 §3.1).
 */
export const checkAuthorizationDetails: Check = (s) => {
  const raw = s.params.get('authorization_details');
  if (raw === undefined || supportedAuthorizationDetailsTypes(s.ctx).length === 0) return;
  s.request.authorizationDetails = parseAuthorizationDetails(raw, clientAuthorizationDetailsTypes(s.ctx, s.client!));
};
