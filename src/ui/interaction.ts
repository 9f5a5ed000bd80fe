import { namesAnotherUser, type FailReason } from '../engine/authorization/index.js';
import type { AuthorizationRequest } from '../engine/authorization/request.js';
import { requestedClaimNames, SCOPE_CLAIMS } from '../engine/claims.js';
import type { ClientRecord, ConsentRecord, SessionRecord } from '../store/types.js';
import type { Account } from '../engine/accounts.js';

export type Decision =
  | { kind: 'login'; continueAs?: string }
  | { kind: 'create' }
  | { kind: 'consent' }
  | { kind: 'issue' }
  | { kind: 'fail'; reason: FailReason };

/**
 * What a consent covers: the scopes, plus `claim:<name>` for each user claim asked for by name through the claims
 * parameter (OIDC Core §5.5) that none of the scopes already releases.
 */
export function consentScopes(r: Pick<AuthorizationRequest, 'scope' | 'claims'>): string[] {
  const byScope = new Set(r.scope.flatMap((s) => SCOPE_CLAIMS[s] ?? []));
  return [...r.scope, ...requestedClaimNames(r.claims).filter((n) => !byScope.has(n)).map((n) => `claim:${n}`)];
}

export interface InteractionState {
  request: AuthorizationRequest;
  client: ClientRecord;
  /** Set by the built-in UI on the ticket once the user signed in (or chose an account) for this request. */
  loggedInForTicket: boolean;
  session?: SessionRecord;
  user?: Account;
  consent?: ConsentRecord;
  now: number;
  /** The sub the client knows a local user by (OIDC Core §8: pairwise clients get their own). */
  subjectOf: (localSub: string) => string;
}

/**
 * The built-in UI's policy between the two engine steps: must the user sign in, consent, or neither?
 * OIDC Core §3.1.2.1 (prompt, max_age, id_token_hint) and §3.1.2.6 (errors for prompt=none).
 */
export function decide(s: InteractionState): Decision {
  const { request: r } = s;
  const none = r.prompt.includes('none');
  const live = s.session && s.user && !s.user.disabled ? s.session : undefined;

  // Initiating User Registration via OpenID Connect §4: prompt=create shows the sign-up page first.
  if (r.prompt.includes('create') && !s.loggedInForTicket) return { kind: 'create' };

  let login = !live;
  if (live && !s.loggedInForTicket) {
    if (r.prompt.includes('login')) login = true;
    // max_age=0 is prompt=login; otherwise re-authenticate once the last login is older than max_age.
    if (r.maxAge !== undefined && (r.maxAge === 0 || s.now - live.authTime > r.maxAge)) login = true;
    if (namesAnotherUser(r, s.subjectOf(live.subject))) {
      if (none) return { kind: 'fail', reason: 'LOGIN_REQUIRED' };
      login = true;
    }
    // select_account: the signed-in account may be chosen, unless something above demands a fresh sign-in: prompt=login
    // and an expired max_age MUST re-authenticate (OIDC Core §3.1.2.1), and a hint naming another user excludes it.
    if (!login && r.prompt.includes('select_account')) return { kind: 'login', continueAs: s.user!.username };
  }
  if (login) return none ? { kind: 'fail', reason: 'LOGIN_REQUIRED' } : { kind: 'login' };

  const covered = consentFor(s.consent, s.client) !== undefined && consentScopes(r).every((sc) => s.consent!.scope.includes(sc));
  const consent = !s.client.skipConsent && (r.prompt.includes('consent') || !covered);
  if (consent) return none ? { kind: 'fail', reason: 'CONSENT_REQUIRED' } : { kind: 'consent' };
  return { kind: 'issue' };
}

/**
 * The user's consent if it was given to this client record (OIDC Core §3.1.2.4: consent is per client): one saved
 * before the client was registered was given to an earlier client deleted under the same client_id. Deleting a
 * client deletes its consents; this also ignores one saved by a consent page submitted while it was being deleted.
 */
export function consentFor(consent: ConsentRecord | undefined, client: Pick<ClientRecord, 'createdAt'>): ConsentRecord | undefined {
  return consent !== undefined && consent.updatedAt >= client.createdAt ? consent : undefined;
}
