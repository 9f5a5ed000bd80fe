// oidcc-ensure-request-object-with-redirect-uri (OIDCCEnsureRequestObjectWithRedirectUri) in the dynamic plan: an
// unsigned request object by value (aud, iss) from a registered client carries the registered redirect_uri;
// outside it, another one. The one inside wins.
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { CB, completeAuthorization, redeem, requestObjectUrl, unsignedRequestObject, validateIdToken } from '../helpers.js';
import { useDynamic } from './helpers.js';

describe('oidcc-ensure-request-object-with-redirect-uri (dynamic)', () => {
  const D = useDynamic();

  it('OIDC Core §6.3.1, RFC 9101 §6.3: the redirect_uri inside the request object wins over a different one outside', async () => {
    const d = D();
    // The suite's registration names no request_object_signing_alg: OIDC Registration §2 then allows any, none included.
    const c = await d.register();
    const inner = { response_type: 'code', scope: 'openid', redirect_uri: CB, state: client.randomState(), nonce: client.randomNonce() };
    const outside = 'https://rp.example/not-registered'; // AddInvalidRedirectUriToAuthorizationRequest
    const browser = d.browser();
    const page = await browser.follow(requestObjectUrl(d, c.clientId, inner, { request: unsignedRequestObject(d, c.clientId, inner) }, { redirect_uri: outside }));
    const callback = await completeAuthorization(browser, page); // asserts the response went to CB
    expect(callback.searchParams.get('state')).toBe(inner.state);
    const tokens = await redeem(await d.dynamicRp(c), { callback, state: inner.state, nonce: inner.nonce, params: inner });
    await validateIdToken(d, tokens.id_token!, c.clientId, inner.nonce);
  });
});
