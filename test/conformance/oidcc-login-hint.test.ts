// oidcc-login-hint (OIDCCLoginHint, OP-Req-login_hint).
import { describe, expect, it } from 'vitest';
import { codeFlow, startAuthorization, useConformance, USER } from './helpers.js';

describe('oidcc-login-hint', () => {
  const T = useConformance();

  it('OIDC Core §3.1.2.1: login_hint does not cause an error and pre-fills the login page', async () => {
    const t = T();
    const c = await t.client();
    const hint = `buffy@${new URL(t.issuer).hostname}`; // the suite's default hint
    const started = await startAuthorization(await t.rp(c), t.browser(), { login_hint: hint });
    expect(started.page.status).toBe(200);
    expect(started.page.html).toContain(`value="${hint}"`);
    // And the flow completes (the user corrects the hint to their username).
    const { a } = await codeFlow(t, c, { extra: { login_hint: USER.username } });
    expect(a.callback.searchParams.get('code')).toBeTruthy();
  });
});
