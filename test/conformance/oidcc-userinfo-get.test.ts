// oidcc-userinfo-get (OIDCCUserInfoGet, OP-UserInfo-Endpoint).
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { codeFlow, useConformance, userinfoGet } from './helpers.js';

describe('oidcc-userinfo-get', () => {
  const T = useConformance();

  it('OIDC Core §5.3.1, §5.3.2: UserInfo by GET with a Bearer header answers JSON with the ID token\'s sub', async () => {
    const t = T();
    const c = await t.client();
    const { config, tokens, idt } = await codeFlow(t, c);
    const res = await userinfoGet(t, tokens.access_token);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await res.json()).sub).toBe(idt.payload.sub);
    // And through the RP library, which checks sub against the ID token's (OIDC Core §5.3.2).
    const info = await client.fetchUserInfo(config, tokens.access_token, idt.payload.sub!);
    expect(info.sub).toBe(t.sub);
  });
});
