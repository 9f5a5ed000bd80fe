// oidcc-scope-address (OIDCCScopeAddress, OP-scope-address).
import { describe, expect, it } from 'vitest';
import { expectScopeClaims, useConformance, USER } from './helpers.js';

describe('oidcc-scope-address', () => {
  const T = useConformance();

  it('OIDC Core §5.4: scope "openid address" releases exactly the address claims at UserInfo', async () => {
    const info = await expectScopeClaims(T(), 'openid address');
    for (const [k, v] of Object.entries(info)) if (k !== 'sub' && k !== 'preferred_username') expect(v).toEqual((USER.claims as Record<string, unknown>)[k]);
  });
});
