// oidcc-display-popup (OIDCCDisplayPopup, OP-display-popup).
import { describe, expect, it } from 'vitest';
import { authorizationUrl, CB, codeFlow, useConformance } from './helpers.js';

describe('oidcc-display-popup', () => {
  const T = useConformance();

  it('OIDC Core §3.1.2.1, §15.1: display=popup does not cause an error: a fresh browser sees the login page and completes the flow', async () => {
    const t = T();
    const c = await t.client();
    const page = await t.browser().follow(authorizationUrl(t, c.clientId, { response_type: 'code', redirect_uri: CB, scope: 'openid', state: 's', display: 'popup' }));
    expect(page.status).toBe(200);
    expect(page.html).toContain('name="password"');
    const { a } = await codeFlow(t, c, { extra: { display: 'popup' } });
    expect(a.callback.searchParams.get('code')).toBeTruthy();
  });
});
