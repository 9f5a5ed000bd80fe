import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptOtp, removeOtp, startOtpSetup } from '../../src/services/mfa.js';
import { acceptWebauthn, webauthnChallenge, webauthnKeys, webauthnUsable } from '../../src/services/webauthn.js';
import type { EngineContext } from '../../src/engine/context.js';
import { resetUserMfa } from '../../src/services/users.js';
import { base32Decode, hotp, TOTP_STEP } from '../../src/services/totp.js';
import { Agent } from '../helpers/agent.js';
import { basic, freePort, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { pageWebauthnOptions, SoftKey, type CreationOptions, type RequestOptions } from '../helpers/webauthn.js';

const CB = 'https://rp.example/cb';
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

/**
 * Security keys and passkeys as the second step of a sign-in (services/webauthn.ts, W3C WebAuthn Level 2), with a
 * software authenticator (test/helpers/webauthn.ts) answering what the pages ask. test/browser has Chromium's
 * virtual authenticator driving the page's script.
 */
describe('two-step sign-in with a security key (WebAuthn)', () => {
  let s: TestServer;
  let clock = Date.UTC(2026, 11, 2, 12, 0, 5);
  let rp: { clientId: string; clientSecret?: string };
  let alice: string;
  let app: Buffer;
  const key = new SoftKey();

  const code = () => hotp(app, Math.floor(clock / 1000 / TOTP_STEP));
  const nextStep = () => {
    clock += TOTP_STEP * 1000;
  };

  beforeAll(async () => {
    // A host name: WebAuthn's RP ID is a domain, so at an IP address /mfa offers no key to add (webauthnUsable).
    const port = await freePort();
    s = await startTestServer({ port, issuer: `http://localhost:${port}` }, { clock: () => clock });
    rp = await s.client({ redirect_uris: [CB], scope: 'openid profile', skip_consent: true });
    alice = await s.user('alice', 'alice-password', { name: 'Alice' });
    await s.user('bob', 'bob-password');
    app = base32Decode((await startOtpSetup(s.ctx, { id: alice, username: 'alice' })).secret)!;
    expect(await acceptOtp(s.ctx, alice, code(), true)).toBe(true);
  });
  afterAll(() => s.close());

  /** /mfa, signed in just now with the password and a code from the app. */
  const mfaPage = async (agent: Agent, user = 'alice', pw = 'alice-password') => {
    nextStep();
    const login = await agent.follow('/mfa');
    const asked = await agent.follow(Agent.formAction(login.html, '/mfa/login'), { form: { csrf: Agent.formValue(login.html, 'csrf')!, username: user, password: pw } });
    if (!asked.html.includes('otp_pending')) return asked;
    return agent.follow(Agent.formAction(asked.html, '/mfa/login'), { form: { csrf: Agent.formValue(asked.html, 'csrf')!, otp_pending: Agent.formValue(asked.html, 'otp_pending')!, otp: code() } });
  };
  const addKey = (agent: Agent, page: { html: string }, webauthn: string, name = 'Blue key') =>
    agent.follow('/mfa', { form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'add-key', webauthn_exp: Agent.formValue(page.html, 'webauthn_exp')!, webauthn_salt: Agent.formValue(page.html, 'webauthn_salt')!, webauthn, key_name: name } });
  /** The first sign-in step of the code flow: the password, answered by the second step's page. */
  const password = async (agent: Agent) => {
    const authorize = `/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: rp.clientId, redirect_uri: CB, scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'st' })}`;
    return agent.login(await agent.follow(authorize), 'alice', 'alice-password');
  };
  const useKey = (agent: Agent, page: { html: string }, webauthn: string) =>
    agent.follow(Agent.formAction(page.html, '/login'), { form: { csrf: Agent.formValue(page.html, 'csrf')!, otp_pending: Agent.formValue(page.html, 'otp_pending')!, webauthn } });

  it('adding a key at /mfa: the options (RP, user handle, no attestation), a wrong answer refused, the right one added', async () => {
    const agent = new Agent(s.issuer);
    const page = await mfaPage(agent);
    expect(page.html).toContain('Security keys and passkeys');
    expect(page.html).toContain('You have no security key');
    // The page runs the one script, by its nonce.
    const nonce = /<script nonce="([^"]+)" src="\/assets\/webauthn\.js">/.exec(page.html)![1]!;
    expect(page.headers.get('content-security-policy')).toContain(`script-src 'nonce-${nonce}'`);
    const script = await fetch(s.url('/assets/webauthn.js'));
    expect(script.headers.get('content-type')).toContain('text/javascript');
    expect(await script.text()).toContain('navigator.credentials.create');

    const options = pageWebauthnOptions<CreationOptions>(page.html, 'create')!;
    expect(options.rp.id).toBe('localhost');
    expect(options.attestation).toBe('none');
    expect(options.pubKeyCredParams.map((p) => p.alg)).toEqual([-7, -8, -257]);
    expect(options.excludeCredentials).toEqual([]);
    expect(options.user.name).toBe('alice');
    expect(options.user.id).not.toContain(alice); // an opaque handle (WebAuthn §14.6.1)
    expect(Buffer.from(options.challenge, 'base64url')).toHaveLength(32);

    // Signed for another origin, another RP ID, another challenge, or as an assertion: refused, nothing added.
    for (const wrong of [
      key.register(options, 'https://evil.example'),
      key.register(options, s.issuer, { rpId: 'evil.example' }),
      key.register(options, s.issuer, { challenge: Buffer.alloc(32, 7).toString('base64url') }),
      key.register(options, s.issuer, { type: 'webauthn.get' }),
      '{"id":', '[]', JSON.stringify({ id: 'a', rawId: 'b', type: 'public-key', response: { clientDataJSON: 'e30', attestationObject: 'oA' } }),
    ]) {
      const r = await addKey(agent, page, wrong);
      expect(r.status, wrong.slice(0, 80)).toBe(400);
      expect(r.html).toContain('The key was not added');
    }
    // An expiry or salt the page did not give changes the challenge (none at all is refused outright).
    const form = { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'add-key', webauthn_exp: Agent.formValue(page.html, 'webauthn_exp')!, webauthn_salt: Agent.formValue(page.html, 'webauthn_salt')!, webauthn: key.register(options, s.issuer) };
    expect((await agent.follow('/mfa', { form: { ...form, webauthn_exp: String(Number(form.webauthn_exp) + 1) } })).status).toBe(400);
    expect((await agent.follow('/mfa', { form: { ...form, webauthn_salt: 'another-salt-value' } })).status).toBe(400);
    expect((await agent.follow('/mfa', { form: { ...form, webauthn_salt: '' } })).status).toBe(400);
    expect(await webauthnKeys(s.ctx, alice)).toEqual([]);

    const added = await addKey(agent, page, key.register(options, s.issuer), 'Blue key <b>');
    expect(added.status, added.html.slice(0, 400)).toBe(200);
    expect(added.html).toContain('Security key added');
    expect(added.html).toContain('Blue key &lt;b&gt;');
    expect(added.html).toContain('not used yet');
    const keys = await webauthnKeys(s.ctx, alice);
    expect(keys).toMatchObject([{ credentialId: key.id, name: 'Blue key <b>', counter: 0, transports: ['usb'], lastUsedAt: null }]);
    // The same key again: already added; the page now excludes it.
    const again = await addKey(agent, added, key.register(pageWebauthnOptions<CreationOptions>(added.html, 'create')!, s.issuer));
    expect(again.status).toBe(409);
    expect(again.html).toContain('already added');
    expect(pageWebauthnOptions<CreationOptions>(again.html, 'create')!.excludeCredentials).toEqual([{ type: 'public-key', id: key.id, transports: ['usb'] }]);
    await s.lk.audit.flush();
    expect((await s.lk.store.listAuditEvents('default', { type: 'mfa.key_added', limit: 5 }))[0]).toMatchObject({ subject: alice, detail: { name: 'Blue key <b>' } });
    // The account page says so.
    expect((await agent.follow('/account')).html).toContain('Two-step sign-in</a>: <strong>on</strong>, with an authenticator app and a security key.');
  });

  it('a sign-in then offers the key: its answer signs in with acr mfa and amr pop; a code still works', async () => {
    const agent = new Agent(s.issuer);
    const asked = await password(agent);
    expect(asked.status).toBe(200);
    expect(asked.html).toContain('Confirm it is you');
    expect(asked.html).toContain('Use your security key');
    const options = pageWebauthnOptions<RequestOptions>(asked.html, 'get')!;
    expect(options).toMatchObject({ rpId: 'localhost', userVerification: 'discouraged', allowCredentials: [{ type: 'public-key', id: key.id }] });
    const nonce = /<script nonce="([^"]+)"/.exec(asked.html)![1]!;
    expect(asked.headers.get('content-security-policy')).toContain(`'nonce-${nonce}'`);

    const done = await useKey(agent, asked, key.assert(options, s.issuer));
    expect(done.location, done.html.slice(0, 300)).toMatch(/^https:\/\/rp\.example\/cb\?code=/);
    const tokens = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: new URL(done.location!).searchParams.get('code')!, redirect_uri: CB, code_verifier: VERIFIER }, { authorization: basic(rp.clientId, rp.clientSecret!) });
    expect(tokens.status, tokens.text).toBe(200);
    expect(decodeJwt(tokens.json.id_token)).toMatchObject({ sub: alice, acr: 'urn:latchkey:acr:mfa', amr: ['pwd', 'pop', 'mfa'] });
    expect((await webauthnKeys(s.ctx, alice))[0]!.lastUsedAt).toBe(Math.floor(clock / 1000));
    await s.lk.audit.flush();
    // (Events of one clock second have no order among themselves: the test's clock stands still.)
    expect((await s.lk.store.listAuditEvents('default', { type: 'login.success', limit: 10 })).filter((e) => e.detail?.mfa === 'webauthn')).toHaveLength(1);

    // The code from the app is still offered on the same page.
    nextStep();
    const other = new Agent(s.issuer);
    const page = await password(other);
    const byCode = await other.follow(Agent.formAction(page.html, '/login'), { form: { csrf: Agent.formValue(page.html, 'csrf')!, otp_pending: Agent.formValue(page.html, 'otp_pending')!, otp: code() } });
    expect(byCode.location).toMatch(/\?code=/);
  });

  it('refused: another sign-in\'s challenge, another origin, a key not registered, a replay, malformed answers', async () => {
    const handle = pageWebauthnOptions<CreationOptions>((await mfaPage(new Agent(s.issuer))).html, 'create')!.user.id;
    clock += 300_000; // a fresh window of the limit on wrong codes
    const agent = new Agent(s.issuer);
    const asked = await password(agent);
    const options = pageWebauthnOptions<RequestOptions>(asked.html, 'get')!;
    const otherBrowser = new Agent(s.issuer);
    const otherOptions = pageWebauthnOptions<RequestOptions>((await password(otherBrowser)).html, 'get')!;
    expect(otherOptions.challenge).not.toBe(options.challenge); // bound to each pending sign-in
    const stranger = new SoftKey();
    for (const wrong of [
      key.assert(options, s.issuer, { userHandle: Buffer.alloc(32, 1).toString('base64url') }), // another user's handle (WebAuthn §7.2 step 6)
      key.assert(otherOptions, s.issuer),
      key.assert(options, 'https://evil.example'),
      key.assert(options, s.issuer, { rpId: 'evil.example' }),
      stranger.assert(options, s.issuer),
      '', '{', '{"id":"x"}', JSON.stringify({ id: key.id, rawId: key.id, type: 'public-key', response: { clientDataJSON: '!!', authenticatorData: 'AA', signature: 'AA' } }), 'x'.repeat(40_000),
    ]) {
      const r = await useKey(agent, asked, wrong);
      if (wrong === '') {
        // No answer at all is an empty code: refused as a code.
        expect(r.status).toBe(400);
        continue;
      }
      expect(r.status, wrong.slice(0, 80)).toBe(400); // ten wrong answers: the limit on wrong codes (loginRateLimit) not yet passed
      expect(r.html).toContain('Your security key was not accepted');
      expect(r.html).toContain('data-webauthn="get"'); // offered again
    }
    await s.lk.audit.flush();
    expect((await s.lk.store.listAuditEvents('default', { type: 'login.failure', limit: 20 })).filter((e) => e.detail?.mfa === 'webauthn').length).toBeGreaterThanOrEqual(9);
    clock += 300_000; // a fresh window of the limit on wrong codes

    // The right answer works once: the same challenge again is a replay (WebAuthn §13.4.3).
    const pending = Agent.formValue(asked.html, 'otp_pending')!;
    const challenge = webauthnChallenge(s.ctx, 'get', [alice, pending]);
    expect(challenge).toBe(options.challenge);
    const exp = Math.floor(clock / 1000) + 60;
    const answer = key.assert(options, s.issuer, { userHandle: handle }); // the handle alice's keys were given: accepted
    expect(await acceptWebauthn(s.ctx, alice, answer, challenge, exp)).toBe(true);
    expect(await acceptWebauthn(s.ctx, alice, answer, challenge, exp)).toBe(false);
    // Another user cannot use alice's key.
    const bob = (await s.lk.store.findUserByUsername('default', 'bob'))!.id;
    expect(await acceptWebauthn(s.ctx, bob, key.assert({ ...options, challenge: webauthnChallenge(s.ctx, 'get', [bob, 'p']) }, s.issuer), webauthnChallenge(s.ctx, 'get', [bob, 'p']), exp)).toBe(false);
  });

  it('keys of each algorithm offered (ES256, EdDSA, RS256) are added and sign in', async () => {
    const agent = new Agent(s.issuer);
    let page = await mfaPage(agent);
    for (const alg of [-8, -257] as const) {
      const other = new SoftKey({ alg });
      page = await addKey(agent, page, other.register(pageWebauthnOptions<CreationOptions>(page.html, 'create')!, s.issuer), `alg ${alg}`);
      expect(page.status, /role="alert">([^<]*)/.exec(page.html)?.[1]).toBe(200);
      const exp = Math.floor(clock / 1000) + 60;
      const challenge = webauthnChallenge(s.ctx, 'get', [alice, `alg${alg}`]);
      const opts = { challenge, rpId: 'localhost', allowCredentials: [], userVerification: 'discouraged' };
      expect(await acceptWebauthn(s.ctx, alice, other.assert(opts, s.issuer), challenge, exp)).toBe(true);
      // A signature by another key of the same algorithm, presented under this key's id, is refused.
      const other2 = new SoftKey({ alg });
      const challenge2 = webauthnChallenge(s.ctx, 'get', [alice, `alg${alg}-forged`]);
      const signedByOther = JSON.parse(other2.assert({ ...opts, challenge: challenge2 }, s.issuer)) as Record<string, unknown>;
      expect(await acceptWebauthn(s.ctx, alice, JSON.stringify({ ...signedByOther, id: other.id, rawId: other.id }), challenge2, exp)).toBe(false);
    }
    const remove = async (name: string) => {
      const id = (await webauthnKeys(s.ctx, alice)).find((k) => k.name === name)!.credentialId;
      expect((await agent.follow('/mfa', { form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'remove-key', key: id } })).status).toBe(200);
    };
    await remove('alg -8');
    await remove('alg -257');
  });

  it('a key that counts its signatures: a counter that goes back is a cloned key, refused (WebAuthn §6.1.1)', async () => {
    const counting = new SoftKey({ counter: 10 });
    const agent = new Agent(s.issuer);
    const page = await mfaPage(agent);
    expect((await addKey(agent, page, counting.register(pageWebauthnOptions<CreationOptions>(page.html, 'create')!, s.issuer), 'Counter')).status).toBe(200);
    const exp = Math.floor(clock / 1000) + 60;
    const challenge = (n: number) => webauthnChallenge(s.ctx, 'get', [alice, `c${n}`]);
    const opts = (n: number) => ({ challenge: challenge(n), rpId: 'localhost', allowCredentials: [], userVerification: 'discouraged' });
    expect(await acceptWebauthn(s.ctx, alice, counting.assert(opts(1), s.issuer), challenge(1), exp)).toBe(true); // 11
    expect(await acceptWebauthn(s.ctx, alice, counting.assert(opts(2), s.issuer, { counter: 11 }), challenge(2), exp)).toBe(false);
    expect(await acceptWebauthn(s.ctx, alice, counting.assert(opts(3), s.issuer, { counter: 5 }), challenge(3), exp)).toBe(false);
    expect(await acceptWebauthn(s.ctx, alice, counting.assert(opts(4), s.issuer, { counter: 12 }), challenge(4), exp)).toBe(true);
    expect((await webauthnKeys(s.ctx, alice)).find((k) => k.name === 'Counter')!.counter).toBe(12);
  });

  it('removing a key at /mfa: only one\'s own; turning two-step sign-in off (or an operator reset) removes them all', async () => {
    // Bob, signed in at /mfa (two-step sign-in off: no keys section), cannot remove alice's key.
    const bobAgent = new Agent(s.issuer);
    const bobPage = await mfaPage(bobAgent, 'bob', 'bob-password');
    expect(bobPage.html).toContain('Two-step sign-in is <strong>off</strong>');
    expect(bobPage.html).not.toContain('Security keys');
    const notHis = await bobAgent.follow('/mfa', { form: { csrf: Agent.formValue(bobPage.html, 'csrf')!, decision: 'remove-key', key: key.id } });
    expect(notHis.status).toBe(400);
    // Nor add one while it is off.
    const off = await bobAgent.follow('/mfa', { form: { csrf: Agent.formValue(bobPage.html, 'csrf')!, decision: 'add-key', webauthn_exp: String(Math.floor(clock / 1000) + 60), webauthn_salt: 'some-salt', webauthn: '{}' } });
    expect(off.status).toBe(409);
    expect(await webauthnKeys(s.ctx, alice)).toHaveLength(2);

    const agent = new Agent(s.issuer);
    const page = await mfaPage(agent);
    expect(page.html).toContain('Blue key');
    const removed = await agent.follow('/mfa', { form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'remove-key', key: key.id } });
    expect(removed.html).toContain('Security key removed');
    expect(removed.html).not.toContain('Blue key');
    expect((await webauthnKeys(s.ctx, alice)).map((k) => k.name)).toEqual(['Counter']);
    await s.lk.audit.flush();
    expect((await s.lk.store.listAuditEvents('default', { type: 'mfa.key_removed', limit: 1 }))[0]).toMatchObject({ subject: alice });

    // An operator's reset (a lost app) takes the keys with it; so does turning it off.
    await resetUserMfa(s.ctx, alice);
    expect(await webauthnKeys(s.ctx, alice)).toEqual([]);
    expect(await removeOtp(s.ctx, alice)).toBe(false);
    // With two-step sign-in off, the password alone signs in again.
    expect((await password(new Agent(s.issuer))).location).toMatch(/\?code=/);
  });

  it('keys need an issuer at a host name: an IP address (v4 or v6) is no RP ID (WebAuthn §5.1.3)', () => {
    const at = (issuer: string) => webauthnUsable({ tenant: { issuer } } as EngineContext);
    expect(at('http://127.0.0.1:9000')).toBe(false);
    expect(at('http://[::1]:9000')).toBe(false);
    expect(at('http://localhost:9000')).toBe(true);
    expect(at('https://login.example.com/t/acme')).toBe(true);
  });
});
