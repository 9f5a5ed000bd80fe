// oidcc-registration-jwks-uri (OIDCCRegistrationJwksUri, OP-Registration-jwks_uri): the client registers a jwks_uri
// instead of inline keys; the provider fetches its keys from there to verify its private_key_jwt assertions.
import { describe, expect, it } from 'vitest';
import { dynamicCodeFlow, rpKey, useDynamic } from './helpers.js';

describe('oidcc-registration-jwks-uri', () => {
  const D = useDynamic();

  it('RFC 7591 §2, RFC 7523 §3: a client registered with jwks_uri completes the code flow with private_key_jwt', async () => {
    const d = D();
    const key = await rpKey(); // GenerateRS256ClientJWKsWithKeyID
    const jwksUri = d.rpServer.serve('/jwks-uri-module/jwks', { keys: [key.jwk] }); // CreateJwksUri, handleJwksRequest
    const c = await d.register({}, { key, jwksUri }); // AddJwksUriToDynamicRegistrationRequest (replaces jwks)
    expect(c.registered.jwks_uri).toBe(jwksUri);
    expect(c.registered.jwks).toBeUndefined();
    const { idt } = await dynamicCodeFlow(d, c);
    expect(idt.payload.aud).toBe(c.clientId);
    expect(d.rpServer.hits('/jwks-uri-module/jwks')).toBeGreaterThanOrEqual(1); // the keys came from there
  });

  it('RFC 7591 §2: jwks and jwks_uri together are refused with invalid_client_metadata', async () => {
    const d = D();
    const key = await rpKey();
    const r = await d.registerRaw({ ...d.registrationRequest(key), jwks_uri: d.rpServer.serve('/both/jwks', { keys: [key.jwk] }) });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_client_metadata');
  });
});
