import { UnsecuredJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

/**
 * RFC 9101 §5 and §7, RFC 6749 §4.1.2.1: once client_id and a registered redirect_uri (sent beside the request
 * object) are verified, an error about the request object or request_uri is redirected there with state and iss
 * (RFC 9207), never shown as a page; with no such verified redirect_uri it is shown, never redirected.
 */
describe('RFC 9101 §5: request and request_uri together, answered at the registered redirect_uri', () => {
  let s: TestServer;
  let c: { clientId: string; clientSecret?: string };
  let as: oauth.AuthorizationServer;

  beforeAll(async () => {
    s = await startTestServer();
    c = await s.client({ redirect_uris: [CB], skip_consent: true });
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  });
  afterAll(() => s.close());

  const object = () => new UnsecuredJWT({ client_id: c.clientId, response_type: 'code', redirect_uri: CB, scope: 'openid' }).setIssuer(c.clientId).setAudience(s.issuer).encode();
  const authorize = (params: Record<string, string>) =>
    fetch(`${s.issuer}/oauth/authorize?` + new URLSearchParams(params), { redirect: 'manual' });

  it('RFC 9101 §5: request and a request_uri URL both sent, with a registered redirect_uri: invalid_request redirected with state and iss', async () => {
    const res = await authorize({ client_id: c.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st-1', request: object(), request_uri: 'https://rp.example/request.jwt' });
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(CB);
    // oauth4webapi checks state and iss (RFC 9207) and reports the error the client was sent.
    const err = (() => {
      try {
        oauth.validateAuthResponse(as, { client_id: c.clientId }, location, 'st-1');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(oauth.AuthorizationResponseError);
    expect((err as oauth.AuthorizationResponseError).error).toBe('invalid_request');
    expect(location.searchParams.get('iss')).toBe(s.issuer);
  });

  it('RFC 9101 §5, RFC 9126 §4: request beside a pushed request_uri, with a registered redirect_uri: redirected, and the pushed request is not spent', async () => {
    const pushed = await postForm(s.url('/oauth/par'), { response_type: 'code', redirect_uri: CB, scope: 'openid', state: 'st-par' }, { authorization: basic(c.clientId, c.clientSecret!) });
    expect(pushed.status).toBe(201);
    const requestUri = pushed.json.request_uri as string;
    const res = await authorize({ client_id: c.clientId, redirect_uri: CB, state: 'st-2', request: object(), request_uri: requestUri });
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(CB);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({ error: 'invalid_request', state: 'st-2', iss: s.issuer });
    const again = await authorize({ client_id: c.clientId, request_uri: requestUri });
    expect(again.status).not.toBe(400); // the push is still there: on to the sign-in
  });

  it('RFC 6749 §4.1.2.1: with an unregistered redirect_uri, or none, the error is shown and never redirected', async () => {
    for (const extra of [{ redirect_uri: 'https://evil.example/cb' }, {}] as Record<string, string>[]) {
      const res = await authorize({ client_id: c.clientId, response_type: 'code', scope: 'openid', state: 'st-3', request: object(), request_uri: 'https://rp.example/request.jwt', ...extra });
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(res.headers.get('location')).toBeNull();
    }
  });
});
