import { namesAnotherUser, type FailReason } from '../engine/authorization/index.js';
import type { AuthorizationRequest } from '../engine/authorization/request.js';
import { consentRequired } from '../engine/consent.js';
import { essentialAcrMet } from '../engine/claims.js';
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
  /** The signed-in user has two-step sign-in on (services/mfa.ts); read only for a request that asks for it (asksForMfa). */
  mfaAvailable?: boolean;
  /** The user chose "not now" on this request's offer to set two-step sign-in up (the ticket remembers it). */
  mfaSetupDeclined?: boolean;
  /** The acr a password sign-in gets (the tenant's defaultAcr), to tell whether an essential acr request needs more. */
  passwordAcr?: string;
}

/** How recent a sign-in must be to turn two-step sign-in on: the same as on the /mfa page (routes/ui.ts MFA_REAUTH). */
export const MFA_SETUP_FRESHNESS = 600;

/**
 * OIDC Core §3.1.2.1 acr_values, §5.5.1.1 an acr claim request: whether the request names two-step sign-in's acr
 * among the ones it wants. A user who has it on, in a session signed in with a password alone (made before they
 * turned it on), is then asked to sign in again, which takes the code: a step-up, as Keycloak does for acr levels.
 */
export function asksForMfa(r: Pick<AuthorizationRequest, 'acrValues' | 'claims'>): boolean {
  const spec = r.claims?.id_token?.acr;
  const claimed = spec?.values ?? (spec?.value !== undefined ? [spec.value] : []);
  return (r.acrValues ?? []).includes(MFA_ACR) || claimed.includes(MFA_ACR);
}

/**
 * Whether the request prefers two-step sign-in: its acr is the first of acr_values (they come in order of
 * preference, OIDC Core §3.1.2.1) or the first value of an acr claim request (§5.5.1.1). A request that lists the
 * password acr first accepts a password, and is not offered a set-up.
 */
export function prefersMfa(r: Pick<AuthorizationRequest, 'acrValues' | 'claims'>): boolean {
  const spec = r.claims?.id_token?.acr;
  const claimed = spec?.values ?? (spec?.value !== undefined ? [spec.value] : []);
  return r.acrValues?.[0] === MFA_ACR || claimed[0] === MFA_ACR;
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
    // Step-up (asksForMfa): a password-only session of a user who could do better is not enough for the request.
    if (s.mfaAvailable && live.acr !== MFA_ACR && asksForMfa(r)) login = true;
    if (namesAnotherUser(r, s.subjectOf(live.subject))) {
      if (none) return { kind: 'fail', reason: 'LOGIN_REQUIRED' };
      login = true;
    }
    // select_account: the signed-in account may be chosen, unless something above demands a fresh sign-in: prompt=login
    // and an expired max_age MUST re-authenticate (OIDC Core §3.1.2.1), and a hint naming another user excludes it.
    if (!login && r.prompt.includes('select_account')) return { kind: 'login', continueAs: s.user!.username };
  }
  if (login) return none ? { kind: 'fail', reason: 'LOGIN_REQUIRED' } : { kind: 'login' };

  // A request that prefers two-step sign-in (prefersMfa) from a user who has none set up: offer it now, as
  // Keycloak's "configure OTP" required action does, unless they said "not now" for this request. With prompt=none
  // nothing is shown: the engine then answers with what the session has (access_denied for an essential acr, OIDC
  // Core §5.5.1.1). The offer needs as recent a sign-in as the /mfa page does.
  if (!none && s.mfaAvailable === false && live!.acr !== MFA_ACR && !s.mfaSetupDeclined && prefersMfa(r)) {
    if (!s.loggedInForTicket && s.now - live!.authTime > MFA_SETUP_FRESHNESS) return { kind: 'login' };
    return { kind: 'mfa-setup', required: !essentialAcrMet(r.claims, live!.acr ?? s.passwordAcr) };
  }

  if (consentRequired(r, s.client, s.consent)) return none ? { kind: 'fail', reason: 'CONSENT_REQUIRED' } : { kind: 'consent' };
  return { kind: 'issue' };
}
