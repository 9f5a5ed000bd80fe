import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { JWT_BEARER_ASSERTION_TYPE } from '../../src/engine/client-assertion.js';
import { fetchBounded, guardedFetch, hostRefusedWithoutDns, remoteAddressAllowed, RemoteFetchError } from '../../src/engine/remote.js';
import { token } from '../../src/engine/token/index.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

/**
 * SSRF: URLs a client chooses (jwks_uri, request_uri by reference) must not make the server reach its own network.
 * The check is on the address the connection actually uses (after DNS), so rebinding cannot slip past it.
 */
describe('outbound fetches only reach allowed addresses (insecureRemoteFetchAddresses)', () => {
  let srv: Server;
  let port: number;
  let hits = 0;
  let body = '{}';

  beforeAll(async () => {
    srv = createServer((_req, res) => {
      hits++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    port = (srv.address() as { port: number }).port;
  });
  afterAll(() => new Promise((r) => srv.close(r)));

  it('the default is public addresses only', () => {
    expect(loadConfig({ env: {}, file: undefined, overrides: {} }).insecureRemoteFetchAddresses).toBe('public');
  });

  it('private, loopback, link-local and other special-purpose addresses are refused under the default policy', () => {
    const blocked = [
      '127.0.0.1', '127.1.2.3', '10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0',
      '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fd00::1', 'fc00::5', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', 'ff02::1',
    ];
    for (const a of blocked) expect(remoteAddressAllowed(a, 'public'), a).toBe(false);
    for (const a of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700:4700::1111']) expect(remoteAddressAllowed(a, 'public'), a).toBe(true);
    // loopback: loopback too, still nothing private or link-local
    for (const a of ['127.0.0.1', '::1']) expect(remoteAddressAllowed(a, 'loopback'), a).toBe(true);
    for (const a of ['10.0.0.1', '169.254.169.254', 'fe80::1', '192.168.1.1']) expect(remoteAddressAllowed(a, 'loopback'), a).toBe(false);
    for (const a of ['10.0.0.1', '169.254.169.254', '127.0.0.1']) expect(remoteAddressAllowed(a, 'any'), a).toBe(true);
    expect(remoteAddressAllowed('not-an-ip', 'public')).toBe(false);
  });

  it('a literal loopback address is refused before connecting; allowed under the loopback policy', async () => {
    const before = hits;
    await expect(guardedFetch('public')(`http://127.0.0.1:${port}/x`)).rejects.toThrow(/blocked/);
    await expect(guardedFetch('public')(`http://[::ffff:127.0.0.1]:${port}/x`)).rejects.toThrow(/blocked/);
    expect(hits).toBe(before);
    const ok = await guardedFetch('loopback')(`http://127.0.0.1:${port}/x`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe(body);
  });

  it('a host name is checked on the address it resolves to when connecting (a name for loopback is refused)', async () => {
    const before = hits;
    // "localhost" resolves to a loopback address (refused before the lookup too; other names in the connection's own lookup).
    await expect(guardedFetch('public')(`http://localhost:${port}/x`)).rejects.toThrow(/blocked/);
    expect(hits).toBe(before);
  });

  it('RFC 6761 §6.3: localhost and *.localhost names are refused before any connection, by the rule registration applies (hostRefusedWithoutDns)', async () => {
    const before = hits;
    for (const host of ['localhost', 'app.localhost', 'APP.LOCALHOST.']) {
      await expect(guardedFetch('public')(`http://${host}:${port}/x`), host).rejects.toThrow(new RegExp(`^${host.replace(/\./g, '\\.')} is a blocked address$`, 'i'));
      expect(hostRefusedWithoutDns(host, 'public'), host).toBe(true);
      expect(hostRefusedWithoutDns(host, 'loopback'), host).toBe(false);
    }
    expect(hits).toBe(before);
  });

  it('RFC 9101 §10.4: a request_uri on a blocked address is never fetched', async () => {
    // Plain http (allowHttp) to the test server, so that only the address guard can stop the request: a TLS
    // handshake failure would fail it too and prove nothing.
    const before = hits;
    await expect(fetchBounded(`http://127.0.0.1:${port}/ro.jwt`, { allowHttp: true, fetch: guardedFetch('public') })).rejects.toThrow(/blocked/);
    await expect(fetchBounded(`http://localhost:${port}/ro.jwt`, { allowHttp: true })).rejects.toThrow(/blocked/);
    expect(hits).toBe(before);
    // The same request under a policy that allows loopback does reach the server.
    expect((await fetchBounded(`http://127.0.0.1:${port}/ro.jwt`, { allowHttp: true, fetch: guardedFetch('loopback') })).status).toBe(200);
    expect(hits).toBe(before + 1);
  });

  describe('a client jwks_uri on loopback', () => {
    let t: TestLatchkey;
    beforeAll(async () => {
      t = await openTestLatchkey({ insecureAllowHttpJwksUri: true, insecureRemoteFetchAddresses: 'public' });
    });
    afterAll(() => t.close());

    it('is not fetched under the default policy: private_key_jwt fails as invalid_client', async () => {
      const kp = await generateKeyPair('ES256', { extractable: true });
      const jwk = { ...(await exportJWK(kp.publicKey)), kid: 'ssrf', alg: 'ES256' };
      body = JSON.stringify({ keys: [jwk] });
      const meta = { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `http://127.0.0.1:${port}/jwks-${randomUUID()}` };
      // Registration now refuses it (LK7282: the same rule as the fetch); a client stored before that rule, or under a
      // looser policy since tightened, is still never fetched for: registered here with the check off.
      await expect(t.client(meta)).rejects.toThrow(/insecureRemoteFetchAddresses/);
      const settings = t.ctx.clients!;
      settings.remoteFetchAddresses = undefined;
      const { clientId } = await t.client(meta).finally(() => (settings.remoteFetchAddresses = 'public'));
      const assertion = await new SignJWT({ jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid: 'ssrf' })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(t.ctx.tenant.issuer)
        .setIssuedAt()
        .setExpirationTime('60s')
        .sign(kp.privateKey);
      const before = hits;
      const r = await token(
        { parameters: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: assertion }).toString() },
        t.ctx,
      );
      expect(r.action).toBe('INVALID_CLIENT');
      expect(hits).toBe(before);
    });
  });
});
