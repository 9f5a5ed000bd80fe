import type { ClientRecord, ConsentRecord } from '../store/types.js';
import type { AuthorizationRequest } from './authorization/request.js';
import { requestedClaimNames, SCOPE_CLAIMS } from './claims.js';
import { type EngineContext, nowSeconds } from './context.js';

/**
 * What a consent covers: the scopes, plus `claim:<name>` for each user claim asked for by name through the claims
 * parameter (OIDC Core §5.5) that none of the scopes already releases.
 */
export function consentScopes(r: Pick<AuthorizationRequest, 'scope' | 'claims'>): string[] {
  const byScope = new Set(r.scope.flatMap((s) => SCOPE_CLAIMS[s] ?? []));
  return [...r.scope, ...requestedClaimNames(r.claims).filter((n) => !byScope.has(n)).map((n) => `claim:${n}`)];
}

/**
 * The user's consent if it was given to this client record (OIDC Core §3.1.2.4: consent is per client): one saved
 * before the client was registered was given to an earlier client deleted under the same client_id. Deleting a
 * client deletes its consents; this also ignores one saved by a consent page submitted while it was being deleted.
 */
export function consentFor(consent: ConsentRecord | undefined, client: Pick<ClientRecord, 'createdAt'>): ConsentRecord | undefined {
  return consent !== undefined && consent.updatedAt >= client.createdAt ? consent : undefined;
}

/**
 * Whether the user must be asked for consent to this request (the built-in UI, the library and the Core API apply
 * this one rule): never for a client the operator registered with skip_consent; always with prompt=consent
 * (OIDC Core §3.1.2.1); otherwise unless the user's consent to this client covers everything asked for.
 * `consent` is the user's stored consent for the client (undefined: none, or the user is not known yet).
 */
export function consentRequired(
  r: Pick<AuthorizationRequest, 'scope' | 'claims' | 'prompt'> & Partial<Pick<AuthorizationRequest, 'authorizationDetails'>>,
  client: Pick<ClientRecord, 'skipConsent' | 'createdAt'>,
  consent: ConsentRecord | undefined,
): boolean {
  if (client.skipConsent) return false;
  if (r.prompt.includes('consent')) return true;
  // RFC 9396 §3: authorization details describe this one transaction (a payment, a document); a consent given to
  // earlier ones does not cover them, so the user is asked every time.
  if (r.authorizationDetails?.length) return true;
  const given = consentFor(consent, client);
  return given === undefined || !consentScopes(r).every((s) => given.scope.includes(s));
}

/** consentRequired for a local user (the `subject` a host passes to the issue step): reads their consent. */
export async function consentRequiredFor(
  ctx: EngineContext,
  r: Pick<AuthorizationRequest, 'scope' | 'claims' | 'prompt'> & Partial<Pick<AuthorizationRequest, 'authorizationDetails'>>,
  client: Pick<ClientRecord, 'clientId' | 'skipConsent' | 'createdAt'>,
  subject: string | undefined,
): Promise<boolean> {
  if (client.skipConsent) return false;
  const consent = subject === undefined ? undefined : await ctx.store.findConsent(ctx.tenant.id, subject, client.clientId);
  return consentRequired(r, client, consent);
}

/**
 * Record that the user consented to `scopes` (consentScopes values) for this client, added to what they consented
 * to before (a consent given to an earlier client under the same client_id does not count: consentFor).
 */
export async function recordConsent(ctx: EngineContext, subject: string, client: Pick<ClientRecord, 'clientId' | 'createdAt'>, scopes: string[]): Promise<string[]> {
  // Read and written in one transaction (addConsent): a consent given in another tab at the same time is kept.
  return ctx.store.addConsent({ tenantId: ctx.tenant.id, subject, clientId: client.clientId, scope: scopes, updatedAt: nowSeconds(ctx) }, client.createdAt);
}
