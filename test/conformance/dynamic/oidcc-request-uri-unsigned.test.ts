// oidcc-request-uri-unsigned (OIDCCRequestUriUnsigned, OP-request_uri-Unsigned-Dynamic): the client registers a
// request_uri (and no request_object_signing_alg), then sends the authorization request as an unsigned request
// object by reference. OIDC Core §15.2: request_uri is mandatory to support for dynamic OPs.
import * as client from 'openid-client';
import { afterEach, describe, expect, it } from 'vitest';
import { CB, completeAuthorization, redeem, requestObjectUrl, unsignedRequestObject, validateIdToken } from '../helpers.js';
import { dynamicCodeFlow, randomRequestUri, serveRequestUri, useDynamic } from './helpers.js';

describe('oidcc-request-uri-unsigned', () => {
  const D = useDynamic();
  let undo: (() => void) | undefined;
  afterEach(() => undo?.());

  it('OIDC Discovery §3 (CheckDiscEndpointRequestUriParameterSupported): request_uri_parameter_supported is true', () => {
    expect(D().discovery.request_uri_parameter_supported).toBe(true);
  });

  it('OIDC Core §6.2, OIDC Registration §2: an unsigned request object fetched from the registered request_uri is processed', async () => {
    const d = D();
    const uri = randomRequestUri();
    const c = await d.register({ request_uris: [uri] }); // AddRequestUriToDynamicRegistrationRequest
    expect(c.registered.request_uris).toEqual([uri]);
    const inner = { response_type: 'code', scope: 'openid', redirect_uri: CB, state: client.randomState(), nonce: client.randomNonce(), client_id: c.clientId };
    undo = serveRequestUri(d, uri, unsignedRequestObject(d, c.clientId, inner)); // SerializeRequestObjectWithNullAlgorithm
    const browser = d.browser();
    // BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint
    const callback = await completeAuthorization(browser, await browser.follow(requestObjectUrl(d, c.clientId, inner, { request_uri: uri })));
    expect(callback.searchParams.get('error')).toBeNull();
    expect(callback.searchParams.get('state')).toBe(inner.state);
    const tokens = await redeem(await d.dynamicRp(c), { callback, state: inner.state, nonce: inner.nonce, params: inner });
    await validateIdToken(d, tokens.id_token!, c.clientId, inner.nonce);
  });

  it('OIDC Registration §2 (require_request_uri_registration): a request_uri the client did not register is invalid_request_uri', async () => {
    const d = D();
    const c = await d.register({ request_uris: [randomRequestUri()] });
    const inner = { response_type: 'code', scope: 'openid', redirect_uri: CB, state: client.randomState(), nonce: client.randomNonce() };
    const r = await d.browser().follow(requestObjectUrl(d, c.clientId, inner, { request_uri: randomRequestUri() }));
    // RFC 9700 §4.11.2: the client registered itself openly, so the error is shown rather than redirected to it.
    expect([r.status, r.location]).toEqual([400, undefined]);
    expect(r.html).toContain('Error: invalid_request_uri');
    // The flow still works without request objects for that client.
    await dynamicCodeFlow(d, c);
  });
});
