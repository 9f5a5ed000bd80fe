// oidcc-ensure-redirect-uri-in-authorization-request (OIDCCEnsureRedirectUriInAuthorizationRequest,
// OP-redirect_uri-Missing) in the dynamic plan: a registered client leaves redirect_uri out of its request.
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { authorizationUrl } from '../helpers.js';
import { useDynamic } from './helpers.js';

describe('oidcc-ensure-redirect-uri-in-authorization-request (dynamic)', () => {
  const D = useDynamic();

  it('OIDC Core §3.1.2.1: without redirect_uri the user gets an error page and the client no redirect, even with one URI registered', async () => {
    const d = D();
    const c = await d.register();
    const r = await d.browser().follow(authorizationUrl(d, c.clientId, { response_type: 'code', scope: 'openid', state: client.randomState(), nonce: client.randomNonce() }));
    expect(r.status).toBe(400);
    expect(r.location).toBeUndefined(); // ExpectRedirectUriMissingErrorPage
    expect(r.html).toContain('redirect_uri');
  });
});
