// oidcc-ui-locales (OIDCCUiLocales, OP-Req-ui_locales).
import { describe, expect, it } from 'vitest';
import { codeFlow, useConformance } from './helpers.js';

describe('oidcc-ui-locales', () => {
  const T = useConformance();

  it('OIDC Core §3.1.2.1: ui_locales=se does not cause an error', async () => {
    const t = T();
    const { a, idt } = await codeFlow(t, await t.client(), { extra: { ui_locales: 'se' } });
    expect(a.params.ui_locales).toBe('se');
    expect(idt.payload.sub).toBe(t.sub);
  });
});
