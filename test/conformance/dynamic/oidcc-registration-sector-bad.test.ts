// oidcc-registration-sector-bad (OIDCCRegistrationSectorBad, OP-Registration-Sector-Bad): the sector_identifier_uri
// document does not list the client's redirect URI; registration must fail.
import { describe, expect, it } from 'vitest';
import { rpKey, useDynamic } from './helpers.js';

describe('oidcc-registration-sector-bad', () => {
  const D = useDynamic();

  it('OIDC Registration §5, §3.3: a sector_identifier_uri document without the redirect URI is 400 JSON invalid_client_metadata', async () => {
    const d = D();
    // CreateInvalidSectorRedirectUris: the document lists other URIs only.
    const sector = d.rpServer.serve('/sector-bad/redirect_uris.json', ['https://rp.example/elsewhere', 'https://other.example/cb']);
    const r = await d.registerRaw(d.registrationRequest(await rpKey(), { subject_type: 'pairwise', sector_identifier_uri: sector }));
    expect(r.status).toBe(400); // EnsureHttpStatusCodeIs400
    expect(r.contentType).toMatch(/^application\/json/); // EnsureContentTypeJson
    expect(r.body.error).toBe('invalid_client_metadata'); // CheckErrorFromDynamicRegistrationEndpointIsInvalidClientMetadata
    expect(r.body.error_description).toMatch(/sector_identifier_uri/);
  });

  it('OIDC Registration §5: a document that is not a JSON array of URIs, or that cannot be fetched, is invalid_client_metadata too', async () => {
    const d = D();
    const notArray = d.rpServer.serve('/sector-object/redirect_uris.json', { redirect_uris: ['https://rp.example/cb'] });
    const missing = `${d.rpServer.base}/sector-missing/redirect_uris.json`; // 404
    for (const sector of [notArray, missing]) {
      const r = await d.registerRaw(d.registrationRequest(await rpKey(), { subject_type: 'pairwise', sector_identifier_uri: sector }));
      expect(r.status, sector).toBe(400);
      expect(r.body.error).toBe('invalid_client_metadata');
    }
  });

  it('OIDC Core §8.1: pairwise with redirect URIs on two hosts and no sector_identifier_uri is invalid_client_metadata', async () => {
    const d = D();
    const r = await d.registerRaw(d.registrationRequest(await rpKey(), { subject_type: 'pairwise', redirect_uris: ['https://rp.example/cb', 'https://rp2.example/cb'] }));
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_client_metadata');
  });
});
