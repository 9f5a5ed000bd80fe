// oidcc-ensure-request-with-unknown-parameter-succeeds (OIDCCEnsureRequestWithUnknownParameterSucceeds, OP-Req-NotUnderstood).
import { describe, expect, it } from 'vitest';
import { codeFlow, useConformance } from './helpers.js';

describe('oidcc-ensure-request-with-unknown-parameter-succeeds', () => {
  const T = useConformance();

  it('RFC 6749 §3.1: an unknown parameter (extra=foobar) is ignored and the flow succeeds', async () => {
    const t = T();
    const { a, idt } = await codeFlow(t, await t.client(), { extra: { extra: 'foobar' } });
    expect(a.params.extra).toBe('foobar');
    expect(idt.payload.sub).toBe(t.sub);
  });
});
