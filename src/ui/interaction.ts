import type { FailReason } from '../engine/authorization/index.js';
import type { AuthorizationRequest } from '../engine/authorization/request.js';
import type { ClientRecord, ConsentRecord, SessionRecord, UserRecord } from '../store/types.js';

export type Decision = { kind: 'login'; continueAs?: string } | { kind: 'consent' } | { kind: 'issue' } | { kind: 'fail'; reason: FailReason };

export interface InteractionState {
  request: AuthorizationRequest;
  client: ClientRecord;
  /** Set by the built-in UI on the ticket once the user signed in (or chose an account) for this request. */
  loggedInForTicket: boolean;
  session?: SessionRecord;
  user?: UserRecord;
  consent?: ConsentRecord;
  now: number;
}

/**
 * The built-in UI's policy between the two engine steps: must the user sign in, consent, or neither?
 * OIDC Core §3.1.2.1 (prompt, max_age, id_token_hint) and §3.1.2.6 (errors for prompt=none).
 */
export function decide(s: InteractionState): Decision {
  const { request: r } = s;
  const none = r.prompt.includes('none');
  const live = s.session && s.user && !s.user.disabled ? s.session : undefined;

  let login = !live;
  if (live && !s.loggedInForTicket) {
    if (r.prompt.includes('login')) login = true;
    // max_age=0 is prompt=login; otherwise re-authenticate once the last login is older than max_age.
    if (r.maxAge !== undefined && (r.maxAge === 0 || s.now - live.authTime > r.maxAge)) login = true;
    if (r.idTokenHintSub !== undefined && r.idTokenHintSub !== live.subject) {
      if (none) return { kind: 'fail', reason: 'LOGIN_REQUIRED' };
      login = true;
    }
    if (r.prompt.includes('select_account')) return { kind: 'login', continueAs: s.user!.username };
  }
  if (login) return none ? { kind: 'fail', reason: 'LOGIN_REQUIRED' } : { kind: 'login' };

  const covered = s.consent !== undefined && r.scope.every((sc) => s.consent!.scope.includes(sc));
  const consent = !s.client.skipConsent && (r.prompt.includes('consent') || !covered);
  if (consent) return none ? { kind: 'fail', reason: 'CONSENT_REQUIRED' } : { kind: 'consent' };
  return { kind: 'issue' };
}
