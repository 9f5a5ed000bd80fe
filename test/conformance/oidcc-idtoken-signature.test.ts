// oidcc-idtoken-signature (OIDCCIdTokenSignature, OP-IDToken-Signature and OP-IDToken-kid).
import { compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { codeFlow, useConformance } from './helpers.js';

describe('oidcc-idtoken-signature', () => {
  const T = useConformance();

  it('OIDC Registration §2, Core §3.1.3.7, §10.1: a client that registered no alg gets RS256 ID tokens with a kid naming a JWKS key', async () => {
    const t = T();
    const c = await t.client(); // no id_token_signed_response_alg
    const { tokens } = await codeFlow(t, c);
    const header = decodeProtectedHeader(tokens.id_token!);
    expect(header.alg).toBe('RS256'); // EnsureIdTokenSignatureIsRS256
    expect(typeof header.kid).toBe('string'); // EnsureIdTokenContainsKid
    // The key the kid names, taken from jwks_uri by hand, verifies the signature.
    const { keys } = (await (await fetch(t.discovery.jwks_uri)).json()) as { keys: JWK[] };
    const matching = keys.filter((k) => k.kid === header.kid);
    expect(matching).toHaveLength(1);
    expect(matching[0]!.kty).toBe('RSA');
    if (matching[0]!.use !== undefined) expect(matching[0]!.use).toBe('sig');
    await expect(compactVerify(tokens.id_token!, await importJWK(matching[0]!, 'RS256'))).resolves.toBeTruthy();
  });
});
