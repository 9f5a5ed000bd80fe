import type { ClientRecord } from '../../store/types.js';
import { signJwt, type SigningAlg } from '../../tokens/jwt.js';
import { type EngineContext, endpointsOf, nowSeconds } from '../context.js';
import { NO_STORE, type Result } from '../result.js';
import { withQueryParams } from '../params.js';
import { resultCodes, type ResultCode } from '../result-codes.js';
import type { ResponseMode } from './request.js';
import { encryptIfRegistered, encryptTo, type EncryptionKey } from '../response-encryption.js';
import { isFapi, signingAlgFor } from '../fapi.js';

/** Where and how an authorization response (success or error) is delivered. */
export interface ResponseTarget {
  client: ClientRecord;
  redirectUri: string;
  responseMode: ResponseMode;
  state?: string;
  /** JARM §2.2: the client's authorization response encryption key, resolved before anything was written (authorization/index.ts issue). */
  encryptionKey?: EncryptionKey;
}

/** JARM §2.1: the response JWT is short-lived; ten minutes is the longest the spec suggests. */
export const JARM_TTL = 600;

const escHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * The CSP source (form-action, frame-src) that allows a URI as a target: its origin, or its scheme when no
 * host-source can name it (CSP3 §2.3.1: letters, digits, dashes and dots; not an IPv6 literal such as a native
 * client's http://[::1]:port, RFC 8252 §7.3, nor a host with an underscore: Chrome drops such a source and blocks
 * the navigation) or it has no web origin (a private-use scheme). Undefined for a URI no URL parser accepts.
 * The form_post page here and the sign-in, consent and logout pages (http/routes/ui.ts) alike.
 */
export function cspSourceOf(uri: string): string | undefined {
  try {
    const u = new URL(uri);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return u.protocol;
    return /^[a-z0-9-]+(\.[a-z0-9-]+)*$/i.test(u.hostname) ? u.origin : u.protocol;
  } catch {
    return undefined;
  }
}

/** The CSP form-action source for a redirect URI; one no URL parser accepts allows no form target at all. */
const originOf = (uri: string): string => cspSourceOf(uri) ?? "'none'";

/**
 * The one place an authorization response is built, for success and error alike (RFC 6749 §4.1.2, §4.1.2.1,
 * §4.2.2, §4.2.2.1). `params` are the response parameters (code, tokens, or error/error_description); state and
 * iss (RFC 9207) are added here. The response mode decides the encoding:
 * - query / fragment: a 303 to redirect_uri with the parameters in its query (keeping its own) or its fragment;
 * - form_post (OAuth 2.0 Form Post Response Mode §2): an HTML page whose form posts them to redirect_uri;
 * - *.jwt (JARM §2): one `response` parameter, a JWT signed with the client's authorization_signed_response_alg
 *   (RS256 by default) holding iss, aud, exp and the parameters, encrypted when the client registered
 *   authorization_encrypted_response_alg (JARM §2.2), delivered the same three ways.
 */
export async function authorizationResponse<A extends string>(
  ctx: EngineContext,
  target: ResponseTarget,
  params: Record<string, string | undefined>,
  resultCode: ResultCode,
  message?: string,
): Promise<Result<A | 'LOCATION' | 'FORM'> & { redirectUri: string }> {
  let out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) if (v !== undefined) out[k] = v;
  if (target.state !== undefined) out.state = target.state;
  const jarm = target.responseMode.endsWith('.jwt');
  if (jarm) {
    // JARM §3: RS256 unless the client registered another; FAPI 2.0 §5.4.1: ES256 under the profile.
    const alg = signingAlgFor(target.client.authorizationSignedResponseAlg as SigningAlg | undefined, isFapi(target.client, ctx.tenant.settings), 'RS256');
    const now = nowSeconds(ctx);
    // JARM §2.1: iss and aud identify sender and recipient; RFC 9207 §2.4: iss inside the JWT, not beside it.
    const jwt = signJwt((await ctx.keys()).signingKey(alg), { iss: ctx.tenant.issuer, aud: target.client.clientId, exp: now + JARM_TTL, iat: now, ...out });
    // JARM §2.2: signed, then encrypted when the client registered authorization_encrypted_response_alg. Without a
    // usable key this throws (LK7242), and the caller answers the user agent: nothing goes to the client unencrypted.
    out = {
      response: target.client.authorizationEncryptedResponseAlg === undefined ? jwt
        : target.encryptionKey ? await encryptTo(target.encryptionKey, jwt, true)
        : await encryptIfRegistered(ctx, target.client, 'authorization', jwt, 'LK7242'),
    };
  } else {
    out.iss = ctx.tenant.issuer; // RFC 9207 §2
  }
  const base = jarm ? target.responseMode.slice(0, -'.jwt'.length) : target.responseMode;
  const resultMessage = message ?? resultCodes[resultCode];

  if (base === 'form_post') {
    const inputs = Object.entries(out)
      .map(([k, v]) => `<input type="hidden" name="${escHtml(k)}" value="${escHtml(v)}">`)
      .join('\n');
    const script = endpointsOf(ctx.tenant.issuer).formPostScript;
    // No inline script: the page loads one fixed script from the issuer, and the CSP allows exactly that file. The
    // Continue button is for browsers without scripts only (<noscript>): shown to all, it could post the response a
    // second time, and a code presented twice revokes what it issued (RFC 6749 §4.1.2).
    const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer"><title>Returning to the application</title></head>
<body><main><h1>Returning to the application</h1><form method="post" action="${escHtml(target.redirectUri)}">
${inputs}
<noscript><p>Scripts are disabled in this browser. Press Continue to return to the application.</p><button type="submit">Continue</button></noscript>
</form></main><script src="${escHtml(script)}"></script></body></html>`;
    return {
      action: 'FORM',
      resultCode: resultCode === 'LK3007' ? 'LK7028' : resultCode,
      resultMessage,
      responseContent: html,
      status: 200,
      contentType: 'text/html',
      headers: {
        ...NO_STORE,
        'Content-Security-Policy': `default-src 'none'; script-src ${script}; form-action ${originOf(target.redirectUri)}; frame-ancestors 'none'; base-uri 'none'`,
        'X-Frame-Options': 'DENY',
        'Referrer-Policy': 'no-referrer',
      },
      redirectUri: target.redirectUri,
    };
  }

  let location: string;
  if (base === 'fragment') {
    // The redirect URI never has a fragment (RFC 6749 §3.1.2); the response becomes it.
    // Serialised as for the query (withQueryParams with no parameters): a registered URI with non-ASCII characters
    // cannot go in a Location header as it is.
    location = `${withQueryParams(target.redirectUri, [])}#${new URLSearchParams(out).toString()}`;
  } else {
    location = withQueryParams(target.redirectUri, Object.entries(out)); // RFC 6749 §3.1.2: keep its query
  }
  return {
    action: 'LOCATION',
    resultCode,
    resultMessage,
    responseContent: location,
    // 303: the browser follows with GET, never re-posting a login or consent form (RFC 9700 §4.12).
    status: 303,
    headers: { ...NO_STORE, Location: location },
    redirectUri: target.redirectUri,
  };
}

/** The fixed script a form_post page loads: submit the page's one form. */
export const FORM_POST_SCRIPT = 'HTMLFormElement.prototype.submit.call(document.forms[0]);\n';
