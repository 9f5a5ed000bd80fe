// oidcc-scope-profile (OIDCCScopeProfile, OP-scope-profile).
import { describe, expect, it } from 'vitest';
import { expectScopeClaims, useConformance, USER } from './helpers.js';

describe('oidcc-scope-profile', () => {
  const T = useConformance();

  it('OIDC Core §5.4: scope "openid profile" releases exactly the profile claims at UserInfo', async () => {
    const info = await expectScopeClaims(T(), 'openid profile');
    for (const [k, v] of Object.entries(info)) if (k !== 'sub' && k !== 'preferred_username') expect(v).toEqual((USER.claims as Record<string, unknown>)[k]);
  });
});
