// oidcc-redirect-uri-regfrag (OIDCCRedirectUriRegFrag, OP-redirect_uri-RegFrag): registering a redirect URI with a
// fragment is refused by the registration endpoint.
import { describe, expect, it } from 'vitest';
import { CB } from '../helpers.js';
import { rpKey, useDynamic } from './helpers.js';

describe('oidcc-redirect-uri-regfrag', () => {
  const D = useDynamic();

  it('RFC 6749 §3.1.2, OIDC Registration §3.3: a redirect_uri with a fragment is refused: 400 invalid_redirect_uri', async () => {
    const d = D();
    const r = await d.registerRaw(d.registrationRequest(await rpKey(), { redirect_uris: [`${CB}#foobar`] })); // AddFragmentToRedirectUri
    expect(r.status).toBe(400);
    expect(r.contentType).toMatch(/^application\/json/);
    // CheckErrorFromDynamicRegistrationEndpointIsInvalidRequestOrInvalidConfigurationParameterOrInvalidRedirectUri
    expect(['invalid_redirect_uri', 'invalid_client_metadata', 'invalid_request']).toContain(r.body.error);
    expect(r.body.error).toBe('invalid_redirect_uri'); // ours: the specific one (RFC 7591 §3.2.2)
  });
});
