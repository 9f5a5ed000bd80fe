import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteUser, setDisabled } from '../../src/services/users.js';
import { Agent } from '../helpers/agent.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe('a disabled or deleted user gets no tokens from a device code approved before (OWASP Authentication: disabled accounts refused everywhere)', () => {
  let s: TestServer;
  let clock = Date.now();
  let tv: { clientId: string };
  let as: oauth.AuthorizationServer;
  const subs: Record<string, string> = {};

  beforeAll(async () => {
    s = await startTestServer({}, { clock: () => clock });
    tv = await s.client({ client_name: 'TV', grant_types: [GRANT], token_endpoint_auth_method: 'none', scope: 'openid profile' });
    for (const u of ['dora', 'eli', 'fay']) subs[u] = await s.user(u, `${u}-password`);
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  });
  afterAll(() => s.close());

  const c = () => ({ client_id: tv.clientId }) as oauth.Client;
  const poll = async (deviceCode: string) => oauth.processDeviceCodeResponse(as, c(), await oauth.deviceCodeGrantRequest(as, c(), oauth.None(), deviceCode, insecure));

  /** A device code the user approved on /device. */
  async function approved(username: string): Promise<string> {
    const d = await oauth.processDeviceAuthorizationResponse(as, c(), await oauth.deviceAuthorizationRequest(as, c(), oauth.None(), { scope: 'openid profile' }, insecure));
    const done = await new Agent(s.issuer).approveDevice(d.user_code, username, `${username}-password`);
    expect(done.html).toContain('Device connected');
    clock += 10_000;
    return d.device_code;
  }

  it('RFC 8628 §3.5 + OWASP: a user disabled after approving a device code gets no tokens for it (access_denied)', async () => {
    const code = await approved('dora');
    await setDisabled(s.ctx, subs.dora!, true);
    await expect(poll(code)).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('RFC 8628 §3.5 + OWASP: a user deleted after approving a device code gets no tokens for it (access_denied)', async () => {
    const code = await approved('eli');
    await deleteUser(s.ctx, subs.eli!);
    await expect(poll(code)).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('RFC 8628 §3.5: an enabled user\'s approved device code still yields tokens', async () => {
    const code = await approved('fay');
    expect((await poll(code)).access_token).toBeTruthy();
  });
});
