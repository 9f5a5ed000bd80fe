import type { SessionRecord, Store } from '../store/types.js';
import type { EngineContext, TenantSettings } from './context.js';

/**
 * The one liveness rule for a browser session: not ended, within its absolute lifetime (sessionTtl, renewed by a
 * new sign-in) and its idle lifetime (sessionIdleTtl since it was last seen). The cookie (ui/session.ts) and the
 * refresh tokens bound to the session (token/refresh-token.ts, OIDC Core §11) both go by it.
 */
export function isSessionLive(settings: Pick<TenantSettings, 'sessionIdleTtl'>, session: SessionRecord, now: number): boolean {
  // Both ends are exclusive, as a JWT's exp is (RFC 7519 §4.1.4) and as a refresh token's idle lifetime is: idle for
  // exactly sessionIdleTtl seconds, the session has ended.
  return session.endedAt === null && session.expiresAt > now && now - session.lastSeenAt < settings.sessionIdleTtl;
}

/** lastSeenAt is written at most once this many seconds: the idle lifetime is a day, not a minute. */
export const SESSION_TOUCH_INTERVAL = 60;

/**
 * Whether a use of a live session should write lastSeenAt now: at most once a SESSION_TOUCH_INTERVAL, and at least
 * twice per idle lifetime, so a session in use never goes idle between two writes however short sessionIdleTtl is
 * (with a fixed minute, an idle lifetime of a minute or less ended every session that long after sign-in, in use or not).
 */
export function sessionTouchDue(settings: Pick<TenantSettings, 'sessionIdleTtl'>, session: Pick<SessionRecord, 'lastSeenAt'>, now: number): boolean {
  return now - session.lastSeenAt > Math.min(SESSION_TOUCH_INTERVAL, Math.floor(settings.sessionIdleTtl / 2));
}

/** Set in a grant's data when its `sid` is a Latchkey browser session (the built-in UI), not an embedding host's. */
export const LATCHKEY_SESSION = 'latchkey';

/**
 * The session a token's grant is bound to, recorded in the token's data (`session_binding`) when it is minted, so that
 * resolving a token (tokens/lookup.ts) reads the session only for the tokens that carry it: a token with no user, or of
 * a grant that is not session-bound, costs nothing extra. `latchkey`: the sid is a Latchkey browser session
 * (LATCHKEY_SESSION), not an embedding host's.
 */
export interface SessionBinding {
  sid: string;
  latchkey: boolean;
}

/** The key of the marker in a token's data. */
export const SESSION_BINDING = 'session_binding';

/**
 * OIDC Core §11: a grant made in a browser session (it has a sid) without offline_access lives only as long as that
 * session. `scope` is the scope of the tokens being issued from the grant (of its refresh-token family): the grant's
 * own, or that narrowed to what the client may still have (token/authorization-code.ts), so a family whose
 * offline_access the operator took away before the code was redeemed is bound to the session too.
 */
export function sessionBindingOf(grant: { sid?: string | null; data: Record<string, unknown> }, scope: readonly string[]): SessionBinding | undefined {
  if (!grant.sid || scope.includes('offline_access')) return undefined;
  return { sid: grant.sid, latchkey: grant.data.session === LATCHKEY_SESSION };
}

/** The marker as a token's data holds it, if it is one (tokens minted before markers existed carry none). */
export function recordedSessionBinding(data: Record<string, unknown>): SessionBinding | undefined {
  const b = data[SESSION_BINDING] as Partial<SessionBinding> | undefined;
  return b && typeof b === 'object' && typeof b.sid === 'string' && typeof b.latchkey === 'boolean' ? { sid: b.sid, latchkey: b.latchkey } : undefined;
}

/**
 * The one rule for whether the session of a session-bound grant has ended, given its row (findSessionBySid) if any:
 * the refresh grant (LK7080) and token lookup (introspection, UserInfo, revocation, token exchange) both go by it.
 * No row: a Latchkey session's was purged after it ended or expired; an embedding host's sid has none here, and its
 * sessions are the host's to end. A session that is not live never becomes live again (the UI renews only a live
 * one; a new sign-in makes a new sid), so answering "ended" without writing anything is a stable answer.
 */
function boundSessionEnded(
  settings: Pick<TenantSettings, 'sessionIdleTtl'>,
  binding: SessionBinding,
  session: SessionRecord | undefined,
  now: number,
): boolean {
  return session ? !isSessionLive(settings, session, now) : binding.latchkey;
}

/**
 * The session of a session-bound grant read through `store` (the caller's transaction, inside one) and judged by
 * boundSessionEnded: the refresh grant, token lookup and token exchange all ask this way. `session` is its row, if any.
 */
export async function readBoundSession(
  ctx: Pick<EngineContext, 'tenant'>,
  store: Pick<Store, 'findSessionBySid'>,
  binding: SessionBinding,
  now: number,
): Promise<{ ended: boolean; session: SessionRecord | undefined }> {
  const session = await store.findSessionBySid(ctx.tenant.id, binding.sid);
  return { ended: boundSessionEnded(ctx.tenant.settings, binding, session, now), session };
}

/**
 * The key, in a token's data, of the sessions of the session-bound user actors of a token exchange (RFC 8693 §4.1):
 * the new token ends with each of them too, as it ends with its subject's session (SESSION_BINDING). Only tokens
 * exchanged with such an actor carry it (engine/token/token-exchange.ts); tokens/lookup.ts reads it.
 */
export const ACTOR_SESSIONS = 'actor_sessions';

/**
 * The actor sessions a token's data records (ACTOR_SESSIONS), or undefined when it has none: the only cost a token
 * without them pays. A malformed entry is kept as `null` so that the reader can refuse it rather than skip it.
 */
export function recordedActorSessions(data: Record<string, unknown>): (SessionBinding | null)[] | undefined {
  const list = data[ACTOR_SESSIONS];
  if (!Array.isArray(list)) return undefined;
  return list.map((b: unknown) => (b && typeof b === 'object' ? (recordedSessionBinding({ [SESSION_BINDING]: b }) ?? null) : null));
}
