// oidcc-idtoken-unsigned (OIDCCIdTokenUnsigned, OP-IDToken-none): deliberately not supported.
import { describe, expect, it } from 'vitest';
import { useConformance } from './helpers.js';

describe('oidcc-idtoken-unsigned', () => {
  const T = useConformance();

  it('OIDC Core §3.1.3.7, Discovery §3: unsigned ID tokens are not offered: none is not advertised (the suite skips the module)', () => {
    const algs = T().discovery.id_token_signing_alg_values_supported as string[];
    expect(algs).toContain('RS256');
    expect(algs).not.toContain('none');
  });

  it('OIDC Registration §2: registering id_token_signed_response_alg none is refused with invalid_client_metadata', async () => {
    await expect(T().client({ id_token_signed_response_alg: 'none' })).rejects.toMatchObject({ code: 'invalid_client_metadata' });
  });
});
