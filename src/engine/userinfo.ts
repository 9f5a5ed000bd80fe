import type { ClientRecord, TokenRecord } from '../store/types.js';
import { findAccount } from './accounts.js';
import { activeAccessToken, bearerError, type ChallengeOptions, extractBearer, type BearerInput, refuseRepeatedAuthorization, type ResourceAction, runResource } from './bearer.js';
import { claimsForScopes, SCOPE_CLAIMS, USER_CLAIMS } from './claims.js';
import { endpointsOf, nowSeconds, type EngineContext } from './context.js';
import { OAuthError } from './errors.js';
import { jsonResult, NO_STORE, runEngine, type Result } from './result.js';
import { subjectFor } from './subject.js';
import { signJwt, SIGNING_ALGS, type SigningAlg } from '../tokens/jwt.js';
import { resultCodes } from './result-codes.js';
import { withCorsHeaders } from './cors.js';
import { encryptionKeyFor, encryptTo, responseEncryption } from './response-encryption.js';
import { checkTokenBinding, confirmationOf, type PresentedProof, proofForScheme, type TokenScheme } from './token-binding.js';
import { FAPI_ALGS, fapiAlgs, isFapi, isFapiAlg } from './fapi.js';

export { extractBearer } from './bearer.js';

export type UserInfoAction = ResourceAction;

/** The built-in endpoint's input: the request as received. */
export interface UserInfoInput extends BearerInput {
  /** The DPoP header (RFC 9449 §7.1), the HTTP method, and the client's TLS certificate (RFC 8705 §3). */
  dpop?: string;
  method?: string;
  clientCertificate?: string;
  /** The Origin header of a browser's cross-origin request (CORS: the token's client decides, cors.ts). */
  origin?: string;
}

/** RFC 9449 §7.1: `Authorization: DPoP <token>`; undefined when the header uses another scheme. */
function dpopAuthorization(h: string | undefined, ctx: EngineContext): string | undefined {
  if (h === undefined || !/^DPoP\b/i.test(h)) return undefined;
  const token = /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(h)?.[1];
  if (token === undefined) throw bearerError('invalid_request', 'malformed Authorization header', 400, schemeChallenge(true, ctx));
  return token;
}

/**
 * RFC 9449 §7.2: when the request used the DPoP scheme, the DPoP challenge carries the error (the mechanism is
 * known); otherwise the Bearer one (RFC 6750 §3). §7.1: naming the algs accepted (narrower under the FAPI 2.0 profile).
 */
const schemeChallenge = (dpop: boolean, ctx: EngineContext): ChallengeOptions => (dpop ? { scheme: 'DPoP', algs: fapiAlgs(undefined, ctx.tenant.settings) } : {});

/*
 * UserInfo (OIDC Core §5.3) in two steps, so that an application holding its own users can serve it through the
 * Core API: step one checks the access token and says whose claims are wanted (userinfoRequest); the caller
 * gathers them; step two builds the response from them (userinfoIssue). The built-in /oauth/userinfo runs the
 * same two steps with the claims from the user store.
 */

/** Step one's rule: an active access token, for a user, with the openid scope (OIDC Core §5.3, §5.3.3). */
async function userInfoToken(ctx: EngineContext, token: string | undefined, challenge: ChallengeOptions = {}, seen?: { clientId?: string }): Promise<TokenRecord> {
  if (token === undefined || token === '') throw bearerError(undefined, 'no access token', 401); // RFC 6750 §3.1: no error code
  const record = await activeAccessToken(ctx, token, challenge, seen);
  // OIDC Core §5.3, RFC 6750 §3.1: the scope first, so a valid token issued without openid (client_credentials: no
  // user either) hears what it lacks (403 insufficient_scope), not that it is invalid.
  if (!record.scope.includes('openid')) {
    throw bearerError('insufficient_scope', 'the access token lacks the openid scope', 403, { ...challenge, scope: ['openid'] });
  }
  if (!record.subject) throw bearerError('invalid_token', 'the access token was not issued for a user', 401, { ...challenge, resultCode: 'LK7262' });
  return record;
}

/** Names of the claims the token's scopes release (OIDC Core §5.4), for the caller to gather. */
export function userInfoClaimNames(scopes: readonly string[], requested: readonly string[] = []): string[] {
  return [...new Set([...scopes.flatMap((s) => SCOPE_CLAIMS[s] ?? []), ...requested.filter((n) => USER_CLAIMS.has(n))])];
}

/** Claims requested for UserInfo by name (the claims parameter), recorded on the token at issue. */
function requestedByName(record: TokenRecord): string[] {
  return Array.isArray(record.data.claims) ? (record.data.claims as string[]) : [];
}

/**
 * Step two's rule: the claims the token's scopes release, plus those requested by name (OIDC Core §5.5: released
 * even without their scope), and sub, always the token's (OIDC Core §5.3.2).
 */
function userInfoBody(record: TokenRecord, claims: Record<string, unknown>, sub: string): Record<string, unknown> {
  const byName = Object.fromEntries(requestedByName(record).filter((n) => USER_CLAIMS.has(n) && claims[n] !== undefined).map((n) => [n, claims[n]]));
  return { ...claimsForScopes(record.scope, claims), ...byName, sub };
}

/**
 * The UserInfo response for the token's client: sub as that client knows the user (OIDC Core §8: pairwise
 * clients get their own), as JSON, or (OIDC Core §5.3.2, OIDC Registration §2 userinfo_signed_response_alg) as a
 * JWT signed by us, with iss and aud so the client can tell it is meant for it. A client that registered
 * userinfo_encrypted_response_alg gets it as a JWE (OIDC Core §5.3.2: "signed then encrypted" when both are
 * registered, a nested JWT; else the claims, with iss and aud, encrypted), never unencrypted (LK7243).
 */
async function userInfoAnswer(ctx: EngineContext, record: TokenRecord, claims: Record<string, unknown>): Promise<Result<UserInfoAction>> {
  const client = await ctx.store.findClient(ctx.tenant.id, record.clientId);
  const body = userInfoBody(record, claims, subjectFor(ctx, client, record.subject!));
  const alg = client?.userinfoSignedResponseAlg;
  const signed = alg !== undefined && (SIGNING_ALGS as readonly string[]).includes(alg);
  // FAPI 2.0 §5.4.1: a client registered before its tenant turned the profile on may hold RS256 here (registration
  // refuses it since). Its tokens from a device grant or an old refresh token reach UserInfo without passing PAR's
  // check (checkFapiPushedRequest), so it is refused here too, as introspection refuses such a signing alg (LK7468).
  if (signed && isFapi(client, ctx.tenant.settings) && !isFapiAlg(alg)) {
    // RFC 9449 §7.1: challenged in the scheme of the token (the profile's tokens are sender-constrained).
    const challenge = schemeChallenge(confirmationOf(record).jkt !== undefined, ctx);
    throw bearerError('invalid_request', `this client's userinfo_signed_response_alg ${alg} is outside the FAPI 2.0 profile (${FAPI_ALGS.join(', ')}): update it`, 400, { ...challenge, resultCode: 'LK7468' });
  }
  const encryption = responseEncryption(client, 'userinfo');
  if (!signed && !encryption) return jsonResult('OK', 200, 'LK4001', body);
  const claimsSet = { ...body, iss: ctx.tenant.issuer, aud: record.clientId, iat: nowSeconds(ctx) };
  const jwt = signed ? signJwt((await ctx.keys()).signingKey(alg as SigningAlg), claimsSet) : undefined;
  const rc = encryption ? 'LK7245' : 'LK9402';
  const content = encryption ? await encryptTo(await userInfoEncryptionKey(ctx, client!), jwt ?? JSON.stringify(claimsSet), jwt !== undefined) : jwt!;
  return { action: 'OK', resultCode: rc, resultMessage: resultCodes[rc], responseContent: content, status: 200, contentType: 'application/jwt', headers: { ...NO_STORE } };
}

/** OIDC Core §5.3.3: UserInfo errors are RFC 6750 §3 challenges; a client without a usable key gets invalid_request. */
async function userInfoEncryptionKey(ctx: EngineContext, client: ClientRecord) {
  try {
    return await encryptionKeyFor(ctx, client, 'userinfo', 'LK7243');
  } catch (e) {
    if (e instanceof OAuthError) throw bearerError('invalid_request', e.description, 400, { resultCode: 'LK7243' });
    throw e;
  }
}

export interface UserInfoRequestInput extends PresentedProof {
  /** The access token the client presented. */
  token: string;
  /** The scheme it came with; when given, the RFC 9449 §7.1/§7.2 scheme rules apply (else a dpop proof means DPoP). */
  scheme?: TokenScheme;
}

export interface UserInfoRequestResult extends Result<UserInfoAction> {
  subject?: string;
  scopes?: string[];
  clientId?: string;
  /** The claim names to gather for auth/userinfo/issue. */
  claims?: string[];
}

/**
 * Step one (Core API auth/userinfo): OK with the subject and the claim names, or a refusal whose
 * `responseContent` is the WWW-Authenticate value to send (RFC 6750 §3, RFC 9449 §7.1).
 */
export function userinfoRequest(input: UserInfoRequestInput, ctx: EngineContext): Promise<UserInfoRequestResult> {
  return runResource(ctx, async (): Promise<UserInfoRequestResult> => {
    const challenge = schemeChallenge((input.scheme ?? (input.dpop ? 'DPoP' : 'Bearer')) === 'DPoP', ctx);
    const record = await userInfoToken(ctx, input.token, challenge);
    await checkTokenBinding(ctx, record, input.token, input.scheme ? proofForScheme(record, input.scheme, input, fapiAlgs(undefined, ctx.tenant.settings)) : input);
    return {
      action: 'OK',
      resultCode: 'LK11012',
      resultMessage: resultCodes.LK11012,
      responseContent: '',
      status: 200,
      subject: record.subject!,
      scopes: record.scope,
      clientId: record.clientId,
      claims: userInfoClaimNames(record.scope, requestedByName(record)),
    };
  });
}

export interface UserInfoIssueInput {
  token: string;
  /** The user's claims as the caller holds them; only those the token's scopes release are sent. */
  claims: Record<string, unknown>;
}

/**
 * Step two (Core API auth/userinfo/issue): the UserInfo response from the caller's claims. The token is checked
 * again (it may have expired or been revoked since step one); its key binding was checked in step one.
 */
export function userinfoIssue(input: UserInfoIssueInput, ctx: EngineContext): Promise<Result<UserInfoAction>> {
  return runResource(ctx, async () => {
    const record = await userInfoToken(ctx, input.token);
    return userInfoAnswer(ctx, record, input.claims);
  });
}

const actionFor = (e: OAuthError): UserInfoAction => (e.status === 401 ? 'UNAUTHORIZED' : e.status === 403 ? 'FORBIDDEN' : 'BAD_REQUEST');

/** The built-in UserInfo endpoint (OIDC Core §5.3): step one, the claims from the user store, step two. */
export function userinfo(input: UserInfoInput, ctx: EngineContext): Promise<Result<UserInfoAction>> {
  if (input.origin === undefined) return userinfoAnswer(input, ctx);
  // CORS: the pages of the client the presented token was issued to may read the answer, a refusal included. A token
  // we hold no record of (or none at all) identifies no client: its refusal is readable by any page (cors.ts).
  const seen: { clientId?: string } = {};
  const origin = input.origin;
  return userinfoAnswer(input, ctx, seen).then((result) => withCorsHeaders(ctx, 'userinfo', origin, seen.clientId, result));
}

function userinfoAnswer(input: UserInfoInput, ctx: EngineContext, seen?: { clientId?: string }): Promise<Result<UserInfoAction>> {
  return runEngine(
    async () => {
      // Before the scheme is read: the DPoP branch does not go through extractBearer.
      refuseRepeatedAuthorization(input);
      const dpopToken = dpopAuthorization(input.authorization, ctx);
      const challenge = schemeChallenge(dpopToken !== undefined, ctx);
      // RFC 6750 §2, RFC 9449 §7.2: one way of sending the token per request; a DPoP header and a form body both is refused.
      if (dpopToken !== undefined && extractBearer({ parameters: input.parameters, contentType: input.contentType }) !== undefined) {
        throw bearerError('invalid_request', 'access token presented more than once', 400, challenge);
      }
      const token = dpopToken ?? extractBearer(input);
      const record = await userInfoToken(ctx, token, challenge, seen);
      await checkTokenBinding(
        ctx,
        record,
        token!,
        proofForScheme(record, dpopToken !== undefined ? 'DPoP' : 'Bearer', {
          dpop: input.dpop,
          htm: input.method ?? 'GET',
          htu: endpointsOf(ctx.tenant.issuer).userinfo,
          clientCertificate: input.clientCertificate,
        }, challenge.algs),
      );
      const user = await findAccount(ctx, ctx.store, record.subject!);
      if (!user || user.disabled) throw bearerError('invalid_token', 'the access token is invalid, expired or revoked', 401, challenge);
      return userInfoAnswer(ctx, record, user.claims);
    },
    actionFor,
    'INTERNAL_SERVER_ERROR',
    ctx.log,
  );
}
