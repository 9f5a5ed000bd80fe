// oidcc-prompt-login (OIDCCPromptLogin, OP-prompt-login).
import { describe, expect, it } from 'vitest';
import { codeFlow, completeAuthorization, redeem, startAuthorization, useConformance, validateIdToken } from './helpers.js';

describe('oidcc-prompt-login', () => {
  const T = useConformance();

  it('OIDC Core §3.1.2.1: prompt=login makes a signed-in user log in again; the second ID token has a later auth_time', async () => {
    const t = T();
    const c = await t.client();
    const first = await codeFlow(t, c);
    const firstAuthTime = first.idt.payload.auth_time as number;
    expect(typeof firstAuthTime).toBe('number');

    t.advance(5);
    // ExpectSecondLoginPage: the same browser, still signed in, is asked to log in again.
    const second = await startAuthorization(first.config, first.browser, { prompt: 'login' });
    expect(second.page.status).toBe(200);
    expect(second.page.html).toContain('name="password"');
    const tokens = await redeem(first.config, { ...second, callback: await completeAuthorization(first.browser, second.page) });
    const idt = await validateIdToken(t, tokens.id_token!, c.clientId, second.nonce);
    expect(idt.payload.sub).toBe(first.idt.payload.sub);
    expect(idt.payload.auth_time as number).toBeGreaterThan(firstAuthTime); // CheckIdTokenAuthTimeClaimsDifferIfPresent
  });
});
