// oidcc-ensure-client-assertion-with-iss-aud-succeeds (OIDCCEnsureClientAssertionWithIssAudSucceeds): the
// private_key_jwt assertion's aud is the issuer identifier instead of the token endpoint; it must be accepted
// (the suite only warns on a valid invalid_client refusal; we accept it).
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { dynamicCodeFlow, useDynamic } from './helpers.js';

describe('oidcc-ensure-client-assertion-with-iss-aud-succeeds', () => {
  const D = useDynamic();

  it('RFC 7523 §3, OIDC Core §9: a client assertion whose aud is the issuer identifier is accepted at the token endpoint', async () => {
    const d = D();
    const c = await d.register();
    const seen: string[] = [];
    const realFetch = globalThis.fetch;
    // Watch the assertion the RP library sends (UpdateClientAuthenticationAssertionClaimsWithISSAud).
    globalThis.fetch = (async (url: string | URL | Request, init?: RequestInit) => {
      if (String(url) === d.discovery.token_endpoint) seen.push(new URLSearchParams(String(init?.body)).get('client_assertion') ?? '');
      return realFetch(url, init);
    }) as typeof fetch;
    try {
      const { tokens } = await dynamicCodeFlow(d, c, { aud: 'issuer' });
      expect(tokens.access_token).toBeTruthy();
      expect(tokens.id_token).toBeTruthy();
      if (tokens.expires_in !== undefined) expect(tokens.expires_in).toBeGreaterThan(0); // ValidateExpiresIn
    } finally {
      globalThis.fetch = realFetch;
    }
    expect(seen).toHaveLength(1);
    expect(decodeJwt(seen[0]!).aud).toBe(d.issuer);
  });
});
