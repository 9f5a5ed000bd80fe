import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { DEFAULT_TENANT } from '../../src/store/types.js';
import { core } from '../helpers/core-api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const insecure = { [oauth.allowInsecureRequests]: true } as const;
const now = () => Math.floor(Date.now() / 1000);

/**
 * OIDC Core §3.1.2.4 and §5.5: a host that lets the user decline a scope (the Core API's `scopes` at issue) declines
 * that scope's claims too, also when the client asked for them by name with the `claims` parameter. Verified with
 * oauth4webapi as the relying party: neither the ID token nor UserInfo carries a declined claim.
 */
describe('OIDC Core §3.1.2.4: claims of a declined scope are not released, even when requested by name', () => {
  let s: TestServer;
  let token: string;
  let as: oauth.AuthorizationServer;
  let web: { clientId: string; clientSecret?: string };
  let sub: string;
  const call = (path: string, body: unknown) => core(s, DEFAULT_TENANT, path, body, token);

  beforeAll(async () => {
    s = await startTestServer();
    token = (await createServiceToken(s.lk, { name: 'tests' })).token;
    web = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code'], scope: 'openid profile email' });
    sub = await s.user('jo', 'jo-password', { email: 'jo@example.com', email_verified: true, name: 'Jo Example' });
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  });
  afterAll(() => s.close());

  async function tokensFor(scopes: string[] | undefined) {
    const verifier = oauth.generateRandomCodeVerifier();
    const claims = JSON.stringify({ userinfo: { email: null, name: null }, id_token: { email: { essential: true }, name: null } });
    const parameters = new URLSearchParams({
      client_id: web.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid profile email', state: 'st', nonce: 'n',
      claims, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).toString();
    const a = await call('auth/authorization', { parameters });
    expect(a.json.action, a.json.resultMessage).toBe('INTERACTION');
    const issued = await call('auth/authorization/issue', { ticket: a.json.ticket, subject: sub, authTime: now(), ...(scopes ? { scopes } : {}) });
    expect(issued.json.action).toBe('LOCATION');
    const client = { client_id: web.clientId };
    const params = oauth.validateAuthResponse(as, client, new URL(issued.json.responseContent), 'st');
    const res = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(web.clientSecret!), params, CB, verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, res, { expectedNonce: 'n' });
    const info = await oauth.processUserInfoResponse(as, client, sub, await oauth.userInfoRequest(as, client, tokens.access_token, insecure));
    return { idToken: oauth.getValidatedIdTokenClaims(tokens)!, info };
  }

  it('with every scope granted, the named claims are in the ID token and at UserInfo', async () => {
    const { idToken, info } = await tokensFor(undefined);
    expect(idToken).toMatchObject({ email: 'jo@example.com', name: 'Jo Example' });
    expect(info).toMatchObject({ email: 'jo@example.com', name: 'Jo Example' });
  });

  it('the user declines email: no email in the ID token or at UserInfo, though the claims parameter named it; profile\'s name stays', async () => {
    const { idToken, info } = await tokensFor(['openid', 'profile']);
    expect(idToken.email).toBeUndefined();
    expect(info.email).toBeUndefined();
    expect(info.email_verified).toBeUndefined();
    expect(idToken.name).toBe('Jo Example');
    expect(info.name).toBe('Jo Example');
  });
});
