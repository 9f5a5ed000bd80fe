// oidcc-ensure-request-without-nonce-succeeds-for-code-flow (OP-nonce-NoReq-code).
import { describe, expect, it } from 'vitest';
import { codeFlow, useConformance } from './helpers.js';

describe('oidcc-ensure-request-without-nonce-succeeds-for-code-flow', () => {
  const T = useConformance();

  it('OIDC Core §3.1.2.1: nonce is optional in the code flow: a code is issued, and the ID token carries no nonce', async () => {
    const t = T();
    const c = await t.client();
    const { a, idt } = await codeFlow(t, c, { nonce: false });
    expect(a.params.nonce).toBeUndefined();
    expect(a.callback.searchParams.get('code')).toBeTruthy();
    expect(idt.payload.nonce).toBeUndefined();
  });
});
