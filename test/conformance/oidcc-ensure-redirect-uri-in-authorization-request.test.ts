// oidcc-ensure-redirect-uri-in-authorization-request (OIDCCEnsureRedirectUriInAuthorizationRequest,
// OP-redirect_uri-Missing). A module of the dynamic plan that needs no registration, so it is reproduced now.
import { describe, expect, it } from 'vitest';
import { authorizationUrl, CB, useConformance } from './helpers.js';

describe('oidcc-ensure-redirect-uri-in-authorization-request', () => {
  const T = useConformance();

  const expectMissingRedirectUriPage = (r: { status: number; location?: string; html: string }) => {
    expect(r.status).toBe(400);
    expect(r.location).toBeUndefined(); // ExpectRedirectUriMissingErrorPage: nowhere safe to redirect to
    expect(r.html).toContain('redirect_uri');
  };

  it('OIDC Core §3.1.2.1: an OpenID request without redirect_uri gets an error page, even with one URI registered', async () => {
    const t = T();
    const c = await t.client();
    expectMissingRedirectUriPage(await t.browser().follow(authorizationUrl(t, c.clientId, { response_type: 'code', scope: 'openid', state: 's', nonce: 'n' })));
  });

  it('RFC 6749 §3.1.2.3: with two redirect URIs registered and none sent, an error page and no redirect', async () => {
    const t = T();
    const c = await t.client({ redirect_uris: [CB, 'https://rp.example/other'] });
    expectMissingRedirectUriPage(await t.browser().follow(authorizationUrl(t, c.clientId, { response_type: 'code', scope: 'openid', state: 's', nonce: 'n' })));
    // Even for a plain OAuth request (no openid scope), where one registered URI could stand in.
    expectMissingRedirectUriPage(await t.browser().follow(authorizationUrl(t, c.clientId, { response_type: 'code', scope: 'profile', state: 's' })));
  });
});
