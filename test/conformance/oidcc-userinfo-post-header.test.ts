// oidcc-userinfo-post-header (OIDCCUserInfoPostHeader, OP-UserInfo-Header).
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { codeFlow, useConformance } from './helpers.js';

describe('oidcc-userinfo-post-header', () => {
  const T = useConformance();

  it('OIDC Core §5.3.1, RFC 6750 §2.1: UserInfo by POST with a Bearer header answers the user\'s claims', async () => {
    const t = T();
    const c = await t.client();
    const { config, tokens, idt } = await codeFlow(t, c);
    const res = await client.fetchProtectedResource(config, tokens.access_token, new URL(t.discovery.userinfo_endpoint), 'POST');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await res.json()).sub).toBe(idt.payload.sub);
  });
});
