// oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported (OP-request_uri-Unsigned): whichever
// discovery advertises. By default fetching is off, so the refusal; with allowRemoteRequestUri, the support.
import * as client from 'openid-client';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { CB, completeAuthorization, redeem, requestObjectUrl, unsignedRequestObject, useConformance, validateIdToken } from './helpers.js';

const REQUEST_URI = 'https://rp.example/request.jwt';

describe('oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported', () => {
  describe('rejected as unsupported (the default)', () => {
    const T = useConformance();

    it('OIDC Discovery §3: request_uri by reference is advertised as unsupported', () => {
      expect(T().discovery.request_uri_parameter_supported).toBe(false);
    });

    it('OIDC Core §3.1.2.6, RFC 9101 §7: a request_uri is answered with request_uri_not_supported, redirected to the client', async () => {
      const t = T();
      const c = await t.client({ request_object_signing_alg: 'none', request_uris: [REQUEST_URI] });
      const inner = { response_type: 'code', scope: 'openid', redirect_uri: CB, state: client.randomState(), nonce: client.randomNonce() };
      const r = await t.browser().follow(requestObjectUrl(t, c.clientId, inner, { request_uri: REQUEST_URI }));
      expect(r.location, r.html.slice(0, 300)).toBeDefined();
      const u = new URL(r.location!);
      expect(u.origin + u.pathname).toBe(CB);
      expect(u.searchParams.get('error')).toBe('request_uri_not_supported');
      expect(u.searchParams.get('iss')).toBe(t.issuer);
      expect(u.searchParams.get('code')).toBeNull();
    });

    it('RFC 6749 §4.1.2.1: with a redirect_uri beside it that the client did not register, the refusal is a page, not a redirect', async () => {
      const t = T();
      const c = await t.client({ request_object_signing_alg: 'none' });
      const inner = { response_type: 'code', scope: 'openid', redirect_uri: 'https://evil.example/cb' };
      const r = await t.browser().follow(requestObjectUrl(t, c.clientId, inner, { request_uri: REQUEST_URI }));
      expect(r.status).toBe(400);
      expect(r.location).toBeUndefined();
      expect(r.html).toContain('request_uri_not_supported');
    });
  });

  describe('supported correctly (allowRemoteRequestUri)', () => {
    const T = useConformance({ allowRemoteRequestUri: true });
    afterEach(() => vi.unstubAllGlobals());

    it('OIDC Core §6.2, RFC 9101 §5.2: an unsigned request object fetched from a registered request_uri is processed', async () => {
      const t = T();
      expect(t.discovery.request_uri_parameter_supported).toBe(true);
      const c = await t.client({ request_object_signing_alg: 'none', request_uris: [REQUEST_URI] });
      const inner = { response_type: 'code', scope: 'openid', redirect_uri: CB, state: client.randomState(), nonce: client.randomNonce() };
      const object = unsignedRequestObject(t, c.clientId, inner);
      // The RP serves the object (the suite's own request_uri endpoint): the server's outbound fetch is replaced.
      const settings = (await t.s.lk.context('default')).clients!.keySet;
      const realFetch = settings.fetch!;
      settings.fetch = ((url: string | URL | Request, init?: RequestInit) =>
        String(url) === REQUEST_URI
          ? Promise.resolve(new Response(object, { headers: { 'content-type': 'application/oauth-authz-req+jwt' } }))
          : realFetch(url, init)) as typeof fetch;
      onTestFinished(() => {
        settings.fetch = realFetch;
      });
      const browser = t.browser();
      const callback = await completeAuthorization(browser, await browser.follow(requestObjectUrl(t, c.clientId, inner, { request_uri: REQUEST_URI })));
      expect(callback.searchParams.get('state')).toBe(inner.state);
      const tokens = await redeem(await t.rp(c), { callback, state: inner.state, nonce: inner.nonce, params: inner });
      await validateIdToken(t, tokens.id_token!, c.clientId, inner.nonce);
    });
  });
});
