import type { SessionRecord } from '../store/types.js';
import type { TenantSettings } from './context.js';

/**
 * The one liveness rule for a browser session: not ended, within its absolute lifetime (sessionTtl, renewed by a
 * new sign-in) and its idle lifetime (sessionIdleTtl since it was last seen). The cookie (ui/session.ts) and the
 * refresh tokens bound to the session (token/refresh-token.ts, OIDC Core §11) both go by it.
 */
export function isSessionLive(settings: Pick<TenantSettings, 'sessionIdleTtl'>, session: SessionRecord, now: number): boolean {
  return session.endedAt === null && session.expiresAt > now && now - session.lastSeenAt <= settings.sessionIdleTtl;
}

/** lastSeenAt is written at most once this many seconds: the idle lifetime is a day, not a minute. */
export const SESSION_TOUCH_INTERVAL = 60;

/** Set in a grant's data when its `sid` is a Latchkey browser session (the built-in UI), not an embedding host's. */
export const LATCHKEY_SESSION = 'latchkey';
