// oidcc-ensure-request-object-with-redirect-uri (OIDCCEnsureRequestObjectWithRedirectUri).
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { CB, completeAuthorization, redeem, requestObjectUrl, unsignedRequestObject, useConformance, validateIdToken } from './helpers.js';

describe('oidcc-ensure-request-object-with-redirect-uri', () => {
  const T = useConformance();

  it('OIDC Core §6.3.1, RFC 9101 §6.3: the redirect_uri inside the request object wins over a different one outside', async () => {
    const t = T();
    const c = await t.client({ request_object_signing_alg: 'none' });
    const inner = { response_type: 'code', scope: 'openid', redirect_uri: CB, state: client.randomState(), nonce: client.randomNonce() };
    const outside = 'https://rp.example/not-registered'; // AddInvalidRedirectUriToAuthorizationRequest
    const browser = t.browser();
    const page = await browser.follow(requestObjectUrl(t, c.clientId, inner, { request: unsignedRequestObject(t, c.clientId, inner) }, { redirect_uri: outside }));
    const callback = await completeAuthorization(browser, page); // checks the response went to CB
    expect(callback.searchParams.get('state')).toBe(inner.state);
    const tokens = await redeem(await t.rp(c), { callback, state: inner.state, nonce: inner.nonce, params: inner });
    await validateIdToken(t, tokens.id_token!, c.clientId, inner.nonce);
  });
});
