import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetUserMfa } from '../../src/services/users.js';
import { acceptOtp, acceptSecondFactor, newRecoveryCodes, otpRequired, startOtpSetup } from '../../src/services/mfa.js';
import { base32Decode, hotp, TOTP_STEP } from '../../src/services/totp.js';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

/**
 * Two-step sign-in (services/mfa.ts): a user turns on an authenticator app at /mfa (RFC 6238 TOTP); from then on each
 * password sign-in asks for a code, and the session, the ID token and introspection say so (acr, amr: RFC 8176).
 */
describe('two-step sign-in with an authenticator app (TOTP, RFC 6238)', () => {
  let s: TestServer;
  let clock = Date.UTC(2026, 11, 2, 12, 0, 5); // 5 s into a 30-second step
  let rp: { clientId: string; clientSecret?: string };
  let alice: string;
  let secret: Buffer;
  let recovery: string[] = [];

  beforeAll(async () => {
    s = await startTestServer({ loginRateLimit: 4 }, { clock: () => clock });
    rp = await s.client({ redirect_uris: [CB], scope: 'openid profile', skip_consent: true });
    alice = await s.user('alice', 'alice-password', { name: 'Alice' });
  });
  afterAll(() => s.close());

  const code = (offsetSteps = 0) => hotp(secret, Math.floor(clock / 1000 / TOTP_STEP) + offsetSteps);
  /** Two-step sign-in turned on for a user, as /mfa does it (services/mfa.ts); the code their app shows now. */
  const turnOnApp = async (id: string, username: string) => {
    const app = base32Decode((await startOtpSetup(s.ctx, { id, username })).secret)!;
    const now = () => hotp(app, Math.floor(clock / 1000 / TOTP_STEP));
    expect(await acceptOtp(s.ctx, id, now(), true)).toBe(true);
    return now;
  };
  const nextStep = () => {
    clock += TOTP_STEP * 1000;
  };
  /** The first sign-in step of the code flow: the password, answered by the code page (or the redirect). */
  const password = async (agent: Agent, pw = 'alice-password') => {
    const authorize = `/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: rp.clientId, redirect_uri: CB, scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'st' })}`;
    return agent.login(await agent.follow(authorize), 'alice', pw);
  };
  const enterCode = (agent: Agent, page: { html: string }, value: string) =>
    agent.follow(Agent.formAction(page.html, '/login'), {
      form: { csrf: Agent.formValue(page.html, 'csrf')!, otp_pending: Agent.formValue(page.html, 'otp_pending')!, otp: value },
    });

  it('turning it on at /mfa: a sign-in, the key to add, a wrong code refused, the right one confirms it', async () => {
    const agent = new Agent(s.issuer);
    const login = await agent.follow('/mfa');
    expect(login.html).toContain('to change how you sign in');
    const page = await agent.follow(Agent.formAction(login.html, '/mfa/login'), { form: { csrf: Agent.formValue(login.html, 'csrf')!, username: 'alice', password: 'alice-password' } });
    expect(page.html).toContain('Two-step sign-in is <strong>off</strong>');
    expect(page.html).toContain('<a href="/account">Your account</a>');
    const key = /<code class="otp-secret">([A-Z2-7 ]+)<\/code>/.exec(page.html)![1]!;
    secret = base32Decode(key)!;
    expect(secret).toHaveLength(20);
    const uri = new URL(Agent.formAction(page.html.replace('<a href=', '<form action='), 'otpauth:').replace(/&amp;/g, '&'));
    expect(uri.searchParams.get('secret')).toBe(key.replace(/ /g, ''));
    // A reload shows the same key (the app it was added to keeps working).
    expect((await agent.follow('/mfa')).html).toContain(key);
    const csrf = Agent.formValue(page.html, 'csrf')!;
    const wrong = await agent.follow('/mfa', { form: { csrf, decision: 'on', otp: code(5) } });
    expect(wrong.status).toBe(400);
    expect(wrong.html).toContain('Two-step sign-in is <strong>off</strong>');
    const on = await agent.follow('/mfa', { form: { csrf, decision: 'on', otp: code() } });
    expect(on.status).toBe(200);
    expect(on.html).toContain('Two-step sign-in is now on');
    expect(on.html).toContain('Two-step sign-in is <strong>on</strong>');
    // Ten recovery codes, shown this once.
    recovery = [...on.html.matchAll(/<li><code>(\d{5}-\d{5})<\/code><\/li>/g)].map((m) => m[1]!);
    expect(recovery).toHaveLength(10);
    expect(new Set(recovery).size).toBe(10);
    const later = await agent.follow('/mfa');
    expect(later.html).not.toContain(recovery[0]!);
    expect(later.html).toContain('10 recovery codes left');
    await s.lk.audit.flush();
    expect((await s.lk.store.listAuditEvents('default', { type: 'mfa.enabled', limit: 5 }))[0]).toMatchObject({ subject: alice });
  });

  it('a password sign-in then asks for a code: none, a wrong one and a used one refused; the right one signs in with acr mfa and amr otp', async () => {
    nextStep();
    const agent = new Agent(s.issuer);
    const asked = await password(agent);
    expect(asked.status).toBe(200);
    expect(asked.html).toContain('Enter your code');
    expect(asked.html).toContain('autocomplete="one-time-code"');
    expect(agent.cookies().some((c) => c.includes('lk_session'))).toBe(false); // not signed in yet
    const wrong = await enterCode(agent, asked, code(3));
    expect(wrong.status).toBe(400);
    expect(wrong.html).toContain('That code is not right');
    const done = await enterCode(agent, wrong, code());
    expect(done.location, done.html.slice(0, 300)).toMatch(/^https:\/\/rp\.example\/cb\?code=/);
    // The same code again, in another browser: spent (RFC 6238 §5.2).
    const other = new Agent(s.issuer);
    const replay = await enterCode(other, await password(other), code());
    expect(replay.status).toBe(400);
    // The tokens say how the user signed in.
    const tokens = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: new URL(done.location!).searchParams.get('code')!, redirect_uri: CB, code_verifier: VERIFIER }, { authorization: basic(rp.clientId, rp.clientSecret!) });
    expect(tokens.status, tokens.text).toBe(200);
    expect(decodeJwt(tokens.json.id_token)).toMatchObject({ sub: alice, acr: 'urn:latchkey:acr:mfa', amr: ['pwd', 'otp', 'mfa'] });
    const d = (await (await fetch(s.url('/.well-known/openid-configuration'))).json()) as { acr_values_supported: string[] };
    expect(d.acr_values_supported).toContain('urn:latchkey:acr:mfa');
  });

  it('the password grant (RFC 6749 §4.3) cannot ask for the code, so it issues nothing for the account, right password or not', async () => {
    const legacy = await s.client({ grant_types: ['password'], insecure_password_grant: true, redirect_uris: [], scope: 'openid' });
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'password', username: 'alice', password: 'alice-password', scope: 'openid' }, { authorization: basic(legacy.clientId, legacy.clientSecret!) });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('invalid_grant');
    expect(r.json.error_description).toContain('two-step sign-in');
    await s.user('bob', 'bob-password');
    const bob = await postForm(s.url('/oauth/token'), { grant_type: 'password', username: 'bob', password: 'bob-password', scope: 'openid' }, { authorization: basic(legacy.clientId, legacy.clientSecret!) });
    expect(bob.status, bob.text).toBe(200); // an account without it is unaffected
  });

  it('a recovery code signs in once in place of a code from the app', async () => {
    clock += 300_000; // a fresh window of the limit on wrong codes
    const agent = new Agent(s.issuer);
    const done = await enterCode(agent, await password(agent), recovery[0]!);
    expect(done.location, done.html.slice(0, 300)).toMatch(/^https:\/\/rp\.example\/cb\?code=/);
    const again = new Agent(s.issuer);
    const spent = await enterCode(again, await password(again), recovery[0]!.replace('-', ''));
    expect(spent.status).toBe(400);
    // Another one, typed without its hyphen, works.
    expect((await enterCode(again, spent, recovery[1]!.replace('-', ' '))).location).toMatch(/\?code=/);
    await s.lk.audit.flush();
    const events = await s.lk.store.listAuditEvents('default', { type: 'login.success', limit: 2 });
    expect(events[0]!.detail).toMatchObject({ mfa: 'recovery' });
  });

  it('the code step is bound to the browser\'s form and expires; wrong codes are limited', async () => {
    nextStep();
    const agent = new Agent(s.issuer);
    const asked = await password(agent);
    // The pending sign-in posted with another browser's form (its CSRF token) is refused.
    const thief = new Agent(s.issuer);
    const thiefPage = await thief.follow(`/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: rp.clientId, redirect_uri: CB, scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256' })}`);
    const stolen = await thief.follow(Agent.formAction(thiefPage.html, '/login'), { form: { csrf: Agent.formValue(thiefPage.html, 'csrf')!, otp_pending: Agent.formValue(asked.html, 'otp_pending')!, otp: code() } });
    expect(stolen.status).toBe(400);
    expect(stolen.html).toContain('took too long');
    // Five minutes later the pending sign-in is over.
    clock += 301_000;
    const late = await enterCode(agent, asked, code());
    expect(late.html).toContain('took too long');
    // loginRateLimit (4) wrong codes, then even the right one waits.
    const again = await password(agent);
    let page = again;
    for (let i = 0; i < 4; i++) {
      page = await enterCode(agent, page, '000000');
      expect(page.status).toBe(400);
    }
    const limited = await enterCode(agent, page, code());
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBeTruthy();
  });

  it('the device page (RFC 8628) asks for the code too, keeping the user code through the step', async () => {
    clock += 600_000; // past the rate-limit window
    const tv = await s.client({ grant_types: ['urn:ietf:params:oauth:grant-type:device_code'], token_endpoint_auth_method: 'none', scope: 'openid' });
    const d = (await postForm(s.url('/oauth/device_authorization'), { client_id: tv.clientId, scope: 'openid' })).json as { user_code: string };
    const agent = new Agent(s.issuer);
    const login = await agent.follow(`/device?user_code=${encodeURIComponent(d.user_code)}`);
    const asked = await agent.follow(Agent.formAction(login.html, '/device/login'), { form: { csrf: Agent.formValue(login.html, 'csrf')!, user_code: d.user_code, username: 'alice', password: 'alice-password' } });
    expect(asked.html).toContain('Enter your code');
    expect(Agent.formValue(asked.html, 'user_code')).toBe(d.user_code);
    const codePage = await agent.follow(Agent.formAction(asked.html, '/device/login'), {
      form: { csrf: Agent.formValue(asked.html, 'csrf')!, user_code: d.user_code, otp_pending: Agent.formValue(asked.html, 'otp_pending')!, otp: code() },
    });
    expect(codePage.html).toContain('Enter the code shown on your device');
    expect(codePage.html).toContain(`value="${d.user_code}"`);
  });

  it('turning it off needs a code; an operator can reset it (a lost app); then sign-ins ask for no code', async () => {
    nextStep();
    const agent = new Agent(s.issuer);
    const login = await agent.follow('/mfa');
    const asked = await agent.follow(Agent.formAction(login.html, '/mfa/login'), { form: { csrf: Agent.formValue(login.html, 'csrf')!, username: 'alice', password: 'alice-password' } });
    const page = await agent.follow(Agent.formAction(asked.html, '/mfa/login'), { form: { csrf: Agent.formValue(asked.html, 'csrf')!, otp_pending: Agent.formValue(asked.html, 'otp_pending')!, otp: code() } });
    expect(page.html).toContain('Two-step sign-in is <strong>on</strong>');
    const csrf = Agent.formValue(page.html, 'csrf')!;
    expect((await agent.follow('/mfa', { form: { csrf, decision: 'off', otp: code() } })).status).toBe(400); // this step's code is spent
    nextStep();
    const off = await agent.follow('/mfa', { form: { csrf, decision: 'off', otp: code() } });
    expect(off.html).toContain('Two-step sign-in is now off');
    expect((await password(new Agent(s.issuer))).location).toMatch(/^https:\/\/rp\.example\/cb\?code=/);

    // On again, then reset by an operator.
    const key = /<code class="otp-secret">([A-Z2-7 ]+)<\/code>/.exec(off.html)![1]!;
    secret = base32Decode(key)!;
    nextStep();
    expect((await agent.follow('/mfa', { form: { csrf, decision: 'on', otp: code() } })).html).toContain('now on');
    expect((await password(new Agent(s.issuer))).html).toContain('Enter your code');
    await resetUserMfa(s.ctx, alice);
    expect((await password(new Agent(s.issuer))).location).toMatch(/^https:\/\/rp\.example\/cb\?code=/);
  });

  it('step-up: a password-only session of a user who has turned it on since is asked to sign in again when the request asks for acr mfa, not otherwise', async () => {
    clock += 600_000;
    const carolId = await s.user('carol', 'carol-password');
    const agent = new Agent(s.issuer);
    const authorize = (extra: Record<string, string> = {}) =>
      `/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: rp.clientId, redirect_uri: CB, scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'st', ...extra })}`;
    expect((await agent.login(await agent.follow(authorize()), 'carol', 'carol-password')).location).toMatch(/\?code=/);
    // Carol turns two-step sign-in on (in another browser, say).
    const carolCode = await turnOnApp(carolId, 'carol');
    nextStep();
    // Not asked for, or not preferred (acr_values in order of preference, OIDC Core §3.1.2.1: the password acr first
    // accepts a password): the session is used as it is.
    expect((await agent.follow(authorize())).location).toMatch(/\?code=/);
    expect((await agent.follow(authorize({ acr_values: 'urn:latchkey:acr:password urn:latchkey:acr:mfa' }))).location).toMatch(/\?code=/);
    // Asked for (acr_values, or an essential acr claim): sign in again; prompt=none cannot, so login_required.
    const claims = JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:latchkey:acr:mfa'] } } });
    for (const extra of [{ acr_values: 'urn:latchkey:acr:mfa' }, { claims }] as Record<string, string>[]) expect((await agent.follow(authorize(extra))).html).toContain('name="password"');
    const none = new URL((await agent.follow(authorize({ acr_values: 'urn:latchkey:acr:mfa', prompt: 'none' }))).location!);
    expect(none.searchParams.get('error')).toBe('login_required');
    const asked = await agent.login(await agent.follow(authorize({ claims })), 'carol', 'carol-password');
    expect(asked.html).toContain('Enter your code');
    const done = await enterCode(agent, asked, carolCode());
    const tokens = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: new URL(done.location!).searchParams.get('code')!, redirect_uri: CB, code_verifier: VERIFIER }, { authorization: basic(rp.clientId, rp.clientSecret!) });
    expect(decodeJwt(tokens.json.id_token)).toMatchObject({ sub: carolId, acr: 'urn:latchkey:acr:mfa' });
    // Now the session satisfies it: no further sign-in.
    expect((await agent.follow(authorize({ acr_values: 'urn:latchkey:acr:mfa' }))).location).toMatch(/\?code=/);
  });

  it('asked for by a request, from a user who has none: set up inside the sign-in, which then counts as two-step (acr mfa, amr otp)', async () => {
    clock += 600_000;
    const daveId = await s.user('dave', 'dave-password');
    const agent = new Agent(s.issuer);
    const authorize = `/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: rp.clientId, redirect_uri: CB, scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'st', acr_values: 'urn:latchkey:acr:mfa' })}`;
    const offer = await agent.login(await agent.follow(authorize), 'dave', 'dave-password');
    expect(offer.status).toBe(200);
    expect(offer.html).toContain('asks for two-step sign-in');
    expect(offer.html).toContain('Not now');
    const key = /<code class="otp-secret">([A-Z2-7 ]+)<\/code>/.exec(offer.html)![1]!;
    const daves = base32Decode(key)!;
    const daveCode = (steps = 0) => hotp(daves, Math.floor(clock / 1000 / TOTP_STEP) + steps);
    const action = Agent.formAction(offer.html, '/mfa');
    const csrf = Agent.formValue(offer.html, 'csrf')!;
    const wrong = await agent.follow(action, { form: { csrf, decision: 'on', otp: daveCode(4) } });
    expect(wrong.status).toBe(400);
    expect(wrong.html).toContain('That code is not right');
    expect(wrong.html).toContain(key); // the same key: the app it was added to keeps working
    const on = await agent.follow(action, { form: { csrf, decision: 'on', otp: daveCode() } });
    expect(on.status, on.html.slice(0, 300)).toBe(200);
    expect([...on.html.matchAll(/<li><code>(\d{5}-\d{5})<\/code><\/li>/g)]).toHaveLength(10);
    expect(on.html).toContain('Continue to');
    const done = await agent.follow(action, { form: { csrf, decision: 'continue' } });
    expect(done.location, done.html.slice(0, 300)).toMatch(/^https:\/\/rp\.example\/cb\?code=/);
    const tokens = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: new URL(done.location!).searchParams.get('code')!, redirect_uri: CB, code_verifier: VERIFIER }, { authorization: basic(rp.clientId, rp.clientSecret!) });
    expect(decodeJwt(tokens.json.id_token)).toMatchObject({ sub: daveId, acr: 'urn:latchkey:acr:mfa', amr: ['pwd', 'otp', 'mfa'] });
    await s.lk.audit.flush();
    expect((await s.lk.store.listAuditEvents('default', { type: 'mfa.enabled', limit: 50 })).find((e) => e.subject === daveId)).toMatchObject({ clientId: rp.clientId });
    // From now on every password sign-in asks for a code.
    nextStep();
    const other = new Agent(s.issuer);
    expect((await other.login(await other.follow(authorize), 'dave', 'dave-password')).html).toContain('Enter your code');
  });

  it('the offer can be declined: "not now" for acr_values (the password acr), "cancel" for an essential acr (access_denied); never with prompt=none or a stale sign-in', async () => {
    await s.user('erin', 'erin-password');
    const authorize = (extra: Record<string, string>) =>
      `/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: rp.clientId, redirect_uri: CB, scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'st', ...extra })}`;
    const agent = new Agent(s.issuer);
    const offer = await agent.login(await agent.follow(authorize({ acr_values: 'urn:latchkey:acr:mfa' })), 'erin', 'erin-password');
    expect(offer.html).toContain('Not now');
    const skipped = await agent.follow(Agent.formAction(offer.html, '/mfa'), { form: { csrf: Agent.formValue(offer.html, 'csrf')!, decision: 'skip' } });
    expect(skipped.location, skipped.html.slice(0, 300)).toMatch(/\?code=/);
    const tokens = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: new URL(skipped.location!).searchParams.get('code')!, redirect_uri: CB, code_verifier: VERIFIER }, { authorization: basic(rp.clientId, rp.clientSecret!) });
    expect(decodeJwt(tokens.json.id_token).acr).toBe('urn:latchkey:acr:password');
    // The password acr listed first (acr_values come in order of preference): a password is what it prefers, no offer.
    expect((await agent.follow(authorize({ acr_values: 'urn:latchkey:acr:password urn:latchkey:acr:mfa' }))).location).toMatch(/\?code=/);
    // Without a page to show (prompt=none): the session as it is.
    expect((await agent.follow(authorize({ acr_values: 'urn:latchkey:acr:mfa', prompt: 'none' }))).location).toMatch(/\?code=/);
    // Essential: the page says so, and declining fails the request as an unmet essential acr (OIDC Core §5.5.1.1).
    const claims = JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:latchkey:acr:mfa'] } } });
    const required = await agent.follow(authorize({ claims }));
    expect(required.html).toContain('requires two-step sign-in');
    expect(required.html).toContain('Cancel');
    const cancelled = await agent.follow(Agent.formAction(required.html, '/mfa'), { form: { csrf: Agent.formValue(required.html, 'csrf')!, decision: 'skip' } });
    expect(new URL(cancelled.location!).searchParams.get('error')).toBe('access_denied');
    const noneEssential = new URL((await agent.follow(authorize({ claims, prompt: 'none' }))).location!);
    expect(noneEssential.searchParams.get('error')).toBe('access_denied');
    // A sign-in older than 10 minutes: the password first, then the offer.
    clock += 601_000;
    const stale = await agent.follow(authorize({ acr_values: 'urn:latchkey:acr:mfa' }));
    expect(stale.html).toContain('name="password"');
    const fresh = await agent.login(stale, 'erin', 'erin-password');
    expect(fresh.html).toContain('asks for two-step sign-in');
    // A decision without the form's CSRF token is refused, and another browser cannot use the form at all.
    const forged = await agent.follow(Agent.formAction(fresh.html, '/mfa'), { form: { csrf: 'x', decision: 'skip' } });
    expect(forged.status).toBe(403);
    const elsewhere = await new Agent(s.issuer).follow(Agent.formAction(fresh.html, '/mfa'), { form: { csrf: Agent.formValue(fresh.html, 'csrf')!, decision: 'skip' } });
    expect(elsewhere.status).toBeGreaterThanOrEqual(400);
    expect((await agent.follow(Agent.formAction(fresh.html, '/mfa'), { form: { csrf: Agent.formValue(fresh.html, 'csrf')!, decision: 'skip' } })).location).toMatch(/\?code=/);
  });

  it('new recovery codes at /mfa: a code from the app makes ten new ones, and the old ones stop working', async () => {
    clock += 600_000;
    const fayId = await s.user('fay', 'fay-password');
    const fayCode = await turnOnApp(fayId, 'fay');
    const old = await newRecoveryCodes(s.ctx, fayId);
    nextStep();
    const agent = new Agent(s.issuer);
    const login = await agent.follow('/mfa');
    const asked = await agent.follow(Agent.formAction(login.html, '/mfa/login'), { form: { csrf: Agent.formValue(login.html, 'csrf')!, username: 'fay', password: 'fay-password' } });
    const page = await agent.follow(Agent.formAction(asked.html, '/mfa/login'), { form: { csrf: Agent.formValue(asked.html, 'csrf')!, otp_pending: Agent.formValue(asked.html, 'otp_pending')!, otp: fayCode() } });
    expect(page.html).toContain('10 recovery codes left');
    expect(page.html).toContain('value="recovery"');
    const csrf = Agent.formValue(page.html, 'csrf')!;
    expect((await agent.follow('/mfa', { form: { csrf, decision: 'recovery', otp: '000000' } })).status).toBe(400);
    expect((await agent.follow('/mfa', { form: { csrf, decision: 'recovery', otp: fayCode() } })).status).toBe(400); // this step's code is spent
    nextStep();
    const renewed = await agent.follow('/mfa', { form: { csrf, decision: 'recovery', otp: fayCode() } });
    expect(renewed.status).toBe(200);
    expect(renewed.html).toContain('New recovery codes made');
    const fresh = [...renewed.html.matchAll(/<li><code>(\d{5}-\d{5})<\/code><\/li>/g)].map((m) => m[1]!);
    expect(fresh).toHaveLength(10);
    expect(fresh.some((c) => old.includes(c))).toBe(false);
    expect(await acceptSecondFactor(s.ctx, fayId, old[0]!)).toBeUndefined();
    expect(await acceptSecondFactor(s.ctx, fayId, fresh[0]!)).toBe('recovery');
    expect(await otpRequired(s.ctx, fayId)).toBe(true); // still on
    await s.lk.audit.flush();
    expect((await s.lk.store.listAuditEvents('default', { type: 'mfa.recovery_codes_renewed', limit: 5 }))[0]).toMatchObject({ subject: fayId });
  });

  it('someone who has the password and guesses codes locks the code step for new browsers, not for the owner\'s known one', async () => {
    clock += 600_000;
    const hanId = await s.user('han', 'han-password');
    const hanCode = await turnOnApp(hanId, 'han');
    const authorize = `/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: rp.clientId, redirect_uri: CB, scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'st' })}`;
    const signIn = async (agent: Agent, code: string) => {
      const asked = await agent.login(await agent.follow(authorize), 'han', 'han-password');
      expect(asked.html).toContain('Enter your code');
      return enterCode(agent, asked, code);
    };
    // The owner signs in once on their browser: it becomes a known device of theirs.
    nextStep();
    const owner = new Agent(s.issuer);
    expect((await signIn(owner, hanCode())).location).toMatch(/\?code=/);
    const known = owner.cookies().find((n) => n.includes('lk_known'))!;
    for (const n of owner.cookies()) if (n !== known) owner.dropCookie(n);
    // Someone with the password guesses codes from a fresh browser until the code step refuses them (loginRateLimit 4).
    const guesser = new Agent(s.issuer);
    let status = 0;
    for (let i = 0; i < 6 && status !== 429; i++) status = (await signIn(guesser, '000000')).status;
    expect(status).toBe(429);
    nextStep();
    expect((await signIn(new Agent(s.issuer), hanCode())).status).toBe(429); // the right code too, elsewhere
    // The owner's known browser still gets in with the right code.
    nextStep();
    expect((await signIn(owner, hanCode())).location).toMatch(/\?code=/);
  });

  it('changing it needs a recent sign-in: a session older than 10 minutes is sent to sign in again', async () => {
    const agent = new Agent(s.issuer);
    const login = await agent.follow('/mfa');
    const page = await agent.follow(Agent.formAction(login.html, '/mfa/login'), { form: { csrf: Agent.formValue(login.html, 'csrf')!, username: 'alice', password: 'alice-password' } });
    expect(page.html).toContain('Two-step sign-in is <strong>off</strong>');
    clock += 601_000;
    const stale = await agent.follow('/mfa', { form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'on', otp: '123456' } });
    expect(stale.html).toContain('Sign in again to change how you sign in');
    expect((await agent.follow('/mfa')).html).toContain('to change how you sign in');
  });
});
