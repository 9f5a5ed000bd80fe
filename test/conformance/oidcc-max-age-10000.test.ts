// oidcc-max-age-10000 (OIDCCMaxAge10000, OP-Req-max_age=10000).
import { describe, expect, it } from 'vitest';
import { sameAuthTwice, useConformance } from './helpers.js';

describe('oidcc-max-age-10000', () => {
  const T = useConformance();

  it('OIDC Core §3.1.2.1, §2: with max_age=15000 then max_age=10000 the session is reused; auth_time is present and the same', async () => {
    const { firstClaims, secondClaims } = await sameAuthTwice(T(), { max_age: '15000' }, () => ({ max_age: '10000' }));
    expect(typeof firstClaims.auth_time).toBe('number'); // CheckIdTokenAuthTimeClaimPresentDueToMaxAge
    expect(typeof secondClaims.auth_time).toBe('number');
  });
});
