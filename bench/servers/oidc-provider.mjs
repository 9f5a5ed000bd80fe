// oidc-provider v9 configured as a user would for the same jobs as Latchkey's bench clients (BENCH_CLIENTS, from
// bench/lib/scenarios.mjs benchClient()):
// - a confidential machine client: client_credentials with client_secret_basic, scope api:read, opaque access
//   tokens (no resource indicator sent); introspection (features.introspection) and DPoP (features.dPoP) on;
// - a resource server (features.resourceIndicators) whose access tokens are RFC 9068 JWTs signed ES256;
// - a confidential web client for the code flow (client_secret_basic, PKCE S256, scope openid), and a sign-in
//   page of our own for the bench user (oidc-provider leaves login and consent to the application: its
//   devInteractions are a development placeholder), reached only once, before the load, to make the session
//   and the grant;
// - signing keys of the same kinds Latchkey publishes.
// Storage: oidc-provider's built-in development in-memory adapter by default; with OIDC_ADAPTER=sqlite, the small
// SQLite adapter beside this file (see bench/README.md for what each means for the ratio).
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { join } from 'node:path';
import Provider, { errors } from 'oidc-provider';
import { openAdapterDatabase, SqliteAdapter } from './oidc-sqlite-adapter.mjs';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const bench = JSON.parse(process.env.BENCH_CLIENTS);
const { web, user, jwt } = bench;

// Same key set as a fresh Latchkey tenant: ES256, RS256, PS256 (RSA-2048) and EdDSA (Ed25519).
const jwk = (alg, type, opts) => ({ ...generateKeyPairSync(type, opts).privateKey.export({ format: 'jwk' }), alg, use: 'sig' });
const keys = [
  jwk('ES256', 'ec', { namedCurve: 'P-256' }),
  jwk('RS256', 'rsa', { modulusLength: 2048 }),
  jwk('PS256', 'rsa', { modulusLength: 2048 }),
  jwk('EdDSA', 'ed25519'),
];

let adapter;
if (process.env.OIDC_ADAPTER === 'sqlite') {
  openAdapterDatabase(join(process.env.BENCH_DATA_DIR, 'oidc-provider.db'));
  adapter = SqliteAdapter;
}

const provider = new Provider(issuer, {
  ...(adapter ? { adapter } : {}),
  clients: [
    {
      client_id: bench.id,
      client_secret: bench.secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: `${bench.scope} ${jwt.scope}`,
    },
    {
      client_id: web.id,
      client_secret: web.secret,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [web.redirectUri],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: web.scope,
    },
  ],
  scopes: [bench.scope, jwt.scope],
  jwks: { keys },
  // Same lifetimes as Latchkey's defaults (access and ID token 3600 s, code 60 s).
  ttl: { ClientCredentials: 3600, AccessToken: 3600, IdToken: 3600, AuthorizationCode: 60 },
  // The bench user's ID token carries only sub, like Latchkey's for scope openid.
  findAccount: (_ctx, sub) => (sub === user.username ? { accountId: sub, claims: () => ({ sub }) } : undefined),
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    dPoP: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      // No resource named: an opaque token for the client itself (no default audience), as in Latchkey.
      defaultResource: (_ctx, _client, oneOf) => oneOf,
      getResourceServerInfo(_ctx, indicator) {
        if (indicator !== jwt.resource) throw new errors.InvalidTarget();
        return { scope: jwt.scope, audience: jwt.resource, accessTokenTTL: 3600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
      },
    },
  },
});

// The sign-in and consent pages (interactions.url defaults to /interaction/:uid): a password form for the bench
// user, then a consent form granting what the request asked for.
const page = (title, action, fields) =>
  `<!doctype html><title>${title}</title><form method="post" action="${action}">${fields}<button type="submit" name="decision" value="approve">Continue</button></form>`;

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session } = details;
  const url = new URL(req.url, issuer);
  if (req.method === 'GET') {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    if (prompt.name === 'login') return res.end(page('Sign in', `/interaction/${uid}/login`, '<input name="username"><input name="password" type="password">'));
    return res.end(page('Consent', `/interaction/${uid}/consent`, ''));
  }
  const form = await readForm(req);
  if (url.pathname.endsWith('/login') && prompt.name === 'login') {
    if (form.get('username') !== user.username || form.get('password') !== user.password) {
      res.statusCode = 401;
      return res.end('wrong username or password');
    }
    return provider.interactionFinished(req, res, { login: { accountId: user.username } }, { mergeWithLastSubmission: false });
  }
  if (url.pathname.endsWith('/consent') && prompt.name === 'consent' && form.get('decision') === 'approve') {
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [indicator, scope] of Object.entries(prompt.details.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scope.join(' '));
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  res.statusCode = 400;
  res.end('unexpected interaction step');
}

const app = provider.callback();
const server = createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((e) => {
      res.statusCode = 500;
      res.end(String(e.message));
    });
    return;
  }
  app(req, res);
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`ready ${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
