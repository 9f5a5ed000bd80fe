// oidcc-max-age-1 (OIDCCMaxAge1, OP-Req-max_age=1).
import { describe, expect, it } from 'vitest';
import { codeFlow, completeAuthorization, redeem, startAuthorization, useConformance, validateIdToken } from './helpers.js';

describe('oidcc-max-age-1', () => {
  const T = useConformance();

  it('OIDC Core §3.1.2.1: max_age=1 after two seconds forces a new login; the ID token carries a later, recent auth_time', async () => {
    const t = T();
    const c = await t.client();
    const first = await codeFlow(t, c);
    const firstAuthTime = first.idt.payload.auth_time as number;

    t.advance(2); // the suite's WaitFor2Seconds, on the provider's clock
    const second = await startAuthorization(first.config, first.browser, { max_age: '1' });
    expect(second.page.html).toContain('name="password"'); // ExpectSecondLoginPage
    const loginAt = Math.floor(Date.now() / 1000) + 2;
    const tokens = await redeem(first.config, { ...second, callback: await completeAuthorization(first.browser, second.page) }, { maxAge: 60 });
    const idt = await validateIdToken(t, tokens.id_token!, c.clientId, second.nonce);
    const authTime = idt.payload.auth_time as number;
    expect(typeof authTime).toBe('number'); // CheckIdTokenAuthTimeClaimPresentDueToMaxAge (OIDC Core §2)
    expect(authTime).toBeGreaterThan(firstAuthTime); // CheckSecondIdTokenAuthTimeIsLaterIfPresent
    expect(Math.abs(authTime - loginAt)).toBeLessThanOrEqual(60); // CheckIdTokenAuthTimeIsRecentIfPresent
  });

  it('OIDC Core §3.1.2.6: max_age=1 with prompt=none and an older login answers login_required', async () => {
    const t = T();
    const c = await t.client();
    const first = await codeFlow(t, c);
    t.advance(2);
    const again = await startAuthorization(first.config, first.browser, { max_age: '1', prompt: 'none' });
    expect(new URL(again.page.location!).searchParams.get('error')).toBe('login_required');
  });
});
