import type { EngineContext } from '../context.js';
import { Params } from '../params.js';
import { type CheckState, checkClient, checkRedirectUri } from './request.js';

/** What an error response needs besides client_id and redirect_uri, kept when it was sent once. */
const RESPONSE_PARAMS = ['state', 'response_type', 'response_mode', 'scope'];

/**
 * RFC 6749 §4.1.2.1, §4.2.2.1: "includes a parameter more than once" is an invalid_request that goes back to the
 * client like any other once client_id and redirect_uri are verified; only when one of those two is the one repeated
 * (or missing, or wrong) is the user shown an error page instead. Params.parse refuses the whole request at the first
 * repetition, so this finds the check state the error can be redirected with, from the parameters sent exactly once:
 * undefined when client_id or redirect_uri was not sent exactly once, or does not verify.
 */
export async function repeatedParameterTarget(raw: string, ctx: EngineContext): Promise<CheckState | undefined> {
  const all = new URLSearchParams(raw);
  // As in Params.parse, an empty value counts as not sent.
  const once = (k: string): string | undefined => {
    const values = all.getAll(k).filter((v) => v !== '');
    return values.length === 1 ? values[0] : undefined;
  };
  const clientId = once('client_id');
  const redirectUri = once('redirect_uri');
  if (clientId === undefined || redirectUri === undefined) return undefined;
  const rec: Record<string, string> = { client_id: clientId, redirect_uri: redirectUri };
  for (const k of RESPONSE_PARAMS) {
    const v = once(k);
    if (v !== undefined) rec[k] = v;
  }
  const s: CheckState = { params: Params.fromRecord(rec), ctx, request: {} };
  try {
    await checkClient(s);
    await checkRedirectUri(s);
  } catch {
    return undefined;
  }
  return s;
}
