// oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported (OP-request-Unsigned).
import { exportJWK, generateKeyPair } from 'jose';
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { CB, completeAuthorization, redeem, requestObjectUrl, unsignedRequestObject, useConformance, validateIdToken } from './helpers.js';

describe('oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported', () => {
  const T = useConformance();

  it('OIDC Core §6.1, Discovery §3: request objects are advertised, and alg none among their algorithms (so the module runs)', () => {
    const d = T().discovery;
    expect(d.request_parameter_supported).toBe(true);
    expect(d.request_object_signing_alg_values_supported).toContain('none');
  });

  it('OIDC Core §6.1, §6.3.1: an unsigned request object by value is processed: its state and nonce come back, the flow completes', async () => {
    const t = T();
    // OIDC Registration §2: a client accepts unsigned request objects by registering request_object_signing_alg none.
    const c = await t.client({ request_object_signing_alg: 'none' });
    const config = await t.rp(c);
    const inner = { response_type: 'code', scope: 'openid', redirect_uri: CB, state: client.randomState(), nonce: client.randomNonce() };
    const browser = t.browser();
    const page = await browser.follow(requestObjectUrl(t, c.clientId, inner, { request: unsignedRequestObject(t, c.clientId, inner) }));
    const callback = await completeAuthorization(browser, page);
    expect(callback.searchParams.get('error')).toBeNull();
    expect(callback.searchParams.get('state')).toBe(inner.state); // the state was only inside the object
    const tokens = await redeem(config, { callback, state: inner.state, nonce: inner.nonce, params: inner });
    expect((await validateIdToken(t, tokens.id_token!, c.clientId, inner.nonce)).payload.nonce).toBe(inner.nonce);
  });

  it('OIDC Registration §2: a client that registered no request_object_signing_alg may use any supported alg, none included', async () => {
    const t = T();
    const c = await t.client();
    const inner = { response_type: 'code', scope: 'openid', redirect_uri: CB, state: client.randomState(), nonce: client.randomNonce() };
    const browser = t.browser();
    const callback = await completeAuthorization(browser, await browser.follow(requestObjectUrl(t, c.clientId, inner, { request: unsignedRequestObject(t, c.clientId, inner) })));
    expect(callback.searchParams.get('state')).toBe(inner.state);
    await redeem(await t.rp(c), { callback, state: inner.state, nonce: inner.nonce, params: inner });
  });

  it('OIDC Registration §2, RFC 9101 §6.2: from a client that registered a signing alg, an unsigned object is invalid_request_object, sent back to it', async () => {
    const t = T();
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const c = await t.client({ request_object_signing_alg: 'RS256', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }] } });
    const inner = { response_type: 'code', scope: 'openid', redirect_uri: CB, state: 'inner', nonce: 'n' };
    const r = await t.browser().follow(requestObjectUrl(t, c.clientId, inner, { request: unsignedRequestObject(t, c.clientId, inner) }, { state: 'outer' }));
    const u = new URL(r.location!);
    expect(u.origin + u.pathname).toBe(CB);
    expect(u.searchParams.get('error')).toBe('invalid_request_object');
    expect(u.searchParams.get('state')).toBe('outer'); // the object was not trusted, so its state was not used
    expect(u.searchParams.get('code')).toBeNull();
  });
});
