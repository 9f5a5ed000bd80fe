#!/usr/bin/env node
/*
 * An existing Fastify application that becomes its own OpenID Provider by mounting Latchkey under /auth, with
 * its own user list. Latchkey serves the protocol (discovery, authorize, token, userinfo, …) at the issuer
 * http://HOST:PORT/auth and asks this application about users through findAccount and authenticate.
 *
 *   PORT=3000 node examples/embedded/server.mjs                 # Latchkey's sign-in and consent pages
 *   PORT=3000 OWN_LOGIN=1 node examples/embedded/server.mjs     # this application's own sign-in page (/login)
 *
 * Optional: DATA_DIR (default ./data-embedded), DATABASE_URL (sqlite:… or postgres://…), KEY_ENCRYPTION_KEY, and a
 * relying party to register at start: CLIENT_ID, CLIENT_SECRET, REDIRECT_URI (this app's own, first-party client: no
 * consent asked); REGISTRATION=open lets other relying parties register themselves (RFC 7591): their users are
 * asked for consent. See README.md beside this file.
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
import { createLatchkey, registerClient } from 'latchkey';

const PORT = Number(process.env.PORT ?? 3000);
const HOST = process.env.HOST ?? '127.0.0.1';
const ORIGIN = `http://${HOST}:${PORT}`;
const OWN_LOGIN = process.env.OWN_LOGIN === '1';

/* ---------- the application's own users (in memory here; a real one has a database) ---------- */

const hashPassword = (password, salt = randomBytes(16)) => ({ salt, hash: scryptSync(password, salt, 32) });
const USERS = [
  { sub: 'u-1001', username: 'alice', password: hashPassword('alice-in-wonderland'), claims: { name: 'Alice Liddell', email: 'alice@example.com', email_verified: true } },
  { sub: 'u-1002', username: 'bob', password: hashPassword('bob-the-builder'), claims: { name: 'Bob', email: 'bob@example.com', email_verified: false } },
];
const DUMMY = hashPassword('not a password');

/** The one password check, for this app's own login page and for Latchkey's (same timing for unknown users). */
function checkPassword(username, password) {
  const user = USERS.find((u) => u.username === username);
  const { hash } = hashPassword(password, (user ?? { password: DUMMY }).password.salt);
  return user && timingSafeEqual(hash, user.password.hash) ? user : undefined;
}

/* ---------- Latchkey, configured in code ---------- */

const auth = await createLatchkey({
  config: {
    issuer: `${ORIGIN}/auth`,
    dataDir: process.env.DATA_DIR ?? './data-embedded',
    databaseUrl: process.env.DATABASE_URL,
    keyEncryptionKey: process.env.KEY_ENCRYPTION_KEY,
    logLevel: 'warn',
    registration: process.env.REGISTRATION === 'open' ? 'open' : 'off',
  },
  // Claims for ID tokens and UserInfo come from here, not from Latchkey's users table.
  findAccount: (sub) => {
    const user = USERS.find((u) => u.sub === sub);
    return user ? { preferred_username: user.username, ...user.claims } : null;
  },
  // Used by Latchkey's own sign-in page and by the password grant.
  authenticate: (username, password) => checkPassword(username, password)?.sub ?? null,
  // With OWN_LOGIN, authorization requests come to /login below instead of Latchkey's pages.
  interactionUrl: OWN_LOGIN ? '/login' : undefined,
});

if (process.env.CLIENT_ID) {
  try {
    await registerClient(await auth.context(), {
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      client_name: 'Example relying party',
      redirect_uris: [process.env.REDIRECT_URI ?? `${ORIGIN}/cb`],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'openid profile email offline_access',
      skip_consent: OWN_LOGIN, // this app's own, first-party client: its users are not asked for consent
    });
  } catch (e) {
    if (!/already exists/.test(String(e?.message))) throw e; // registered on an earlier start
  }
}

/* ---------- the host application ---------- */

const app = Fastify();
await app.register(auth.plugin, { prefix: '/auth' }); // the issuer's path
await app.register(import('@fastify/formbody'));

app.get('/', async (_req, reply) => reply.type('text/html').send(`<h1>Example app</h1><p>OpenID Provider: <a href="/auth/.well-known/openid-configuration">${auth.issuer}</a></p>`));

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const loginPage = (d, error) => `<!doctype html><title>Sign in</title><h1>Sign in to ${esc(d.client.clientName ?? d.client.clientId)}</h1>
${error ? `<p role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/login?ticket=${esc(encodeURIComponent(d.ticket))}">
<label>Username <input name="username" value="${esc(d.loginHint)}"></label>
<label>Password <input type="password" name="password"></label>
<button>Sign in</button></form>`;

const consentPage = (d) => `<!doctype html><title>Allow access</title><h1>Allow ${esc(d.client.clientName ?? d.client.clientId)} to access your account?</h1>
<ul>${[...d.scopes, ...d.claims.map((c) => `claim: ${c}`)].map((s) => `<li>${esc(s)}</li>`).join('')}</ul>
<form method="post" action="/consent?ticket=${esc(encodeURIComponent(d.ticket))}">
<button name="decision" value="approve">Allow</button> <button name="decision" value="deny">Deny</button></form>`;

/**
 * Users who signed in on /login and are now on the consent page, by ticket (a 256-bit handle only this browser has
 * seen). A real application keeps this in its session instead; entries die with the ticket (10 minutes).
 */
const signedIn = new Map();

// The application's own sign-in page (OWN_LOGIN): step two of Latchkey's two-step authorization.
app.get('/login', async (req, reply) => {
  const d = await auth.interaction(String(req.query.ticket ?? ''));
  if (!d) return reply.code(400).type('text/html').send('<p>This sign-in request is unknown or has expired.</p>');
  // OIDC Core §3.1.2.1: prompt=none must be answered without a page. This app keeps no session of its own.
  if (d.prompt.includes('none')) return auth.respond(reply, await auth.fail(d.ticket, 'LOGIN_REQUIRED'));
  return reply.type('text/html').header('Cache-Control', 'no-store').send(loginPage(d));
});
app.post('/login', async (req, reply) => {
  const ticket = String(req.query.ticket ?? '');
  const { username = '', password = '' } = req.body ?? {};
  const d = await auth.interaction(ticket);
  if (!d) return reply.code(400).type('text/html').send('<p>This sign-in request is unknown or has expired.</p>');
  const user = checkPassword(username, password);
  // 400, not 401: a 401 must carry a WWW-Authenticate challenge (RFC 9110 §15.5.2), and no HTTP scheme describes a form.
  if (!user) return reply.code(400).type('text/html').send(loginPage(d, 'Wrong username or password.'));
  if (await auth.namesAnotherUser(ticket, user.sub)) return auth.respond(reply, await auth.fail(ticket, 'LOGIN_REQUIRED'));
  const authTime = Math.floor(Date.now() / 1000);
  // The rule Latchkey's own consent page follows: skip_consent clients (this app's own) never ask; others ask
  // unless the user already consented to these scopes (prompt=consent always asks).
  const withUser = await auth.interaction(ticket, user.sub);
  if (withUser?.consentRequired) {
    signedIn.set(ticket, { sub: user.sub, authTime });
    setTimeout(() => signedIn.delete(ticket), 600_000).unref();
    return reply.type('text/html').header('Cache-Control', 'no-store').send(consentPage(withUser));
  }
  return auth.respond(reply, await auth.issue({ ticket, subject: user.sub, authTime, amr: ['pwd'] }));
});
app.post('/consent', async (req, reply) => {
  const ticket = String(req.query.ticket ?? '');
  const who = signedIn.get(ticket);
  if (!who) return reply.code(400).type('text/html').send('<p>This sign-in request is unknown or has expired.</p>');
  signedIn.delete(ticket);
  if (req.body?.decision !== 'approve') return auth.respond(reply, await auth.fail(ticket, 'ACCESS_DENIED'));
  // consentGiven: Latchkey records the consent, so the next request for these scopes skips this page.
  return auth.respond(reply, await auth.issue({ ticket, subject: who.sub, authTime: who.authTime, amr: ['pwd'], consentGiven: true }));
});

await app.listen({ host: HOST, port: PORT });
process.stdout.write(`embedded example: listening on ${ORIGIN} (issuer ${auth.issuer})\n`);

const stop = async () => {
  await app.close();
  await auth.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
