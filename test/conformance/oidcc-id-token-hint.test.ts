// oidcc-id-token-hint (OIDCCIdTokenHint, OP-Req-id_token_hint).
import { describe, it } from 'vitest';
import { sameAuthTwice, useConformance } from './helpers.js';

describe('oidcc-id-token-hint', () => {
  const T = useConformance();

  it('OIDC Core §3.1.2.1: prompt=none with the first ID token as id_token_hint answers silently for the same user', async () => {
    await sameAuthTwice(T(), {}, (idToken) => ({ prompt: 'none', id_token_hint: idToken }));
  });
});
