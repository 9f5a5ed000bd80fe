// oidcc-idtoken-unsigned (OIDCCIdTokenUnsigned, OP-IDToken-none) in the dynamic plan: deliberately not supported.
// The suite skips the module when id_token_signing_alg_values_supported lacks "none", "which is acceptable for
// certification"; the registration a client would send for it is refused.
import { describe, expect, it } from 'vitest';
import { rpKey, useDynamic } from './helpers.js';

describe('oidcc-idtoken-unsigned (dynamic)', () => {
  const D = useDynamic();

  it('OIDC Discovery §3: "none" is not among id_token_signing_alg_values_supported (the suite then skips the module)', () => {
    const algs = D().discovery.id_token_signing_alg_values_supported as string[];
    expect(algs).toContain('RS256');
    expect(algs).not.toContain('none');
  });

  it('OIDC Registration §3.3: registering id_token_signed_response_alg none is answered 400 invalid_client_metadata', async () => {
    const d = D();
    const r = await d.registerRaw(d.registrationRequest(await rpKey(), { id_token_signed_response_alg: 'none' }));
    expect(r.status).toBe(400);
    expect(r.contentType).toMatch(/^application\/json/);
    expect(r.body.error).toBe('invalid_client_metadata');
    expect(r.body.error_description).toMatch(/id_token_signed_response_alg/);
  });
});
