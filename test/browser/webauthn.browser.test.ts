import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptOtp, startOtpSetup } from '../../src/services/mfa.js';
import { webauthnKeys } from '../../src/services/webauthn.js';
import { base32Decode, hotp, TOTP_STEP } from '../../src/services/totp.js';
import { launchBrowser } from '../helpers/browser.js';
import { startCallbackServer } from '../helpers/rp.js';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The security-key pages in Chromium (services/webauthn.ts, ui/html.ts WEBAUTHN_SCRIPT), with Chromium's virtual
 * authenticator (DevTools WebAuthn domain) as the key: the page's script turns the options into
 * navigator.credentials calls and posts the answer. The issuer is http://localhost (a secure context with a domain
 * for an RP ID: WebAuthn refuses IP addresses).
 */
describe('security keys in Chromium', () => {
  let s: TestServer;
  let rp: Awaited<ReturnType<typeof startCallbackServer>>;
  let b: Awaited<ReturnType<typeof launchBrowser>>;
  let client: { clientId: string };
  let alice: string;
  let app: Buffer;
  let clock = Date.UTC(2026, 11, 2, 12, 0, 5);
  const code = () => hotp(app, Math.floor(clock / 1000 / TOTP_STEP));

  beforeAll(async () => {
    const port = await freePort();
    s = await startTestServer({ port, issuer: `http://localhost:${port}` }, { clock: () => clock });
    rp = await startCallbackServer();
    b = await launchBrowser();
    client = await s.client({ client_name: 'Acme Notes', redirect_uris: [rp.url], skip_consent: true });
    alice = await s.user('alice', 'alice-password');
    app = base32Decode((await startOtpSetup(s.ctx, { id: alice, username: 'alice' })).secret)!;
    expect(await acceptOtp(s.ctx, alice, code(), true)).toBe(true);
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await rp?.close();
    await s?.close();
  });

  it('a key added at /mfa signs in the next time; a browser without one sees only the code', async () => {
    const ctx = await b.newContext();
    const page = await ctx.newPage();
    page.setDefaultTimeout(8000);
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: false, hasUserVerification: false, automaticPresenceSimulation: true },
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message)); // the page's script throws nothing
    /** A sign-in at the client's request, past its password. */
    const password = async (state: string) => {
      await page.goto(s.url(`/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: client.clientId, redirect_uri: rp.url, scope: 'openid', state, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`));
      await page.fill('#username', 'alice');
      await page.fill('#password', 'alice-password');
      await page.click('button[type=submit]');
    };

    clock += TOTP_STEP * 1000;
    await page.goto(s.url('/mfa'));
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice-password');
    await page.click('button[type=submit]');
    expect(await page.textContent('h1')).toBe('Enter your code'); // no key yet: the code only
    await page.fill('#otp', code());
    await page.click('button:has-text("Verify")');
    expect(await page.textContent('h1')).toBe('Two-step sign-in');
    await page.fill('#key-name', 'Virtual key');
    await page.click('button:has-text("Add a security key")');
    await page.waitForSelector('text=Security key added');
    expect(await page.textContent('ul.keys')).toContain('Virtual key');
    const keys = await webauthnKeys(s.ctx, alice);
    expect(keys).toHaveLength(1);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials.map((c) => Buffer.from(c.credentialId, 'base64').toString('base64url'))).toEqual([keys[0]!.credentialId]);

    // The next sign-in, in the same browser (the key is plugged in): password, then the key.
    await ctx.clearCookies();
    const arrived = rp.next();
    await password('st');
    expect(await page.textContent('h1')).toBe('Confirm it is you');
    await page.click('button:has-text("Use your security key")');
    const cb = await arrived;
    await page.waitForURL((u) => u.pathname === '/cb'); // loaded, so the next navigation does not interrupt it
    expect(cb.searchParams.get('code')).toBeTruthy();
    expect(cb.searchParams.get('state')).toBe('st');
    expect((await webauthnKeys(s.ctx, alice))[0]!.lastUsedAt).not.toBeNull();

    // Unplugged: the browser has no key to answer with; the page says so and the code still works.
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
    await ctx.clearCookies();
    const again = rp.next();
    await password('st2');
    await page.evaluate(() => {
      // No authenticator: Chromium would wait out the timeout; cancel at once as a user closing the prompt does.
      const get = navigator.credentials.get.bind(navigator.credentials);
      navigator.credentials.get = (o) => Promise.race([get(o), Promise.reject(new DOMException('cancelled', 'NotAllowedError'))]);
    });
    await page.click('button:has-text("Use your security key")');
    await page.waitForSelector('text=Your key was not used (NotAllowedError)');
    clock += TOTP_STEP * 1000;
    await page.fill('#otp', code());
    await page.click('button:has-text("Verify")');
    expect((await again).searchParams.get('state')).toBe('st2');
    expect(errors).toEqual([]);
    await ctx.close();
  });
});
