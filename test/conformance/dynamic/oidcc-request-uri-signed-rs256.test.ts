// oidcc-request-uri-signed-rs256 (OIDCCRequestUriSignedRS256, OP-request_uri-Sig): the client registers
// request_object_signing_alg RS256 and a request_uri; the request object there is signed with its registered key.
import { SignJWT } from 'jose';
import * as client from 'openid-client';
import { afterEach, describe, expect, it } from 'vitest';
import { CB, completeAuthorization, redeem, requestObjectUrl, unsignedRequestObject, validateIdToken } from '../helpers.js';
import { randomRequestUri, serveRequestUri, useDynamic } from './helpers.js';

describe('oidcc-request-uri-signed-rs256', () => {
  const D = useDynamic();
  let undo: (() => void) | undefined;
  afterEach(() => undo?.());

  it('OIDC Discovery §3: RS256 is among request_object_signing_alg_values_supported (CheckDiscEndpointRequestObjectSigningAlgValuesSupportedContainsRS256)', () => {
    expect(D().discovery.request_object_signing_alg_values_supported).toContain('RS256');
  });

  it('OIDC Core §6.1, §6.2: an RS256 request object (iss, aud) fetched from the registered request_uri is verified and processed', async () => {
    const d = D();
    const uri = randomRequestUri();
    const c = await d.register({ request_uris: [uri], request_object_signing_alg: 'RS256' }); // AddRequestObjectSigningAlgRS256ToDynamicRegistrationRequest
    expect(c.registered.request_object_signing_alg).toBe('RS256');
    const inner = { response_type: 'code', scope: 'openid', redirect_uri: CB, state: client.randomState(), nonce: client.randomNonce(), client_id: c.clientId };
    // ConvertAuthorizationEndpointRequestToRequestObject, AddAudToRequestObject, AddIssToRequestObject, SignRequestObject
    const object = await new SignJWT(inner).setProtectedHeader({ alg: 'RS256', kid: c.key.jwk.kid }).setIssuer(c.clientId).setAudience(d.issuer).sign(c.key.privateKey);
    undo = serveRequestUri(d, uri, object);
    const browser = d.browser();
    const callback = await completeAuthorization(browser, await browser.follow(requestObjectUrl(d, c.clientId, inner, { request_uri: uri })));
    expect(callback.searchParams.get('state')).toBe(inner.state);
    const tokens = await redeem(await d.dynamicRp(c), { callback, state: inner.state, nonce: inner.nonce, params: inner });
    await validateIdToken(d, tokens.id_token!, c.clientId, inner.nonce);
  });

  it('OIDC Registration §2: with RS256 registered, an unsigned object (or one signed by another key) is invalid_request_object', async () => {
    const d = D();
    const uri = randomRequestUri();
    const c = await d.register({ request_uris: [uri], request_object_signing_alg: 'RS256' });
    const inner = { response_type: 'code', scope: 'openid', redirect_uri: CB, state: client.randomState(), nonce: client.randomNonce() };
    undo = serveRequestUri(d, uri, unsignedRequestObject(d, c.clientId, inner));
    const r = await d.browser().follow(requestObjectUrl(d, c.clientId, inner, { request_uri: uri }));
    // RFC 9700 §4.11.2: the client registered itself openly, so the error is shown rather than redirected to it.
    expect([r.status, r.location]).toEqual([400, undefined]);
    expect(r.html).toContain('Error: invalid_request_object');
  });
});
