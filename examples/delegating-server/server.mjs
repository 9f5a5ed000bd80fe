#!/usr/bin/env node
/*
 * A web application that is its own OpenID Provider, with its own login page and its own users, and that leaves
 * every OAuth 2.0 / OpenID Connect rule to Latchkey's Core API. It never parses an authorization request, never
 * mints a token and never checks one: it passes each request on as received and does what the answer's
 * `action` says. Plain Node.js (node:http), no dependencies, no Latchkey imports: only HTTP.
 *
 *   LATCHKEY_URL=http://127.0.0.1:9000 SERVICE_ID=acme SERVICE_TOKEN=lks_… ISSUER=http://127.0.0.1:3000 PORT=3000 \
 *     node examples/delegating-server/server.mjs
 *
 * The service must have been created with this application's URL as its issuer
 * (`latchkey service create acme --issuer http://127.0.0.1:3000`). See README.md beside this file.
 */
import { createServer } from 'node:http';
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

const PORT = Number(process.env.PORT ?? 3000);
const ISSUER = process.env.ISSUER ?? `http://127.0.0.1:${PORT}`;
const LATCHKEY_URL = process.env.LATCHKEY_URL ?? 'http://127.0.0.1:9000';
const SERVICE_ID = process.env.SERVICE_ID;
const SERVICE_TOKEN = process.env.SERVICE_TOKEN;
if (!SERVICE_ID || !SERVICE_TOKEN) {
  process.stderr.write('delegating-server: set SERVICE_ID and SERVICE_TOKEN (latchkey service-token create --service ID)\n');
  process.exit(2);
}
const SECURE = ISSUER.startsWith('https:');

/* ---------- the application's own users (in memory; a real one has a database) ---------- */

function hashPassword(password, salt = randomBytes(16)) {
  return { salt, hash: scryptSync(password, salt, 32) };
}
function checkPassword(user, password) {
  const { hash } = hashPassword(password, user.password.salt);
  return timingSafeEqual(hash, user.password.hash);
}
const USERS = [
  { sub: 'u-1001', username: 'alice', password: hashPassword('alice-in-wonderland'), claims: { name: 'Alice Liddell', given_name: 'Alice', email: 'alice@example.com', email_verified: true, phone_number: '+44 1865 000000' } },
  { sub: 'u-1002', username: 'bob', password: hashPassword('bob-the-builder'), claims: { name: 'Bob', email: 'bob@example.com', email_verified: false } },
];
const DUMMY = { password: hashPassword(randomBytes(16).toString('hex')) };

/* ---------- the application's own sessions and pending sign-ins ---------- */

const sessions = new Map(); // cookie value -> { sid, sub, authTime }
const interactions = new Map(); // id -> { ticket, clientName, scopes, csrf, expiresAt }
const now = () => Math.floor(Date.now() / 1000);
const handle = () => randomBytes(32).toString('base64url');

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}
const cookie = (name, value, path = '/') => `${name}=${value}; Path=${path}; HttpOnly; SameSite=Lax${SECURE ? '; Secure' : ''}`;
const currentSession = (req) => sessions.get(cookies(req).ex_session);

/* ---------- the Core API ---------- */

/** One Core API call. A non-200 answer means the call itself failed (bad service token, bad field): a bug here. */
async function core(path, body = {}) {
  const res = await fetch(`${LATCHKEY_URL}/api/${SERVICE_ID}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${SERVICE_TOKEN}` },
    body: JSON.stringify(body),
  });
  const answer = await res.json();
  if (res.status !== 200) throw new Error(`Core API ${path} failed: ${res.status} ${answer.resultCode} ${answer.resultMessage}`);
  return answer;
}

/** Send the client what the engine decided: status, headers and body, as given. */
function relay(res, r) {
  const headers = { ...r.headers };
  if (r.action === 'LOCATION') return res.writeHead(r.status, { ...headers, Location: r.responseContent }).end();
  if (r.contentType) headers['Content-Type'] = r.contentType;
  res.writeHead(r.status, headers).end(r.responseContent);
}

/** A protected resource's refusal: responseContent is the WWW-Authenticate value (RFC 6750 §3). */
function challenge(res, r) {
  if (r.action === 'INTERNAL_SERVER_ERROR') return relay(res, r);
  res.writeHead(r.status, { 'WWW-Authenticate': r.responseContent, 'Cache-Control': 'no-store' }).end();
}

/** The access token of a request (Authorization: Bearer or DPoP); '' when there is none. */
const accessToken = (req) => /^(?:Bearer|DPoP) +(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
/** The scheme it came with, so that Latchkey refuses a DPoP-bound token sent as Bearer (RFC 9449 §7.2). */
function schemeOf(req) {
  const s = /^(Bearer|DPoP) /i.exec(req.headers.authorization ?? '')?.[1]?.toLowerCase();
  return s === 'dpop' ? 'DPoP' : s === 'bearer' ? 'Bearer' : undefined;
}

/** What Latchkey needs to check a DPoP proof sent with this request, if any. */
function proofOf(req, path) {
  return typeof req.headers.dpop === 'string' ? { dpop: req.headers.dpop, htm: req.method, htu: `${ISSUER}${path}` } : {};
}

/* ---------- pages ---------- */

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function page(res, status, title, body) {
  res
    .writeHead(status, {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      'Content-Security-Policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
    })
    .end(`<!doctype html><meta charset="utf-8"><title>${esc(title)}</title><h1>${esc(title)}</h1>${body}`);
}
function errorPage(res, status, answer) {
  let message = 'The request could not be processed.';
  try {
    message = JSON.parse(answer.responseContent).error_description ?? message;
  } catch {}
  page(res, status, status >= 500 ? 'Something went wrong' : 'Invalid request', `<p>${esc(message)}</p>`);
}
function loginPage(res, id, ix, error = '', status = 200) {
  page(
    res,
    status,
    `Sign in to ${ix.clientName}`,
    `${error ? `<p role="alert">${esc(error)}</p>` : ''}
    <p>${esc(ix.clientName)} will get: ${ix.scopes.map(esc).join(', ') || 'nothing but your sign-in'}.</p>
    <form method="post" action="/login/${esc(id)}">
      <input type="hidden" name="csrf" value="${esc(ix.csrf)}">
      <label>Username <input name="username" value="${esc(ix.loginHint ?? '')}" autocomplete="username"></label>
      <label>Password <input name="password" type="password" autocomplete="current-password"></label>
      <button name="decision" value="login">Sign in</button>
      <button name="decision" value="cancel">Cancel</button>
    </form>`,
  );
}

/* ---------- the OAuth / OpenID endpoints ---------- */

async function finish(res, ticket, session) {
  const r = await core('auth/authorization/issue', { ticket, subject: session.sub, authTime: session.authTime, sid: session.sid, amr: ['pwd'] });
  return r.action === 'LOCATION' ? relay(res, r) : errorPage(res, r.status, r);
}
async function refuse(res, ticket, reason) {
  const r = await core('auth/authorization/fail', { ticket, reason });
  return r.action === 'LOCATION' ? relay(res, r) : errorPage(res, r.status, r);
}

/** Whether the current sign-in satisfies the request (max_age, id_token_hint). */
function sessionFits(session, r) {
  if (!session) return false;
  if (r.maxAge !== undefined && now() - session.authTime > r.maxAge) return false; // OIDC Core §3.1.2.1
  if (r.idTokenHintSub !== undefined && r.idTokenHintSub !== session.sub) return false;
  return true;
}

async function authorize(req, res, url, body) {
  const r = await core('auth/authorization', { parameters: req.method === 'POST' ? body : url.search.slice(1) });
  switch (r.action) {
    case 'INTERACTION': {
      const session = currentSession(req);
      // The clients of this application are first-party: signing in is consenting. Any prompt shows the page.
      if (sessionFits(session, r) && r.prompt.length === 0) return finish(res, r.ticket, session);
      const id = handle();
      const ix = { ticket: r.ticket, clientName: r.client.clientName ?? r.client.clientId, scopes: r.scopes, loginHint: r.loginHint, csrf: handle(), expiresAt: now() + 600 };
      interactions.set(id, ix);
      res.setHeader('Set-Cookie', cookie('ex_ix', id, '/login'));
      return loginPage(res, id, ix);
    }
    case 'NO_INTERACTION': {
      // prompt=none: answer without a page.
      const session = currentSession(req);
      return sessionFits(session, r) ? finish(res, r.ticket, session) : refuse(res, r.ticket, 'LOGIN_REQUIRED');
    }
    case 'LOCATION':
      return relay(res, r);
    case 'FORM':
      return relay(res, r);
    case 'BAD_REQUEST':
      return errorPage(res, 400, r);
    default:
      return errorPage(res, 500, r);
  }
}

async function login(req, res, id, body) {
  const ix = interactions.get(id);
  if (!ix || ix.expiresAt < now()) return page(res, 400, 'Sign-in expired', '<p>Go back to the application and start again.</p>');
  const form = new URLSearchParams(body);
  if (cookies(req).ex_ix !== id || form.get('csrf') !== ix.csrf) return page(res, 403, 'Request rejected', '<p>Start again from the application.</p>');
  if (form.get('decision') === 'cancel') {
    interactions.delete(id);
    return refuse(res, ix.ticket, 'ACCESS_DENIED');
  }
  const user = passwordUser(form);
  // 400, not 401: a 401 must carry a WWW-Authenticate challenge (RFC 9110 §15.5.2), and no HTTP scheme describes a form.
  if (!user) return loginPage(res, id, ix, 'Wrong username or password.', 400);
  interactions.delete(id);
  const { session, setCookie } = signIn(user);
  res.setHeader('Set-Cookie', [setCookie, `${cookie('ex_ix', '', '/login')}; Max-Age=0`]);
  return finish(res, ix.ticket, session);
}

/** A new session for a user whose password checked out, and the cookie that carries it. */
function signIn(user) {
  const session = { sid: handle(), sub: user.sub, authTime: now() };
  const value = handle();
  sessions.set(value, session);
  return { session, setCookie: cookie('ex_session', value) };
}

/** The user whose username and password these are, or undefined (the same work either way). */
function passwordUser(form) {
  const user = USERS.find((u) => u.username === form.get('username'));
  return checkPassword(user ?? DUMMY, form.get('password') ?? '') && user !== undefined ? user : undefined;
}

async function tokenEndpoint(req, res, body) {
  const r = await core('auth/token', {
    parameters: body,
    contentType: req.headers['content-type'],
    authorization: req.headers.authorization,
    ...proofOf(req, '/token'),
  });
  // PASSWORD (the resource owner password grant) would be handled here once a client may use it.
  return relay(res, r);
}

async function userinfoEndpoint(req, res) {
  const token = accessToken(req);
  const r = await core('auth/userinfo', { token, scheme: schemeOf(req), ...proofOf(req, '/userinfo') });
  if (r.action !== 'OK') return challenge(res, r);
  const user = USERS.find((u) => u.sub === r.subject);
  if (!user) return res.writeHead(401, { 'WWW-Authenticate': 'Bearer error="invalid_token"' }).end(); // the user is gone
  // Step two: Latchkey releases what the token's scopes allow, nothing more.
  const issued = await core('auth/userinfo/issue', { token, claims: user.claims });
  return issued.action === 'OK' ? relay(res, issued) : challenge(res, issued);
}

/** A protected API of this application: it needs the profile scope. */
async function profileApi(req, res) {
  const r = await core('auth/introspection', { token: accessToken(req), scheme: schemeOf(req), scopes: ['profile'], ...proofOf(req, '/api/profile') });
  if (r.action !== 'OK') return challenge(res, r);
  const user = USERS.find((u) => u.sub === r.subject);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify({ sub: r.subject, name: user?.claims.name, client: r.clientId }));
}

/* ---------- the device verification page (RFC 8628 §3.3), at the verification_uri Latchkey hands out ---------- */

const codeFailures = new Map(); // user -> wrong user codes entered; RFC 8628 §5.1: user codes are short, so limit guesses
const MAX_CODE_FAILURES = 5;

function deviceForm(res, csrf, session, userCode, error = '', status = 200) {
  page(
    res,
    status,
    'Connect a device',
    `${error ? `<p role="alert">${esc(error)}</p>` : ''}
    <form method="post" action="/device">
      <input type="hidden" name="csrf" value="${esc(csrf)}">
      <label>Code shown on your device <input name="user_code" value="${esc(userCode)}" autocomplete="off"></label>
      ${session ? '' : '<label>Username <input name="username" autocomplete="username"></label> <label>Password <input name="password" type="password" autocomplete="current-password"></label>'}
      <button>Continue</button>
    </form>`,
  );
}

/** GET /device[?user_code=…]: the code form (prefilled from verification_uri_complete), with a sign-in when needed. */
function deviceStart(req, res, userCode) {
  let csrf = cookies(req).ex_device;
  if (!csrf) {
    csrf = handle();
    res.setHeader('Set-Cookie', cookie('ex_device', csrf, '/device'));
  }
  return deviceForm(res, csrf, currentSession(req), userCode.slice(0, 64));
}

/** POST /device: sign in if needed, look the code up, and ask the user to approve what it asks for. */
async function deviceEntry(req, res, body) {
  const form = new URLSearchParams(body);
  const csrf = cookies(req).ex_device;
  if (!csrf || form.get('csrf') !== csrf) return page(res, 403, 'Request rejected', '<p>Open the page again.</p>');
  const userCode = (form.get('user_code') ?? '').slice(0, 64);
  let session = currentSession(req);
  if (!session) {
    const user = passwordUser(form);
    if (!user) return deviceForm(res, csrf, undefined, userCode, 'Wrong username or password.', 400);
    const signedIn = signIn(user);
    session = signedIn.session;
    res.setHeader('Set-Cookie', signedIn.setCookie);
  }
  if ((codeFailures.get(session.sub) ?? 0) >= MAX_CODE_FAILURES) return deviceForm(res, csrf, session, '', 'Too many wrong codes.', 429);
  const v = userCode ? await core('device/verification', { userCode }) : { action: 'NOT_EXIST' };
  if (v.action === 'INTERNAL_SERVER_ERROR') return errorPage(res, 500, v);
  if (v.action !== 'VALID') {
    codeFailures.set(session.sub, (codeFailures.get(session.sub) ?? 0) + 1);
    const why = v.action === 'EXPIRED' ? 'That code has expired. Start again on your device.' : 'That code is not valid. Check it and try again.';
    return deviceForm(res, csrf, session, userCode, why, 400);
  }
  session.deviceCode = userCode; // the one code /device/confirm may decide for this session
  const name = v.client.clientName ?? v.client.clientId;
  page(
    res,
    200,
    `Connect ${name}?`,
    `<p>${esc(name)} wants: ${v.scopes.map(esc).join(', ') || 'your sign-in'}. Approve only if you started this on a device you hold.</p>
    <form method="post" action="/device/confirm">
      <input type="hidden" name="csrf" value="${esc(csrf)}">
      <input type="hidden" name="user_code" value="${esc(userCode)}">
      <button name="decision" value="approve">Approve</button>
      <button name="decision" value="deny">Deny</button>
    </form>`,
  );
}

/** POST /device/confirm: record the decision; the device's next poll gets tokens or access_denied. */
async function deviceConfirm(req, res, body) {
  const form = new URLSearchParams(body);
  const csrf = cookies(req).ex_device;
  const session = currentSession(req);
  if (!csrf || form.get('csrf') !== csrf || !session) return page(res, 403, 'Request rejected', '<p>Open the page again.</p>');
  const userCode = (form.get('user_code') ?? '').slice(0, 64);
  // RFC 8628 §5.1: only the code this session verified (and counted) at POST /device, so this form is no way to try codes.
  if (!userCode || userCode !== session.deviceCode) return page(res, 400, 'That code was not checked', '<p>Enter the code on the previous page.</p>');
  delete session.deviceCode;
  const approve = form.get('decision') === 'approve';
  const decision = approve
    ? { result: 'AUTHORIZED', subject: session.sub, authTime: session.authTime, sid: session.sid, amr: ['pwd'] }
    : { result: 'ACCESS_DENIED' };
  const r = userCode ? await core('device/complete', { userCode, ...decision }) : { action: 'USER_CODE_NOT_EXIST' };
  switch (r.action) {
    case 'SUCCESS':
      return page(res, 200, approve ? 'Device connected' : 'Request denied', '<p>You can close this page and return to your device.</p>');
    case 'USER_CODE_NOT_EXIST':
    case 'USER_CODE_EXPIRED':
      return page(res, 400, 'That code is no longer valid', '<p>Start again on your device.</p>');
    default:
      return errorPage(res, 500, r);
  }
}

let discovery;
/** The service's metadata with this application's endpoints, and without what it does not serve. */
async function configuration() {
  if (discovery && discovery.at > Date.now() - 300_000) return discovery.json;
  const doc = JSON.parse((await core('service/configuration')).responseContent);
  Object.assign(doc, {
    authorization_endpoint: `${ISSUER}/authorize`,
    token_endpoint: `${ISSUER}/token`,
    userinfo_endpoint: `${ISSUER}/userinfo`,
    introspection_endpoint: `${ISSUER}/introspect`,
    revocation_endpoint: `${ISSUER}/revoke`,
    jwks_uri: `${ISSUER}/jwks`,
    pushed_authorization_request_endpoint: `${ISSUER}/par`,
    device_authorization_endpoint: `${ISSUER}/device_authorization`, // its verification_uri is ${ISSUER}/device
  });
  // Not served here: logout, and dynamic registration (client/registration would do it; this example does not offer it).
  for (const k of Object.keys(doc)) if (/^(end_session_endpoint|frontchannel_logout|backchannel_logout|registration_endpoint)/.test(k)) delete doc[k];
  discovery = { at: Date.now(), json: JSON.stringify(doc) };
  return discovery.json;
}

/* ---------- routing ---------- */

function readBody(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > 65536) reject(Object.assign(new Error('body too large'), { status: 413 }));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function route(req, res) {
  const url = new URL(req.url, ISSUER);
  const body = req.method === 'POST' ? await readBody(req) : '';
  const p = url.pathname;
  const is = (method, path) => req.method === method && p === path;
  if ((is('GET', '/authorize') || is('POST', '/authorize'))) return authorize(req, res, url, body);
  if (req.method === 'POST' && p.startsWith('/login/')) return login(req, res, p.slice('/login/'.length), body);
  if (is('POST', '/token')) return tokenEndpoint(req, res, body);
  // Back-channel requests Latchkey answers whole: pass them on as received, send back what it says.
  const backChannel = { parameters: body, contentType: req.headers['content-type'], authorization: req.headers.authorization };
  if (is('POST', '/par')) return relay(res, await core('pushed_auth_req', { ...backChannel, ...proofOf(req, '/par') }));
  if (is('POST', '/device_authorization')) return relay(res, await core('device/authorization', backChannel));
  if (is('GET', '/device')) return deviceStart(req, res, url.searchParams.get('user_code') ?? '');
  if (is('POST', '/device')) return deviceEntry(req, res, body);
  if (is('POST', '/device/confirm')) return deviceConfirm(req, res, body);
  if (is('GET', '/userinfo') || is('POST', '/userinfo')) return userinfoEndpoint(req, res);
  if (is('POST', '/introspect')) {
    const r = await core('auth/introspection/standard', { parameters: body, contentType: req.headers['content-type'], authorization: req.headers.authorization, accept: req.headers.accept });
    return relay(res, r);
  }
  if (is('POST', '/revoke')) {
    return relay(res, await core('auth/revocation', { parameters: body, contentType: req.headers['content-type'], authorization: req.headers.authorization }));
  }
  if (is('GET', '/.well-known/openid-configuration')) {
    return res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' }).end(await configuration());
  }
  if (is('GET', '/jwks')) return relay(res, await core('service/jwks/get'));
  if (is('GET', '/api/profile')) return profileApi(req, res);
  if (is('GET', '/')) return page(res, 200, 'Example application', '<p>An OpenID Provider whose protocol work is done by Latchkey.</p>');
  page(res, 404, 'Not found', '');
}

const server = createServer((req, res) => {
  route(req, res).catch((err) => {
    process.stderr.write(`delegating-server: ${err.message}\n`);
    if (!res.headersSent) page(res, err.status ?? 500, 'Something went wrong', '');
    else res.end();
  });
});

// The issuer this application serves must be the service's: ID tokens name it, and clients check it.
const issuer = JSON.parse((await core('service/configuration')).responseContent).issuer;
if (issuer !== ISSUER) {
  process.stderr.write(`delegating-server: service ${SERVICE_ID} has issuer ${issuer}, but this application is ${ISSUER}\n`);
  process.exit(2);
}
server.listen(PORT, '127.0.0.1', () => process.stdout.write(`delegating-server: listening on ${ISSUER} (service ${SERVICE_ID})\n`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
