import { activeAccessToken, bearerError, type ChallengeOptions, type ResourceAction, runResource } from './bearer.js';
import type { EngineContext } from './context.js';
import { resultCodes } from './result-codes.js';
import type { Result } from './result.js';
import { checkTokenBinding, confirmationOf, type PresentedProof, proofForScheme, type TokenScheme } from './token-binding.js';
import { userInfoClaimNames } from './userinfo.js';
import { isObject } from './objects.js';
import { fapiAlgs } from './fapi.js';

export type ResourceIntrospectionAction = ResourceAction;

/** What a resource server received, as it received it (Core API auth/introspection). */
export interface ResourceIntrospectionInput extends PresentedProof {
  /** The access token the client presented. */
  token: string;
  /** Scopes the resource requires; every one must have been granted (RFC 6750 §3.1 insufficient_scope). */
  scopes?: readonly string[];
  /** When given, the token must have been issued for this subject (the resource's owner). */
  subject?: string;
  /** The Authorization scheme the token came with; when given, RFC 9449 §7.1/§7.2 apply (else a dpop proof means DPoP). */
  scheme?: TokenScheme;
}

export interface ResourceIntrospectionResult extends Result<ResourceIntrospectionAction> {
  subject?: string;
  clientId?: string;
  scopes?: string[];
  /** Epoch seconds. */
  expiresAt?: number;
  issuedAt?: number;
  audience?: string[];
  /** Bearer, or DPoP for a DPoP-bound token (RFC 9449 §6.2). */
  tokenType?: 'Bearer' | 'DPoP';
  authTime?: number;
  acr?: string;
  /** The user claims the token's scopes release (OIDC Core §5.4). */
  claims?: string[];
  /** The token's confirmation (RFC 7800 §3.1), when it is sender-constrained. */
  cnf?: Record<string, string>;
  /** RFC 8693 §4.1: who acts for the subject, for a token obtained by delegation (token exchange). */
  act?: Record<string, unknown>;
  /** RFC 8693 §4.4: who may act for the subject (the client's access_token_may_act). */
  mayAct?: Record<string, unknown>;
  /** RFC 9396 §9.2: the authorization details the token carries. */
  authorizationDetails?: Record<string, unknown>[];
}

/**
 * Token validation for a protected resource, in one call: is the token active and ours, is it presented with
 * proof of the key it is bound to, does it carry the scopes the resource needs, is it the owner's. Unlike RFC 7662
 * introspection (introspection.ts), the answer is what the resource server must do: OK with what it needs to
 * know, or a refusal whose `responseContent` is the WWW-Authenticate value to send (RFC 6750 §3, RFC 9449 §7.1).
 */
export function resourceIntrospection(input: ResourceIntrospectionInput, ctx: EngineContext): Promise<ResourceIntrospectionResult> {
  return runResource(ctx, async (): Promise<ResourceIntrospectionResult> => {
    // RFC 9449 §7.1: a request made with a DPoP proof is answered with the DPoP scheme.
    const scheme = input.scheme ?? (input.dpop ? 'DPoP' : 'Bearer');
    // RFC 9449 §7.1: a DPoP challenge names the algs accepted (narrower under the FAPI 2.0 profile).
    const challenge: ChallengeOptions = { scheme, algs: scheme === 'DPoP' ? fapiAlgs(undefined, ctx.tenant.settings) : undefined };
    if (!input.token) throw bearerError(undefined, 'no access token', 401, challenge); // RFC 6750 §3.1: no error code
    const record = await activeAccessToken(ctx, input.token, challenge);
    await checkTokenBinding(ctx, record, input.token, input.scheme ? proofForScheme(record, input.scheme, input, challenge.algs) : input);
    const required = input.scopes ?? [];
    if (required.some((s) => !record.scope.includes(s))) {
      throw bearerError('insufficient_scope', 'the access token lacks a scope this resource requires', 403, { ...challenge, scope: required });
    }
    if (input.subject !== undefined && record.subject !== input.subject) {
      // Refused like a missing privilege: the token is valid, just not for this owner's resource.
      throw bearerError('insufficient_scope', 'the access token was not issued for this subject', 403, { ...challenge, resultCode: 'LK11013' });
    }
    const { jkt, x5t } = confirmationOf(record);
    const d = record.data;
    const aud = Array.isArray(d.aud) ? (d.aud as string[]) : typeof d.aud === 'string' ? [d.aud] : undefined;
    const result: ResourceIntrospectionResult = {
      action: 'OK',
      resultCode: 'LK4001',
      resultMessage: resultCodes.LK4001,
      responseContent: '',
      status: 200,
      subject: record.subject ?? undefined,
      clientId: record.clientId,
      scopes: record.scope,
      expiresAt: record.expiresAt,
      issuedAt: record.issuedAt,
      audience: aud,
      tokenType: jkt !== undefined ? 'DPoP' : 'Bearer',
      authTime: typeof d.auth_time === 'number' ? d.auth_time : undefined,
      acr: typeof d.acr === 'string' ? d.acr : undefined,
      claims: record.subject ? userInfoClaimNames(record.scope) : undefined,
      cnf: jkt !== undefined ? { jkt } : x5t !== undefined ? { 'x5t#S256': x5t } : undefined,
      act: isObject(d.act) ? d.act : undefined,
      mayAct: isObject(d.may_act) ? d.may_act : undefined,
      authorizationDetails: Array.isArray(d.authorization_details) ? (d.authorization_details as Record<string, unknown>[]) : undefined,
    };
    return result;
  });
}
