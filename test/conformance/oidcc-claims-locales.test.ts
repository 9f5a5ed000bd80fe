// oidcc-claims-locales (OIDCCClaimsLocales, OP-Req-claims_locales).
import { describe, expect, it } from 'vitest';
import { codeFlow, useConformance } from './helpers.js';

describe('oidcc-claims-locales', () => {
  const T = useConformance();

  it('OIDC Core §5.2, §15.1: claims_locales=se does not cause an error', async () => {
    const t = T();
    const { a, idt } = await codeFlow(t, await t.client(), { extra: { claims_locales: 'se' } });
    expect(a.params.claims_locales).toBe('se');
    expect(idt.payload.sub).toBe(t.sub);
  });
});
