// oidcc-ensure-request-with-acr-values-succeeds (OIDCCEnsureRequestWithAcrValuesSucceeds, OP-Req-acr_values).
import { describe, expect, it } from 'vitest';
import { codeFlow, useConformance } from './helpers.js';

describe('oidcc-ensure-request-with-acr-values-succeeds', () => {
  const T = useConformance();

  it('OIDC Core §3.1.2.1, §15.1: acr_values with the advertised values succeeds, and the ID token\'s acr is one of them', async () => {
    const t = T();
    const advertised = t.discovery.acr_values_supported as string[];
    expect(advertised.length).toBeGreaterThan(0);
    const { idt } = await codeFlow(t, await t.client(), { extra: { acr_values: advertised.join(' ') } });
    expect(advertised).toContain(idt.payload.acr); // ValidateIdTokenACRClaimAgainstAcrValuesRequest
  });
});
