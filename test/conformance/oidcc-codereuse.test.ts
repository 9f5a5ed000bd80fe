// oidcc-codereuse (OIDCCAuthCodeReuse, OP-OAuth-2nd).
import { describe, expect, it } from 'vitest';
import { basic } from '../helpers/server.js';
import { CB, codeFlow, expectTokenError, useConformance, userinfoGet } from './helpers.js';

describe('oidcc-codereuse', () => {
  const T = useConformance();

  it('RFC 6749 §4.1.2, §5.2: a code redeemed a second time at once is invalid_grant (400, JSON), and its tokens are revoked', async () => {
    const t = T();
    const c = await t.client();
    const { a, tokens } = await codeFlow(t, c);
    const again = await fetch(t.discovery.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(c.clientId, c.clientSecret) },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: a.callback.searchParams.get('code')!, redirect_uri: CB }),
    });
    await expectTokenError(again, 'invalid_grant');
    expect((await userinfoGet(t, tokens.access_token)).status).toBe(401); // RFC 6749 §4.1.2: SHOULD revoke
  });
});
