import { calculateJwkThumbprint, decodeJwt, exportJWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe('device authorization grant through HTTP: the /device page and a polling client (oauth4webapi)', () => {
  let s: TestServer;
  let clock = Date.now();
  let tv: { clientId: string };
  let as: oauth.AuthorizationServer;

  beforeAll(async () => {
    s = await startTestServer({ userCodeRateLimit: 3 }, { clock: () => clock });
    tv = await s.client({ client_name: 'Kitchen Display', grant_types: [GRANT], token_endpoint_auth_method: 'none', scope: 'openid profile' });
    await s.user('alice', 'alice-password', { name: 'Alice' });
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  });
  afterAll(() => s.close());

  const start = async () => {
    const c: oauth.Client = { client_id: tv.clientId };
    const res = await oauth.deviceAuthorizationRequest(as, c, oauth.None(), { scope: 'openid profile' }, insecure);
    return oauth.processDeviceAuthorizationResponse(as, c, res);
  };
  const poll = async (deviceCode: string) => {
    const c: oauth.Client = { client_id: tv.clientId };
    return oauth.processDeviceCodeResponse(as, c, await oauth.deviceCodeGrantRequest(as, c, oauth.None(), deviceCode, insecure));
  };

  /** Sign in on /device (the user opened verification_uri_complete) and land on the code page. */
  const signedInCodePage = async (agent: Agent, userCode: string) => {
    const login = await agent.follow(`/device?user_code=${encodeURIComponent(userCode)}`);
    expect(login.html).toContain('to connect a device');
    return agent.follow(Agent.formAction(login.html, '/device/login'), {
      form: { csrf: Agent.formValue(login.html, 'csrf')!, user_code: Agent.formValue(login.html, 'user_code')!, username: 'alice', password: 'alice-password' },
    });
  };

  it('RFC 8628 §4: discovery advertises the device authorization endpoint and the grant', () => {
    expect(as.device_authorization_endpoint).toBe(s.url('/oauth/device_authorization'));
    expect(as.grant_types_supported).toContain(GRANT);
  });

  it('RFC 8628 §3.3, §3.5: the user signs in on /device, enters the code, sees the client and approves; the device gets tokens', async () => {
    const d = await start();
    expect(d.verification_uri).toBe(s.url('/device'));
    const agent = new Agent(s.issuer);
    const codePage = await signedInCodePage(agent, d.user_code);
    expect(codePage.html).toContain('Enter the code shown on your device');
    expect(codePage.html).toContain(`value="${d.user_code}"`); // prefilled from verification_uri_complete
    await expect(poll(d.device_code)).rejects.toMatchObject({ error: 'authorization_pending' });
    // Entered by hand: lower case, no hyphen.
    const confirm = await agent.follow('/device', { form: { csrf: Agent.formValue(codePage.html, 'csrf')!, user_code: d.user_code.replace('-', '').toLowerCase() } });
    expect(confirm.html).toContain('<bdi>Kitchen Display</bdi> wants to access your account');
    expect(confirm.html).toContain(d.user_code);
    const done = await agent.follow('/device/confirm', { form: { csrf: Agent.formValue(confirm.html, 'csrf')!, binding: Agent.formValue(confirm.html, 'binding')!, user_code: Agent.formValue(confirm.html, 'user_code')!, decision: 'approve' } });
    expect(done.html).toContain('Device connected');
    clock += 10_000;
    const tokens = await poll(d.device_code);
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.id_token).toBeTruthy();
  });

  it('RFC 8628 §3.5: denying on /device makes the device\'s next poll access_denied', async () => {
    const d = await start();
    const agent = new Agent(s.issuer);
    const codePage = await signedInCodePage(agent, d.user_code);
    const confirm = await agent.follow('/device', { form: { csrf: Agent.formValue(codePage.html, 'csrf')!, user_code: d.user_code } });
    const done = await agent.follow('/device/confirm', { form: { csrf: Agent.formValue(confirm.html, 'csrf')!, binding: Agent.formValue(confirm.html, 'binding')!, user_code: d.user_code, decision: 'deny' } });
    expect(done.html).toContain('Request denied');
    await expect(poll(d.device_code)).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('RFC 8628 §5.1: wrong codes are rate limited per user and address (429 after userCodeRateLimit failures)', async () => {
    const agent = new Agent(s.issuer);
    const codePage = await signedInCodePage(agent, '');
    const csrf = Agent.formValue(codePage.html, 'csrf')!;
    for (let i = 0; i < 3; i++) {
      const r = await agent.follow('/device', { form: { csrf, user_code: 'BCDF-GHJK' } });
      expect(r.status).toBe(400);
      expect(r.html).toContain('not valid');
    }
    const d = await start();
    const blocked = await agent.follow('/device', { form: { csrf, user_code: d.user_code } });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBeTruthy();
    clock += 301_000; // the window passes
    const ok = await agent.follow('/device', { form: { csrf, user_code: d.user_code } });
    expect(ok.html).toContain('wants to access your account');
  });

  it('RFC 8628 §5.1: /device/confirm is no way around the limit: codes not verified at /device count as wrong ones there, and once blocked a real code is refused (429)', async () => {
    clock += 301_000; // a fresh window
    const d = await start();
    const agent = new Agent(s.issuer);
    const csrf = Agent.formValue((await signedInCodePage(agent, '')).html, 'csrf')!;
    const confirmGuess = (userCode: string) => agent.follow('/device/confirm', { form: { csrf, user_code: userCode, decision: 'approve' } });
    for (const guess of ['BCDF-GHJK', 'BCDF-GHJL', 'BCDF-GHJM']) {
      expect((await confirmGuess(guess)).status).toBe(400);
    }
    const blocked = await confirmGuess(d.user_code);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBeTruthy();
    expect((await agent.follow('/device', { form: { csrf, user_code: d.user_code } })).status).toBe(429); // the same counters as /device
    await expect(poll(d.device_code)).rejects.toMatchObject({ error: 'authorization_pending' });
    clock += 301_000;
    // Not blocked any more, but a real code never verified at /device is still not decided at /device/confirm.
    const unverified = await confirmGuess(d.user_code);
    expect(unverified.status).toBe(400);
    expect(unverified.html).toContain('not valid');
    await expect(poll(d.device_code)).rejects.toMatchObject({ error: 'authorization_pending' });
    // The normal flow still works: verify at /device, then confirm with that page's form.
    const confirm = await agent.follow('/device', { form: { csrf, user_code: d.user_code } });
    const done = await agent.follow('/device/confirm', { form: { csrf, binding: Agent.formValue(confirm.html, 'binding')!, user_code: d.user_code, decision: 'approve' } });
    expect(done.html).toContain('Device connected');
    clock += 301_000;
  });

  it('RFC 8628 §5.1: a confirmation decides only the code this browser verified at /device (not another code, not from another browser)', async () => {
    clock += 301_000;
    const [d1, d2] = [await start(), await start()];
    const agent = new Agent(s.issuer);
    const csrf = Agent.formValue((await signedInCodePage(agent, d1.user_code)).html, 'csrf')!;
    const confirm = await agent.follow('/device', { form: { csrf, user_code: d1.user_code } });
    const binding = Agent.formValue(confirm.html, 'binding')!;
    expect(binding).toBeTruthy();
    const swapped = await agent.follow('/device/confirm', { form: { csrf, binding, user_code: d2.user_code, decision: 'approve' } });
    expect(swapped.status).toBe(400);
    const other = new Agent(s.issuer);
    const otherCsrf = Agent.formValue((await signedInCodePage(other, '')).html, 'csrf')!;
    const elsewhere = await other.follow('/device/confirm', { form: { csrf: otherCsrf, binding, user_code: d1.user_code, decision: 'approve' } });
    expect(elsewhere.status).toBe(400);
    await expect(poll(d1.device_code)).rejects.toMatchObject({ error: 'authorization_pending' });
    await expect(poll(d2.device_code)).rejects.toMatchObject({ error: 'authorization_pending' });
    const done = await agent.follow('/device/confirm', { form: { csrf, binding, user_code: d1.user_code, decision: 'deny' } });
    expect(done.html).toContain('Request denied');
    clock += 301_000;
  });

  it('RFC 8628 §3.3.1: /device?user_code= (verification_uri_complete) only prefills the form: no lookup, so no answer that tells a real code from a wrong one', async () => {
    clock += 301_000;
    const d = await start();
    const agent = new Agent(s.issuer);
    const csrf = Agent.formValue((await signedInCodePage(agent, '')).html, 'csrf')!;
    const real = await agent.follow(`/device?user_code=${d.user_code}`);
    const pages = [real];
    for (const guess of ['BCDF-GHJK', 'BCDF-GHJL', 'BCDF-GHJM', 'BCDF-GHJN']) pages.push(await agent.follow(`/device?user_code=${guess}`));
    const shape = (r: { status: number; html: string }) => [r.status, r.html.replace(/value="[A-Z]{4}-[A-Z]{4}"/, 'value="…"')];
    for (const p of pages) expect(shape(p)).toEqual(shape(real));
    // Nothing was counted: the real code is still accepted at /device.
    expect((await agent.follow('/device', { form: { csrf, user_code: d.user_code } })).html).toContain('wants to access your account');
    clock += 301_000;
  });

  it('RFC 8628 §3.5: once expired, the page says so and the device gets expired_token', async () => {
    const d = await start();
    const agent = new Agent(s.issuer);
    const codePage = await signedInCodePage(agent, d.user_code);
    clock += (d.expires_in + 1) * 1000;
    const r = await agent.follow('/device', { form: { csrf: Agent.formValue(codePage.html, 'csrf')!, user_code: d.user_code } });
    expect(r.status).toBe(400);
    expect(r.html).toContain('expired');
    await expect(poll(d.device_code)).rejects.toMatchObject({ error: 'expired_token' });
  });

  it('RFC 8628 §3.5: slow_down is a variant of authorization_pending: once the user decided, even an early poll gets the outcome', async () => {
    clock += 301_000;
    const decide = async (userCode: string, decision: 'approve' | 'deny') => {
      const agent = new Agent(s.issuer);
      const codePage = await signedInCodePage(agent, userCode);
      const confirm = await agent.follow('/device', { form: { csrf: Agent.formValue(codePage.html, 'csrf')!, user_code: userCode } });
      return agent.follow('/device/confirm', { form: { csrf: Agent.formValue(confirm.html, 'csrf')!, binding: Agent.formValue(confirm.html, 'binding')!, user_code: userCode, decision } });
    };
    const approved = await start();
    await expect(poll(approved.device_code)).rejects.toMatchObject({ error: 'authorization_pending' });
    expect((await decide(approved.user_code, 'approve')).html).toContain('Device connected');
    const tokens = await poll(approved.device_code); // within the interval of the previous poll
    expect(tokens.access_token).toBeTruthy();
    const denied = await start();
    await expect(poll(denied.device_code)).rejects.toMatchObject({ error: 'authorization_pending' });
    expect((await decide(denied.user_code, 'deny')).html).toContain('Request denied');
    await expect(poll(denied.device_code)).rejects.toMatchObject({ error: 'access_denied' });
    clock += 301_000;
  });

  it('the /device forms need the CSRF token bound to the browser', async () => {
    const d = await start();
    const agent = new Agent(s.issuer);
    await signedInCodePage(agent, d.user_code);
    const r = await agent.follow('/device', { form: { csrf: 'forged', user_code: d.user_code } });
    expect(r.status).toBe(403);
    const other = new Agent(s.issuer);
    const page = await other.follow('/device');
    const cross = await agent.follow('/device/confirm', { form: { csrf: Agent.formValue(page.html, 'csrf')!, user_code: d.user_code, decision: 'approve' } });
    expect(cross.status).toBe(403);
  });

  it('RFC 8628 §3.1: a confidential client without its secret, or a client not registered for the grant, is refused', async () => {
    const conf = await s.client({ redirect_uris: ['https://rp.example/cb'] });
    const r = await postForm(s.url('/oauth/device_authorization'), { client_id: conf.clientId, scope: 'openid' });
    expect(r.status).toBe(401);
    expect(r.json.error).toBe('invalid_client');
    const r2 = await postForm(s.url('/oauth/device_authorization'), { scope: 'openid' }, { authorization: basic(conf.clientId, conf.clientSecret!) });
    expect(r2.status).toBe(400);
    expect(r2.json.error).toBe('unauthorized_client');
  });
});

describe('device authorization grant with DPoP through HTTP (real clock: proofs carry the time)', () => {
  let s: TestServer;
  let as: oauth.AuthorizationServer;

  beforeAll(async () => {
    s = await startTestServer({});
    await s.user('alice', 'alice-password', { name: 'Alice' });
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  });
  afterAll(() => s.close());

  it('RFC 9449 §5, §6: a device code redeemed with a DPoP proof (oauth4webapi) gets a DPoP access token bound to the key (cnf.jkt)', async () => {
    const tv = await s.client({ grant_types: [GRANT], token_endpoint_auth_method: 'none', scope: 'openid', access_token_format: 'jwt' });
    const c: oauth.Client = { client_id: tv.clientId };
    const d = await oauth.processDeviceAuthorizationResponse(as, c, await oauth.deviceAuthorizationRequest(as, c, oauth.None(), { scope: 'openid' }, insecure));
    const agent = new Agent(s.issuer);
    const login = await agent.follow(`/device?user_code=${encodeURIComponent(d.user_code)}`);
    const codePage = await agent.follow(Agent.formAction(login.html, '/device/login'), {
      form: { csrf: Agent.formValue(login.html, 'csrf')!, user_code: d.user_code, username: 'alice', password: 'alice-password' },
    });
    const confirm = await agent.follow('/device', { form: { csrf: Agent.formValue(codePage.html, 'csrf')!, user_code: d.user_code } });
    const done = await agent.follow('/device/confirm', { form: { csrf: Agent.formValue(confirm.html, 'csrf')!, binding: Agent.formValue(confirm.html, 'binding')!, user_code: d.user_code, decision: 'approve' } });
    expect(done.html).toContain('Device connected');
    const keyPair = await oauth.generateKeyPair('ES256');
    const DPoP = oauth.DPoP(c, keyPair);
    const tokens = await oauth.processDeviceCodeResponse(as, c, await oauth.deviceCodeGrantRequest(as, c, oauth.None(), d.device_code, { ...insecure, DPoP }));
    expect(tokens.token_type).toBe('dpop'); // oauth4webapi lower-cases it
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt });
  });
});
