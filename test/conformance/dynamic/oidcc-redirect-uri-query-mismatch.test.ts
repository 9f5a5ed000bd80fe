// oidcc-redirect-uri-query-mismatch (OIDCCRedirectUriQueryMismatch, OP-redirect_uri-Query-Mismatch): the client
// registered a redirect URI with one query and sends another; the user sees an error page, the client nothing.
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { authorizationUrl, CB } from '../helpers.js';
import { useDynamic } from './helpers.js';

describe('oidcc-redirect-uri-query-mismatch', () => {
  const D = useDynamic();

  it('OIDC Core §3.1.2.1, RFC 9700 §4.1.3: a redirect_uri whose query differs from the registered one is an error page, no redirect', async () => {
    const d = D();
    const c = await d.register({ redirect_uris: [`${CB}?bar=foo`] });
    const sent = `${CB}?bar=baz`; // ReplaceRedirectUriQueryInAuthorizationRequest
    const r = await d.browser().follow(authorizationUrl(d, c.clientId, { response_type: 'code', scope: 'openid', redirect_uri: sent, state: client.randomState(), nonce: client.randomNonce() }));
    expect(r.status).toBe(400);
    expect(r.location).toBeUndefined(); // processCallback would fail the module
    expect(r.html).toContain('redirect_uri'); // ExpectRedirectUriErrorPage
  });
});
