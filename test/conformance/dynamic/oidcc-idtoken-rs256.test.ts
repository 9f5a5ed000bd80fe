// oidcc-idtoken-rs256 (OIDCCIdTokenRS256, OP-IDToken-RS256 and OP-IDToken-kid): a client registered with
// id_token_signed_response_alg RS256 gets RS256 ID tokens carrying a kid that names the verifying key.
import { decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { dynamicCodeFlow, useDynamic } from './helpers.js';

describe('oidcc-idtoken-rs256', () => {
  const D = useDynamic();

  it('OIDC Registration §2, OIDC Core §3.1.3.7, §10.1: id_token_signed_response_alg RS256 gives an RS256 ID token with a kid in the JWKS', async () => {
    const d = D();
    expect(d.discovery.id_token_signing_alg_values_supported).toContain('RS256');
    const c = await d.register({ id_token_signed_response_alg: 'RS256' }); // AddIdTokenSigningAlgRS256ToDynamicRegistrationRequest
    expect(c.registered.id_token_signed_response_alg).toBe('RS256');
    const { tokens, idt } = await dynamicCodeFlow(d, c, { metadata: { id_token_signed_response_alg: 'RS256' } });
    expect(idt.alg).toBe('RS256'); // CheckIdTokenSignatureAlgorithm
    const { kid } = decodeProtectedHeader(tokens.id_token!); // EnsureIdTokenContainsKid
    const jwks = (await (await fetch(d.discovery.jwks_uri)).json()) as { keys: { kid: string; kty: string }[] };
    const named = jwks.keys.filter((k) => k.kid === kid);
    expect(named).toHaveLength(1);
    expect(named[0]!.kty).toBe('RSA');
  });
});
