import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const CB2 = 'https://rp.example/other';

describe('authorization code flow: negative cases', () => {
  let s: TestServer;
  let clock = Date.now();
  let conf: { clientId: string; clientSecret?: string };
  let other: { clientId: string; clientSecret?: string };
  let pub: { clientId: string };
  let two: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer({ loginRateLimit: 3 }, { clock: () => clock });
    conf = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], skip_consent: true });
    other = await s.client({ redirect_uris: [CB], skip_consent: true, grant_types: ['authorization_code', 'refresh_token'] });
    pub = await s.client({ redirect_uris: [CB], token_endpoint_auth_method: 'none', skip_consent: true, grant_types: ['authorization_code', 'refresh_token'] });
    two = await s.client({ redirect_uris: [CB, CB2], skip_consent: true });
    await s.user('bob', 'bob-password');
  });
  afterAll(() => s.close());

  const authUrl = (p: Record<string, string>) => `${s.issuer}/oauth/authorize?${new URLSearchParams(p)}`;
  const base = (c: { clientId: string }, extra: Record<string, string> = {}) => ({ client_id: c.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid offline_access', state: 'st', ...extra });
  const token = (c: { clientId: string; clientSecret?: string }, body: Record<string, string>) =>
    c.clientSecret ? postForm(s.url('/oauth/token'), body, { authorization: basic(c.clientId, c.clientSecret) }) : postForm(s.url('/oauth/token'), { ...body, client_id: c.clientId });

  async function codeFor(c: { clientId: string }, extra: Record<string, string> = {}): Promise<string> {
    const cb = await new Agent(s.issuer).authorize(authUrl(base(c, extra)), 'bob', 'bob-password');
    const code = cb.searchParams.get('code');
    if (!code) throw new Error('no code: ' + cb.href);
    return code;
  }

  const pkce = () => {
    const verifier = 'v'.repeat(20) + Math.random().toString(36).slice(2).padEnd(30, 'x');
    return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
  };

  it('RFC 9700 §4.1.3: an unregistered redirect_uri gets an error page and no redirect', async () => {
    const r = await new Agent(s.issuer).request(authUrl(base(conf, { redirect_uri: 'https://evil.example/cb' })));
    expect(r.status).toBe(400);
    expect(r.location).toBeUndefined();
    expect(r.html).toContain('redirect_uri');
    expect(r.html).not.toContain('evil.example');
    // A registered URI plus a path suffix or other case is not an exact match either.
    expect((await new Agent(s.issuer).request(authUrl(base(conf, { redirect_uri: CB + '/x' })))).location).toBeUndefined();
    expect((await new Agent(s.issuer).request(authUrl(base(conf, { redirect_uri: 'https://RP.example/cb' })))).location).toBeUndefined();
  });

  it('an unknown client gets an error page and no redirect', async () => {
    const r = await new Agent(s.issuer).request(authUrl(base({ clientId: 'nobody' })));
    expect(r.status).toBe(400);
    expect(r.location).toBeUndefined();
  });

  it('OIDC Core §3.1.2.1: two registered redirect URIs and none sent is an error page', async () => {
    const p = base(two) as Record<string, string>;
    delete p.redirect_uri;
    const r = await new Agent(s.issuer).request(authUrl(p));
    expect(r.status).toBe(400);
    expect(r.location).toBeUndefined();
  });

  it('RFC 6749 §4.1.2.1: a missing response_type is redirected as invalid_request with state and iss', async () => {
    const p = base(conf) as Record<string, string>;
    delete p.response_type;
    const r = await new Agent(s.issuer).request(authUrl(p));
    const loc = new URL(r.location!);
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('state')).toBe('st');
    expect(loc.searchParams.get('iss')).toBe(s.issuer);
  });

  it('RFC 6749 §3.1: a repeated parameter is rejected (§4.1.2.1: redirected once client_id and redirect_uri verify)', async () => {
    const r = await new Agent(s.issuer).request(`${authUrl(base(conf))}&scope=openid`);
    expect(new URL(r.location!).searchParams.get('error')).toBe('invalid_request');
    expect(new URL(r.location!).searchParams.get('error_description')).toContain('repeated');
    const page = await new Agent(s.issuer).request(`${authUrl(base(conf))}&client_id=${conf.clientId}`);
    expect(page.status).toBe(400);
    expect(page.html).toContain('repeated');
  });

  it('unsupported response_type is unsupported_response_type by redirect', async () => {
    const r = await new Agent(s.issuer).request(authUrl(base(conf, { response_type: 'magic' })));
    expect(new URL(r.location!).searchParams.get('error')).toBe('unsupported_response_type');
  });

  it('RFC 7636 / RFC 9700 §2.1.1: PKCE plain is refused; a public client without PKCE is refused', async () => {
    const plain = await new Agent(s.issuer).request(authUrl(base(conf, { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' })));
    expect(new URL(plain.location!).searchParams.get('error')).toBe('invalid_request');
    const noMethod = await new Agent(s.issuer).request(authUrl(base(conf, { code_challenge: 'a'.repeat(43) })));
    expect(new URL(noMethod.location!).searchParams.get('error')).toBe('invalid_request'); // defaults to plain (§4.3)
    const none = await new Agent(s.issuer).request(authUrl(base(pub)));
    expect(new URL(none.location!).searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('RFC 7636 §4.6: a wrong code_verifier is invalid_grant; a missing one too', async () => {
    const { challenge } = pkce();
    const code = await codeFor(pub, { code_challenge: challenge, code_challenge_method: 'S256' });
    const r = await token(pub, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: 'w'.repeat(43) });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('invalid_grant');
    const code2 = await codeFor(pub, { code_challenge: challenge, code_challenge_method: 'S256' });
    expect((await token(pub, { grant_type: 'authorization_code', code: code2, redirect_uri: CB })).json.error).toBe('invalid_grant');
  });

  it('RFC 9700 §4.8.2: a code_verifier for a code issued without a challenge is invalid_grant', async () => {
    const code = await codeFor(conf);
    const r = await token(conf, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: 'x'.repeat(43) });
    expect(r.json.error).toBe('invalid_grant');
  });

  it('RFC 6749 §4.1.2: a reused code is rejected and the tokens issued from it are revoked', async () => {
    const code = await codeFor(conf);
    const first = await token(conf, { grant_type: 'authorization_code', code, redirect_uri: CB });
    expect(first.status).toBe(200);
    const ui = () => fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${first.json.access_token}` } });
    expect((await ui()).status).toBe(200);
    const again = await token(conf, { grant_type: 'authorization_code', code, redirect_uri: CB });
    expect(again.status).toBe(400);
    expect(again.json.error).toBe('invalid_grant');
    const after = await ui();
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
    expect((await token(conf, { grant_type: 'refresh_token', refresh_token: first.json.refresh_token })).json.error).toBe('invalid_grant');
  });

  it('RFC 9700 §4.5: a code presented without its proof (wrong verifier, another client, another redirect_uri) is not spent and is no reuse: the right request still gets its tokens, and only once', async () => {
    const { verifier, challenge } = pkce();
    const code = await codeFor(pub, { code_challenge: challenge, code_challenge_method: 'S256' });
    const attempts: [{ clientId: string; clientSecret?: string }, Record<string, string>][] = [
      [pub, { code_verifier: 'w'.repeat(43) }], // a leaked code without its verifier
      [pub, {}], // no verifier at all
      [other, { code_verifier: verifier }], // another client
      [pub, { code_verifier: verifier, redirect_uri: CB2 }], // another redirect_uri
    ];
    for (const [c, extra] of attempts) {
      const r = await token(c, { grant_type: 'authorization_code', code, redirect_uri: CB, ...extra });
      expect(r.status, JSON.stringify(extra)).toBe(400);
      expect(r.json.error).toBe('invalid_grant');
    }
    const ok = await token(pub, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier });
    expect(ok.status).toBe(200);
    expect(ok.json.access_token).toBeTruthy();
    // A wrong verifier after the redemption is still no reuse (the tokens stay valid); the right one again is.
    expect((await token(pub, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: 'w'.repeat(43) })).json.error).toBe('invalid_grant');
    const ui = () => fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${ok.json.access_token}` } });
    expect((await ui()).status).toBe(200);
    const again = await token(pub, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier });
    expect(again.json).toMatchObject({ error: 'invalid_grant', error_description: 'authorization code already used' });
    expect((await ui()).status).toBe(401);
  });

  it('RFC 6749 §4.1.2: an expired code is invalid_grant', async () => {
    const code = await codeFor(conf);
    clock += 61_000;
    const r = await token(conf, { grant_type: 'authorization_code', code, redirect_uri: CB });
    clock += 0;
    expect(r.json.error).toBe('invalid_grant');
  });

  it('RFC 6749 §4.1.3: a code issued to another client is invalid_grant', async () => {
    const code = await codeFor(conf);
    const r = await token(other, { grant_type: 'authorization_code', code, redirect_uri: CB });
    expect(r.json.error).toBe('invalid_grant');
  });

  it('RFC 6749 §4.1.3: a redirect_uri that differs from the authorization request is invalid_grant', async () => {
    const code = await codeFor(two);
    expect((await token(two, { grant_type: 'authorization_code', code, redirect_uri: CB2 })).json.error).toBe('invalid_grant');
    const code2 = await codeFor(two);
    expect((await token(two, { grant_type: 'authorization_code', code: code2 })).json.error).toBe('invalid_grant');
  });

  it('RFC 9700 §4.14.2: replaying a rotated refresh token revokes the whole family', async () => {
    const code = await codeFor(conf);
    const t0 = (await token(conf, { grant_type: 'authorization_code', code, redirect_uri: CB })).json;
    const t1 = (await token(conf, { grant_type: 'refresh_token', refresh_token: t0.refresh_token })).json;
    expect(t1.refresh_token).toBeTruthy();
    const replay = await token(conf, { grant_type: 'refresh_token', refresh_token: t0.refresh_token });
    expect(replay.json.error).toBe('invalid_grant');
    // The newest refresh token and its access token are dead too.
    expect((await token(conf, { grant_type: 'refresh_token', refresh_token: t1.refresh_token })).json.error).toBe('invalid_grant');
    expect((await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${t1.access_token}` } })).status).toBe(401);
  });

  it('RFC 6749 §6: refresh may narrow the scope, never widen it; another client cannot use it', async () => {
    const code = await codeFor(conf);
    const t0 = (await token(conf, { grant_type: 'authorization_code', code, redirect_uri: CB })).json;
    expect((await token(conf, { grant_type: 'refresh_token', refresh_token: t0.refresh_token, scope: 'openid offline_access email' })).json.error).toBe('invalid_scope');
    expect((await token(other, { grant_type: 'refresh_token', refresh_token: t0.refresh_token })).json.error).toBe('invalid_grant');
    const narrowed = await token(conf, { grant_type: 'refresh_token', refresh_token: t0.refresh_token, scope: 'openid' });
    expect(narrowed.json.scope).toBe('openid');
    // The family keeps what was granted: the new refresh token can still ask for offline_access.
    const wide = await token(conf, { grant_type: 'refresh_token', refresh_token: narrowed.json.refresh_token, scope: 'openid offline_access' });
    expect(wide.status).toBe(200);
  });

  describe('login form', () => {
    it('a POST without the CSRF token is refused', async () => {
      const agent = new Agent(s.issuer);
      const page = await agent.follow(authUrl(base(conf)));
      const action = Agent.formAction(page.html, '/login');
      const r = await agent.request(action, { form: { username: 'bob', password: 'bob-password' } });
      expect(r.status).toBe(403);
      expect(r.location).toBeUndefined();
      const wrong = await agent.request(action, { form: { csrf: 'forged', username: 'bob', password: 'bob-password' } });
      expect(wrong.status).toBe(403);
    });

    it('an interaction started in one browser cannot be completed in another', async () => {
      const a = new Agent(s.issuer);
      const page = await a.follow(authUrl(base(conf)));
      const action = Agent.formAction(page.html, '/login');
      const b = new Agent(s.issuer);
      const r = await b.request(action, { form: { csrf: Agent.formValue(page.html, 'csrf')!, username: 'bob', password: 'bob-password' } });
      expect(r.status).toBe(403);
    });

    it('failed logins are rate-limited per account, with the same message for unknown users', async () => {
      const agent = new Agent(s.issuer);
      const unknown = await agent.login(await agent.follow(authUrl(base(conf))), 'nobody', 'whatever-pass');
      const wrong = await agent.login(await agent.follow(authUrl(base(conf))), 'bob', 'whatever-pass');
      const msg = (h: string) => /role="alert">([^<]*)</.exec(h)?.[1];
      expect(msg(unknown.html)).toBe(msg(wrong.html));
      await agent.login(await agent.follow(authUrl(base(conf))), 'bob', 'whatever-pass');
      await agent.login(await agent.follow(authUrl(base(conf))), 'bob', 'whatever-pass');
      const blocked = await agent.login(await agent.follow(authUrl(base(conf))), 'bob', 'bob-password');
      expect(blocked.status).toBe(429);
      expect(blocked.headers.get('retry-after')).toMatch(/^\d+$/);
      clock += 301_000; // next window
      const ok = await agent.login(await agent.follow(authUrl(base(conf))), 'bob', 'bob-password');
      expect(ok.location).toMatch(/code=/);
    });

    it('pages carry CSP frame-ancestors none, nosniff, no-referrer and no-store; cookies are HttpOnly and SameSite', async () => {
      const agent = new Agent(s.issuer);
      const first = await agent.request(authUrl(base(conf)));
      const cookie = first.headers.get('set-cookie')!;
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Lax/);
      const page = await agent.request(first.location!);
      const csp = page.headers.get('content-security-policy')!;
      expect(csp).toMatch(/frame-ancestors 'none'/);
      expect(csp).not.toMatch(/unsafe-inline/);
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
      expect(page.headers.get('referrer-policy')).toBe('no-referrer');
      expect(page.headers.get('cache-control')).toBe('no-store');
      const done = await agent.login(page, 'bob', 'bob-password');
      const sc = done.headers.get('set-cookie') ?? '';
      expect(agent.cookies()).toContain('lk_session');
      expect(sc === '' || /HttpOnly/.test(sc)).toBe(true);
    });
  });

  describe('UserInfo errors (RFC 6750 §3.1)', () => {
    it('no token: 401 with a bare Bearer challenge; a bad token: invalid_token; both header and body: invalid_request', async () => {
      const none = await fetch(s.url('/oauth/userinfo'));
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer realm="latchkey"');
      const bad = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: 'Bearer nope' } });
      expect(bad.status).toBe(401);
      expect(bad.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
      const both = await postForm(s.url('/oauth/userinfo'), { access_token: 'a' }, { authorization: 'Bearer b' });
      expect(both.status).toBe(400);
      expect(both.json.error).toBe('invalid_request');
    });

    it('a user token without the openid scope is insufficient_scope (403)', async () => {
      const p = base(conf, { scope: 'offline_access' }) as Record<string, string>;
      const cb = await new Agent(s.issuer).authorize(authUrl(p), 'bob', 'bob-password');
      const t = await token(conf, { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB });
      expect(t.json.id_token).toBeUndefined();
      const r = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${t.json.access_token}` } });
      expect(r.status).toBe(403);
      expect(r.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
    });

    it('OIDC Core §5.3, RFC 6750 §3.1: a client_credentials token (valid, without openid) is 403 insufficient_scope at UserInfo, not 401 invalid_token', async () => {
      const cc = await s.client({ grant_types: ['client_credentials'], scope: 'api' });
      const t = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(cc.clientId, cc.clientSecret!) });
      const r = await fetch(s.url('/oauth/userinfo'), { headers: { authorization: `Bearer ${t.json.access_token}` } });
      expect(r.status).toBe(403);
      expect(r.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
    });
  });
});
