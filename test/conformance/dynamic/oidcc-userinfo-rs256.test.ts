// oidcc-userinfo-rs256 (OIDCCUserInfoRS256, OP-UserInfo-RS256): a client registered with
// userinfo_signed_response_alg RS256 gets UserInfo as a signed JWT.
import { decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { userinfoGet } from '../helpers.js';
import { dynamicCodeFlow, useDynamic } from './helpers.js';

describe('oidcc-userinfo-rs256', () => {
  const D = useDynamic();

  it('OIDC Discovery §3: userinfo_signing_alg_values_supported lists RS256 (CheckDiscEndpointUserinfoSigningAlgValuesSupportedContainsRS256)', () => {
    expect(D().discovery.userinfo_signing_alg_values_supported).toContain('RS256');
  });

  it('OIDC Core §5.3.2: with userinfo_signed_response_alg RS256, UserInfo is application/jwt, RS256, from us, for the client, without nonce', async () => {
    const d = D();
    const c = await d.register({ userinfo_signed_response_alg: 'RS256' }); // AddUserinfoSignedResponseAlgRS256ToDynamicRegistrationRequest
    expect(c.registered.userinfo_signed_response_alg).toBe('RS256');
    const { tokens, idt } = await dynamicCodeFlow(d, c, { extra: { scope: 'openid email' } });
    const res = await userinfoGet(d, tokens.access_token);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/jwt/); // EnsureContentTypeApplicationJwt
    const jwt = await res.text();
    expect(decodeProtectedHeader(jwt).alg).toBe('RS256'); // ValidateUserInfoSigningAlgIsRS256
    // ValidateUserInfoResponseSignature; ValidateSignedUserInfoResponseStandardJWTClaims: iss, aud.
    const { payload } = await jwtVerify(jwt, d.jwks, { issuer: d.issuer, audience: c.clientId });
    expect(payload.sub).toBe(idt.payload.sub); // OIDC Core §5.3.2: the same sub as the ID token
    expect(payload.email).toBe('buffy@sunnydale.example');
    expect(payload.nonce).toBeUndefined(); // EnsureUserInfoDoesNotContainNonce

    // An RP library that knows the client's registration accepts it as well.
    const config = await d.dynamicRp(c, { userinfo_signed_response_alg: 'RS256' });
    const info = await client.fetchUserInfo(config, tokens.access_token, idt.payload.sub!);
    expect(info.sub).toBe(d.sub);
  });

  it('OIDC Core §5.3.2: a client that registered no userinfo_signed_response_alg still gets JSON', async () => {
    const d = D();
    const c = await d.register();
    const { tokens } = await dynamicCodeFlow(d, c);
    const res = await userinfoGet(d, tokens.access_token);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await res.json()).sub).toBe(d.sub);
  });
});
