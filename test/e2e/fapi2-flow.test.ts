import { decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

/**
 * A spec-strict FAPI 2.0 client (oauth4webapi: PAR, PKCE S256, private_key_jwt with the issuer as aud, DPoP) against a
 * client the operator registered with fapi_profile "2.0": the whole flow, from the pushed request to a DPoP-bound token
 * and a UserInfo call, and the same client refused where it steps outside the profile.
 */
describe('FAPI 2.0 Security Profile: an end-to-end flow with oauth4webapi', () => {
  let s: TestServer;
  let as: oauth.AuthorizationServer;
  let client: oauth.Client;
  let clientAuth: oauth.ClientAuth;
  let dpopKeys: CryptoKeyPair;
  let agent: Agent;
  let sub: string;

  beforeAll(async () => {
    // The tenant rotates refresh tokens and keeps codes 300 s: the profile overrides both for this client.
    s = await startTestServer({ authorizationCodeTtl: 300, refreshTokenRotation: true });
    const signing = await generateKeyPair('PS256', { extractable: true });
    const jwk = { ...(await exportJWK(signing.publicKey)), kid: 'fapi-client-1', alg: 'PS256', use: 'sig' };
    const { clientId } = await s.client({
      fapi_profile: '2.0', client_name: 'FAPI RP', redirect_uris: [CB], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] },
      grant_types: ['authorization_code', 'refresh_token'], scope: 'openid profile email offline_access', skip_consent: true,
    });
    client = { client_id: clientId, id_token_signed_response_alg: 'ES256' };
    clientAuth = oauth.PrivateKeyJwt({ key: signing.privateKey, kid: 'fapi-client-1' });
    dpopKeys = await generateKeyPair('ES256', { extractable: true });
    sub = await s.user('alice', 'alice-password', { name: 'Alice Liddell', email: 'alice@example.com', email_verified: true });
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
    agent = new Agent(s.issuer);
  });
  afterAll(() => s.close());

  /** PAR with DPoP, then the browser at the authorization endpoint: the validated callback parameters. */
  async function authorize(verifier: string, state: string, dpop?: oauth.DPoPHandle) {
    const res = await oauth.pushedAuthorizationRequest(as, client, clientAuth, {
      redirect_uri: CB, response_type: 'code', scope: 'openid email offline_access', state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }, { ...insecure, ...(dpop ? { DPoP: dpop } : {}) });
    const pushed = await oauth.processPushedAuthorizationResponse(as, client, res);
    expect(pushed.expires_in).toBeLessThan(600); // FAPI 2.0 §5.3.2.2: request_uri lifetime under 600 s
    const url = `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: client.client_id, request_uri: pushed.request_uri });
    const cb = await agent.authorize(url, 'alice', 'alice-password');
    // RFC 9207 (FAPI 2.0 §5.3.2.2): oauth4webapi requires iss, since discovery says it is sent.
    return oauth.validateAuthResponse(as, client, cb, state);
  }

  it('PAR + PKCE + private_key_jwt + DPoP: a DPoP-bound access token, an ES256 ID token, UserInfo, and an unrotated refresh token', async () => {
    expect(as.authorization_response_iss_parameter_supported).toBe(true);
    const dpop = oauth.DPoP(client, dpopKeys);
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const params = await authorize(verifier, state, dpop);
    const tokenRes = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, CB, verifier, { ...insecure, DPoP: dpop });
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, tokenRes);
    expect(tokens.token_type).toBe('dpop');
    // FAPI 2.0 §5.4.1: the ID token of a FAPI client is ES256 by default (RS256 for other clients).
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe('ES256');
    expect(oauth.getValidatedIdTokenClaims(tokens)!.sub).toBe(sub);

    const userinfo = await oauth.userInfoRequest(as, client, tokens.access_token, { ...insecure, DPoP: dpop });
    expect(await oauth.processUserInfoResponse(as, client, sub, userinfo)).toMatchObject({ sub, email: 'alice@example.com' });
    // The token is DPoP-bound: presented as a plain bearer token, UserInfo refuses it (RFC 9449 §7.2).
    const asBearer = await fetch(as.userinfo_endpoint!, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(asBearer.status).toBe(401);

    // FAPI 2.0 §5.3.2.1: no refresh token rotation though the tenant rotates; the new access token is DPoP-bound too.
    const refreshed = await oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token!, { ...insecure, DPoP: dpop }));
    expect(refreshed.refresh_token).toBe(tokens.refresh_token);
    expect(refreshed.token_type).toBe('dpop');
  });

  it('the same client without DPoP gets no bearer token: invalid_request at the token endpoint (FAPI 2.0 §5.3.2.1)', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    // Pushed without a proof, so the code is not bound to a DPoP key (RFC 9449 §10): only the profile refuses.
    const params = await authorize(verifier, state);
    const res = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, CB, verifier, insecure);
    await expect(oauth.processAuthorizationCodeResponse(as, client, res)).rejects.toMatchObject({ error: 'invalid_request' });
  });

  it('the same client authorizing without PAR is sent back invalid_request, with iss (FAPI 2.0 §5.3.2.2)', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const url = new URL(as.authorization_endpoint!);
    for (const [k, v] of Object.entries({
      client_id: client.client_id, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })) url.searchParams.set(k, v);
    const cb = new URL((await agent.follow(url.toString())).location!);
    expect(() => oauth.validateAuthResponse(as, client, cb, 'st')).toThrow(oauth.AuthorizationResponseError);
    expect(cb.searchParams.get('error')).toBe('invalid_request');
    expect(cb.searchParams.get('iss')).toBe(s.issuer);
  });
});
