// oidcc-codereuse-30seconds (OIDCCAuthCodeReuseAfter30Seconds, OP-OAuth-2nd-30s and OP-OAuth-2nd-Revokes).
import { describe, expect, it } from 'vitest';
import { basic } from '../helpers/server.js';
import { CB, codeFlow, expectTokenError, useConformance, userinfoGet } from './helpers.js';

describe('oidcc-codereuse-30seconds', () => {
  const T = useConformance();

  it('RFC 6749 §4.1.2, §10.5: a code reused 30 s later is invalid_grant, and the tokens from its first use are revoked', async () => {
    const t = T();
    const c = await t.client();
    const { a, tokens } = await codeFlow(t, c, { extra: { scope: 'openid offline_access', prompt: 'consent' } });
    expect(tokens.refresh_token).toBeTruthy();
    expect((await userinfoGet(t, tokens.access_token)).status).toBe(200);

    t.advance(30); // the suite's WaitFor30Seconds, on the provider's clock
    const again = await fetch(t.discovery.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(c.clientId, c.clientSecret) },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: a.callback.searchParams.get('code')!, redirect_uri: CB }),
    });
    await expectTokenError(again, 'invalid_grant');

    // CallProtectedResourceWithBearerTokenExpectingError: the first access token no longer works (RFC 6750 §3.1).
    const ui = await userinfoGet(t, tokens.access_token);
    expect(ui.status).toBe(401);
    expect(ui.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    // Nor does the refresh token issued with it: the whole grant is revoked.
    const refresh = await fetch(t.discovery.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(c.clientId, c.clientSecret) },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
    });
    await expectTokenError(refresh, 'invalid_grant');
  });
});
