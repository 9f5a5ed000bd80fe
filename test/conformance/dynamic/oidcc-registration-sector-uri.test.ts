// oidcc-registration-sector-uri (OIDCCRegistrationSectorUri): the positive counterpart of sector-bad. The provider
// advertises pairwise; a client registers subject_type pairwise with a sector_identifier_uri whose document lists
// its redirect URI; registration succeeds. Beyond the suite: the flow then gives the client its pairwise sub.
import { describe, expect, it } from 'vitest';
import { CB, userinfoGet } from '../helpers.js';
import { dynamicCodeFlow, expectedSub, useDynamic } from './helpers.js';

describe('oidcc-registration-sector-uri', () => {
  const D = useDynamic();

  it('OIDC Discovery §3: pairwise is among subject_types_supported (otherwise the suite skips the module)', () => {
    expect(D().discovery.subject_types_supported).toContain('pairwise');
  });

  it('OIDC Registration §2, §5: sector_identifier_uri listing every redirect URI: registered, 201, fetched once', async () => {
    const d = D();
    const sector = d.rpServer.serve('/sector-ok/redirect_uris.json', [CB, 'https://rp.example/other']); // CreateSectorRedirectUris
    // AddSubjectTypePairwiseToDynamicRegistrationRequest, AddSectorIdentifierUriToDynamicRegistrationRequest
    const c = await d.register({ subject_type: 'pairwise', sector_identifier_uri: sector });
    expect(c.registered.subject_type).toBe('pairwise');
    expect(c.registered.sector_identifier_uri).toBe(sector);
    expect(d.rpServer.hits('/sector-ok/redirect_uris.json')).toBe(1);
  });

  it('OIDC Core §8.1: the client then sees its pairwise sub, the same in the ID token and at UserInfo, not the local one', async () => {
    const d = D();
    const sector = d.rpServer.serve('/sector-flow/redirect_uris.json', [CB]);
    const c = await d.register({ subject_type: 'pairwise', sector_identifier_uri: sector });
    const sub = await expectedSub(d, c);
    expect(sub).not.toBe(d.sub);
    const { tokens, idt } = await dynamicCodeFlow(d, c, { sub });
    expect(idt.payload.sub).toBe(sub);
    expect((await (await userinfoGet(d, tokens.access_token)).json()).sub).toBe(sub);
  });
});
