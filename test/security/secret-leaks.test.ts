import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Agent } from '../helpers/agent.js';
import { basic, freePort, jsonOrUndefined, openTestLatchkey } from '../helpers/server.js';
import { buildApp } from '../../src/http/app.js';
import { createAdminToken, createInitialAccessToken } from '../../src/services/management-tokens.js';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { listAuditEvents } from '../../src/services/audit.js';
import { DEFAULT_TENANT } from '../../src/store/types.js';

/**
 * Secrets go where they are meant to go (the response that issues them, the request that presents them) and
 * nowhere else: not into a log line at any level, an audit event (as stored and as the admin API serves it), the
 * metrics, an error answer, a page or a header of any other response. Every endpoint is driven with real secrets in
 * every place a secret can be (Basic auth, form body, query, JSON, DPoP, client assertions, codes, refresh tokens,
 * passwords, initial and registration access tokens, service and admin tokens), right and wrong ones; then
 * everything captured is searched for each value and its encoded forms.
 */

const CB = 'https://rp.example/cb';
const LOGOUT_CB = 'https://rp.example/bye';

interface Exchange {
  label: string;
  status: number;
  headers: Headers;
  body: string;
  /** This response is meant to carry a secret (it issues one); it is left out of the search and must be no-store. */
  carrier: boolean;
}

/** Every form a secret may take in a captured text. */
function forms(secret: string): string[] {
  const b64 = Buffer.from(secret).toString('base64');
  return [...new Set([secret, encodeURIComponent(secret), encodeURIComponent(secret).replace(/%20/g, '+'), JSON.stringify(secret).slice(1, -1), b64.replace(/=+$/, ''), Buffer.from(secret).toString('base64url')])];
}

const fresh = (prefix: string) => prefix + randomBytes(24).toString('base64url');

// Trace lines with and without the access log, and info lines without it: the fast path (fast-path.ts) answers the
// hot endpoints then, with its own audit and error logging.
describe.each([
  { logLevel: 'trace', accessLog: true },
  { logLevel: 'trace', accessLog: false },
  { logLevel: 'info', accessLog: false },
] as const)('secret leaks (logLevel $logLevel, accessLog $accessLog)', ({ logLevel, accessLog }) => {
  it('no secret reaches a log line, an audit event, the metrics, an error answer or a response not meant to carry it; answers that carry one are no-store, pages send no Referer', async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const keyEncryptionKey = randomBytes(32).toString('base64url');
    const t = await openTestLatchkey({ issuer, port, accessLog, logLevel, registration: 'token', keyEncryptionKey, demo: false });
    const lines: string[] = [];
    const app = await buildApp(t.lk, { logStream: { write: (l: string) => void lines.push(l) } });
    t.lk.setLogger(app.log);
    await app.listen({ host: '127.0.0.1', port });
    const exchanges: Exchange[] = [];
    /** Secrets that must appear nowhere but in the carriers; `basics` are Basic credentials (their base64 too). */
    const secrets = new Map<string, string>();
    const secret = (label: string, value: string | undefined) => {
      expect(value, label).toBeTruthy();
      secrets.set(label, value!);
      return value!;
    };

    const send = async (label: string, path: string, init: { method?: string; headers?: Record<string, string>; body?: string; form?: Record<string, string>; json?: unknown } = {}, carrier = false) => {
      const headers: Record<string, string> = { ...init.headers };
      let body = init.body;
      if (init.form) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams(init.form).toString();
      }
      if (init.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(init.json);
      }
      const res = await fetch(issuer + path, { method: init.method ?? (body !== undefined ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
      const text = await res.text();
      exchanges.push({ label, status: res.status, headers: res.headers, body: text, carrier });
      const json = jsonOrUndefined(text);
      return { status: res.status, headers: res.headers, text, json };
    };

    try {
      secret('keyEncryptionKey', keyEncryptionKey);
      // On the PostgreSQL pass, the database URL's password (when the test database has one) and the URL itself.
      const dbUrl = t.lk.config.databaseUrl;
      if (dbUrl && /^postgres/.test(dbUrl)) {
        const u = new URL(dbUrl);
        if (u.password.length >= 4) secret('database password', decodeURIComponent(u.password));
        if (u.password) secret('database URL', dbUrl);
      }
      if (process.env.LATCHKEY_TEST_DATABASE_URL) expect(secrets.has('database password')).toBe(true);
      const web = await t.client({ redirect_uris: [CB], post_logout_redirect_uris: [LOGOUT_CB], grant_types: ['authorization_code', 'refresh_token'], skip_consent: true, scope: 'openid offline_access' });
      const post = await t.client({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post', scope: 'api:read' });
      const jwtc = await t.client({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_jwt', scope: 'api:read' });
      const dpopc = await t.client({ grant_types: ['client_credentials'], dpop_bound_access_tokens: true, scope: 'api:read' });
      const pwc = await t.client({ grant_types: ['password'], insecure_password_grant: true, scope: 'openid' });
      const TX = 'urn:ietf:params:oauth:grant-type:token-exchange';
      const txc = await t.client({ grant_types: ['client_credentials', TX], token_exchange: { impersonation: true }, scope: 'api:read' });
      secret('password-grant client secret', pwc.clientSecret);
      secret('token-exchange client secret', txc.clientSecret);
      const dev = await t.client({ grant_types: ['urn:ietf:params:oauth:grant-type:device_code'], token_endpoint_auth_method: 'none', scope: 'openid' });
      secret('web client secret', web.clientSecret);
      secret('post client secret', post.clientSecret);
      secret('jwt client secret', jwtc.clientSecret);
      secret('dpop client secret', dpopc.clientSecret);
      const password = secret('password', fresh('pw-'));
      await t.user('dave', password);
      const admin = secret('admin token', (await createAdminToken(t.lk)).token);
      const service = secret('service token', (await createServiceToken(t.lk, { serviceId: DEFAULT_TENANT })).token);
      const iat = secret('initial access token', (await createInitialAccessToken(t.lk, { tenantId: DEFAULT_TENANT })).token);

      // Wrong secrets are secrets too: a typo of the real one, or another client's.
      const wrong = (label: string) => secret(label, fresh('wrong-'));

      // --- the token endpoint: client authentication in every place ---
      await send('cc basic', '/oauth/token', { form: { grant_type: 'client_credentials' }, headers: { authorization: basic(dpopc.clientId, dpopc.clientSecret!) } }, true);
      await send('cc basic wrong', '/oauth/token', { form: { grant_type: 'client_credentials' }, headers: { authorization: basic(dpopc.clientId, wrong('wrong basic secret')) } });
      const cc = await send('cc post', '/oauth/token', { form: { grant_type: 'client_credentials', client_id: post.clientId, client_secret: post.clientSecret! } }, true);
      secret('cc access token', cc.json.access_token);
      await send('cc post wrong', '/oauth/token', { form: { grant_type: 'client_credentials', client_id: post.clientId, client_secret: wrong('wrong post secret') } });
      const inQuery = wrong('secret in query');
      await send('cc secret in query', `/oauth/token?client_id=${post.clientId}&client_secret=${inQuery}`, { form: { grant_type: 'client_credentials' } });
      await send('cc repeated secret', '/oauth/token', { body: `grant_type=client_credentials&client_id=${post.clientId}&client_secret=${post.clientSecret!}&client_secret=${wrong('repeated secret')}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      await send('cc json body', '/oauth/token', { json: { grant_type: 'client_credentials', client_id: post.clientId, client_secret: wrong('secret in json') } });
      await send('cc basic and post', '/oauth/token', { form: { grant_type: 'client_credentials', client_secret: wrong('secret in body beside basic') }, headers: { authorization: basic(dpopc.clientId, dpopc.clientSecret!) } });
      const assertion = async (key: string, aud = issuer) =>
        new SignJWT({ jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'HS256' }).setIssuer(jwtc.clientId).setSubject(jwtc.clientId).setAudience(aud).setIssuedAt().setExpirationTime('1m').sign(new TextEncoder().encode(key));
      const goodAssertion = secret('client assertion', await assertion(jwtc.clientSecret!));
      const assertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
      await send('cc jwt', '/oauth/token', { form: { grant_type: 'client_credentials', client_assertion_type: assertionType, client_assertion: goodAssertion } }, true);
      await send('cc jwt replayed', '/oauth/token', { form: { grant_type: 'client_credentials', client_assertion_type: assertionType, client_assertion: goodAssertion } });
      await send('cc jwt wrong key', '/oauth/token', { form: { grant_type: 'client_credentials', client_assertion_type: assertionType, client_assertion: secret('bad assertion', await assertion(fresh('k'.repeat(40)))) } });
      await send('cc jwt wrong aud', '/oauth/token', { form: { grant_type: 'client_credentials', client_assertion_type: assertionType, client_assertion: secret('wrong-aud assertion', await assertion(jwtc.clientSecret!, 'https://evil.example')) } });
      await send('cc jwt garbage', '/oauth/token', { form: { grant_type: 'client_credentials', client_assertion_type: assertionType, client_assertion: wrong('garbage assertion') } });

      // Credentials in the wrong shape: a Basic header that is not base64 of id:secret, a Bearer token on the token endpoint.
      await send('basic not base64', '/oauth/token', { form: { grant_type: 'client_credentials' }, headers: { authorization: `Basic ${wrong('basic garbage')}!!` } });
      await send('basic without colon', '/oauth/token', { form: { grant_type: 'client_credentials' }, headers: { authorization: `Basic ${Buffer.from(wrong('basic no colon')).toString('base64')}` } });
      await send('bearer on token endpoint', '/oauth/token', { form: { grant_type: 'client_credentials' }, headers: { authorization: `Bearer ${wrong('bearer on token endpoint')}` } });

      // --- the password grant (RFC 6749 §4.3): the password in the form body, right and wrong ---
      const pwTokens = await send('password grant', '/oauth/token', { form: { grant_type: 'password', username: 'dave', password, scope: 'openid' }, headers: { authorization: basic(pwc.clientId, pwc.clientSecret!) } }, true);
      expect(pwTokens.status, pwTokens.text).toBe(200);
      secret('password-grant access token', pwTokens.json.access_token);
      await send('password grant wrong', '/oauth/token', { form: { grant_type: 'password', username: 'dave', password: wrong('wrong grant password') }, headers: { authorization: basic(pwc.clientId, pwc.clientSecret!) } });
      await send('password grant unknown user', '/oauth/token', { form: { grant_type: 'password', username: 'nobody', password: wrong('unknown user password') }, headers: { authorization: basic(pwc.clientId, pwc.clientSecret!) } });

      // --- token exchange (RFC 8693): subject tokens, right and wrong ---
      const txOwn = await send('tx own token', '/oauth/token', { form: { grant_type: 'client_credentials' }, headers: { authorization: basic(txc.clientId, txc.clientSecret!) } }, true);
      const subjectToken = secret('subject token', txOwn.json.access_token);
      const exchanged = await send('tx', '/oauth/token', { form: { grant_type: TX, subject_token: subjectToken, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token' }, headers: { authorization: basic(txc.clientId, txc.clientSecret!) } }, true);
      expect(exchanged.status, exchanged.text).toBe(200);
      secret('exchanged token', exchanged.json.access_token);
      await send('tx unknown', '/oauth/token', { form: { grant_type: TX, subject_token: wrong('unknown subject token'), subject_token_type: 'urn:ietf:params:oauth:token-type:access_token' }, headers: { authorization: basic(txc.clientId, txc.clientSecret!) } });
      await send('tx jwt garbage', '/oauth/token', { form: { grant_type: TX, subject_token: wrong('garbage subject jwt'), subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' }, headers: { authorization: basic(txc.clientId, txc.clientSecret!) } });

      // --- DPoP ---
      const keys = await generateKeyPair('ES256');
      const jwk = await exportJWK(keys.publicKey);
      const proof = (htm: string, htu: string, extra: Record<string, unknown> = {}) =>
        new SignJWT({ htm, htu, jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000), ...extra }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).sign(keys.privateKey);
      const tokenProof = secret('dpop proof', await proof('POST', `${issuer}/oauth/token`));
      const bound = await send('dpop token', '/oauth/token', { form: { grant_type: 'client_credentials' }, headers: { authorization: basic(dpopc.clientId, dpopc.clientSecret!), dpop: tokenProof } }, true);
      const boundToken = secret('dpop access token', bound.json.access_token);
      await send('dpop proof replayed', '/oauth/token', { form: { grant_type: 'client_credentials' }, headers: { authorization: basic(dpopc.clientId, dpopc.clientSecret!), dpop: tokenProof } });
      await send('dpop garbage', '/oauth/token', { form: { grant_type: 'client_credentials' }, headers: { authorization: basic(dpopc.clientId, dpopc.clientSecret!), dpop: wrong('garbage proof') } });
      await send('dpop wrong htu', '/oauth/token', { form: { grant_type: 'client_credentials' }, headers: { authorization: basic(dpopc.clientId, dpopc.clientSecret!), dpop: secret('wrong-htu proof', await proof('POST', 'https://evil.example/token')) } });

      // --- authorization code flow: the login page, codes, refresh tokens ---
      const verifier = secret('code verifier', fresh('v').padEnd(50, 'v'));
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const agent = new Agent(issuer);
      const authQuery = new URLSearchParams({ client_id: web.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid offline_access', state: 'st', nonce: 'n1', code_challenge: challenge, code_challenge_method: 'S256', prompt: 'consent' });
      const page = await agent.follow(`${issuer}/oauth/authorize?${authQuery}`);
      exchanges.push({ label: 'login page', status: page.status, headers: page.headers, body: page.html, carrier: false });
      // A password typed into the username field by mistake: the page shows the user what they typed (a carrier), but
      // the audit trail and the log never hold it (login.failure keeps a keyed hash of a name that is no account).
      const misplaced = await agent.login(page, secret('password typed as the username', fresh('pw-')), 'anything');
      exchanges.push({ label: 'login, password in the username field', status: misplaced.status, headers: misplaced.headers, body: misplaced.html, carrier: true });
      const failed = await agent.login(misplaced, 'dave', wrong('wrong password'));
      exchanges.push({ label: 'login failed', status: failed.status, headers: failed.headers, body: failed.html, carrier: false });
      const done = await agent.login(failed, 'dave', password);
      exchanges.push({ label: 'login done', status: done.status, headers: done.headers, body: done.html, carrier: true });
      const code = secret('code', new URL(done.location!).searchParams.get('code')!);
      secret('session cookie', agent.cookieValue('lk_session'));
      // Signed in: a form_post answer (OAuth 2.0 Form Post Response Mode) carries a code in its page.
      const formPost = await agent.request(`${issuer}/oauth/authorize?${new URLSearchParams({ ...Object.fromEntries(authQuery), prompt: 'none', response_mode: 'form_post' })}`);
      expect(formPost.status).toBe(200);
      secret('form_post code', /name="code" value="([^"]+)"/.exec(formPost.html)?.[1]);
      exchanges.push({ label: 'form_post page', status: formPost.status, headers: formPost.headers, body: formPost.html, carrier: true });
      // An error page (no valid redirect_uri to send the error to), with a secret in the query for good measure.
      const errorPage = await agent.request(`${issuer}/oauth/authorize?${new URLSearchParams({ client_id: web.clientId, redirect_uri: 'https://evil.example/cb', response_type: 'code', client_secret: wrong('secret on authorize') })}`);
      expect(errorPage.status).toBe(400);
      exchanges.push({ label: 'authorize error page', status: errorPage.status, headers: errorPage.headers, body: errorPage.html, carrier: false });
      const redeemed = await send('code redeemed', '/oauth/token', { form: { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }, headers: { authorization: basic(web.clientId, web.clientSecret!) } }, true);
      expect(redeemed.status).toBe(200);
      const accessToken = secret('access token', redeemed.json.access_token);
      const refreshToken = secret('refresh token', redeemed.json.refresh_token);
      const idToken = secret('id token', redeemed.json.id_token);
      await send('code unknown', '/oauth/token', { form: { grant_type: 'authorization_code', code: wrong('unknown code'), redirect_uri: CB, code_verifier: wrong('wrong verifier') }, headers: { authorization: basic(web.clientId, web.clientSecret!) } });

      // --- the resource endpoints: UserInfo, introspection, revocation ---
      await send('userinfo header', '/oauth/userinfo', { headers: { authorization: `Bearer ${accessToken}` } });
      await send('userinfo body', '/oauth/userinfo', { form: { access_token: accessToken } });
      await send('userinfo query', `/oauth/userinfo?access_token=${accessToken}`);
      await send('userinfo wrong', '/oauth/userinfo', { headers: { authorization: `Bearer ${wrong('wrong bearer')}` } });
      await send('userinfo dpop as bearer', '/oauth/userinfo', { headers: { authorization: `Bearer ${boundToken}` } });
      await send('userinfo dpop', '/oauth/userinfo', { headers: { authorization: `DPoP ${boundToken}`, dpop: secret('userinfo proof', await proof('GET', `${issuer}/oauth/userinfo`)) } });
      await send('introspect', '/oauth/introspect', { form: { token: accessToken }, headers: { authorization: basic(web.clientId, web.clientSecret!) } });
      await send('introspect unknown', '/oauth/introspect', { form: { token: wrong('unknown introspected') }, headers: { authorization: basic(web.clientId, web.clientSecret!) } });
      await send('introspect bad client', '/oauth/introspect', { form: { token: accessToken }, headers: { authorization: basic(web.clientId, wrong('wrong introspect secret')) } });
      await send('revoke unknown', '/oauth/revoke', { form: { token: wrong('unknown revoked') }, headers: { authorization: basic(web.clientId, web.clientSecret!) } });

      // --- refresh, rotation, reuse ---
      const refreshed = await send('refresh', '/oauth/token', { form: { grant_type: 'refresh_token', refresh_token: refreshToken }, headers: { authorization: basic(web.clientId, web.clientSecret!) } }, true);
      expect(refreshed.status, refreshed.text).toBe(200);
      secret('refreshed access token', refreshed.json.access_token);
      if (refreshed.json.refresh_token !== refreshToken) secret('rotated refresh token', refreshed.json.refresh_token);
      await send('refresh unknown', '/oauth/token', { form: { grant_type: 'refresh_token', refresh_token: wrong('unknown refresh') }, headers: { authorization: basic(web.clientId, web.clientSecret!) } });
      // Last of this grant: a reused code revokes what it issued (RFC 6749 §4.1.2).
      await send('code reused', '/oauth/token', { form: { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }, headers: { authorization: basic(web.clientId, web.clientSecret!) } });

      // --- PAR ---
      const par = await send('par', '/oauth/par', { form: Object.fromEntries(authQuery), headers: { authorization: basic(web.clientId, web.clientSecret!) } }, true);
      expect(par.status, par.text).toBe(201);
      await send('par wrong secret', '/oauth/par', { form: Object.fromEntries(authQuery), headers: { authorization: basic(web.clientId, wrong('wrong par secret')) } });
      await send('par secret in body', '/oauth/par', { form: { ...Object.fromEntries(authQuery), client_secret: wrong('par secret in body') }, headers: { authorization: basic(web.clientId, web.clientSecret!) } });

      // --- device flow: the user code on the device page ---
      const da = await send('device authorization', '/oauth/device_authorization', { form: { client_id: dev.clientId, scope: 'openid' } }, true);
      expect(da.status).toBe(200);
      const deviceCode = secret('device code', da.json.device_code);
      const userCode = secret('user code', da.json.user_code);
      const devAgent = new Agent(issuer);
      const approved = await devAgent.approveDevice(userCode, 'dave', password);
      expect(approved.html).toContain('Device connected');
      const devTokens = await send('device token', '/oauth/token', { form: { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode, client_id: dev.clientId } }, true);
      expect(devTokens.status, devTokens.text).toBe(200);
      secret('device access token', devTokens.json.access_token);
      await send('device code reused', '/oauth/token', { form: { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode, client_id: dev.clientId } });
      // RFC 8628 §3.3.1: the device page fills its form with the user code of verification_uri_complete (so it carries
      // it, no-store); the log must not have it.
      const devicePage = await send('device page', `/device?user_code=${encodeURIComponent(userCode)}`, {}, true);
      expect(devicePage.status).toBe(200);

      // --- dynamic registration ---
      const reg = await send('register', '/oauth/register', { json: { redirect_uris: [CB], grant_types: ['authorization_code'] }, headers: { authorization: `Bearer ${iat}` } }, true);
      expect(reg.status).toBe(201);
      secret('registered client secret', reg.json.client_secret);
      const rat = secret('registration access token', reg.json.registration_access_token);
      const regPath = new URL(reg.json.registration_client_uri).pathname;
      await send('registration read', regPath, { headers: { authorization: `Bearer ${rat}` } }, true); // RFC 7592 §3: may return the secret
      await send('registration read wrong', regPath, { headers: { authorization: `Bearer ${wrong('wrong rat')}` } });
      await send('register wrong iat', '/oauth/register', { json: { redirect_uris: [CB] }, headers: { authorization: `Bearer ${wrong('wrong iat')}` } });
      await send('register secret in body', '/oauth/register', { json: { redirect_uris: [CB], client_secret: wrong('chosen secret'), token_endpoint_auth_method: 'bogus' }, headers: { authorization: `Bearer ${iat}` } });

      // --- Core API ---
      await send('core introspection', `/api/${DEFAULT_TENANT}/auth/introspection`, { json: { token: accessToken, scopes: [] }, headers: { authorization: `Bearer ${service}` } });
      await send('core introspection unknown', `/api/${DEFAULT_TENANT}/auth/introspection`, { json: { token: wrong('core unknown token'), scopes: [] }, headers: { authorization: `Bearer ${service}` } });
      await send('core token', `/api/${DEFAULT_TENANT}/auth/token`, { json: { parameters: 'grant_type=client_credentials', clientId: post.clientId, clientSecret: post.clientSecret! }, headers: { authorization: `Bearer ${service}` } }, true);
      await send('core token wrong', `/api/${DEFAULT_TENANT}/auth/token`, { json: { parameters: 'grant_type=client_credentials', clientId: post.clientId, clientSecret: wrong('core wrong secret') }, headers: { authorization: `Bearer ${service}` } });
      await send('core bad field', `/api/${DEFAULT_TENANT}/auth/token`, { json: { parameters: 'grant_type=client_credentials', clientSecret: wrong('core secret without id') }, headers: { authorization: `Bearer ${service}` } });
      await send('core wrong service token', `/api/${DEFAULT_TENANT}/auth/introspection`, { json: { token: accessToken, scopes: [] }, headers: { authorization: `Bearer ${wrong('wrong service token')}` } });

      // --- admin API ---
      const adminH = { authorization: `Bearer ${admin}` };
      const created = await send('admin create user', `/admin/tenants/${DEFAULT_TENANT}/users`, { json: { username: 'erin', password: secret('admin-set password', fresh('pw2-')) }, headers: adminH });
      expect(created.status).toBe(201);
      const erin = created.json.sub ?? created.json.id;
      await send('admin reset password', `/admin/tenants/${DEFAULT_TENANT}/users/${erin}/password`, { json: { password: secret('admin reset password', fresh('pw3-')) }, headers: adminH });
      await send('admin short password', `/admin/tenants/${DEFAULT_TENANT}/users/${erin}/password`, { json: { password: secret('short password', 'x' + randomBytes(2).toString('hex')) }, headers: adminH });
      await send('admin create client', `/admin/tenants/${DEFAULT_TENANT}/clients`, { json: { client_secret: secret('operator chosen secret', fresh('chosen-').padEnd(40, 'c')), grant_types: ['client_credentials'] }, headers: adminH }, true);
      await send('admin short client secret', `/admin/tenants/${DEFAULT_TENANT}/clients`, { json: { client_secret: secret('short client secret', 'short' + randomBytes(3).toString('hex')), grant_types: ['client_credentials'] }, headers: adminH });
      const rotated = await send('admin rotate secret', `/admin/tenants/${DEFAULT_TENANT}/clients/${post.clientId}/secret`, { json: {}, headers: adminH }, true);
      secret('rotated client secret', rotated.json.client_secret);
      await send('admin get client', `/admin/tenants/${DEFAULT_TENANT}/clients/${web.clientId}`, { headers: adminH });
      await send('admin list clients', `/admin/tenants/${DEFAULT_TENANT}/clients`, { headers: adminH });
      await send('admin list iats', `/admin/tenants/${DEFAULT_TENANT}/initial-access-tokens`, { headers: adminH });
      await send('admin wrong token', `/admin/tenants`, { headers: { authorization: `Bearer ${wrong('wrong admin token')}` } });

      // --- RP-initiated logout: id_token_hint in the query ---
      const logout = await agent.request(`${issuer}/oauth/logout?${new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: LOGOUT_CB, state: 'bye' })}`);
      exchanges.push({ label: 'logout', status: logout.status, headers: logout.headers, body: logout.html, carrier: false });
      const bogusHint = await agent.request(`${issuer}/oauth/logout?${new URLSearchParams({ id_token_hint: wrong('bogus id_token_hint') })}`);
      exchanges.push({ label: 'logout bogus hint', status: bogusHint.status, headers: bogusHint.headers, body: bogusHint.html, carrier: false });

      // --- what the operator sees: the audit trail (stored and served) and the metrics ---
      await t.lk.audit.flush();
      await send('admin audit events', `/admin/tenants/${DEFAULT_TENANT}/audit-events?limit=1000`, { headers: adminH });
      await send('metrics', '/metrics');
      const stored = JSON.stringify(await listAuditEvents(t.lk, DEFAULT_TENANT, { limit: 1000 } as never));
      await new Promise((r) => setTimeout(r, 20));

      // The capture is real: trace lines for requests, audit events of each kind this drove.
      expect(lines.length).toBeGreaterThan(logLevel === 'trace' ? 100 : 30); // at info: the audit lines
      for (const type of ['client.auth_failed', 'code.reuse_detected', 'login.failure', 'client.registered', 'admin.action']) expect(stored).toContain(type);

      const places: Array<[string, string]> = [
        ['log', lines.join('\n')],
        ['stored audit events', stored],
        ...exchanges.filter((e) => !e.carrier).map((e): [string, string] => [`response "${e.label}"`, `${e.status}\n${[...e.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${e.body}`]),
      ];
      const leaks: string[] = [];
      for (const [label, value] of secrets) {
        for (const form of forms(value)) {
          for (const [where, text] of places) if (text.includes(form)) leaks.push(`${label} in ${where}`);
        }
      }
      // Basic credentials as sent (base64 of client_id:secret).
      for (const [id, s] of [[web.clientId, web.clientSecret!], [dpopc.clientId, dpopc.clientSecret!]] as const) {
        const b = basic(id, s).slice(6);
        for (const [where, text] of places) if (text.includes(b)) leaks.push(`Basic credentials of ${id} in ${where}`);
      }
      expect([...new Set(leaks)]).toEqual([]);

      // RFC 6749 §5.1, RFC 7591 §3.2.1, RFC 8628 §3.2, RFC 9126 §2.2: an answer carrying a secret is never cached.
      const cacheable = exchanges.filter((e) => e.carrier && !/no-store/.test(e.headers.get('cache-control') ?? '')).map((e) => e.label);
      expect(cacheable).toEqual([]);
      // Every other answer here is no-store too: errors (they describe a secret's fate), introspection and UserInfo
      // (what a token is worth), admin and Core API answers, pages, redirects, metrics.
      const cachedErrors = exchanges.filter((e) => !/no-store/.test(e.headers.get('cache-control') ?? '')).map((e) => `${e.label} (${e.status})`);
      expect(cachedErrors).toEqual([]);
      // RFC 9700 §4.2.4: a page (its URL may hold a code, a ticket, a user code or an id_token_hint) sends no Referer.
      const referring = exchanges.filter((e) => /text\/html/.test(e.headers.get('content-type') ?? '') && e.headers.get('referrer-policy') !== 'no-referrer').map((e) => e.label);
      expect(referring).toEqual([]);
    } finally {
      await app.close();
      await t.close();
    }
  });
});
