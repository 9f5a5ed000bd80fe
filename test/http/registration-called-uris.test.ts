import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Back-Channel Logout §2.2 with the outbound address policy (insecureRemoteFetchAddresses): a URI the server itself
 * calls that the policy rules out without DNS (an IP literal, localhost) is refused when registered, by the rule the
 * fetch applies (remote.ts hostRefusedWithoutDns), instead of failing silently at every call. Host names are left
 * to connect time: they cannot be resolved now for good.
 */
describe('registration refuses URIs the server calls but its outbound address policy never reaches', () => {
  let pub: TestServer; // insecureRemoteFetchAddresses: public (the default)
  let loop: TestServer; // loopback (development, tests)

  beforeAll(async () => {
    pub = await startTestServer({ registration: 'open', insecureRemoteFetchAddresses: 'public', insecureAllowHttpJwksUri: true });
    loop = await startTestServer({ registration: 'open', insecureRemoteFetchAddresses: 'loopback' });
  });
  afterAll(async () => {
    await pub?.close();
    await loop?.close();
  });

  const register = async (s: TestServer, meta: Record<string, unknown>) => {
    const res = await fetch(s.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['https://rp.example/cb'], ...meta }) });
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  };

  it('Back-Channel Logout §2.2: a backchannel_logout_uri on loopback, localhost or a private address is invalid_client_metadata under the public policy', async () => {
    for (const uri of ['http://127.0.0.1:8080/logout', 'http://localhost:8080/logout', 'http://[::1]:8080/logout', 'https://10.1.2.3/logout', 'https://[::ffff:192.168.0.1]/logout', 'https://app.localhost/logout']) {
      const r = await register(pub, { backchannel_logout_uri: uri });
      expect([uri, r.status, r.body.error]).toEqual([uri, 400, 'invalid_client_metadata']);
      expect(r.body.error_description).toMatch(/backchannel_logout_uri: .*insecureRemoteFetchAddresses/);
    }
    // A host name is judged when it is resolved, at delivery: accepted here.
    expect((await register(pub, { backchannel_logout_uri: 'https://rp.example/logout' })).status).toBe(201);
    expect((await register(pub, { backchannel_logout_uri: 'https://93.184.215.14/logout' })).status).toBe(201);
  });

  it('Back-Channel Logout §2.2: the operator path (admin API, CLI: the same registration code) refuses it too', async () => {
    await expect(pub.client({ redirect_uris: ['https://rp.example/cb'], backchannel_logout_uri: 'http://127.0.0.1:8080/logout' })).rejects.toThrow(/insecureRemoteFetchAddresses/);
  });

  it('RFC 7591 §2: jwks_uri, sector_identifier_uri and request_uris the server would fetch are held to the same rule', async () => {
    for (const meta of [
      { jwks_uri: 'http://127.0.0.1:9999/jwks', token_endpoint_auth_method: 'private_key_jwt' },
      { sector_identifier_uri: 'https://192.168.1.10/sector.json', subject_type: 'pairwise' },
      { request_uris: ['https://rp.example/ro.jwt', 'https://169.254.169.254/latest/meta-data'] },
    ]) {
      const r = await register(pub, meta);
      const field = Object.keys(meta)[0]!;
      expect([field, r.status, r.body.error]).toEqual([field, 400, 'invalid_client_metadata']);
      expect(r.body.error_description).toMatch(new RegExp(`^${field}: `));
    }
  });

  it('insecureRemoteFetchAddresses loopback: a loopback backchannel_logout_uri is accepted, a private one still refused', async () => {
    expect((await register(loop, { backchannel_logout_uri: 'http://127.0.0.1:8080/logout' })).status).toBe(201);
    expect((await register(loop, { backchannel_logout_uri: 'http://localhost:8080/logout' })).status).toBe(201);
    expect((await register(loop, { backchannel_logout_uri: 'http://10.0.0.5/logout' })).status).toBe(400);
  });
});
