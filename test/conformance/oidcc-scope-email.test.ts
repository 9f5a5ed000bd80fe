// oidcc-scope-email (OIDCCScopeEmail, OP-scope-email).
import { describe, expect, it } from 'vitest';
import { expectScopeClaims, useConformance, USER } from './helpers.js';

describe('oidcc-scope-email', () => {
  const T = useConformance();

  it('OIDC Core §5.4: scope "openid email" releases exactly the email claims at UserInfo', async () => {
    const info = await expectScopeClaims(T(), 'openid email');
    for (const [k, v] of Object.entries(info)) if (k !== 'sub' && k !== 'preferred_username') expect(v).toEqual((USER.claims as Record<string, unknown>)[k]);
  });
});
