// oidcc-ensure-other-scope-order-succeeds (OIDCEnsureOtherScopeOrderSucceeds).
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { CB, completeAuthorization, expectScopeClaims, redeem, useConformance, USER } from './helpers.js';

describe('oidcc-ensure-other-scope-order-succeeds', () => {
  const T = useConformance();

  it('RFC 6749 §3.3: scope order does not matter: "email openid" works like "openid email"', async () => {
    const info = await expectScopeClaims(T(), 'email openid');
    expect(info.email).toBe(USER.claims.email);
  });

  it('RFC 6749 §3.1: parameter order does not matter either: the request with its parameters in reverse order works', async () => {
    const t = T();
    const c = await t.client();
    const config = await t.rp(c);
    const params: Record<string, string> = { client_id: c.clientId, nonce: client.randomNonce(), redirect_uri: CB, response_type: 'code', scope: 'profile openid', state: client.randomState() };
    const reversed = new URLSearchParams(Object.entries(params).sort(([a], [b]) => b.localeCompare(a)));
    expect([...reversed.keys()][0]).toBe('state');
    const browser = t.browser();
    const callback = await completeAuthorization(browser, await browser.follow(`${t.discovery.authorization_endpoint}?${reversed}`));
    const tokens = await redeem(config, { callback, state: params.state!, nonce: params.nonce, params });
    expect(tokens.scope?.split(' ').sort()).toEqual(['openid', 'profile']);
  });
});
