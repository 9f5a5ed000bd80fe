// oidcc-userinfo-post-body (OIDCCUserInfoPostBody, OP-UserInfo-Body). Optional in the plan; supported here.
import { describe, expect, it } from 'vitest';
import { codeFlow, useConformance } from './helpers.js';

describe('oidcc-userinfo-post-body', () => {
  const T = useConformance();

  it('OIDC Core §5.3.1, RFC 6750 §2.2: UserInfo by POST with access_token in a form body answers the user\'s claims', async () => {
    const t = T();
    const c = await t.client();
    const { tokens, idt } = await codeFlow(t, c);
    const res = await fetch(t.discovery.userinfo_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ access_token: tokens.access_token }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await res.json()).sub).toBe(idt.payload.sub);
  });
});
