// oidcc-ensure-registered-redirect-uri (OIDCCEnsureRegisteredRedirectUri, OP-redirect_uri-NotReg).
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { authorizationUrl, useConformance } from './helpers.js';

describe('oidcc-ensure-registered-redirect-uri', () => {
  const T = useConformance();

  it('OIDC Core §3.1.2.1, RFC 6749 §3.1.2.4: an unregistered redirect_uri gets an error page, never a redirect to it', async () => {
    const t = T();
    const c = await t.client();
    const bad = `https://rp.example/cb/${client.randomState()}`; // CreateBadRedirectUri
    const r = await t.browser().follow(authorizationUrl(t, c.clientId, { response_type: 'code', redirect_uri: bad, scope: 'openid', state: 's', nonce: 'n' }));
    expect(r.status).toBe(400);
    expect(r.location).toBeUndefined();
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r.html).toMatch(/redirect_uri/); // ExpectRedirectUriErrorPage: the page says what is wrong
    expect(r.html).not.toContain(bad);
  });
});
