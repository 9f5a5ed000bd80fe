// oidcc-ensure-post-request-succeeds (OIDCCEnsurePostRequestSucceeds).
import { describe, expect, it } from 'vitest';
import { codeFlow, useConformance } from './helpers.js';

describe('oidcc-ensure-post-request-succeeds', () => {
  const T = useConformance();

  it('OIDC Core §3.1.2.1: the authorization request sent by POST (form-encoded) succeeds like GET', async () => {
    const t = T();
    const { a, idt } = await codeFlow(t, await t.client(), { method: 'POST' });
    expect(a.callback.searchParams.get('state')).toBe(a.state);
    expect(idt.payload.nonce).toBe(a.nonce);
  });
});
