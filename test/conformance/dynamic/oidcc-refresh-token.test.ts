// oidcc-refresh-token (OIDCCRefreshToken) in the dynamic plan: two clients registered with the refresh_token grant,
// authenticating with private_key_jwt; refreshing works, and a refresh token is bound to its client.
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { userinfoGet, validateIdToken } from '../helpers.js';
import { type Dynamic, type DynamicClient, dynamicCodeFlow, useDynamic } from './helpers.js';

/** AddRefreshTokenGrantTypeToDynamicRegistrationRequest. */
const registerForRefresh = (d: Dynamic) => d.register({ grant_types: ['authorization_code', 'refresh_token'] });

/** OIDC Core §11: offline_access with prompt=consent (AddPromptConsentToAuthorizationEndpointRequestIfScopeContainsOfflineAccess). */
async function obtainRefreshToken(d: Dynamic, c: DynamicClient) {
  const flow = await dynamicCodeFlow(d, c, { extra: { scope: 'openid offline_access', prompt: 'consent' } });
  const rt = flow.tokens.refresh_token!;
  expect(rt).toMatch(/^[\x20-\x7e]+$/); // EnsureRefreshTokenContainsAllowedCharactersOnly (RFC 6749 A.17)
  return { ...flow, rt };
}

describe('oidcc-refresh-token (dynamic)', () => {
  const D = useDynamic();

  it('RFC 6749 §6, OIDC Core §12.2: a refresh with private_key_jwt gives a new access token and an ID token with the same iss, sub, aud, auth_time', async () => {
    const d = D();
    expect(d.discovery.grant_types_supported).toContain('refresh_token'); // EnsureServerConfigurationSupportsRefreshToken
    const c = await registerForRefresh(d);
    expect(c.registered.grant_types).toEqual(['authorization_code', 'refresh_token']);
    const first = await obtainRefreshToken(d, c);
    d.advance(1);
    const refreshed = await client.refreshTokenGrant(first.config, first.rt, { scope: 'openid offline_access' });
    expect(refreshed.access_token).not.toBe(first.tokens.access_token);
    expect((await userinfoGet(d, refreshed.access_token)).status).toBe(200);
    const two = (await validateIdToken(d, refreshed.id_token!, c.clientId)).payload;
    const one = decodeJwt(first.tokens.id_token!);
    for (const claim of ['iss', 'sub', 'aud', 'auth_time', 'azp'] as const) expect(two[claim]).toEqual(one[claim]); // CompareIdTokenClaims
    expect(two.iat).toBeGreaterThan(one.iat!);
  });

  it('RFC 6749 §6, §10.4: client 1 presenting client 2\'s refresh token gets invalid_grant, and the token still works for client 2', async () => {
    const d = D();
    const one = await registerForRefresh(d);
    const two = await registerForRefresh(d);
    await obtainRefreshToken(d, one);
    const second = await obtainRefreshToken(d, two);
    const asOne = await d.dynamicRp(one);
    // RefreshTokenRequestExpectingErrorSteps
    await expect(client.refreshTokenGrant(asOne, second.rt)).rejects.toMatchObject({ error: 'invalid_grant', status: 400 });
    const own = await client.refreshTokenGrant(second.config, second.rt);
    expect(own.access_token).toBeTruthy();
  });
});
