// oidcc-prompt-none-not-logged-in (OIDCCPromptNoneNotLoggedIn, OP-prompt-none-NotLoggedIn).
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { startAuthorization, useConformance } from './helpers.js';

describe('oidcc-prompt-none-not-logged-in', () => {
  const T = useConformance();

  it('OIDC Core §3.1.2.6: prompt=none without a session redirects back with login_required and the 128-character state intact', async () => {
    const t = T();
    const c = await t.client();
    const state = client.randomState().repeat(3).slice(0, 128); // the suite uses a long state to catch truncation
    const { page } = await startAuthorization(await t.rp(c), t.browser(), { prompt: 'none', state });
    expect(page.location, page.html.slice(0, 300)).toBeDefined();
    const u = new URL(page.location!);
    // CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface
    expect(['login_required', 'interaction_required', 'consent_required', 'account_selection_required']).toContain(u.searchParams.get('error'));
    expect(u.searchParams.get('error')).toBe('login_required');
    expect(u.searchParams.get('state')).toBe(state);
    expect(u.searchParams.get('iss')).toBe(t.issuer);
    expect(u.searchParams.get('code')).toBeNull();
  });
});
