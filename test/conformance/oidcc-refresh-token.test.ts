// oidcc-refresh-token (OIDCCRefreshToken): refresh tokens work, and are bound to the client they were issued to.
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { basic } from '../helpers/server.js';
import { codeFlow, expectTokenError, type RegisteredClient, useConformance, userinfoGet, validateIdToken, type Conformance } from './helpers.js';

/** OIDC Core §11: offline_access with prompt=consent (AddPromptConsentToAuthorizationEndpointRequestIfScopeContainsOfflineAccess). */
async function obtainRefreshToken(t: Conformance, c: RegisteredClient) {
  const flow = await codeFlow(t, c, { extra: { scope: 'openid offline_access', prompt: 'consent' } });
  const rt = flow.tokens.refresh_token!;
  expect(rt).toBeTruthy();
  expect(rt).toMatch(/^[\x20-\x7e]+$/); // RFC 6749 A.17
  return { ...flow, rt };
}

describe('oidcc-refresh-token', () => {
  const T = useConformance();

  it('RFC 6749 §6, OIDC Core §12.2: a refresh (with scope) gives a new access token and an ID token with the same iss, sub, aud, auth_time', async () => {
    const t = T();
    expect(t.discovery.grant_types_supported).toContain('refresh_token'); // EnsureServerConfigurationSupportsRefreshToken
    const c = await t.client();
    const first = await obtainRefreshToken(t, c);
    t.advance(1); // WaitForOneSecond: so iat differs

    const res = await fetch(t.discovery.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(c.clientId, c.clientSecret) },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first.rt, scope: 'openid offline_access' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toMatch(/no-store/); // CheckTokenEndpointCacheHeaders
    const body = await res.json();
    expect(body.token_type.toLowerCase()).toBe('bearer');
    expect(body.expires_in).toBeGreaterThan(0);
    expect(body.access_token).not.toBe(first.tokens.access_token);
    expect((await userinfoGet(t, body.access_token)).status).toBe(200);

    // CompareIdTokenClaims (OIDC Core §12.2)
    expect(body.id_token).toBeTruthy();
    const two = (await validateIdToken(t, body.id_token, c.clientId)).payload;
    const one = decodeJwt(first.tokens.id_token!);
    for (const claim of ['iss', 'sub', 'aud', 'auth_time', 'azp'] as const) expect(two[claim]).toEqual(one[claim]);
    expect(two.iat).toBeGreaterThan(one.iat!);

    // Through the RP library too, with the rotated refresh token.
    const again = await client.refreshTokenGrant(first.config, body.refresh_token ?? first.rt);
    expect(again.access_token).toBeTruthy();
  });

  it('RFC 6749 §6, §10.4: a refresh token is bound to its client: another client presenting it gets invalid_grant', async () => {
    const t = T();
    const one = await t.client();
    const two = await t.client();
    await obtainRefreshToken(t, one);
    const second = await obtainRefreshToken(t, two);
    // RefreshTokenRequestExpectingErrorSteps: client 1 presents client 2's refresh token.
    const stolen = await fetch(t.discovery.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(one.clientId, one.clientSecret) },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: second.rt, scope: 'openid offline_access' }),
    });
    await expectTokenError(stolen, 'invalid_grant');
    // The attempt did not burn the token for its owner.
    const own = await client.refreshTokenGrant(second.config, second.rt);
    expect(own.access_token).toBeTruthy();
  });
});
