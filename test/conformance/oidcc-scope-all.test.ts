// oidcc-scope-all (OIDCCScopeAll, OP-scope-All).
import { describe, expect, it } from 'vitest';
import { expectScopeClaims, useConformance, USER } from './helpers.js';

describe('oidcc-scope-all', () => {
  const T = useConformance();

  it('OIDC Core §5.4: scope "openid profile email address phone" releases every claim of the four scopes at UserInfo', async () => {
    const info = await expectScopeClaims(T(), 'openid profile email address phone');
    expect(info).toMatchObject(USER.claims);
    expect(info.preferred_username).toBe(USER.username);
  });
});
