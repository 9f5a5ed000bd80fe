import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The account lockout (loginRateLimit) stops a password guesser, and would also keep the account's owner out for as
 * long as the guessing goes on, from as many addresses as the guesser has. A browser the user signed in on before
 * holds a known-device cookie (OWASP device cookies: services/rate-limit.ts), and its sign-ins count against that
 * device instead. Here the guesser has "many addresses": the per-address limit is set out of reach.
 */
describe('sign-in lockout and known devices (OWASP device cookies)', () => {
  let s: TestServer;

  beforeAll(async () => {
    s = await startTestServer({ loginRateLimit: 3, loginRateLimitPerIp: 10_000, allowRegistration: true });
    await s.user('alice', 'alice-password');
    await s.user('bob', 'bob-password');
  });
  afterAll(() => s.close());

  /** One sign-in on /ciba's form (the same password check as every sign-in page); the answer's status. */
  const signIn = async (agent: Agent, username: string, password: string) => {
    const page = await agent.follow('/ciba');
    const r = await agent.follow(Agent.formAction(page.html, '/ciba/login'), { form: { csrf: Agent.formValue(page.html, 'csrf')!, username, password } });
    return r.status;
  };
  const knownCookie = (a: Agent) => a.cookies().find((n) => n.includes('lk_known'));
  /** Signed out, the known-device cookie kept (a later visit to the same browser). */
  const signedOut = (a: Agent) => {
    for (const n of a.cookies()) if (n !== knownCookie(a)) a.dropCookie(n);
  };

  it('locks the account for new browsers, not for the owner\'s known one; the known one has its own limit', async () => {
    const owner = new Agent(s.issuer);
    expect(await signIn(owner, 'alice', 'alice-password')).toBe(200);
    expect(knownCookie(owner)).toBeDefined();
    signedOut(owner);

    // The guesser, from fresh browsers: three wrong passwords lock the account.
    for (let i = 0; i < 3; i++) expect(await signIn(new Agent(s.issuer), 'alice', `guess-${i}`)).toBe(400);
    expect(await signIn(new Agent(s.issuer), 'alice', 'alice-password')).toBe(429); // even the right one, elsewhere

    // The owner, on the browser they used before, gets in.
    expect(await signIn(owner, 'alice', 'alice-password')).toBe(200);
    signedOut(owner);
    // ... and the guesser's lockout stands: the owner's sign-in gave it no fresh allowance.
    expect(await signIn(new Agent(s.issuer), 'alice', 'guess-again')).toBe(429);

    // A stolen known-device cookie is worth loginRateLimit guesses a window, then it is locked too.
    for (let i = 0; i < 3; i++) expect(await signIn(owner, 'alice', `typo-${i}`)).toBe(400);
    expect(await signIn(owner, 'alice', 'alice-password')).toBe(429);
  });

  it('the cookie names its user: it does not let another account past that account\'s lockout, and a forged one counts for nothing', async () => {
    await s.user('carol', 'carol-password');
    const carols = new Agent(s.issuer);
    expect(await signIn(carols, 'carol', 'carol-password')).toBe(200);
    signedOut(carols);
    for (let i = 0; i < 3; i++) expect(await signIn(new Agent(s.issuer), 'bob', `guess-${i}`)).toBe(400);
    expect(await signIn(new Agent(s.issuer), 'bob', 'bob-password')).toBe(429);
    expect(await signIn(carols, 'bob', 'bob-password')).toBe(429); // carol's known device is no device of bob's
    // Same shape as a real cookie, a mac that is not the server's.
    const name = knownCookie(carols)!;
    const forged = new Agent(s.issuer);
    forged.setCookie(name, `${carols.cookieValue(name)!.split('.')[0]}.${'A'.repeat(43)}`);
    expect(await signIn(forged, 'bob', 'bob-password')).toBe(429);
  });

  it('signing up makes the browser a known device of the new account', async () => {
    const rp = await s.client({ redirect_uris: ['https://rp.example/cb'], scope: 'openid', skip_consent: true });
    const dana = new Agent(s.issuer);
    const authorize = `/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: rp.clientId, redirect_uri: 'https://rp.example/cb', scope: 'openid', prompt: 'create', state: 's', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`;
    const page = await dana.follow(authorize);
    const made = await dana.follow(Agent.formAction(page.html, '/create'), { form: { csrf: Agent.formValue(page.html, 'csrf')!, username: 'dana', password: 'dana-password-1' } });
    expect(made.location, made.html.slice(0, 200)).toMatch(/^https:\/\/rp\.example\/cb\?code=/);
    expect(knownCookie(dana)).toBeDefined();
    signedOut(dana);
    for (let i = 0; i < 3; i++) expect(await signIn(new Agent(s.issuer), 'dana', `guess-${i}`)).toBe(400);
    expect(await signIn(new Agent(s.issuer), 'dana', 'dana-password-1')).toBe(429);
    expect(await signIn(dana, 'dana', 'dana-password-1')).toBe(200);
  });
});
