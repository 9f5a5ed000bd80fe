// oidcc-server (OIDCCServerTest, OP-Response-code): the happy code flow with client_secret_basic.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { basic } from '../helpers/server.js';
import { authorize, codeFlow, useConformance, userinfoGet } from './helpers.js';

const halfSha256 = (v: string) => createHash('sha256').update(v, 'ascii').digest().subarray(0, 16).toString('base64url');

describe('oidcc-server', () => {
  const T = useConformance();

  it('OIDC Core §3.1: code flow with client_secret_basic: code, state and iss back; tokens; a valid RS256 ID token; UserInfo', async () => {
    const t = T();
    const c = await t.client();
    const { a, tokens, idt } = await codeFlow(t, c);

    // CheckMatchingStateParameter, RFC 9207 iss; EnsureMinimumAuthorizationCodeLength/Entropy (RFC 6749 §10.10).
    const code = a.callback.searchParams.get('code')!;
    expect(a.callback.searchParams.get('state')).toBe(a.state);
    expect(a.callback.searchParams.get('iss')).toBe(t.issuer);
    expect(code).toMatch(/^[A-Za-z0-9_-]{43,}$/); // 256 bits, base64url

    // RFC 6749 §5.1: the token response.
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.expires_in).toBeGreaterThan(0);
    expect(tokens.access_token).toMatch(/^[\x20-\x7e]+$/); // RFC 6749 A.12

    // ValidateIdToken, signature by kid, nonce, sub; at_hash optional at the token endpoint but correct when present.
    expect(idt.alg).toBe('RS256');
    expect(idt.payload.nonce).toBe(a.nonce);
    if (idt.payload.at_hash !== undefined) expect(idt.payload.at_hash).toBe(halfSha256(tokens.access_token));
    if (idt.payload.c_hash !== undefined) expect(idt.payload.c_hash).toBe(halfSha256(code));
    // EnsureIdTokenDoesNotContainName (OIDC Core §5.4): scope openid alone releases no profile claims.
    expect(idt.payload.name).toBeUndefined();

    // CallProtectedResourceWithBearerToken: the access token works at UserInfo.
    const ui = await userinfoGet(t, tokens.access_token);
    expect(ui.status).toBe(200);
    expect((await ui.json()).sub).toBe(t.sub);
  });

  it('RFC 6749 §5.1: the token response is JSON and not cacheable', async () => {
    const t = T();
    const c = await t.client();
    const config = await t.rp(c);
    const a = await authorize(config, t.browser());
    const res = await fetch(`${t.issuer}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(c.clientId, c.clientSecret),
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: a.callback.searchParams.get('code')!, redirect_uri: a.params.redirect_uri! }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toMatch(/no-store/);
  });
});
