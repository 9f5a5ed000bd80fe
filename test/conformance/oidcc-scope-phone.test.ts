// oidcc-scope-phone (OIDCCScopePhone, OP-scope-phone).
import { describe, expect, it } from 'vitest';
import { expectScopeClaims, useConformance, USER } from './helpers.js';

describe('oidcc-scope-phone', () => {
  const T = useConformance();

  it('OIDC Core §5.4: scope "openid phone" releases exactly the phone claims at UserInfo', async () => {
    const info = await expectScopeClaims(T(), 'openid phone');
    for (const [k, v] of Object.entries(info)) if (k !== 'sub' && k !== 'preferred_username') expect(v).toEqual((USER.claims as Record<string, unknown>)[k]);
  });
});
