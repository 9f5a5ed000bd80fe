// oidcc-ensure-request-with-valid-pkce-succeeds (OIDCCEnsureRequestWithValidPkceSucceeds).
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { authorize, redeem, useConformance, validateIdToken } from './helpers.js';

describe('oidcc-ensure-request-with-valid-pkce-succeeds', () => {
  const T = useConformance();

  it('RFC 7636 §4.3, §4.5: a confidential client\'s request with an S256 code_challenge succeeds with the code_verifier', async () => {
    const t = T();
    const c = await t.client();
    const config = await t.rp(c);
    const verifier = client.randomPKCECodeVerifier();
    const a = await authorize(config, t.browser(), { code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const tokens = await redeem(config, a, { pkceCodeVerifier: verifier });
    expect((await validateIdToken(t, tokens.id_token!, c.clientId, a.nonce)).payload.sub).toBe(t.sub);
  });
});
