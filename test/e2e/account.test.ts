import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { Agent } from '../helpers/agent.js';
import { startLogoutRp, waitFor } from '../helpers/logout-rp.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
/** The account page's sign-in form says what it is for. */
const SIGN_IN = 'to manage your account: the applications that can reach it';

type Client = { clientId: string; clientSecret?: string };

/**
 * The account page (services/account.ts): a signed-in user sees the applications with access to their account and
 * takes one's access back: its grants and every token they issued revoked (RFC 7009 §2.1), its consent forgotten, so
 * its next authorization request asks again (OIDC Core §3.1.2.4).
 */
describe('the account page: applications with access, and removing it', () => {
  let s: TestServer;
  let notes: Client;
  let photos: Client;
  let firstParty: Client;
  let alice: string;
  let clock = Date.now();

  beforeAll(async () => {
    s = await startTestServer({}, { clock: () => clock });
    notes = await s.client({ client_name: 'Notes', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid profile email offline_access' });
    photos = await s.client({ client_name: 'Photos', redirect_uris: [CB], scope: 'openid email' });
    firstParty = await s.client({ client_name: 'Intranet', redirect_uris: [CB], scope: 'openid', skip_consent: true });
    alice = await s.user('alice', 'alice-password');
    await s.user('bob', 'bob-password');
  });
  afterAll(() => s.close());

  const authorizeUrl = (c: Client, scope: string, extra: Record<string, string> = {}) =>
    `/oauth/authorize?${new URLSearchParams({ client_id: c.clientId, redirect_uri: CB, response_type: 'code', scope, code_challenge: CHALLENGE, code_challenge_method: 'S256', ...extra })}`;
  /** The code flow through the pages (sign-in and consent as needed), then the token request. */
  async function tokens(agent: Agent, c: Client, scope: string, user = 'alice') {
    const cb = await agent.authorize(authorizeUrl(c, scope, scope.includes('offline_access') ? { prompt: 'consent' } : {}), user, `${user}-password`);
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB, code_verifier: VERIFIER }, { authorization: basic(c.clientId, c.clientSecret!) });
    expect(r.status, r.text).toBe(200);
    return r.json as { access_token: string; refresh_token?: string };
  }
  const active = async (c: Client, token: string) => (await postForm(s.url('/oauth/introspect'), { token }, { authorization: basic(c.clientId, c.clientSecret!) })).json.active as boolean;
  /** The account page, signed in at its own form when the browser has no session. */
  async function accountOf(agent: Agent, user = 'alice') {
    let page = await agent.follow('/account');
    if (page.html.includes(SIGN_IN)) {
      page = await agent.follow(Agent.formAction(page.html, '/account/login'), { form: { csrf: Agent.formValue(page.html, 'csrf')!, username: user, password: `${user}-password` } });
    }
    expect(page.status, page.html.slice(0, 300)).toBe(200);
    return page;
  }
  const sectionOf = (html: string, name: string) => html.split('<section class="app-access">').find((p) => p.includes(`<bdi>${name}</bdi>`));
  const remove = (agent: Agent, html: string, name: string) => {
    const section = sectionOf(html, name)!;
    return agent.follow('/account', { form: { csrf: Agent.formValue(section, 'csrf')!, client: Agent.formValue(section, 'client')!, decision: 'remove' } });
  };

  it('lists what each application may use; removing one revokes its tokens and consent, and nothing of the others or of other users', async () => {
    const agent = new Agent(s.issuer);
    const notesTokens = await tokens(agent, notes, 'openid profile offline_access');
    const photosTokens = await tokens(agent, photos, 'openid email');
    const intranetTokens = await tokens(agent, firstParty, 'openid');
    const bob = new Agent(s.issuer);
    const bobNotes = await tokens(bob, notes, 'openid profile offline_access', 'bob');

    const page = await accountOf(new Agent(s.issuer)); // a browser of its own: the page's own sign-in form
    expect(page.html).toContain('Signed in as <strong><bdi>alice</bdi></strong>');
    for (const name of ['Notes', 'Photos', 'Intranet']) expect(sectionOf(page.html, name), name).toBeDefined();
    expect(sectionOf(page.html, 'Notes')).toContain('Keep access while you are not using it');
    expect(sectionOf(page.html, 'Photos')).toContain('Your email address');
    expect(sectionOf(page.html, 'Photos')).not.toContain('Your basic profile');
    expect(page.html).toMatch(/Last allowed <time datetime="\d{4}-\d\d-\d\dT[^"]+">\d{4}-\d\d-\d\d<\/time>/);
    expect(page.html).toContain('aria-label="Remove access for Notes"');
    expect(page.html).toContain('href="/mfa"');

    const done = await remove(agent, (await accountOf(agent)).html, 'Notes');
    expect(done.status).toBe(200);
    expect(done.html).toContain('<p role="status">Notes no longer has access to your account.</p>');
    expect(sectionOf(done.html, 'Notes')).toBeUndefined();
    expect(sectionOf(done.html, 'Photos')).toBeDefined();
    // RFC 7009 §2.1: the refresh token's grant and its access tokens end with it.
    expect(await active(notes, notesTokens.refresh_token!)).toBe(false);
    expect(await active(notes, notesTokens.access_token)).toBe(false);
    const refreshed = await postForm(s.url('/oauth/token'), { grant_type: 'refresh_token', refresh_token: notesTokens.refresh_token! }, { authorization: basic(notes.clientId, notes.clientSecret!) });
    expect(refreshed.json.error).toBe('invalid_grant');
    // The others, and bob's access to the same application, are untouched.
    expect(await active(photos, photosTokens.access_token)).toBe(true);
    expect(await active(firstParty, intranetTokens.access_token)).toBe(true);
    expect(await active(notes, bobNotes.refresh_token!)).toBe(true);
    // The consent is forgotten: Notes asks again (OIDC Core §3.1.2.4), where Photos does not.
    expect((await agent.follow(authorizeUrl(notes, 'openid profile'))).html).toContain('/consent');
    expect((await agent.follow(authorizeUrl(photos, 'openid email'))).location).toMatch(/\?code=/);
    // The audit trail says who took which access back.
    await s.lk.audit.flush();
    const events = await s.ctx.store.listAuditEvents(s.ctx.tenant.id, { type: 'consent.revoked', limit: 10 });
    expect(events.map((e) => [e.clientId, e.subject])).toEqual([[notes.clientId, alice]]);

    // A client registered to skip consent: its tokens end too; signing in to it again issues new ones without asking.
    const after = await remove(agent, done.html, 'Intranet');
    expect(after.html).toContain('Intranet no longer has access to your account.');
    expect(await active(firstParty, intranetTokens.access_token)).toBe(false);
  });

  it('refuses what it cannot do: nothing to remove, no decision, no session, a forged form', async () => {
    const agent = new Agent(s.issuer);
    await tokens(agent, photos, 'openid email', 'bob');
    const page = await accountOf(agent, 'bob');
    const section = sectionOf(page.html, 'Photos')!;
    const csrf = Agent.formValue(section, 'csrf')!;
    // An application with no access to this user (alice's Notes access does not make it bob's).
    const none = await agent.follow('/account', { form: { csrf, client: 'no-such-client', decision: 'remove' } });
    expect(none.status).toBe(400);
    expect(none.html).toContain('no-such-client has no access to remove.');
    expect((await agent.follow('/account', { form: { csrf, client: photos.clientId } })).status).toBe(400);
    // A form from another page (no or a wrong CSRF token) changes nothing.
    const forged = await agent.follow('/account', { form: { csrf: 'x'.repeat(43), client: photos.clientId, decision: 'remove' } });
    expect(forged.status).toBe(403);
    expect(sectionOf((await accountOf(agent, 'bob')).html, 'Photos')).toBeDefined();
    // Signed out: the sign-in form, and nothing removed.
    for (const n of agent.cookies()) if (n.includes('lk_session')) agent.dropCookie(n);
    const out = await agent.follow('/account', { form: { csrf, client: photos.clientId, decision: 'remove' } });
    expect(out.html).toContain('Sign in again to change your account.');
    expect(sectionOf((await accountOf(agent, 'bob')).html, 'Photos')).toBeDefined();
  });

  it('signing out of other browsers ends every other session of the user as a logout (its client told by back-channel), not this one nor another user\'s', async () => {
    const rp = await startLogoutRp();
    try {
      const chat = await s.client({ client_name: 'Chat', redirect_uris: [CB], scope: 'openid', skip_consent: true, backchannel_logout_uri: `${rp.base}/bc`, backchannel_logout_session_required: true });
      await s.user('dora', 'dora-password');
      const laptop = new Agent(s.issuer);
      const phone = new Agent(s.issuer);
      const tablet = new Agent(s.issuer);
      const phoneTokens = await tokens(phone, chat, 'openid', 'dora') as { access_token: string; id_token?: string };
      await accountOf(tablet, 'dora');
      const bobs = new Agent(s.issuer);
      await accountOf(bobs, 'bob');
      const page = await accountOf(laptop, 'dora');
      const listed = page.html.split('<ul class="sessions">')[1]!.split('</ul>')[0]!;
      expect(listed.match(/<li>/g)).toHaveLength(3);
      expect(listed).toMatch(/^<li><strong>This browser<\/strong> \(A browser\): signed in <time datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/time>, last active/);
      const done = await laptop.follow('/account', { form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'sign-out-others' } });
      expect(done.status).toBe(200);
      expect(done.html).toContain('<p role="status">Signed out of 2 other browsers.</p>');
      expect(done.html).toContain('You are not signed in anywhere else.');
      expect(done.html).not.toContain('Sign out of other browsers');
      // The other browsers are signed out; this one and bob's are not.
      for (const other of [phone, tablet]) expect((await other.follow('/account')).html).toContain(SIGN_IN);
      expect((await laptop.follow('/account')).html).toContain('Signed in as <strong><bdi>dora</bdi></strong>');
      expect((await bobs.follow('/account')).html).toContain('Signed in as <strong><bdi>bob</bdi></strong>');
      // OIDC Back-Channel Logout §2.5: the phone's client is told, for the phone's session.
      await waitFor(() => rp.backchannel.length > 0);
      expect(decodeJwt(rp.backchannel[0]!.logoutToken).sid).toBe(decodeJwt(phoneTokens.id_token!).sid);
      expect(await active(chat, phoneTokens.access_token)).toBe(false); // the session's grant is revoked with it
      await s.lk.audit.flush();
      const logouts = (await s.ctx.store.listAuditEvents(s.ctx.tenant.id, { type: 'logout', limit: 20 })).filter((e) => e.detail.source === 'account');
      expect(logouts).toHaveLength(2);
      expect(logouts.every((e) => e.detail.method === 'session_end')).toBe(true);
      // Nothing else to sign out of: said so.
      const again = await laptop.follow('/account', { form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'sign-out-others' } });
      expect(again.html).toContain('You were not signed in anywhere else.');
    } finally {
      await rp.close();
    }
  });

  it('each other browser is named by its User-Agent and signed out on its own; this browser has no such button, another user\'s session cannot be named', async () => {
    const as = (ua: string) => new Agent(s.issuer, (url, init) => fetch(url, { ...init, headers: { ...init.headers, 'user-agent': ua } }));
    await s.user('finn', 'finn-password');
    const laptop = as('Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0');
    const phone = as('Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1');
    const tablet = as('Mozilla/5.0 (Linux; Android 14; Pixel Tablet) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36');
    await accountOf(phone, 'finn');
    await accountOf(tablet, 'finn');
    const bobs = new Agent(s.issuer);
    await accountOf(bobs, 'bob');
    const sessionsOfUser = async (name: string) =>
      s.ctx.store.listSessionsBySubject(s.ctx.tenant.id, (await s.ctx.store.findUserByUsername(s.ctx.tenant.id, name))!.id, Math.floor(clock / 1000));
    const bobSid = (await sessionsOfUser('bob'))[0]!.sid;
    const page = await accountOf(laptop, 'finn');
    const items = page.html.split('<ul class="sessions">')[1]!.split('</ul>')[0]!.split('<li>').slice(1);
    expect(items[0]).toMatch(/^<strong>This browser<\/strong> \(Firefox on Linux\): signed in/);
    expect(items[0]).not.toContain('value="sign-out"');
    const phoneItem = items.find((i) => i.startsWith('Safari on iOS: signed in'))!;
    expect(phoneItem).toMatch(/aria-label="Sign out Safari on iOS, signed in \d{4}-\d\d-\d\d \d\d:\d\d UTC">Sign out<\/button>/);
    expect(items.some((i) => i.startsWith('Chrome on Android: signed in'))).toBe(true);
    const signOut = (session: string) => laptop.follow('/account', { form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'sign-out', session } });
    const done = await signOut(Agent.formValue(phoneItem, 'session')!);
    expect(done.html).toContain('<p role="status">Signed out of 1 other browser.</p>');
    expect((await phone.follow('/account')).html).toContain(SIGN_IN);
    expect((await tablet.follow('/account')).html).toContain('Signed in as <strong><bdi>finn</bdi></strong>');
    // Another user's session, or this browser's own, is not the account page's to end.
    const laptopSid = (await sessionsOfUser('finn')).find((x) => x.data.device === 'Firefox on Linux')!.sid;
    for (const sid of [bobSid, laptopSid, 'no-such-session']) {
      const refused = await signOut(sid);
      expect(refused.status).toBe(400);
      expect(refused.html).toContain('That browser is no longer signed in.');
    }
    expect((await bobs.follow('/account')).html).toContain('Signed in as <strong><bdi>bob</bdi></strong>');
    expect((await laptop.follow('/account')).html).toContain('Signed in as <strong><bdi>finn</bdi></strong>');
  });

  it('changing the password: a sign-in of the last 10 minutes, the policy on its field, every other browser signed out, this one kept', async () => {
    const erin = await s.user('erin', 'erin-password');
    const laptop = new Agent(s.issuer);
    const phone = new Agent(s.issuer);
    await accountOf(phone, 'erin');
    const page = await accountOf(laptop, 'erin');
    expect(page.html).toContain('autocomplete="new-password"');
    const change = (password: string) => laptop.follow('/account', { form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'password', password } });
    const short = await change('short');
    expect(short.status).toBe(400);
    expect(short.html).toContain('The new password was not accepted: password must be 8-1024 characters.');
    expect(short.html).toMatch(/id="new-password"[^>]* aria-invalid="true" aria-describedby="error" autofocus>/);
    const done = await change('erin-new-password');
    expect(done.status).toBe(200);
    expect(done.html).toContain('<p role="status">Password changed. Signed out of 1 other browser.</p>');
    // The other browser is signed out; this one is not.
    expect((await phone.follow('/account')).html).toContain(SIGN_IN);
    expect((await laptop.follow('/account')).html).toContain('Signed in as <strong><bdi>erin</bdi></strong>');
    // The old password no longer signs in; the new one does.
    const signIn = async (password: string) => {
      const a = new Agent(s.issuer);
      const login = await a.follow('/account');
      return a.follow(Agent.formAction(login.html, '/account/login'), { form: { csrf: Agent.formValue(login.html, 'csrf')!, username: 'erin', password } });
    };
    expect((await signIn('erin-password')).html).toContain('Wrong username or password.');
    expect((await signIn('erin-new-password')).html).toContain('Signed in as <strong><bdi>erin</bdi></strong>');
    await s.lk.audit.flush();
    const events = await s.ctx.store.listAuditEvents(s.ctx.tenant.id, { type: 'password.changed', limit: 10 });
    expect(events.map((e) => [e.subject, e.detail])).toEqual([[erin, { other_sessions_ended: 1 }]]);
    // A sign-in older than 10 minutes: signed in again first, and the password stays as it was.
    clock += 601_000;
    const stale = await change('erin-third-password');
    expect(stale.html).toContain('Sign in again to change your password.');
    expect(stale.html).toContain(SIGN_IN);
    expect((await signIn('erin-new-password')).html).toContain('Signed in as <strong><bdi>erin</bdi></strong>');
  });

  it('the user\'s details: prefilled, saved (a changed email unverified, an empty field removing its claim, updated_at), refused on the field at fault; what the tokens then say', async () => {
    const dana = await s.user('dana', 'dana-password', { name: 'Dora D', email: 'dora@example.com', email_verified: true, given_name: 'Dora' });
    const agent = new Agent(s.issuer);
    const page = await accountOf(agent, 'dana');
    const value = (html: string, k: string) => new RegExp(`name="${k}"[^>]*value="([^"]*)"`).exec(html)?.[1];
    expect(page.html).toContain('<h2>Your details</h2>');
    expect(value(page.html, 'name')).toBe('Dora D');
    expect(value(page.html, 'given_name')).toBe('Dora');
    expect(value(page.html, 'family_name')).toBe('');
    expect(value(page.html, 'email')).toBe('dora@example.com');
    expect(page.html).toContain('autocomplete="family-name"');
    expect(page.html).toContain('Your email address is verified.');
    const csrf = Agent.formValue(page.html, 'csrf')!;
    const save = (fields: Record<string, string>) => agent.follow('/account', { form: { csrf, decision: 'profile', name: 'Dora D', given_name: 'Dora', family_name: '', email: 'dora@example.com', ...fields } });

    // Nothing changed: nothing written.
    const same = await save({ name: '  Dora D ' });
    expect(same.html).toContain('Nothing to save');
    expect((await s.lk.store.findUserById('default', dana))!.claims.updated_at).toBeUndefined();

    // A bad email: refused on its field, what was typed shown again, nothing saved.
    const bad = await save({ email: 'not an email', family_name: 'Explorer' });
    expect(bad.status).toBe(400);
    expect(bad.html).toContain('Your details were not saved: email');
    expect(bad.html).toMatch(/id="profile-email" name="email"[^>]*value="not an email" aria-invalid="true" aria-describedby="error" autofocus/);
    expect(value(bad.html, 'family_name')).toBe('Explorer');
    expect(bad.html).toContain('not verified');
    expect((await s.lk.store.findUserById('default', dana))!.claims).toMatchObject({ email: 'dora@example.com', email_verified: true });
    const tooLong = await save({ name: 'x'.repeat(201) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.html).toContain('name is too long');

    clock += 5000;
    const ok = await save({ name: 'Dora Explorer', given_name: '', family_name: 'Explorer', email: 'dora@new.example' });
    expect(ok.status).toBe(200);
    expect(ok.html).toContain('Your details are saved.');
    expect(ok.html).toContain('Your email address is not verified');
    const stored = (await s.lk.store.findUserById('default', dana))!.claims;
    expect(stored).toEqual({ preferred_username: 'dana', name: 'Dora Explorer', family_name: 'Explorer', email: 'dora@new.example', email_verified: false, updated_at: Math.floor(clock / 1000) });
    await s.lk.audit.flush();
    expect((await s.lk.store.listAuditEvents('default', { type: 'profile.updated', limit: 1 }))[0]).toMatchObject({ subject: dana, detail: { claims: ['name', 'given_name', 'family_name', 'email'] } });

    // UserInfo says what the user saved (OIDC Core §5.3).
    const t = await tokens(new Agent(s.issuer), notes, 'openid profile email', 'dana');
    const info = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${t.access_token}` } });
    expect(await info.json()).toMatchObject({ sub: dana, name: 'Dora Explorer', family_name: 'Explorer', email: 'dora@new.example', email_verified: false });

    // An emptied email removes the claim and its flag.
    const cleared = await save({ name: 'Dora Explorer', given_name: '', family_name: 'Explorer', email: '' });
    expect(cleared.html).toContain('Your details are saved.');
    expect((await s.lk.store.findUserById('default', dana))!.claims).not.toHaveProperty('email_verified');
  });

  it('a user with nothing allowed sees so', async () => {
    await s.user('carol', 'carol-password');
    const page = await accountOf(new Agent(s.issuer), 'carol');
    expect(page.html).toContain('No application has access to your account.');
    expect(page.html).toContain('Two-step sign-in</a>: <strong>off</strong>.');
  });
});
