import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** Front-Channel Logout 1.0 §2: "The domain, port, and scheme of this URL MUST be the same as that of a registered Redirection URI value." */
describe('Front-Channel Logout 1.0 §2: frontchannel_logout_uri shares scheme, host and port with a registered redirect URI', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
  });
  afterAll(() => s.close());

  const register = (metadata: Partial<client.ClientMetadata>) =>
    client.dynamicClientRegistration(new URL(s.issuer), { redirect_uris: ['https://rp.example/cb'], ...metadata }, undefined, { execute: [client.allowInsecureRequests] });

  it('Front-Channel Logout §2: a logout URI on the origin of a registered redirect URI is accepted (openid-client registers it)', async () => {
    const config = await register({ frontchannel_logout_uri: 'https://RP.example:443/logout?x=1' });
    expect(config.clientMetadata().frontchannel_logout_uri).toBe('https://RP.example:443/logout?x=1');
  });

  it('Front-Channel Logout §2: another host, port or scheme is invalid_client_metadata', async () => {
    for (const uri of ['https://evil.example/logout', 'https://rp.example:8443/logout', 'http://rp.example/logout', 'https://sub.rp.example/logout']) {
      const err = await register({ frontchannel_logout_uri: uri }).catch((e: unknown) => e);
      expect(err, uri).toBeInstanceOf(client.ResponseBodyError);
      expect((err as client.ResponseBodyError).error).toBe('invalid_client_metadata');
      expect((err as client.ResponseBodyError).error_description).toMatch(/frontchannel_logout_uri/);
    }
  });

  it('Front-Channel Logout §2: the operator path (admin API, CLI) refuses it too; the origin of any one registered redirect URI will do', async () => {
    await expect(s.client({ redirect_uris: ['https://rp.example/cb'], frontchannel_logout_uri: 'https://other.example/logout' })).rejects.toThrow(/frontchannel_logout_uri/);
    await expect(s.client({ redirect_uris: ['https://app.example/cb', 'https://rp.example/cb'], frontchannel_logout_uri: 'https://rp.example/logout' })).resolves.toBeTruthy();
  });

  it('Front-Channel Logout §2 with RFC 8252 §7.3: a native client\'s loopback http redirect URI takes any port, so only its scheme and host are compared', async () => {
    const native = (redirect: string, logout: string) => register({ application_type: 'native', redirect_uris: [redirect], frontchannel_logout_uri: logout });
    for (const [redirect, logout] of [
      ['http://127.0.0.1/cb', 'http://127.0.0.1:49152/logout'],
      ['http://127.0.0.1:53000/cb', 'http://127.0.0.1:49152/logout'],
      ['http://[::1]/cb', 'http://[::1]:8080/logout'],
    ]) {
      const config = await native(redirect!, logout!);
      expect(config.clientMetadata().frontchannel_logout_uri, logout).toBe(logout);
    }
    // Scheme and host still count; and a web client's loopback redirect URI keeps its port.
    for (const [redirect, logout] of [
      ['http://127.0.0.1/cb', 'http://localhost:49152/logout'],
      ['http://127.0.0.1/cb', 'http://[::1]:49152/logout'],
      ['http://127.0.0.1/cb', 'https://127.0.0.1:49152/logout'],
    ]) {
      const err = await native(redirect!, logout!).catch((e: unknown) => e);
      expect((err as client.ResponseBodyError).error, logout).toBe('invalid_client_metadata');
    }
    await expect(s.client({ redirect_uris: ['http://127.0.0.1:53000/cb'], frontchannel_logout_uri: 'http://127.0.0.1:49152/logout' })).rejects.toThrow(/frontchannel_logout_uri/);
  });
});
