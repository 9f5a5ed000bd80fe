// oidcc-prompt-none-logged-in (OIDCCPromptNoneLoggedIn, OP-prompt-none-LoggedIn).
import { describe, it } from 'vitest';
import { sameAuthTwice, useConformance } from './helpers.js';

describe('oidcc-prompt-none-logged-in', () => {
  const T = useConformance();

  it('OIDC Core §3.1.2.1: prompt=none with a session answers silently, for the same sub and auth_time', async () => {
    await sameAuthTwice(T(), {}, () => ({ prompt: 'none' }));
  });
});
