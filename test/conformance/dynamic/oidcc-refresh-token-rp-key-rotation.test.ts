// oidcc-refresh-token-rp-key-rotation (OIDCCRefreshTokenRPKeyRotation, OP-Rotation-RP-Sig): the client registered a
// jwks_uri and the refresh_token grant; after obtaining a refresh token it replaces the key at its jwks_uri with a
// new one (new kid), waits 60 s, and refreshes with a client assertion signed by the new key.
import * as client from 'openid-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { userinfoGet, validateIdToken } from '../helpers.js';
import { dynamicCodeFlow, rpKey, useDynamic } from './helpers.js';

describe('oidcc-refresh-token-rp-key-rotation', () => {
  const D = useDynamic();
  afterEach(() => vi.useRealTimers());

  it('RFC 7523 §3, OIDC Core §10.1.1: after the RP rotates the key at its jwks_uri, an assertion with the new kid is accepted (the keys are refetched)', async () => {
    const d = D();
    const oldKey = await rpKey(); // GenerateRS256ClientJWKsWithKeyID
    const path = '/rp-rotation/jwks';
    const jwksUri = d.rpServer.serve(path, { keys: [oldKey.jwk] });
    // AddJwksUriToDynamicRegistrationRequest, AddRefreshTokenGrantTypeToDynamicRegistrationRequest
    const c = await d.register({ grant_types: ['authorization_code', 'refresh_token'] }, { key: oldKey, jwksUri });
    const first = await dynamicCodeFlow(d, c, { extra: { scope: 'openid offline_access', prompt: 'consent' } });
    const rt = first.tokens.refresh_token!;
    expect(rt).toMatch(/^[\x20-\x7e]+$/);
    const fetchedBefore = d.rpServer.hits(path);
    expect(fetchedBefore).toBeGreaterThanOrEqual(1);

    // "Cycling keys in RP jwks_uri": only the new key is published from now on.
    const newKey = await rpKey();
    expect(newKey.jwk.kid).not.toBe(oldKey.jwk.kid);
    d.rpServer.serve(path, { keys: [newKey.jwk] });
    // WaitFor60Seconds ("so that any DoS limits on retrieving the jwks_uri too often are not triggered"): the wall
    // clock moves 61 s (provider, RP library and the provider's key-set cache all read it); nothing sleeps.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);

    const asNew = await d.dynamicRp(c, {}, { key: newKey });
    const refreshed = await client.refreshTokenGrant(asNew, rt); // RefreshTokenRequestSteps with the new kid
    expect(refreshed.access_token).toBeTruthy();
    expect(d.rpServer.hits(path)).toBeGreaterThan(fetchedBefore); // the unknown kid made the provider refetch
    await validateIdToken(d, refreshed.id_token!, c.clientId);
    expect((await userinfoGet(d, refreshed.access_token)).status).toBe(200); // requestProtectedResource
  });
});
