import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { BACKGROUND_METHODS, FAULT_MARKER, type FaultKind, startFaultyServer, type FaultyServer } from '../helpers/faulty-store.js';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { rotateKeys } from '../../src/services/keys.js';
import { deleteUser, setDisabled, setPassword } from '../../src/services/users.js';
import { basic, jsonOrUndefined } from '../helpers/server.js';
import { startLogoutRp } from '../helpers/logout-rp.js';
import { createInitialAccessToken } from '../../src/services/management-tokens.js';
import { acceptOtp, otpRequired, RECOVERY_CODES, recoveryCodesLeft, startOtpSetup } from '../../src/services/mfa.js';
import { addWebauthnKey, creationOptions, webauthnChallenge, webauthnKeys } from '../../src/services/webauthn.js';
import { pageWebauthnOptions, SoftKey } from '../helpers/webauthn.js';
import { base32Decode, hotp, TOTP_STEP } from '../../src/services/totp.js';

/*
 * Fault injection: the database fails in the middle of a request. Each writing flow is run with its 1st, 2nd, 3rd, …
 * store call failing (test/helpers/faulty-store.ts), once as an outage (503) and once as a server fault (500), until
 * the flow runs through without reaching the armed call; on PostgreSQL also with every database session ended at that
 * call (pg_terminate_backend), and on SQLite also with its Nth statement failing (SQLITE_BUSY, SQLITE_IOERR). Each time:
 *   - the answer is the spec's error (500 server_error / 503 temporarily_unavailable with Retry-After; an error page or
 *     a redirect to the registered redirect_uri at the authorization endpoint), with no internal text;
 *   - nothing is half-issued: what the flow promises on a retry (the code, the refresh token, the registration access
 *     token still good; the logout's revocations and notifications done) holds once the fault is gone;
 *   - the server keeps serving.
 */

const CB = 'https://rp.example/cb';
const CIBA = 'urn:openid:params:grant-type:ciba';
// On PostgreSQL also the database ending every session of ours (a failover, an operator's pg_terminate_backend).
const KINDS: FaultKind[] = process.env.LATCHKEY_TEST_DATABASE_URL ? ['unavailable', 'bug', 'terminate'] : ['unavailable', 'bug'];

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json?: any;
  location?: string;
}

async function send(url: string, init: { method?: string; form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined;
  if (init.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(init.form).toString();
  } else if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.json);
  }
  const res = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
  const text = await res.text();
  const json = jsonOrUndefined(text);
  return { status: res.status, headers: res.headers, text, json, location: res.headers.get('location') ?? undefined };
}

/**
 * The problems with a failed request's answer: the spec's error, the right status for the fault, no internal text.
 * `page`: a browser endpoint (an HTML error page, or a redirect to the client's registered redirect_uri with the error).
 */
function answerProblems(a: Answer, kind: FaultKind, page = false): string[] {
  const out: string[] = [];
  if (a.text.includes(FAULT_MARKER) || /\bat .+:\d+:\d+\)?/.test(a.text)) out.push(`internal text in the answer: ${a.text.slice(0, 200)}`);
  if (a.location !== undefined) {
    if (!page) return [...out, `redirect from a back-channel endpoint to ${a.location}`];
    const u = new URL(a.location, 'http://x');
    if (`${u.origin}${u.pathname}` !== CB) out.push(`redirect to an unverified place: ${a.location}`);
    else if (!['server_error', 'temporarily_unavailable'].includes(u.searchParams.get('error') ?? '')) out.push(`redirect without the error: ${a.location}`);
    return out;
  }
  const outage = kind === 'unavailable' || kind === 'terminate';
  const want = outage ? 503 : 500;
  if (a.status !== want) out.push(`status ${a.status}, expected ${want}: ${a.text.slice(0, 200)}`);
  if (outage && !a.headers.get('retry-after')) out.push('503 without Retry-After');
  if (page) {
    if (!/text\/html/.test(a.headers.get('content-type') ?? '')) out.push(`a browser endpoint answered ${a.headers.get('content-type')}, not an error page`);
  } else {
    const error = outage ? 'temporarily_unavailable' : 'server_error';
    if (a.json?.error !== error) out.push(`error ${a.json?.error}, expected ${error}`);
  }
  return out;
}

/**
 * Run `act` with its 1st, 2nd, … store call failing, for each fault kind, until it completes without reaching the
 * armed call; `check` is given the failed answer and returns what is wrong with the state it left (after the fault
 * cleared). Returns every problem found, labelled.
 */
async function sweep<P>(
  s: FaultyServer,
  level: 'call' | 'statement',
  flow: {
    setup: () => Promise<P>;
    act: (p: P) => Promise<Answer>;
    check: (p: P, a: Answer) => Promise<string[]>;
    page?: boolean;
    method?: string;
    /** Not an HTTP answer (a CLI operation): only the state is checked. */
    noAnswer?: boolean;
  },
  maxCalls = 60,
): Promise<{ problems: string[]; calls: string[] }> {
  const problems: string[] = [];
  let calls: string[] = [];
  s.plan.level = level;
  for (const kind of level === 'statement' ? (['unavailable', 'ioerr'] as const) : KINDS) {
    for (let n = 1; ; n++) {
      if (n > maxCalls) throw new Error(`the flow never completed: ${s.plan.calls.join(', ')}`);
      const p = await flow.setup();
      s.plan.arm(n, kind, flow.method);
      let a: Answer;
      try {
        a = await flow.act(p);
      } finally {
        s.plan.disarm();
      }
      const fired = s.plan.fired;
      if (!fired) {
        calls = [...s.plan.calls];
        break;
      }
      const label = `${kind} at call ${n} (${fired})`;
      // A failure the flow absorbed (it retried, or the call was not needed for the answer) is no problem in itself.
      // A terminated connection fails only the statements that meet it (a call answered from a cache does not).
      // A busy SQLite statement is retried (sqlite-busy.ts): absorbed, the flow answers as it would have anyway.
      const absorbable = kind === 'terminate' || (level === 'statement' && kind === 'unavailable');
      const failed = absorbable ? a.status >= 500 || /error=(server_error|temporarily_unavailable)/.test(a.location ?? '') : a.status >= 400 || a.location?.includes('error=');
      if (!flow.noAnswer && failed) for (const x of answerProblems(a, kind, flow.page)) problems.push(`${label}: ${x}`);
      for (const x of await flow.check(p, a)) problems.push(`${label}: ${x}`);
    }
  }
  return { problems, calls };
}

// SQLite also fails single statements (better-sqlite3's own errors: a query, BEGIN or COMMIT, a group-commit batch).
const LEVELS: ('call' | 'statement')[] = process.env.LATCHKEY_TEST_DATABASE_URL ? ['call'] : ['call', 'statement'];

// A sweep is dozens of requests (sign-ins with argon2 among them): more than the default 30 s on a loaded machine.
describe.each(LEVELS)('store faults in the middle of a request (failing one store %s at a time)', { timeout: 180_000 }, (level) => {
  let s: FaultyServer;
  let clock = Date.now();
  let rp: Awaited<ReturnType<typeof startLogoutRp>>;
  let web: { clientId: string; clientSecret?: string };
  let svc: { clientId: string; clientSecret?: string };
  let dev: { clientId: string; clientSecret?: string };
  let ciba: { clientId: string; clientSecret?: string };
  let alice: string;

  beforeAll(async () => {
    rp = await startLogoutRp();
    s = await startFaultyServer({ registration: 'token', deviceCodeInterval: 5, loginRateLimit: 10000, userCodeRateLimit: 10000, allowRegistration: true },
      // One connection on PostgreSQL: a terminated session is the one the next statement meets, and a request that took
      // a second connection while holding one in a transaction would wait for ever here rather than only under load.
      { clock: () => clock, poolSize: 1 },
    );
    web = await s.client({
      redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid profile offline_access api',
      backchannel_logout_uri: `${rp.base}/bc`, post_logout_redirect_uris: [`${rp.base}/bye`], session_refresh_tokens: true,
      id_token_signed_response_alg: 'ES256', // the key rotation test rotates ES256 (an RSA key takes long to make)
    });
    svc = await s.client({ grant_types: ['client_credentials'], scope: 'api' });
    dev = await s.client({ grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], scope: 'openid offline_access api' });
    ciba = await s.client({ grant_types: [CIBA, 'refresh_token'], backchannel_token_delivery_mode: 'poll', scope: 'openid offline_access api' });
    alice = await s.user('alice', 'alice-password');
  });
  afterAll(async () => {
    await s?.close();
    await rp?.close();
  });

  const auth = (c: { clientId: string; clientSecret?: string }) => ({ authorization: basic(c.clientId, c.clientSecret!) });
  const token = (c: { clientId: string; clientSecret?: string }, form: Record<string, string>) => send(s.url('/oauth/token'), { form, headers: auth(c) });
  const introspect = async (t: string, by = web) => (await send(s.url('/oauth/introspect'), { form: { token: t }, headers: auth(by) })).json?.active === true;
  const authorizeUrl = (extra: Record<string, string> = {}) =>
    `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: web.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid offline_access api', ...extra });

  async function signedIn(): Promise<Agent> {
    const agent = new Agent(s.issuer);
    await agent.authorize(authorizeUrl(), 'alice', 'alice-password');
    return agent;
  }
  async function code(agent?: Agent): Promise<string> {
    const cb = await (agent ?? new Agent(s.issuer)).authorize(authorizeUrl(), 'alice', 'alice-password');
    return cb.searchParams.get('code')!;
  }
  async function tokens(): Promise<{ access_token: string; refresh_token: string; id_token: string }> {
    const r = await token(web, { grant_type: 'authorization_code', code: await code(), redirect_uri: CB });
    expect(r.status).toBe(200);
    return r.json;
  }
  async function serving(): Promise<string[]> {
    const r = await token(svc, { grant_type: 'client_credentials', scope: 'api' });
    return r.status === 200 && (await introspect(r.json.access_token)) ? [] : [`not serving afterwards: ${r.status} ${r.text.slice(0, 120)}`];
  }

  it.runIf(level === 'statement')("the audit trail's group commit landing inside a request is not counted as the request's statement", async () => {
    // Its timer fires 50 ms after a setup request's events, so on a loaded machine it can land inside the next act.
    s.plan.level = level;
    s.plan.arm(1, 'ioerr');
    try {
      s.lk.audit.record({ tenantId: s.ctx.tenant.id, type: 'token.issued', clientId: svc.clientId });
      await s.lk.audit.flush();
      expect(s.plan.fired).toBeUndefined();
      expect(s.plan.calls).toEqual([]);
    } finally {
      s.plan.disarm();
    }
  });

  it('client_credentials: a failed store call is 500/503, and the server keeps serving', async () => {
    const { problems, calls } = await sweep(s, level, {
      setup: async () => undefined,
      act: () => token(svc, { grant_type: 'client_credentials', scope: 'api' }),
      check: async () => serving(),
    });
    expect(problems).toEqual([]);
    expect(calls.length).toBeGreaterThan(0);
  });

  it('RFC 6749 §4.1.3: a code redemption that fails leaves the code unspent, and the retry gets the tokens', async () => {
    const { problems } = await sweep(s, level, {
      setup: () => code(),
      act: (c) => token(web, { grant_type: 'authorization_code', code: c, redirect_uri: CB }),
      check: async (c, a) => {
        if (a.status === 200) return serving(); // the fault was absorbed (a dead connection replaced)
        const retry = await token(web, { grant_type: 'authorization_code', code: c, redirect_uri: CB });
        if (retry.status !== 200) return [`the retry failed: ${retry.status} ${retry.text.slice(0, 150)}`];
        const out = [];
        if (!(await introspect(retry.json.access_token))) out.push('the retry access token is not active');
        if (!(await introspect(retry.json.refresh_token))) out.push('the retry refresh token is not active');
        return [...out, ...(await serving())];
      },
    });
    expect(problems).toEqual([]);
  });

  it('RFC 6749 §6: a refresh that fails leaves the refresh token unrotated, and the retry rotates it', async () => {
    const { problems } = await sweep(s, level, {
      setup: () => tokens(),
      act: (t) => token(web, { grant_type: 'refresh_token', refresh_token: t.refresh_token }),
      check: async (t, a) => {
        if (a.status === 200) return serving();
        const retry = await token(web, { grant_type: 'refresh_token', refresh_token: t.refresh_token });
        if (retry.status !== 200) return [`the retry failed: ${retry.status} ${retry.text.slice(0, 150)}`];
        const out = [];
        if (!(await introspect(retry.json.refresh_token))) out.push('the new refresh token is not active');
        if (!(await introspect(retry.json.access_token))) out.push('the new access token is not active');
        return [...out, ...(await serving())];
      },
    });
    expect(problems).toEqual([]);
  });

  it('RFC 9700 §4.14.2: a reuse whose family revocation fails is refused, and presenting it again revokes the family', async () => {
    const { problems } = await sweep(s, level, {
      setup: async () => {
        const t = await tokens();
        const next = (await token(web, { grant_type: 'refresh_token', refresh_token: t.refresh_token })).json;
        return { old: t.refresh_token, next };
      },
      act: (p) => token(web, { grant_type: 'refresh_token', refresh_token: p.old }),
      check: async (p, a) => {
        const out: string[] = [];
        if (a.status === 200) out.push('a reused refresh token was accepted');
        const again = await token(web, { grant_type: 'refresh_token', refresh_token: p.old });
        if (again.json?.error !== 'invalid_grant') out.push(`the second reuse answered ${again.status} ${again.text.slice(0, 100)}`);
        if (await introspect(p.next.refresh_token)) out.push('the family survived the reuse');
        if (await introspect(p.next.access_token)) out.push("the family's access token survived the reuse");
        return out;
      },
    });
    expect(problems).toEqual([]);
  });

  let users = 0;
  const pageAnswer = (r: Awaited<ReturnType<Agent['request']>>): Answer => ({ status: r.status, headers: r.headers, text: r.html, location: r.location });

  it('OIDC Core §3.1.2: consent that fails is an error page or a redirect to the registered redirect_uri; signing in again works', async () => {
    const { problems } = await sweep(s, level, {
      page: true,
      setup: async () => {
        const name = `consenting-${++users}`;
        await s.user(name, 'consenting-password');
        const agent = new Agent(s.issuer);
        const login = await agent.follow(authorizeUrl({ state: 'st' }));
        const page = await agent.login(login, name, 'consenting-password');
        if (!page.html.includes('/consent')) throw new Error(`expected the consent page, got ${page.status}`);
        return { agent, page, name };
      },
      act: async ({ agent, page }) =>
        pageAnswer(await agent.request(Agent.formAction(page.html, '/consent'), { form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'approve' } })),
      check: async ({ agent, name }, a) => {
        if (a.location && new URL(a.location).searchParams.get('code')) return [];
        const cb = await agent.authorize(authorizeUrl(), name, 'consenting-password');
        const c = cb.searchParams.get('code');
        if (!c) return [`signing in again gave no code: ${cb}`];
        const r = await token(web, { grant_type: 'authorization_code', code: c, redirect_uri: CB });
        return r.status === 200 ? [] : [`the new code was refused: ${r.status}`];
      },
    });
    expect(problems).toEqual([]);
  });

  it('RFC 6749 §4.1.2: an authorization request in a live session that fails is an error page or an error redirect; the retry gets a code', async () => {
    const agent = await signedIn();
    const { problems } = await sweep(s, level, {
      page: true,
      setup: async () => undefined,
      act: async () => pageAnswer(await agent.request(authorizeUrl({ state: 'st' }))),
      check: async (_p, a) => {
        if (a.location && new URL(a.location).searchParams.get('code')) return [];
        const cb = await agent.authorize(authorizeUrl(), 'alice', 'alice-password');
        const c = cb.searchParams.get('code');
        if (!c) return [`the retry gave no code: ${cb}`];
        const r = await token(web, { grant_type: 'authorization_code', code: c, redirect_uri: CB });
        return r.status === 200 ? [] : [`the new code was refused: ${r.status}`];
      },
    });
    expect(problems).toEqual([]);
  });

  it('RFC 6749 §4.1.2: a consent approval whose issue step fails is an error page; the same page, sent again, gets a code (the ticket was given back)', async () => {
    const agent = await signedIn();
    const approve = (page: { html: string }) =>
      agent.request(Agent.formAction(page.html, '/consent'), { form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'approve' } });
    const { problems } = await sweep(s, level, {
      page: true,
      setup: async () => {
        const page = await agent.follow(authorizeUrl({ prompt: 'consent', state: 'st' }));
        if (!page.html.includes('/consent')) throw new Error(`no consent page: ${page.status} ${page.html.slice(0, 200)}`);
        return page;
      },
      act: async (page) => pageAnswer(await approve(page)),
      check: async (page, a) => {
        if (a.location && new URL(a.location).searchParams.get('code')) return [];
        const again = await approve(page);
        const c = again.location ? new URL(again.location).searchParams.get('code') : null;
        if (!c) return [`approving again gave no code: ${again.status} ${again.html.slice(0, 150)}`];
        const r = await token(web, { grant_type: 'authorization_code', code: c, redirect_uri: CB });
        return r.status === 200 ? [] : [`the code was refused: ${r.status} ${r.text.slice(0, 100)}`];
      },
    });
    expect(problems).toEqual([]);
  });

  it('sign-in: a login that fails is an error page, and signing in again works', async () => {
    const { problems } = await sweep(s, level, {
      page: true,
      setup: async () => {
        const agent = new Agent(s.issuer);
        return { agent, page: await agent.follow(authorizeUrl()) };
      },
      act: async ({ agent, page }) =>
        pageAnswer(await agent.request(Agent.formAction(page.html, '/login'), { form: { csrf: Agent.formValue(page.html, 'csrf')!, username: 'alice', password: 'alice-password' } })),
      check: async ({ agent }) => {
        const cb = await agent.authorize(authorizeUrl(), 'alice', 'alice-password');
        return cb.searchParams.get('code') ? [] : [`signing in again gave no code: ${cb}`];
      },
    });
    expect(problems).toEqual([]);
  });

  it('RFC 8628 §3.4: a device flow whose steps fail answers errors, and the device still gets its tokens', async () => {
    const start = () => send(s.url('/oauth/device_authorization'), { form: { scope: 'openid api' }, headers: auth(dev) });
    // Device authorization.
    const authz = await sweep(s, level, { setup: async () => undefined, act: start, check: async () => serving() });
    // Polling an approved code.
    const poll = await sweep(s, level, {
      setup: async () => {
        const d = (await start()).json;
        const page = await new Agent(s.issuer).approveDevice(d.user_code, 'alice', 'alice-password');
        if (!page.html.includes('connected')) throw new Error('approval failed');
        clock += 6000;
        return d.device_code as string;
      },
      act: (deviceCode) => token(dev, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode }),
      check: async (deviceCode, a) => {
        if (a.status === 200) return serving();
        clock += 20_000; // past any interval the failed poll may have raised
        const retry = await token(dev, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode });
        if (retry.status !== 200) return [`the next poll failed: ${retry.status} ${retry.text.slice(0, 150)}`];
        return (await introspect(retry.json.access_token)) ? [] : ['the access token is not active'];
      },
    });
    expect([...authz.problems, ...poll.problems]).toEqual([]);
  });

  it('RFC 8628 §3.3: an approval that fails is an error page; approving again works and the device gets its tokens', async () => {
    const { problems } = await sweep(s, level, {
      page: true,
      setup: async () => {
        const d = (await send(s.url('/oauth/device_authorization'), { form: { scope: 'openid api' }, headers: auth(dev) })).json;
        const agent = new Agent(s.issuer);
        const login = await agent.follow(`/device?user_code=${encodeURIComponent(d.user_code)}`);
        const codePage = await agent.follow(Agent.formAction(login.html, '/device/login'), {
          form: { csrf: Agent.formValue(login.html, 'csrf')!, user_code: d.user_code, username: 'alice', password: 'alice-password' },
        });
        const confirm = await agent.follow('/device', { form: { csrf: Agent.formValue(codePage.html, 'csrf')!, user_code: d.user_code } });
        const form = { csrf: Agent.formValue(confirm.html, 'csrf')!, binding: Agent.formValue(confirm.html, 'binding')!, user_code: d.user_code, decision: 'approve' };
        return { agent, form, deviceCode: d.device_code as string };
      },
      act: async ({ agent, form }) => pageAnswer(await agent.request('/device/confirm', { form })),
      check: async ({ agent, form, deviceCode }, a) => {
        if (!a.text.includes('Device connected')) {
          const again = await agent.request('/device/confirm', { form });
          if (!again.html.includes('Device connected')) return [`approving again failed: ${again.status}`];
        }
        clock += 20_000;
        const r = await token(dev, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode });
        return r.status === 200 ? [] : [`the device got no tokens: ${r.status} ${r.text.slice(0, 120)}`];
      },
    });
    expect(problems).toEqual([]);
  });

  /** A CIBA request naming alice (CIBA Core §7.1), and alice signed in on /ciba with the form that decides it. */
  async function cibaWaiting(): Promise<{ agent: Agent; form: Record<string, string>; authReqId: string }> {
    const message = `M${++cibaRequests}`;
    const started = await send(s.url('/oauth/bc-authorize'), { form: { scope: 'openid offline_access', login_hint: 'alice', binding_message: message }, headers: auth(ciba) });
    if (started.status !== 200) throw new Error(`bc-authorize: ${started.status} ${started.text.slice(0, 150)}`);
    const agent = new Agent(s.issuer);
    const login = await agent.follow('/ciba');
    const page = await agent.follow(Agent.formAction(login.html, '/ciba/login'), { form: { csrf: Agent.formValue(login.html, 'csrf')!, username: 'alice', password: 'alice-password' } });
    const section = page.html.split('<section class="ciba-request">').find((p) => p.includes(`>${message}<`));
    if (!section) throw new Error(`the request is not listed: ${page.status} ${page.html.slice(0, 200)}`);
    return { agent, form: { csrf: Agent.formValue(section, 'csrf')!, request: Agent.formValue(section, 'request')!, decision: 'approve' }, authReqId: started.json.auth_req_id };
  }
  let cibaRequests = 0;
  const redeemCiba = (authReqId: string) => {
    clock += 10_000; // past the polling interval (CIBA Core §11: slow_down)
    return token(ciba, { grant_type: CIBA, auth_req_id: authReqId });
  };

  it('CIBA Core §9: an approval on /ciba that fails is an error page; allowing it again works and the client gets its tokens', async () => {
    const { problems } = await sweep(s, level, {
      page: true,
      setup: cibaWaiting,
      act: async ({ agent, form }) => pageAnswer(await agent.request('/ciba', { form })),
      check: async ({ agent, form, authReqId }, a) => {
        if (!a.text.includes('Sign-in allowed')) {
          const again = await agent.request('/ciba', { form });
          if (!again.html.includes('Sign-in allowed')) return [`allowing again failed: ${again.status} ${again.html.slice(0, 150)}`];
        }
        const r = await redeemCiba(authReqId);
        return r.status === 200 && r.json.id_token ? [] : [`the client got no tokens: ${r.status} ${r.text.slice(0, 120)}`];
      },
    });
    expect(problems).toEqual([]);
  });

  it('CIBA Core §11: a redemption that fails leaves the request redeemable, and the retry gets the tokens', async () => {
    const { problems } = await sweep(s, level, {
      setup: async () => {
        const w = await cibaWaiting();
        const done = await w.agent.request('/ciba', { form: w.form });
        if (!done.html.includes('Sign-in allowed')) throw new Error(`not allowed: ${done.status}`);
        return w.authReqId;
      },
      act: (authReqId) => redeemCiba(authReqId),
      check: async (authReqId, a) => {
        if (a.status === 200) return serving();
        const retry = await redeemCiba(authReqId);
        if (retry.status !== 200) return [`the retry failed: ${retry.status} ${retry.text.slice(0, 150)}`];
        const out = [];
        if (!(await introspect(retry.json.access_token, ciba))) out.push('the retry access token is not active');
        if (!(await introspect(retry.json.refresh_token, ciba))) out.push('the retry refresh token is not active');
        return [...out, ...(await serving())];
      },
    });
    expect(problems).toEqual([]);
  });

  it('the account page: removing an application\'s access that fails is an error page and removes all or nothing; removing again removes it', async () => {
    const { problems } = await sweep(s, level, {
      page: true,
      setup: async () => {
        const agent = await signedIn();
        const t = (await token(web, { grant_type: 'authorization_code', code: await code(agent), redirect_uri: CB })).json;
        const page = await agent.follow('/account');
        const section = page.html.split('<section class="app-access">').find((p) => p.includes(`value="${web.clientId}"`));
        if (!section) throw new Error(`the client is not listed: ${page.status} ${page.html.slice(0, 200)}`);
        return { agent, refresh: t.refresh_token as string, form: { csrf: Agent.formValue(section, 'csrf')!, client: web.clientId, decision: 'remove' } };
      },
      act: async ({ agent, form }) => pageAnswer(await agent.request('/account', { form })),
      check: async ({ agent, refresh, form }, a) => {
        const state = async () => ({ live: await introspect(refresh), consent: (await s.ctx.store.findConsent(s.ctx.tenant.id, alice, web.clientId)) !== undefined });
        let now = await state();
        if (now.live !== now.consent) return [`removed by halves: refresh token live ${now.live}, consent kept ${now.consent}`];
        if (a.text.includes('no longer has access') && now.live) return ['the page said removed, the store did not'];
        if (!now.live) return [];
        const again = await agent.request('/account', { form });
        now = await state();
        return again.html.includes('no longer has access') && !now.live && !now.consent ? [] : [`removing again: ${again.status}, live ${now.live}, consent ${now.consent}`];
      },
    });
    expect(problems).toEqual([]);
  });

  it('the account page: a password change that fails is an error page and changes all or nothing (the password and the other browsers\' sessions); done again, it changes', async () => {
    const { problems } = await sweep(s, level, {
      page: true,
      setup: async () => {
        const name = `changing-${++users}`;
        const id = await s.user(name, 'changing-password');
        const signIn = async () => {
          const agent = new Agent(s.issuer);
          const login = await agent.follow('/account');
          const page = await agent.follow(Agent.formAction(login.html, '/account/login'), { form: { csrf: Agent.formValue(login.html, 'csrf')!, username: name, password: 'changing-password' } });
          if (!page.html.includes('Change password')) throw new Error(`no account page: ${page.status} ${page.html.slice(0, 200)}`);
          return { agent, page };
        };
        const phone = (await signIn()).agent;
        const { agent, page } = await signIn();
        const before = (await s.ctx.store.findUserById(s.ctx.tenant.id, id))!.passwordHash;
        return { id, agent, phone, before, form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'password', password: 'changed-password' } };
      },
      act: async ({ agent, form }) => pageAnswer(await agent.request('/account', { form })),
      check: async ({ id, agent, phone, before, form }, a) => {
        const state = async () => ({
          changed: (await s.ctx.store.findUserById(s.ctx.tenant.id, id))!.passwordHash !== before,
          phoneIn: (await phone.request('/account')).html.includes('Change password'),
        });
        let now = await state();
        if (now.changed === now.phoneIn) return [`changed by halves: password changed ${now.changed}, the other browser signed in ${now.phoneIn}`];
        if (a.text.includes('Password changed.') && !now.changed) return ['the page said changed, the store did not'];
        if (now.changed) return [];
        const again = await agent.request('/account', { form });
        now = await state();
        return again.html.includes('Password changed.') && now.changed && !now.phoneIn ? [] : [`changing again: ${again.status}, changed ${now.changed}, other browser in ${now.phoneIn}`];
      },
    });
    expect(problems).toEqual([]);
  });

  it('two-step sign-in turned on at /mfa: a failure leaves it off (the same code then turns it on) or on with all its recovery codes, never on without them', async () => {
    const { problems } = await sweep(s, level, {
      page: true,
      setup: async () => {
        const name = `enrolling-${++users}`;
        const id = await s.user(name, 'enrolling-password');
        const agent = new Agent(s.issuer);
        const login = await agent.follow('/mfa');
        const page = await agent.follow(Agent.formAction(login.html, '/mfa/login'), { form: { csrf: Agent.formValue(login.html, 'csrf')!, username: name, password: 'enrolling-password' } });
        const key = /<code class="otp-secret">([A-Z2-7 ]+)<\/code>/.exec(page.html)?.[1];
        if (!key) throw new Error(`no set-up page: ${page.status} ${page.html.slice(0, 200)}`);
        const turnOn = () => agent.request('/mfa', { form: { csrf: Agent.formValue(page.html, 'csrf')!, decision: 'on', otp: hotp(base32Decode(key)!, Math.floor(clock / 1000 / TOTP_STEP)) } });
        return { id, turnOn };
      },
      act: async ({ turnOn }) => pageAnswer(await turnOn()),
      check: async ({ id, turnOn }, a) => {
        const state = async () => ({ on: await otpRequired(s.ctx, id), left: await recoveryCodesLeft(s.ctx, id) });
        let now = await state();
        if (now.on && now.left !== RECOVERY_CODES) return [`two-step sign-in is on with ${now.left} recovery codes`];
        if (a.status === 200 && !now.on) return ['the page said on, the store says off'];
        if (now.on) return [];
        const again = await turnOn();
        now = await state();
        return again.status === 200 && now.on && now.left === RECOVERY_CODES ? [] : [`turning it on again: ${again.status}, on ${now.on}, ${now.left} codes`];
      },
    });
    expect(problems).toEqual([]);
  });

  it('a security key as the second step (WebAuthn): a sign-in that fails is an error page or the code page again, and the key signs in afterwards', async () => {
    /** Password, then the page's challenge: `answer()` posts the key's answer to it. */
    const askedForKey = async (name: string, key: SoftKey) => {
      const agent = new Agent(s.issuer);
      const asked = await agent.login(await agent.follow(authorizeUrl()), name, 'keyed-password');
      const options = pageWebauthnOptions(asked.html, 'get');
      if (!options) throw new Error(`no key offered: ${asked.status} ${asked.html.slice(0, 200)}`);
      const form = { csrf: Agent.formValue(asked.html, 'csrf')!, otp_pending: Agent.formValue(asked.html, 'otp_pending')!, webauthn: key.assert(options, s.issuer) };
      return { agent, answer: () => agent.request(Agent.formAction(asked.html, '/login'), { form }) };
    };
    const { problems } = await sweep(s, level, {
      page: true,
      setup: async () => {
        const name = `keyed-${++users}`;
        const id = await s.user(name, 'keyed-password');
        const app = base32Decode((await startOtpSetup(s.ctx, { id, username: name })).secret)!;
        if (!(await acceptOtp(s.ctx, id, hotp(app, Math.floor(clock / 1000 / TOTP_STEP)), true))) throw new Error('two-step sign-in not on');
        const key = new SoftKey({ counter: 1 });
        const exp = Math.floor(clock / 1000) + 60;
        const challenge = webauthnChallenge(s.ctx, 'create', [id, 'sweep', exp]);
        const added = await addWebauthnKey(s.ctx, id, key.register(creationOptions(s.ctx, { id, username: name }, challenge, []), s.issuer), challenge, exp, 'key');
        if (added !== 'added') throw new Error(`key not added: ${added}`);
        return { id, name, key, ...(await askedForKey(name, key)) };
      },
      act: async ({ answer }) => pageAnswer(await answer()),
      check: async ({ id, name, key }) => {
        // Whatever happened, the key (its counter as the store has it) signs in now.
        const { agent, answer: post } = await askedForKey(name, key);
        const answer = await post();
        const done = answer.location ? await agent.follow(answer.location) : answer;
        // Signed in: on to the consent page (or the client, once consent was given).
        const on = (done.location ?? '').startsWith(`${CB}?code=`) || (done.status === 200 && done.html.includes('/consent') && !done.html.includes('otp_pending'));
        if (answer.status !== 303 || !on) return [`the key does not sign in afterwards: ${answer.status} ${done.status} ${done.location ?? done.html.slice(0, 160)}`];
        return (await webauthnKeys(s.ctx, id))[0]?.counter === key.counter ? [] : ['the stored counter is not the key\'s'];
      },
    });
    expect(problems).toEqual([]);
  });

  it('prompt=create: a sign-up that fails is an error page, and signing up again (or signing in) gets the user a code', async () => {
    let n = 0;
    const { problems } = await sweep(s, level, {
      page: true,
      setup: async () => {
        const agent = new Agent(s.issuer);
        const page = await agent.follow(authorizeUrl({ prompt: 'create' }));
        const action = Agent.formAction(page.html, '/create');
        return { agent, action, csrf: Agent.formValue(page.html, 'csrf')!, username: `newcomer-${++n}` };
      },
      act: async ({ agent, action, csrf, username }) => pageAnswer(await agent.request(action, { form: { csrf, username, password: 'newcomer-password-1' } })),
      check: async ({ agent, action, csrf, username }, a) => {
        if (a.status === 303) return [];
        const again = await agent.follow(action, { form: { csrf, username, password: 'newcomer-password-1' } });
        if (again.status === 409) return [`signing up again: the account was made but the sign-up failed (${username} is taken)`];
        let r = again;
        if (r.html.includes('/consent')) r = await agent.consent(r, 'approve');
        return r.location && new URL(r.location).searchParams.get('code') ? [] : [`signing up again gave no code: ${r.status} ${r.html.slice(0, 120)}`];
      },
    });
    expect(problems).toEqual([]);
  });

  it("prompt=create in a browser signed in as another user: that session ends as a logout with the sign-up, all or nothing", async () => {
    let n = 0;
    const { problems } = await sweep(s, level, {
      page: true,
      setup: async () => {
        const agent = new Agent(s.issuer);
        const cb = await agent.authorize(authorizeUrl({ scope: 'openid api' }), 'alice', 'alice-password');
        const t = (await token(web, { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB })).json;
        const sid = JSON.parse(Buffer.from(t.id_token.split('.')[1]!, 'base64url').toString()).sid as string;
        const page = await agent.follow(authorizeUrl({ prompt: 'create' }));
        const form = { csrf: Agent.formValue(page.html, 'csrf')!, username: `switcher-${++n}`, password: 'switcher-password-1' };
        return { agent, action: Agent.formAction(page.html, '/create'), form, sid, before: (await s.store.listDeliveries('default', web.clientId)).length };
      },
      act: async ({ agent, action, form }) => pageAnswer(await agent.request(action, { form })),
      check: async ({ agent, action, form, sid, before }, a) => {
        const out: string[] = [];
        const delivered = async () => (await s.store.listDeliveries('default', web.clientId)).length - before;
        const ended = async () => (await s.store.findSessionBySid('default', sid))?.endedAt !== null;
        if (a.status !== 303) {
          // Failed: alice's session is as it was (live, nobody told), or ended with its client told; never half of it.
          if ((await ended()) !== ((await delivered()) === 1)) out.push("alice's session was ended by halves");
          await agent.follow(action, { form });
        }
        if (!(await ended())) out.push("alice's session was not ended by the sign-up");
        if ((await delivered()) !== 1) out.push(`alice's session's client was told ${await delivered()} times`);
        // The audit trail tells what happened: one logout of alice's session, not one per attempt (a rolled-back
        // sign-up's event was kept before).
        await s.lk.audit.flush();
        const logouts = (await s.store.listAuditEvents('default', { type: 'logout', limit: 1000 })).filter((e) => e.detail.sid === sid).length;
        if (logouts !== 1) out.push(`alice's session's logout was audited ${logouts} times`);
        return out;
      },
    });
    expect(problems).toEqual([]);
  });

  it('key rotation (latchkey keys rotate): a rotation that fails leaves the keys signing and published, and a retry rotates', async () => {
    const verifiable = async (): Promise<string[]> => {
      const jwks = createLocalJWKSet((await send(s.url('/.well-known/jwks.json'))).json);
      const t = await tokens();
      try {
        await jwtVerify(t.id_token, jwks, { issuer: s.issuer, audience: web.clientId });
        return [];
      } catch (e) {
        return [`an ID token signed after the failed rotation does not verify against the JWKS: ${(e as Error).message}`];
      }
    };
    // keysVersion is the rotation's own call here, not background work.
    s.plan.background = new Set([...BACKGROUND_METHODS].filter((m) => m !== 'keysVersion'));
    try {
      const { problems } = await sweep(s, level, {
        noAnswer: true,
        setup: async () => undefined,
        act: async () => {
          try {
            await rotateKeys(s.lk, 'default', ['ES256'], { immediate: true });
            return { status: 200, headers: new Headers(), text: '' };
          } catch (e) {
            // The CLI prints the failure; what matters is what the server does next.
            return { status: 500, headers: new Headers(), text: String(e) };
          }
        },
        check: async () => {
          const out = await verifiable();
          try {
            await rotateKeys(s.lk, 'default', ['ES256'], { immediate: true });
          } catch (e) {
            out.push(`the retried rotation failed: ${(e as Error).message}`);
          }
          return [...out, ...(await verifiable())];
        },
      });
      expect(problems).toEqual([]);
    } finally {
      s.plan.background = BACKGROUND_METHODS;
    }
  });

  it('RFC 8693: a token exchange that fails is 500/503, and the retry issues the token', async () => {
    const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
    const AT = 'urn:ietf:params:oauth:token-type:access_token';
    const xc = await s.client({
      redirect_uris: [CB], grant_types: ['authorization_code', GRANT], scope: 'openid api', skip_consent: true,
      token_exchange: { subject_token_types: [AT], impersonation: true },
    });
    const exchange = (t: string) => token(xc, { grant_type: GRANT, subject_token: t, subject_token_type: AT, scope: 'api' });
    const { problems } = await sweep(s, level, {
      setup: async () => {
        const cb = await new Agent(s.issuer).authorize(
          `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: xc.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid api' }),
          'alice', 'alice-password',
        );
        return (await token(xc, { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB })).json.access_token as string;
      },
      act: (t) => exchange(t),
      check: async (t) => {
        const retry = await exchange(t);
        if (retry.status !== 200) return [`the retry failed: ${retry.status} ${retry.text.slice(0, 150)}`];
        return (await introspect(retry.json.access_token)) ? [] : ['the exchanged token is not active'];
      },
    });
    expect(problems).toEqual([]);
  });

  for (const op of ['delete', 'disable', 'reset password'] as const) {
    it(`an operator's user ${op} that fails ends no session by halves; done again, the sessions' clients are told`, async () => {
      let n = 0;
      const run = (sub: string) =>
        op === 'delete' ? deleteUser(s.ctx, sub) : op === 'disable' ? setDisabled(s.ctx, sub, true) : setPassword(s.ctx, sub, 'another-password-1');
      const { problems } = await sweep(s, level, {
        noAnswer: true,
        setup: async () => {
          const name = `managed-${op.replace(' ', '-')}-${++n}`;
          const sub = await s.user(name, 'managed-password');
          const cb = await new Agent(s.issuer).authorize(authorizeUrl({ scope: 'openid api' }), name, 'managed-password');
          const t = (await token(web, { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB })).json;
          const hash = (await s.store.findUserById('default', sub))!.passwordHash;
          return { sub, t, hash, before: (await s.store.listDeliveries('default', web.clientId)).length };
        },
        act: async ({ sub }) => {
          try {
            await run(sub);
            return { status: 200, headers: new Headers(), text: '' };
          } catch (e) {
            return { status: 500, headers: new Headers(), text: String(e) };
          }
        },
        check: async ({ sub, t, hash, before }, a) => {
          const out: string[] = [];
          const sid = JSON.parse(Buffer.from(t.id_token.split('.')[1]!, 'base64url').toString()).sid as string;
          if (a.status !== 200 && op !== 'delete') {
            // Before anyone does it again: a password reset (or a disabling) stored, its sessions must have ended with it.
            const u = (await s.store.findUserById('default', sub))!;
            const stored = op === 'disable' ? u.disabled : u.passwordHash !== hash;
            if (stored && (await s.store.findSessionBySid('default', sid))?.endedAt === null) out.push(`the ${op} was stored, and the user's session left live`);
          }
          // The operator sees the failure and does it again (a user already deleted is 404 then: nothing left to do).
          if (a.status !== 200) await run(sub).catch(() => undefined);
          if ((await s.store.listDeliveries('default', web.clientId)).length !== before + 1) out.push("the session's client was not told (no back-channel delivery)");
          if (await introspect(t.access_token)) out.push("the user's access token is still active");
          if ((await s.store.findSessionBySid('default', sid))?.endedAt === null) out.push("the user's session was not ended");
          return out;
        },
      });
      expect(problems).toEqual([]);
    });
  }

  it('RFC 9126: a pushed authorization request that fails is 500/503', async () => {
    const { problems } = await sweep(s, level, {
      setup: async () => undefined,
      act: () => send(s.url('/oauth/par'), { form: { client_id: web.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid' }, headers: auth(web) }),
      check: async () => serving(),
    });
    expect(problems).toEqual([]);
  });

  it('RFC 7009: a revocation that fails is 500/503, and the retry revokes the refresh token and its access token', async () => {
    const { problems } = await sweep(s, level, {
      setup: () => tokens(),
      act: (t) => send(s.url('/oauth/revoke'), { form: { token: t.refresh_token }, headers: auth(web) }),
      check: async (t) => {
        const retry = await send(s.url('/oauth/revoke'), { form: { token: t.refresh_token }, headers: auth(web) });
        const out = retry.status === 200 ? [] : [`the retry failed: ${retry.status}`];
        if (await introspect(t.refresh_token)) out.push('the refresh token is still active');
        if (await introspect(t.access_token)) out.push('its access token is still active');
        return out;
      },
    });
    expect(problems).toEqual([]);
  });

  it('RFC 7591: a registration that fails gives the initial access token its use back', async () => {
    const { problems } = await sweep(s, level, {
      setup: async () => (await createInitialAccessToken(s.lk, { tenantId: 'default', uses: 1 })).token,
      act: (iat) => send(s.url('/oauth/register'), { json: { redirect_uris: [CB] }, headers: { authorization: `Bearer ${iat}` } }),
      check: async (iat, a) => {
        if (a.status === 201) return [];
        const retry = await send(s.url('/oauth/register'), { json: { redirect_uris: [CB] }, headers: { authorization: `Bearer ${iat}` } });
        if (retry.status !== 201) return [`the retry failed: ${retry.status} ${retry.text.slice(0, 150)}`];
        const read = await send(retry.json.registration_client_uri, { headers: { authorization: `Bearer ${retry.json.registration_access_token}` } });
        return read.status === 200 ? [] : [`the registration access token does not work: ${read.status}`];
      },
    });
    expect(problems).toEqual([]);
  });

  async function registered(extra: Record<string, unknown> = {}) {
    const iat = (await createInitialAccessToken(s.lk, { tenantId: 'default', uses: 1 })).token;
    const r = await send(s.url('/oauth/register'), { json: { redirect_uris: [CB], ...extra }, headers: { authorization: `Bearer ${iat}` } });
    expect(r.status).toBe(201);
    return r.json as { client_id: string; registration_access_token: string; registration_client_uri: string };
  }

  it('RFC 7592 §2.2: an update that fails leaves the registration access token working', async () => {
    const { problems } = await sweep(s, level, {
      setup: () => registered(),
      // A new redirect origin: the client's consents are forgotten with the write.
      act: (c) => send(c.registration_client_uri, { method: 'PUT', json: { client_id: c.client_id, redirect_uris: [CB, 'https://new.example/cb'] }, headers: { authorization: `Bearer ${c.registration_access_token}` } }),
      check: async (c, a) => {
        if (a.status === 200) return [];
        const read = await send(c.registration_client_uri, { headers: { authorization: `Bearer ${c.registration_access_token}` } });
        if (read.status !== 200) return [`the client's registration access token stopped working: ${read.status}`];
        const retry = await send(c.registration_client_uri, { method: 'PUT', json: { client_id: c.client_id, redirect_uris: [CB, 'https://new.example/cb'] }, headers: { authorization: `Bearer ${c.registration_access_token}` } });
        return retry.status === 200 ? [] : [`the retry failed: ${retry.status}`];
      },
    });
    expect(problems).toEqual([]);
  });

  it('RFC 7592 §2.3: a deletion that fails can be retried', async () => {
    const { problems } = await sweep(s, level, {
      setup: () => registered(),
      act: (c) => send(c.registration_client_uri, { method: 'DELETE', headers: { authorization: `Bearer ${c.registration_access_token}` } }),
      check: async (c, a) => {
        if (a.status === 204) return [];
        const retry = await send(c.registration_client_uri, { method: 'DELETE', headers: { authorization: `Bearer ${c.registration_access_token}` } });
        return retry.status === 204 ? [] : [`the retry failed: ${retry.status} ${retry.text.slice(0, 100)}`];
      },
    });
    expect(problems).toEqual([]);
  });

  it('OIDC Back-Channel Logout §2.5: a logout that fails ends nothing by halves; signing out again revokes and notifies', async () => {
    const { problems } = await sweep(s, level, {
      page: true,
      setup: async () => {
        const agent = new Agent(s.issuer);
        // Without offline_access: the grant is the session's and goes with it (OIDC Core §11).
        const cb = await agent.authorize(authorizeUrl({ scope: 'openid api' }), 'alice', 'alice-password');
        const t = (await token(web, { grant_type: 'authorization_code', code: cb.searchParams.get('code')!, redirect_uri: CB })).json;
        const before = (await s.store.listDeliveries('default', web.clientId)).length;
        return { agent, t, before };
      },
      act: async ({ agent, t }) => {
        const r = await agent.request(`${s.issuer}/oauth/logout?` + new URLSearchParams({ id_token_hint: t.id_token }));
        return { status: r.status, headers: r.headers, text: r.html, location: r.location };
      },
      check: async ({ agent, t, before }) => {
        // The user signs out again (the page said something went wrong).
        await agent.request(`${s.issuer}/oauth/logout?` + new URLSearchParams({ id_token_hint: t.id_token }));
        const out: string[] = [];
        if (await introspect(t.access_token)) out.push("the session's access token is still active after signing out");
        if ((await s.store.listDeliveries('default', web.clientId)).length !== before + 1) out.push('no back-channel logout delivery was queued');
        const sid = JSON.parse(Buffer.from(t.id_token.split('.')[1]!, 'base64url').toString()).sid as string;
        if ((await s.store.listGrantsBySid('default', sid)).some((g) => g.revokedAt === null)) out.push("the session's grant was not revoked");
        return out;
      },
    });
    expect(problems).toEqual([]);
  });
});
