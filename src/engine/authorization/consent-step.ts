import { consentRequiredFor } from '../consent.js';
import type { EngineContext } from '../context.js';
import { internalErrorResult, type Result } from '../result.js';
import { resultCodes } from '../result-codes.js';
import { loadTicket, unknownTicket } from './index.js';

export type AuthorizationConsentAction = 'OK' | 'BAD_REQUEST' | 'INTERNAL_SERVER_ERROR';

export interface AuthorizationConsentResult extends Result<AuthorizationConsentAction> {
  /** With OK: ask this user for consent before the issue step (engine/consent.ts, the built-in UI's rule). */
  consentRequired?: boolean;
}

/**
 * Between the two steps, for a host whose user signed in after the request arrived: whether that user must still be
 * asked for consent to the pending request (OIDC Core §3.1.2.4). The ticket is only read, not used up; asking again
 * at auth/authorization is no option, since a request_uri (RFC 9126 §4) or a request object's jti may be single use.
 */
export async function authorizationConsent(input: { ticket: string; subject: string }, ctx: EngineContext): Promise<AuthorizationConsentResult> {
  try {
    const t = await loadTicket(ctx, input.ticket);
    if (!t) return unknownTicket() as AuthorizationConsentResult;
    const consentRequired = await consentRequiredFor(ctx, t.request, t.client, input.subject);
    return { action: 'OK', resultCode: 'LK7130', resultMessage: resultCodes.LK7130, responseContent: '', status: 200, consentRequired };
  } catch (e) {
    return internalErrorResult('INTERNAL_SERVER_ERROR', e, ctx.log) as AuthorizationConsentResult;
  }
}
