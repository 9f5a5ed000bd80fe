// oidcc-redirect-uri-query-added (OIDCCRedirectUriQueryAdded, OP-redirect_uri-Query-Added): the client registered a
// redirect URI without a query and adds one in the request; the user sees an error page, the client nothing.
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { authorizationUrl, CB } from '../helpers.js';
import { useDynamic } from './helpers.js';

describe('oidcc-redirect-uri-query-added', () => {
  const D = useDynamic();

  it('OIDC Core §3.1.2.1, RFC 9700 §4.1.3: a query added to the registered redirect_uri is an error page, no redirect', async () => {
    const d = D();
    const c = await d.register();
    const sent = `${CB}?foo=bar`; // AddQueryToRedirectUriInAuthorizationRequest
    const r = await d.browser().follow(authorizationUrl(d, c.clientId, { response_type: 'code', scope: 'openid', redirect_uri: sent, state: client.randomState(), nonce: client.randomNonce() }));
    expect(r.status).toBe(400);
    expect(r.location).toBeUndefined();
    expect(r.html).toContain('redirect_uri'); // ExpectRedirectUriErrorPage
  });
});
