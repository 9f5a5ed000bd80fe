import type { IncomingHttpHeaders } from 'node:http';
import type { EngineContext } from '../engine/context.js';
import { withCors } from '../engine/cors.js';
import { deviceAuthorization } from '../engine/device.js';
import { backchannelAuthentication } from '../engine/ciba.js';
import { introspection } from '../engine/introspection.js';
import { pushedAuthorizationRequest } from '../engine/par.js';
import type { Result } from '../engine/result.js';
import { revocation } from '../engine/revocation.js';
import { token } from '../engine/token/index.js';
import type { Latchkey } from '../server/latchkey.js';
import { completePasswordGrant } from '../services/password-grant.js';
import { header } from './adapt.js';
import { REPEATED_AUTHORIZATION, REPEATED_CONTENT_TYPE, repeatedHeaders } from './raw-headers.js';

/** What every back-channel engine endpoint receives: the request as received, nothing parsed. */
export interface BackChannelRequest {
  parameters: string;
  contentType: string;
  authorization?: string;
  accept?: string;
  clientCertificate?: string;
  clientAddress?: string;
  /** RFC 9449 §4.1: the DPoP header (token endpoint, PAR). */
  dpop?: string;
  /** The Origin header of a browser's cross-origin request (CORS, engine/cors.ts); absent from other callers. */
  origin?: string;
  /** What the header map hides (raw-headers.ts): Authorization or Content-Type sent more than once. */
  repeatedAuthorization?: boolean;
  repeatedContentType?: boolean;
}

export type BackChannelEngine = (input: BackChannelRequest, ctx: EngineContext) => Promise<Result>;

/** The engine input of a back-channel request, from its raw body, headers, peer address and certificate. */
export function backChannelInput(
  body: unknown,
  headers: IncomingHttpHeaders,
  ip: string,
  clientCertificate: string | undefined,
  /** The raw headers, or their repeatedHeaders mask when the server already has it (one scan per request). */
  rawHeaders?: readonly string[] | number,
): BackChannelRequest {
  const repeated = typeof rawHeaders === 'number' ? rawHeaders : rawHeaders ? repeatedHeaders(rawHeaders) : 0;
  return {
    parameters: typeof body === 'string' ? body : '',
    contentType: headers['content-type'] ?? '',
    authorization: header(headers.authorization),
    accept: header(headers.accept),
    clientCertificate,
    clientAddress: ip,
    dpop: header(headers.dpop),
    origin: headers.origin,
    repeatedAuthorization: (repeated & REPEATED_AUTHORIZATION) !== 0,
    repeatedContentType: (repeated & REPEATED_CONTENT_TYPE) !== 0,
  };
}

/**
 * The back-channel endpoints by audit name, shared by the Fastify routes (routes/oauth.ts) and the fast path
 * (fast-path.ts), so both run exactly the same engine function.
 */
export function backChannelEngines(lk: Latchkey): Record<'token' | 'introspection' | 'revocation' | 'par' | 'device_authorization' | 'backchannel_authentication', BackChannelEngine> {
  // RFC 6749 §4.3: for the password grant the engine asks its caller to verify the resource owner's credentials.
  // Successful token responses are counted by grant type (latchkey_tokens_issued_total).
  const tokenEndpoint: BackChannelEngine = async (input, c) => {
    const first = await token(input, c);
    const result = first.action === 'PASSWORD' ? await completePasswordGrant(c, first, input.clientAddress ?? '') : first;
    if (result.action === 'OK') lk.metrics.tokensIssued.inc([grantTypeOf(input.parameters)]);
    return result;
  };
  // CORS (engine/cors.ts): the endpoints a browser-based client calls answer its pages; introspection does not.
  return {
    token: withCors('token', tokenEndpoint),
    introspection,
    revocation: withCors('revocation', revocation),
    par: withCors('par', pushedAuthorizationRequest), // RFC 9126 §2
    device_authorization: withCors('device_authorization', deviceAuthorization), // RFC 8628 §3.1
    // OpenID CIBA Core §7: confidential clients on servers; no CORS (a browser app has no secret to authenticate with).
    backchannel_authentication: backchannelAuthentication,
  };
}

/**
 * The grant_type of a request the engine has just answered OK, for the tokens-issued metric only (no protocol
 * decision rests on it): the engine accepted it, so it is present once and names a registered grant handler.
 */
function grantTypeOf(body: string): string {
  const m = /(?:^|&)grant_type=([^&]*)/.exec(body);
  if (!m) return 'unknown';
  try {
    return decodeURIComponent(m[1]!.replace(/\+/g, ' ')).slice(0, 100);
  } catch {
    return 'unknown';
  }
}
