import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

/** RFC 9700 recommendations that no other test file covers on its own (SECURITY.md maps each to its proof). */
describe('RFC 9700 odds and ends', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
  });
  afterAll(() => s.close());

  const register = (meta: Record<string, unknown>) =>
    fetch(s.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(meta) });

  it('RFC 9700 §2.6: the authorization endpoint does not support CORS', async () => {
    const { clientId } = await s.client({ redirect_uris: ['https://rp.example/cb'] });
    const q = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://rp.example/cb', response_type: 'code', scope: 'openid' });
    for (const method of ['GET', 'OPTIONS']) {
      const r = await fetch(s.url(`/oauth/authorize?${q}`), { method, redirect: 'manual', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
      expect(r.headers.get('access-control-allow-origin'), method).toBeNull();
      expect(r.headers.get('access-control-allow-credentials'), method).toBeNull();
    }
  });

  it('RFC 9700 §2.6: an http redirect URI is refused unless it is on the loopback interface', async () => {
    const bad = await register({ redirect_uris: ['http://rp.example/cb'] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe('invalid_redirect_uri');
    expect((await register({ redirect_uris: ['http://127.0.0.1:8123/cb'], application_type: 'native', token_endpoint_auth_method: 'none' })).status).toBe(201);
  });

  it('RFC 9700 §4.15.1: a dynamically registered client cannot choose its client_id (it could pose as a user\'s sub)', async () => {
    const sub = await s.user('posed', 'posed-password');
    const r = await register({ client_id: sub, redirect_uris: ['https://rp.example/cb'], grant_types: ['authorization_code'] });
    expect(r.status).toBe(201);
    const body = (await r.json()) as { client_id: string };
    expect(body.client_id).not.toBe(sub);
    expect(body.client_id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
  });

  // RFC 9700 §4.11.2: anyone may register a client whose redirect URI is a phishing page, then send users to the
  // server with a request made to fail; the server must not bounce them on to that page automatically.
  const failing = (clientId: string, redirectUri: string) =>
    s.url(`/oauth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, scope: 'openid', state: 'st' })}`);

  it('RFC 9700 §4.11.2: an error in the request of an openly registered client is shown, not redirected to its URI', async () => {
    const reg = (await (await register({ redirect_uris: ['https://phish.example/cb'] })).json()) as { client_id: string };
    for (const method of ['GET', 'POST'] as const) {
      const url = failing(reg.client_id, 'https://phish.example/cb');
      const r = method === 'GET'
        ? await fetch(url, { redirect: 'manual' })
        : await fetch(url.split('?')[0]!, { method, redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: url.split('?')[1] });
      expect(r.status, method).toBe(400);
      expect(r.headers.get('location'), method).toBeNull();
      expect(r.headers.get('content-type'), method).toMatch(/^text\/html/);
      const html = await r.text();
      expect(html, method).toContain('invalid_request');
      expect(html, method).not.toContain('phish.example');
    }
  });

  it('RFC 9700 §4.11.2: a client the operator registered still gets its error redirected (303, with state and iss)', async () => {
    const { clientId } = await s.client({ redirect_uris: ['https://rp.example/cb'] });
    const r = await fetch(failing(clientId, 'https://rp.example/cb'), { redirect: 'manual' });
    expect(r.status).toBe(303);
    const to = new URL(r.headers.get('location')!);
    expect(to.origin + to.pathname).toBe('https://rp.example/cb');
    expect(Object.fromEntries(to.searchParams)).toMatchObject({ error: 'invalid_request', state: 'st', iss: s.issuer });
  });

  it('RFC 9700 §4.11.2, RFC 8252 §7.3: a loopback redirect URI stays on the user\'s machine, so its errors are redirected', async () => {
    const reg = (await (await register({ redirect_uris: ['http://127.0.0.1:8123/cb'], application_type: 'native', token_endpoint_auth_method: 'none' })).json()) as { client_id: string };
    const r = await fetch(failing(reg.client_id, 'http://127.0.0.1:8123/cb'), { redirect: 'manual' });
    expect(r.status).toBe(303);
    expect(new URL(r.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
    // A web client's loopback URI (a development set-up, a local tool) stays on the user's machine just the same.
    const web = (await (await register({ redirect_uris: ['http://localhost:3000/cb'] })).json()) as { client_id: string };
    const r2 = await fetch(failing(web.client_id, 'http://localhost:3000/cb'), { redirect: 'manual' });
    expect(r2.status).toBe(303);
    expect(new URL(r2.headers.get('location')!).origin).toBe('http://localhost:3000');
  });

  it('RFC 9700 §4.11.2: prompt=none for an openly registered client is not bounced back unseen; once the user consented it is answered', async () => {
    await s.user('silent', 'silent-password');
    const reg = (await (await register({ redirect_uris: ['https://phish.example/cb'], token_endpoint_auth_method: 'none' })).json()) as { client_id: string };
    const url = (prompt?: string) =>
      `/oauth/authorize?${new URLSearchParams({ client_id: reg.client_id, redirect_uri: 'https://phish.example/cb', response_type: 'code', scope: 'openid', state: 'st', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...(prompt ? { prompt } : {}) })}`;
    const agent = new Agent(s.issuer);
    // No session: login_required is shown, not redirected.
    const notSignedIn = await agent.follow(url('none'));
    expect([notSignedIn.status, notSignedIn.location]).toEqual([400, undefined]);
    expect(notSignedIn.html).toContain('Error: login_required');
    expect(notSignedIn.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    // Signed in, never consented: consent_required is shown too.
    const login = await agent.follow(url());
    const consentPage = await agent.login(login, 'silent', 'silent-password');
    const noConsent = await agent.follow(url('none'));
    expect([noConsent.status, noConsent.location]).toEqual([400, undefined]);
    expect(noConsent.html).toContain('Error: consent_required');
    // A denial the user chose on the consent page goes back to the client (the user saw who it is).
    const denied = await agent.consent(consentPage, 'deny');
    expect(new URL(denied.location!).searchParams.get('error')).toBe('access_denied');
    // Approved once: the silent request is answered with a code.
    const approved = await agent.authorize(url(), 'silent', 'silent-password');
    expect(approved.searchParams.get('code')).toBeTruthy();
    const silent = await agent.request(url('none'));
    expect(silent.status).toBe(303);
    expect(new URL(silent.location!).searchParams.get('code')).toBeTruthy();
  });

  it('RFC 9700 §4.11.2, RP-Initiated Logout §3: a logout with no session does not send the user on unseen to an openly registered client', async () => {
    const reg = (await (await register({ redirect_uris: ['https://phish.example/cb'], post_logout_redirect_uris: ['https://phish.example/bye'] })).json()) as { client_id: string };
    const q = new URLSearchParams({ client_id: reg.client_id, post_logout_redirect_uri: 'https://phish.example/bye', state: 'x' });
    const r = await new Agent(s.issuer).request(`/oauth/logout?${q}`);
    expect([r.status, r.location]).toEqual([200, undefined]);
    expect(r.html).not.toContain('phish.example');
    // With a session the user is asked first, and may then be sent on (they saw who asked).
    await s.user('leaving', 'leaving-password');
    const { clientId } = await s.client({ redirect_uris: ['https://rp.example/cb'] });
    const agent = new Agent(s.issuer);
    await agent.authorize(`/oauth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: 'https://rp.example/cb', response_type: 'code', scope: 'openid' })}`, 'leaving', 'leaving-password');
    const confirm = await agent.request(`/oauth/logout?${q}`);
    expect(confirm.status).toBe(200);
    expect(confirm.html).toContain('Sign out?');
    // A client the operator registered is sent back at once, session or not.
    const { clientId: rp } = await s.client({ redirect_uris: ['https://rp.example/cb'], post_logout_redirect_uris: ['https://rp.example/bye'] });
    const back = await new Agent(s.issuer).request(`/oauth/logout?${new URLSearchParams({ client_id: rp, post_logout_redirect_uri: 'https://rp.example/bye', state: 'x' })}`);
    expect([back.status, back.location]).toEqual([303, 'https://rp.example/bye?state=x']);
  });

  it('RFC 9700 §4.11.2: prompt=none for a client the operator registered still gets login_required redirected', async () => {
    const { clientId } = await s.client({ redirect_uris: ['https://rp.example/cb'] });
    const q = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://rp.example/cb', response_type: 'code', scope: 'openid', prompt: 'none', state: 'st' });
    const r = await new Agent(s.issuer).follow(`/oauth/authorize?${q}`);
    expect(r.status).toBe(303);
    expect(new URL(r.location!).searchParams.get('error')).toBe('login_required');
  });
});

describe('RFC 9700 §4.11.2 with registrationTrustedHosts', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ registration: 'open', registrationTrustedHosts: ['.trusted.example'] });
  });
  afterAll(() => s.close());

  it('an openly registered client whose redirect URI is on a trusted host gets its errors redirected', async () => {
    const r0 = await fetch(s.url('/oauth/register'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['https://app.trusted.example/cb'] }),
    });
    expect(r0.status).toBe(201);
    const { client_id } = (await r0.json()) as { client_id: string };
    const q = new URLSearchParams({ client_id, redirect_uri: 'https://app.trusted.example/cb', scope: 'openid', state: 'st' });
    const r = await fetch(s.url(`/oauth/authorize?${q}`), { redirect: 'manual' });
    expect(r.status).toBe(303);
    expect(new URL(r.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });

  it('a logout with no session sends the user back to such a client\'s post-logout redirect URI', async () => {
    const r0 = await fetch(s.url('/oauth/register'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['https://app.trusted.example/cb'], post_logout_redirect_uris: ['https://app.trusted.example/bye'] }),
    });
    const { client_id } = (await r0.json()) as { client_id: string };
    const r = await new Agent(s.issuer).request(`/oauth/logout?${new URLSearchParams({ client_id, post_logout_redirect_uri: 'https://app.trusted.example/bye' })}`);
    expect([r.status, r.location]).toEqual([303, 'https://app.trusted.example/bye']);
  });
});

describe('RFC 9700 §4.13: behind a TLS-terminating proxy, forwarded headers do not name the server', () => {
  let s: TestServer;
  beforeAll(async () => {
    // The test's own address is a trusted proxy: the strongest case, its X-Forwarded-* headers are believed.
    s = await startTestServer({ trustedProxies: ['127.0.0.1'] });
  });
  afterAll(() => s.close());

  const forged = { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', forwarded: 'host=evil.example;proto=https' };

  it('discovery and the sign-in page are built from the configured issuer, whatever Host and X-Forwarded-* say', async () => {
    const d = await fetch(s.url('/.well-known/openid-configuration'), { headers: forged });
    const text = await d.text();
    expect(text).not.toContain('evil.example');
    expect((JSON.parse(text) as { issuer: string }).issuer).toBe(s.issuer);
    const { clientId } = await s.client({ redirect_uris: ['https://rp.example/cb'] });
    const q = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://rp.example/cb', response_type: 'code', scope: 'openid' });
    const agent = new Agent(s.issuer);
    const page = await agent.follow(`/oauth/authorize?${q}`, { headers: forged });
    expect(page.status).toBe(200);
    expect(page.html).toContain('name="password"');
    expect(page.html).not.toContain('evil.example');
    expect(page.headers.get('content-security-policy') ?? '').not.toContain('evil.example');
  });

  it('RFC 9449 §4.3: a DPoP proof for the forwarded URL is refused; one for the issuer\'s token endpoint is accepted', async () => {
    const svc = await s.client({ grant_types: ['client_credentials'] });
    const keys = await generateKeyPair('ES256');
    const jwk = await exportJWK(keys.publicKey);
    const proof = (htu: string) =>
      new SignJWT({ htm: 'POST', htu, jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000) }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).sign(keys.privateKey);
    const token = async (htu: string) =>
      postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(svc.clientId, svc.clientSecret!), dpop: await proof(htu), ...forged });
    const spoofed = await token('https://evil.example/oauth/token');
    expect(spoofed.status).toBe(400);
    expect(spoofed.json.error).toBe('invalid_dpop_proof');
    const right = await token(s.url('/oauth/token'));
    expect(right.status).toBe(200);
    expect(right.json.token_type).toBe('DPoP');
  });
});

describe('RFC 9700 §4.12: no redirect answering a POST is a 307 or 308', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('a code flow started by a POST to the authorization endpoint: every redirect after a POST (credentials, consent) is 303', async () => {
    await s.user('poster', 'poster-password');
    const { clientId } = await s.client({ redirect_uris: ['https://rp.example/cb'] });
    const agent = new Agent(s.issuer);
    const statuses: [string, number][] = [];
    // Follows redirects by hand, noting the status of each answer to a POST.
    const go = async (url: string, init: Parameters<Agent['request']>[1]) => {
      let r = await agent.request(url, init);
      if (init?.form) statuses.push([url, r.status]);
      while (r.location?.startsWith(s.issuer)) r = await agent.request(r.location);
      return r;
    };
    const form = { client_id: clientId, redirect_uri: 'https://rp.example/cb', response_type: 'code', scope: 'openid', state: 'st' };
    const login = await go('/oauth/authorize', { form });
    const consent = await go(Agent.formAction(login.html, '/login'), { form: { csrf: Agent.formValue(login.html, 'csrf')!, username: 'poster', password: 'poster-password' } });
    const done = await go(Agent.formAction(consent.html, '/consent'), { form: { csrf: Agent.formValue(consent.html, 'csrf')!, decision: 'approve' } });
    expect(new URL(done.location!).searchParams.get('code')).toBeTruthy();
    expect(statuses.map(([, st]) => st)).toEqual([303, 303, 303]);
    // An error answered to a POST too.
    const bad = await agent.request('/oauth/authorize', { form: { ...form, response_type: 'unknown' } });
    expect(bad.status).toBe(303);
    expect(new URL(bad.location!).searchParams.get('error')).toBe('unsupported_response_type');
  });
});

describe('RFC 9700 §4.8, §4.10, §4.14: PKCE for confidential clients, sender-constrained tokens where they are checked', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  const keyProof = async (htm: string, htu: string, keys: { publicKey: CryptoKey; privateKey: CryptoKey }, extra: Record<string, unknown> = {}) =>
    new SignJWT({ htm, htu, jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000), ...extra })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(keys.publicKey) })
      .sign(keys.privateKey);

  it('RFC 9700 §2.1.1: a confidential client registered with require_pkce gets invalid_request for a request without code_challenge', async () => {
    const { clientId } = await s.client({ redirect_uris: ['https://rp.example/cb'], require_pkce: true });
    const q = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://rp.example/cb', response_type: 'code', scope: 'openid', state: 'st' });
    const r = await fetch(s.url(`/oauth/authorize?${q}`), { redirect: 'manual' });
    expect(r.status).toBe(303);
    const to = new URL(r.headers.get('location')!);
    expect([to.searchParams.get('error'), to.searchParams.get('state')]).toEqual(['invalid_request', 'st']);
    expect(to.searchParams.get('error_description')).toMatch(/PKCE is required/);
  });

  it('RFC 9449 §6.2, RFC 9700 §4.10.1: introspection tells the resource server a DPoP-bound token\'s key (cnf.jkt, token_type DPoP)', async () => {
    const svc = await s.client({ grant_types: ['client_credentials'] });
    const keys = await generateKeyPair('ES256');
    const t = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(svc.clientId, svc.clientSecret!), dpop: await keyProof('POST', s.url('/oauth/token'), keys) });
    expect(t.json.token_type).toBe('DPoP');
    const i = await postForm(s.url('/oauth/introspect'), { token: t.json.access_token }, { authorization: basic(svc.clientId, svc.clientSecret!) });
    expect(i.status).toBe(200);
    expect(i.json).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: await calculateJwkThumbprint(await exportJWK(keys.publicKey)) } });
  });

  it('RFC 9700 §4.14.2, RFC 9449 §5: a public client\'s DPoP-bound refresh token is refused without a proof by the same key', async () => {
    await s.user('rt-user', 'rt-password');
    const { clientId } = await s.client({ redirect_uris: ['https://rp.example/cb'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], skip_consent: true });
    const verifier = 'v'.repeat(43);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const q = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://rp.example/cb', response_type: 'code', scope: 'openid offline_access', prompt: 'consent', code_challenge: challenge, code_challenge_method: 'S256' });
    const cb = await new Agent(s.issuer).authorize(`/oauth/authorize?${q}`, 'rt-user', 'rt-password');
    const keys = await generateKeyPair('ES256');
    const other = await generateKeyPair('ES256');
    const tok = await postForm(
      s.url('/oauth/token'),
      { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: 'https://rp.example/cb', client_id: clientId, code_verifier: verifier },
      { dpop: await keyProof('POST', s.url('/oauth/token'), keys) },
    );
    expect(tok.status).toBe(200);
    expect(tok.json.refresh_token).toBeTruthy();
    const refresh = async (headers: Record<string, string>) =>
      postForm(s.url('/oauth/token'), { grant_type: 'refresh_token', refresh_token: tok.json.refresh_token, client_id: clientId }, headers);
    const bare = await refresh({});
    expect(bare.status).toBe(400);
    expect(bare.json.error).toMatch(/^invalid_(grant|dpop_proof)$/);
    const wrongKey = await refresh({ dpop: await keyProof('POST', s.url('/oauth/token'), other) });
    expect(wrongKey.status).toBe(400);
    expect(wrongKey.json.error).toMatch(/^invalid_(grant|dpop_proof)$/);
    // The refusals did not spend it: the holder of the key still refreshes.
    const right = await refresh({ dpop: await keyProof('POST', s.url('/oauth/token'), keys) });
    expect(right.status).toBe(200);
    expect(right.json.token_type).toBe('DPoP');
  });
});
