// oidcc-claims-essential (OIDCCClaimsEssential, OP-claims-essential).
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { codeFlow, useConformance, USER } from './helpers.js';

describe('oidcc-claims-essential', () => {
  const T = useConformance();

  it('OIDC Core §5.5, §5.5.1: name requested as an essential UserInfo claim is returned at UserInfo and not in the ID token', async () => {
    const t = T();
    expect(t.discovery.claims_parameter_supported).toBe(true);
    const claims = JSON.stringify({ userinfo: { name: { essential: true } } });
    const { config, tokens, idt } = await codeFlow(t, await t.client(), { extra: { claims } });
    const info = await client.fetchUserInfo(config, tokens.access_token, idt.payload.sub!);
    expect(info.name).toBe(USER.claims.name); // EnsureUserInfoContainsName
    expect(idt.payload.name).toBeUndefined(); // EnsureIdTokenDoesNotContainName
  });
});
