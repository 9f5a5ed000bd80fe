import type { ClientRecord, TokenRecord } from '../store/types.js';
import { findAccount, type Account } from './accounts.js';
import { signJwt, SIGNING_ALGS, type SigningAlg } from '../tokens/jwt.js';
import { lookupToken, type TokenState } from '../tokens/lookup.js';
import { mayIntrospectFor } from './resources.js';
import { limitAddress, limitClient } from './abuse-limit.js';
import { authenticateClient, clientAuthDeps, presentedCredentials } from './client-auth.js';
import { endpointsOf, nowSeconds, type EngineContext } from './context.js';
import { invalidClient, OAuthError } from './errors.js';
import { checkFormContentType, Params, type RepeatedHeaders } from './params.js';
import { jsonResult, NO_STORE, runEngine, type Result } from './result.js';
import { resultCodes } from './result-codes.js';
import { subjectFor } from './subject.js';
import { isObject } from './objects.js';
import { encryptIfRegistered } from './response-encryption.js';
import { FAPI_ALGS, isFapi, isFapiAlg, signingAlgFor } from './fapi.js';

export type IntrospectionAction = 'OK' | 'INVALID_CLIENT' | 'BAD_REQUEST' | 'INTERNAL_SERVER_ERROR';

/** The introspection request as received (DESIGN: the engine contract). */
export interface IntrospectionInput extends RepeatedHeaders {
  /** The raw application/x-www-form-urlencoded body, unmodified. */
  parameters: string;
  contentType?: string;
  /** The raw Authorization header; decoded here when clientId/clientSecret are not given. */
  authorization?: string;
  clientId?: string;
  clientSecret?: string;
  /** The raw Accept header: asking for application/token-introspection+jwt gets an RFC 9701 signed answer. */
  accept?: string;
  /** The TLS client certificate (PEM), for tls_client_auth / self_signed_tls_client_auth (RFC 8705 §2). */
  clientCertificate?: string;
  /** The caller's network address, for the abuse limits (src/engine/abuse-limit.ts). */
  clientAddress?: string;
}

/** RFC 9701 §4, §5: the media type a resource server accepts and the JWT answer comes back as. */
export const INTROSPECTION_JWT_TYPE = 'application/token-introspection+jwt';

const actionFor = (e: OAuthError): IntrospectionAction => (e.code === 'invalid_client' ? 'INVALID_CLIENT' : 'BAD_REQUEST');

/**
 * The introspection endpoint (RFC 7662 §2). The caller is a confidential client authenticating with its
 * registered method. Policy: a confidential client may introspect any access token of its tenant, since resource
 * servers introspect tokens issued to other clients (node-oidc-provider's and Keycloak's default too). RFC 7662 §4
 * asks the server to check that an audience-restricted token can be used at the resource server calling: a
 * registered resource server (RFC 8707) may name the clients that introspect for it (`introspection_clients`), and
 * a token whose audience includes such resource servers is then shown only to its own client and to clients one
 * of them names (resources.ts, mayIntrospectFor); resource servers that name none leave it to any confidential
 * client. A client registered with `introspection_own_tokens_only` sees only its own tokens; a refresh token is
 * only ever shown to the client it was issued to (resource servers never hold refresh tokens). Whatever is not
 * shown is answered `{"active":false}`, exactly like an unknown token, so the answer never says why.
 */
export function introspection(input: IntrospectionInput, ctx: EngineContext): Promise<Result<IntrospectionAction>> {
  return runEngine(
    async () => {
      checkFormContentType(input.contentType, input.repeatedContentType);
      const params = Params.parse(input.parameters);
      await limitAddress(ctx, 'introspection', input.clientAddress);
      const { client, method } = await authenticateClient(
        clientAuthDeps(ctx, endpointsOf(ctx.tenant.issuer).introspection),
        presentedCredentials(input),
        params,
      );
      if (method === 'none') {
        // RFC 7662 §2.1: the endpoint MUST require authorization; a client_id alone proves nothing.
        throw invalidClient('LK5003', 'public clients cannot introspect');
      }
      await limitClient(ctx, 'introspection', client.clientId, method, input.clientAddress);
      const token = params.require('token');
      // RFC 7662 §2.1: token_type_hint only speeds up a lookup; ours finds any token by its hash, so the hint
      // (known or not) is ignored.
      const answer = await describe(ctx, client, await lookupToken(ctx, token));
      return respond(ctx, client, input.accept, answer);
    },
    actionFor,
    'INTERNAL_SERVER_ERROR',
    ctx.log,
  );
}

type Answer = { active: true; body: Record<string, unknown> } | { active: false; reason: string };

/** Why a token is inactive, for the result message only; the client never sees it. */
function inactiveReason(state: TokenState, now: number): string {
  const r = state.record;
  if (!r) return 'unknown token (or not ours, or a JWT that does not verify)';
  if (r.revokedAt !== null) return 'revoked';
  if (r.consumedAt !== null) return 'rotated';
  if (r.expiresAt <= now) return 'expired';
  if ('sessionEnded' in state) return 'its grant (or a user actor\'s, RFC 8693 §4.1) is bound to a browser session that has ended, expired or gone idle (OIDC Core §11)';
  return 'not an access token';
}

async function describe(ctx: EngineContext, caller: ClientRecord, state: TokenState): Promise<Answer> {
  if (!state.active) return { active: false, reason: inactiveReason(state, nowSeconds(ctx)) };
  const r = state.record;
  if (r.clientId !== caller.clientId) {
    // RFC 7662 §2.2: a token the caller may not introspect is answered as inactive.
    if (r.kind === 'refresh_token') return { active: false, reason: 'refresh token of another client' };
    if (caller.introspectionOwnTokensOnly) return { active: false, reason: 'issued to another client (introspection_own_tokens_only)' };
    // RFC 7662 §4: a token for resource servers that name their introspection clients is shown only to those.
    if (!(await mayIntrospectFor(ctx, caller.clientId, r.data.aud))) {
      const why = ctx.tenant.settings.introspectionNamedClientsOnly ? 'introspectionNamedClientsOnly: no resource server of its audience names the caller' : 'for resource servers whose introspection_clients do not name the caller';
      return { active: false, reason: why };
    }
  }
  // RFC 7662 §2.2, §4: a user's token is active only while the user is, as at UserInfo: not for an account the host
  // no longer finds (ctx.accounts: deleted or disabled there), nor for a disabled built-in user. Without ctx.accounts
  // a subject missing from the users table is a Core API host's own user (docs/core-api.md), not a deleted one
  // (deleting a built-in user revokes its tokens). One lookup, reused for username; tokens without a user pay nothing.
  const user = r.subject !== null ? await findAccount(ctx, ctx.store, r.subject) : undefined;
  if (r.subject !== null && (user ? user.disabled : ctx.accounts !== undefined)) return { active: false, reason: 'account gone (not found or disabled)' };
  return { active: true, body: await activeBody(ctx, r, user) };
}

/** RFC 7662 §2.2 members for an active token. Field order follows the RFC's list. */
async function activeBody(ctx: EngineContext, r: TokenRecord, user: Account | undefined): Promise<Record<string, unknown>> {
  const body: Record<string, unknown> = { active: true };
  if (r.scope.length) body.scope = r.scope.join(' ');
  body.client_id = r.clientId;
  // OIDC Core §8: the user's sub as the token's client knows them (pairwise clients get their own).
  const owner = r.subject !== null ? await ctx.store.findClient(ctx.tenant.id, r.clientId) : undefined;
  // RFC 7662 §2.2: username is an optional human-readable name. It is one name across every sector, so next to a
  // pairwise sub it would let resource servers of different sectors correlate the user (OIDC Core §8.1): left out.
  if (user && owner?.subjectType !== 'pairwise') body.username = user.username;
  const cnf = isObject(r.data.cnf) ? r.data.cnf : undefined;
  // RFC 7662 §2.2: token_type is an access token type (RFC 6749 §7.1); RFC 9449 §6.2: DPoP-bound tokens say DPoP.
  if (r.kind === 'access_token') body.token_type = typeof cnf?.jkt === 'string' ? 'DPoP' : 'Bearer';
  body.exp = r.expiresAt;
  body.iat = r.issuedAt;
  body.nbf = r.issuedAt;
  // RFC 9068 §2.2: a client acting for itself is the JWT access token's sub; opaque tokens say the same, so a
  // resource server sees one shape whatever the format.
  // A token exchanged from another client's own token stands for that client (data.sub, RFC 8693).
  // OIDC Core §8: a user's sub as the token's client knows it (pairwise clients get their own: owner, above).
  body.sub = (r.subject !== null ? subjectFor(ctx, owner, r.subject) : undefined) ?? (typeof r.data.sub === 'string' ? r.data.sub : r.clientId);
  const aud = r.data.aud;
  if (Array.isArray(aud) && aud.length) body.aud = aud.length === 1 ? aud[0] : aud;
  else if (typeof aud === 'string') body.aud = aud;
  body.iss = ctx.tenant.issuer;
  if (typeof r.data.jti === 'string') body.jti = r.data.jti;
  if (cnf) body.cnf = cnf; // RFC 7800 §3.1, RFC 8705 §3.2, RFC 9449 §6.2
  // RFC 9470 §6.1: step-up needs what the user authenticated with, and when.
  if (typeof r.data.auth_time === 'number') body.auth_time = r.data.auth_time;
  if (typeof r.data.acr === 'string') body.acr = r.data.acr;
  if (isObject(r.data.act)) body.act = r.data.act; // RFC 8693 §4.1: who acts for the subject (delegation)
  if (isObject(r.data.may_act)) body.may_act = r.data.may_act; // RFC 8693 §4.4: who may act for it (as in the JWT)
  if (Array.isArray(r.data.authorization_details)) body.authorization_details = r.data.authorization_details; // RFC 9396 §9.2
  return body;
}


async function respond(ctx: EngineContext, caller: ClientRecord, accept: string | undefined, answer: Answer): Promise<Result<IntrospectionAction>> {
  const body = answer.active ? answer.body : { active: false };
  const resultCode = answer.active ? 'LK5001' : 'LK5002';
  const message = answer.active ? resultCodes.LK5001 : `${resultCodes.LK5002} (${answer.reason})`;
  if (!wantsJwt(accept)) return jsonResult('OK', 200, resultCode, body, { message });
  return {
    action: 'OK',
    resultCode,
    resultMessage: message,
    responseContent: await jwtAnswer(ctx, caller, body),
    status: 200,
    contentType: INTROSPECTION_JWT_TYPE,
    headers: { ...NO_STORE },
  };
}

/**
 * RFC 9701 §5: the RFC 7662 object goes inside `token_introspection`, never at the top level, and the JWT is
 * explicitly typed, so it cannot be taken for an access token or an ID token (RFC 9701 §8.1, RFC 8725 §3.11).
 * `aud` is the resource server that asked. Encrypted when it registered introspection_encrypted_response_alg.
 */
async function jwtAnswer(ctx: EngineContext, caller: ClientRecord, body: Record<string, unknown>): Promise<string> {
  const key = (await ctx.keys()).signingKey(introspectionSigningAlg(caller, isFapi(caller, ctx.tenant.settings)));
  const claims = { iss: ctx.tenant.issuer, aud: caller.clientId, iat: nowSeconds(ctx), token_introspection: body };
  // RFC 9701 §5, §6: signed, then encrypted to the resource server when it registered introspection_encrypted_response_alg.
  const jws = signJwt(key, claims, { typ: 'token-introspection+jwt' });
  return caller.introspectionEncryptedResponseAlg === undefined ? jws : encryptIfRegistered(ctx, caller, 'introspection', jws, 'LK7244');
}

/**
 * RFC 9701 §4: the resource server asks for a JWT with `Accept: application/token-introspection+jwt`. It wins
 * when listed with a q-value at least as high as any JSON alternative; otherwise the RFC 7662 JSON answer.
 */
export function wantsJwt(accept: string | undefined): boolean {
  if (!accept) return false;
  let jwtQ = 0;
  let jsonQ = 0;
  for (const part of accept.split(',')) {
    const [type, ...rest] = part.split(';');
    const mime = type!.trim().toLowerCase();
    let q = 1;
    for (const p of rest) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m) q = Number(m[1]);
    }
    if (!Number.isFinite(q) || q < 0 || q > 1) continue;
    if (mime === INTROSPECTION_JWT_TYPE) jwtQ = Math.max(jwtQ, q);
    else if (mime === 'application/json' || mime === 'application/*' || mime === '*/*') jsonQ = Math.max(jsonQ, q);
  }
  return jwtQ > 0 && jwtQ >= jsonQ;
}

export function introspectionSigningAlg(client: ClientRecord, fapi = false): SigningAlg {
  const alg = client.introspectionSignedResponseAlg;
  // FAPI 2.0 §5.4.1: under the profile, PS256, ES256 or EdDSA only; a resource server registered with another alg
  // before its tenant turned the profile on is refused (registration refuses it from then on).
  if (fapi && alg !== undefined && !isFapiAlg(alg)) {
    throw new OAuthError('invalid_request', `introspection_signed_response_alg ${alg} is outside the FAPI 2.0 profile (${FAPI_ALGS.join(', ')}): update the client`, { resultCode: 'LK7468' });
  }
  // RFC 9701 §6: RS256 unless the client registered another; FAPI 2.0 §5.4.1: ES256 under the profile.
  return alg !== undefined && (SIGNING_ALGS as readonly string[]).includes(alg) ? (alg as SigningAlg) : signingAlgFor(undefined, fapi, 'RS256');
}
