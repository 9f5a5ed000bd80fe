import { nowSeconds, type EngineContext } from './context.js';
import { OAuthError } from './errors.js';
import { addressKey } from './address-key.js';

/**
 * Abuse limits on the back-channel endpoints (docs/security.md): requests per client and per address in fixed
 * windows counted in the store (rate_limits), so the limits hold across instances. The defaults are far above
 * what a real client sends; they stop floods and credential guessing, not traffic.
 *
 * Answer: 429 with Retry-After (RFC 6585 §4) and the OAuth error `temporarily_unavailable`. RFC 6749 defines that
 * code for the authorization endpoint (§4.1.2.1: "the server is currently unable to handle the request due to a
 * temporary overloading"); the token, introspection and registration error registries have nothing closer, and
 * `slow_down` means "poll less often" only to a device-grant client (RFC 8628 §3.5). Clients that do not know
 * the code still see a JSON error and a 429 they can back off on.
 */
export type LimitedEndpoint = 'token' | 'introspection' | 'registration' | 'revocation' | 'par' | 'device_authorization' | 'backchannel_authentication';

export interface AbuseLimits {
  perClient: number;
  perIp: number;
  window: number;
}

/** 0 = off: busy machine clients and shared NAT addresses must not be throttled by default (configure per deployment). */
export const DEFAULT_ABUSE_LIMITS: AbuseLimits = { perClient: 0, perIp: 0, window: 60 };

function limitsOf(ctx: EngineContext): AbuseLimits {
  const s = ctx.tenant.settings;
  return {
    perClient: s.rateLimitPerClient ?? DEFAULT_ABUSE_LIMITS.perClient,
    perIp: s.rateLimitPerIp ?? DEFAULT_ABUSE_LIMITS.perIp,
    window: s.rateLimitWindow ?? DEFAULT_ABUSE_LIMITS.window,
  };
}

async function hit(ctx: EngineContext, key: string, limit: number, window: number): Promise<void> {
  if (limit <= 0) return; // off: no counter write on the hot path
  const now = nowSeconds(ctx);
  const start = Math.floor(now / window) * window;
  const count = await ctx.store.hit(`abuse:${ctx.tenant.id}:${key}`, start, start + window);
  if (count > limit) {
    throw new OAuthError('temporarily_unavailable', 'too many requests; retry later', {
      status: 429,
      resultCode: 'LK14001',
      retryAfter: Math.max(1, start + window - now),
      detail: key,
    });
  }
}

/** Per address, before client authentication: also bounds guessing of client credentials from one address. */
export async function limitAddress(ctx: EngineContext, endpoint: LimitedEndpoint, address: string | undefined): Promise<void> {
  if (address === undefined) return; // Core API callers and tests without an address
  const l = limitsOf(ctx);
  await hit(ctx, `${endpoint}:ip:${addressKey(address)}`, l.perIp, l.window); // an IPv6 /64 is one address
}

/**
 * Per client, after authentication: an attacker without a confidential client's credentials cannot spend its budget.
 * A public client's client_id authenticates nothing (RFC 6749 §2.3; `method` 'none'), so anyone could name it: its
 * counter is kept per client and address, so requests from elsewhere never use up a genuine user's budget. Without an
 * address (Core API callers that pass none) nothing tells the callers apart and a public client is not counted;
 * the per-address limit, and the host's own limits, are what remain.
 */
export async function limitClient(
  ctx: EngineContext,
  endpoint: LimitedEndpoint,
  clientId: string,
  method?: string,
  address?: string,
): Promise<void> {
  const l = limitsOf(ctx);
  if (method === 'none') {
    if (address === undefined) return;
    await hit(ctx, `${endpoint}:client:${clientId}:ip:${addressKey(address)}`, l.perClient, l.window);
    return;
  }
  await hit(ctx, `${endpoint}:client:${clientId}`, l.perClient, l.window);
}
