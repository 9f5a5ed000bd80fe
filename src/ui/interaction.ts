import { namesAnotherUser, type FailReason } from '../engine/authorization/index.js';
import type { AuthorizationRequest } from '../engine/authorization/request.js';
import { consentRequired } from '../engine/consent.js';
import { essentialAcrMet, prefersAcr } from '../engine/claims.js';
import { MFA_CHANGE_FRESHNESS } from '../services/mfa.js';
import type { ClientRecord, ConsentRecord, SessionRecord } from '../store/types.js';
import { MFA_ACR, type Account } from '../engine/accounts.js';

export type Decision =
  | { kind: 'login'; continueAs?: string }
  | { kind: 'create' }
  | { kind: 'consent' }
  /** Offer to turn two-step sign-in on now (the request asks for it, the user has none); `required`: essential. */
  | { kind: 'mfa-setup'; required: boolean }
  | { kind: 'issue' }
  | { kind: 'fail'; reason: FailReason };

// The consent rule lives in the engine (the library and the Core API report it too); the UI re-exports it.
export { consentFor, consentScopes } from '../engine/consent.js';

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
  /** The signed-in user has two-step sign-in on (services/mfa.ts); read only for a request that prefers it (prefersAcr). */
  mfaAvailable?: boolean;
  /** The user chose "not now" on this request's offer to set two-step sign-in up (the ticket remembers it). */
  mfaSetupDeclined?: boolean;
  /** The acr a password sign-in gets (the tenant's defaultAcr), to tell whether an essential acr request needs more. */
  passwordAcr?: string;
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
    // Step-up: a request that prefers two-step sign-in (engine/claims.ts prefersAcr) finds a password-only session of
    // a user who has it on (turned on since they signed in): they sign in again, which takes the code, as Keycloak
    // steps up for acr levels.
    if (s.mfaAvailable && live.acr !== MFA_ACR && prefersAcr(r, MFA_ACR)) login = true;
    if (namesAnotherUser(r, s.subjectOf(live.subject))) {
      if (none) return { kind: 'fail', reason: 'LOGIN_REQUIRED' };
      login = true;
    }
    // select_account: the signed-in account may be chosen, unless something above demands a fresh sign-in: prompt=login
    // and an expired max_age MUST re-authenticate (OIDC Core §3.1.2.1), and a hint naming another user excludes it.
    if (!login && r.prompt.includes('select_account')) return { kind: 'login', continueAs: s.user!.username };
  }
  if (login) return none ? { kind: 'fail', reason: 'LOGIN_REQUIRED' } : { kind: 'login' };

  // A request that prefers two-step sign-in from a user who has none set up: offer it now, as Keycloak's "configure
  // OTP" required action does, unless they said "not now" for this request. With prompt=none nothing is shown: the
  // engine then answers with what the session has (access_denied for an essential acr, OIDC Core §5.5.1.1). The
  // offer needs as recent a sign-in as the /mfa page does.
  if (!none && s.mfaAvailable === false && live!.acr !== MFA_ACR && !s.mfaSetupDeclined && prefersAcr(r, MFA_ACR)) {
    if (!s.loggedInForTicket && s.now - live!.authTime > MFA_CHANGE_FRESHNESS) return { kind: 'login' };
    return { kind: 'mfa-setup', required: !essentialAcrMet(r.claims, live!.acr ?? s.passwordAcr) };
  }

  if (consentRequired(r, s.client, s.consent)) return none ? { kind: 'fail', reason: 'CONSENT_REQUIRED' } : { kind: 'consent' };
  return { kind: 'issue' };
}
