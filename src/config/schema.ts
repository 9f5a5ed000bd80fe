import { isIP } from 'node:net';
import { z } from 'zod';
import { isLoopbackHost } from '../engine/hosts.js';
import { DEFAULT_REGISTRATION_MAX_CLIENTS, trustedHostEntry } from '../engine/registration-policy.js';
import { MAX_AUTHORIZATION_CODE_TTL } from '../store/types.js';

/**
 * Every configuration option, its type, default and documentation.
 * Keys are flat so that each maps to one env var: `accessTokenTtl` <-> `LATCHKEY_ACCESS_TOKEN_TTL`.
 * docs/configuration.md is generated from `optionDocs` below.
 */
/**
 * The keyActivationDelay that keeps every verifier in step with a rotation (docs/operations.md): twice the 30 s
 * key re-validation interval of each process, plus the JWKS's Cache-Control max-age of 300 s at relying parties.
 * The default, and the threshold under which `serve` warns.
 */
export const SAFE_KEY_ACTIVATION_DELAY = 2 * 30 + 300;

const seconds = (def: number) => z.coerce.number().int().positive().max(10 * 365 * 86400).default(def);

const flag = (def: boolean) =>
  z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0'])], { error: 'must be true or false (or 1 or 0)' })
    .transform((v) => v === true || v === 'true' || v === '1')
    .default(def);

const issuerSchema = z
  .string()
  .url({ error: 'must be an http(s) URL without query, fragment or trailing slash' })
  .refine((v) => {
    // .url() has reported a value that is no URL; checks still run, and new URL would throw past the message.
    if (!URL.canParse(v)) return true;
    const u = new URL(v);
    // RFC 8414 §2: the issuer has no query or fragment component.
    return (u.protocol === 'https:' || u.protocol === 'http:') && !u.search && !u.hash && !v.endsWith('/');
  }, 'must be an http(s) URL without query, fragment or trailing slash');

/** An IP address or CIDR block (trustedProxies). */
const ipOrCidr = z.string().refine((v) => {
  const [addr, bits, ...rest] = v.trim().split('/');
  const family = isIP(addr ?? '');
  if (!family || rest.length) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n <= (family === 4 ? 32 : 128);
}, 'must be an IP address or CIDR block (10.0.0.0/8, ::1)');

/** A list from a JSON array (config file) or a comma-separated string (environment). */
const list = (item: z.ZodType<string, string>, separator: RegExp = /,/) =>
  z
    .union([z.array(z.string()), z.string()])
    .transform((v) => (Array.isArray(v) ? v : v.split(separator)).map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(item));

export const configSchema = z
  .object({
    issuer: issuerSchema.default('http://127.0.0.1:9000'),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.coerce.number().int().min(0).max(65535).default(9000),
    dataDir: z.string().min(1).default('./data'),
    databaseUrl: z
      .string()
      .min(1)
      .refine((v) => v.startsWith('sqlite:') || /^postgres(ql)?:\/\//.test(v), 'must start with sqlite: or postgres://')
      // An unparseable PostgreSQL URL would fail later inside pg as a TypeError whose `input` is the whole URL, password
      // included (and whose message, "Invalid URL", says nothing): refused here, in words that do not repeat it. As pg does,
      // an empty host before the path (postgres://u:pw@/db?host=/run/postgresql, a Unix socket) is allowed.
      .refine((v) => !/^postgres(ql)?:\/\//.test(v) || URL.canParse(v) || URL.canParse(v.replace('@/', '@socket/')), 'is not a valid URL (postgres://user:password@host:port/database; percent-encode reserved characters in the password)')
      .optional(),
    databasePoolSize: z.coerce.number().int().min(1).max(1000).default(10),
    keyEncryptionKey: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes, base64url-encoded (43 characters)')
      .optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    bodyLimit: z.coerce.number().int().min(1024).max(10 * 1024 * 1024).default(64 * 1024),
    requestTimeout: z.coerce.number().int().min(1).max(3600).default(30),
    accessTokenTtl: seconds(3600),
    idTokenTtl: seconds(3600),
    refreshTokenTtl: seconds(30 * 86400),
    authorizationCodeTtl: z.coerce.number().int().min(1).max(MAX_AUTHORIZATION_CODE_TTL).default(60),
    interactionTtl: seconds(600),
    sessionTtl: seconds(14 * 86400),
    sessionIdleTtl: seconds(86400),
    sessionCookieSameSite: z.enum(['lax', 'none']).default('lax'),
    accessTokenFormat: z.enum(['opaque', 'jwt']).default('opaque'),
    // Unset: on only for an issuer on a loopback host (resolved below, once the issuer is known).
    demo: z
      .union([z.boolean(), z.enum(['true', 'false', '1', '0'])], { error: 'must be true or false (or 1 or 0)' })
      .transform((v) => v === true || v === 'true' || v === '1')
      .optional(),
    loginRateLimit: z.coerce.number().int().min(1).max(10000).default(10),
    loginRateWindow: seconds(300),
    refreshTokenIdleTtl: z.coerce.number().int().min(0).max(10 * 365 * 86400).default(0),
    refreshTokenRotation: z
      .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
      .transform((v) => v === true || v === 'true' || v === '1')
      .default(true),
    refreshTokenReuseInterval: z.coerce.number().int().min(0).max(300).default(0),
    requirePushedAuthorizationRequests: flag(false),
    pushedAuthorizationRequestTtl: z.coerce.number().int().min(5).max(60).default(60),
    allowRemoteRequestUri: flag(false),
    allowRegistration: flag(false),
    defaultAcr: z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').default('urn:latchkey:acr:password'),
    deviceCodeTtl: z.coerce.number().int().min(60).max(3600).default(600),
    deviceCodeInterval: z.coerce.number().int().min(1).max(60).default(5),
    userCodeRateLimit: z.coerce.number().int().min(1).max(10000).default(10),
    cibaRequestTtl: z.coerce.number().int().min(30).max(3600).default(300),
    cibaPollInterval: z.coerce.number().int().min(1).max(60).default(5),
    cibaNotifyUrl: z.string().url().max(2000).refine((v) => /^https?:\/\//.test(v), 'must be an http(s) URL').optional(),
    loginRateLimitPerIp: z.coerce.number().int().min(1).max(100000).optional(),
    rateLimitPerClient: z.coerce.number().int().min(0).max(10_000_000).default(0),
    rateLimitPerIp: z.coerce.number().int().min(0).max(10_000_000).default(0),
    rateLimitWindow: z.coerce.number().int().min(1).max(86400).default(60),
    dpopNonces: flag(false),
    dpopProofWindow: z.coerce.number().int().min(5).max(600).default(60),
    // Clients (issue 6): TLS, client certificates, dynamic registration.
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    tlsClientCa: z.string().min(1).optional(),
    clientCertificateHeader: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,100}$/, 'must be an HTTP header name')
      .transform((v) => v.toLowerCase())
      .optional(),
    trustedProxies: list(ipOrCidr).default([]),
    registration: z.enum(['off', 'open', 'token']).default('off'),
    registrationScopes: list(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be scope tokens (RFC 6749 §3.3)'), /[\s,]+/).default([
      'openid', 'profile', 'email', 'address', 'phone', 'offline_access',
    ]),
    registrationMaxClients: z.coerce.number().int().min(0).max(10_000_000).default(DEFAULT_REGISTRATION_MAX_CLIENTS),
    registrationTrustedHosts: list(
      z
        .string()
        .refine((v) => trustedHostEntry(v) !== undefined, 'must be a host name (app.example.com), an IP address (192.0.2.10, [2001:db8::1]) or .domain for the hosts below it (.example.com): no scheme, port, path or *')
        .transform((v) => trustedHostEntry(v)!),
    ).default([]),
    softwareStatementJwks: z.string().min(1).optional(),
    insecureAllowHttpJwksUri: z
      .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
      .transform((v) => v === true || v === 'true' || v === '1')
      .default(false),
    insecureAllowHttpSectorIdentifierUri: flag(false),
    insecureHttpIssuer: flag(false),
    insecureRemoteFetchAddresses: z.enum(['public', 'loopback', 'any']).default('public'),
    mtlsBaseUrl: issuerSchema.refine((v) => v.startsWith('https://'), 'must be an https URL').optional(),
    workers: z.coerce.number().int().min(1).max(256).optional(),
    migrateOnStart: flag(true),
    accessLog: flag(false),
    metrics: flag(true),
    shutdownTimeout: z.coerce.number().int().min(1).max(3600).default(10),
    cleanupInterval: z.coerce.number().int().min(0).max(86400).default(300),
    cleanupGrace: z.coerce.number().int().min(0).max(365 * 86400).default(3600),
    cleanupRetention: seconds(7 * 86400),
    auditRetention: z.coerce.number().int().min(0).max(10 * 365 * 86400).default(90 * 86400),
    keyActivationDelay: z.coerce.number().int().min(0).max(7 * 86400).default(SAFE_KEY_ACTIVATION_DELAY),
    introspectionNamedClientsOnly: flag(false),
    requireSignedRequestObject: flag(false),
    fapiProfile: z.enum(['off', '2.0']).default('off'),
    insecureLegacyClientAssertionAudience: flag(false),
    authorizationDetailsTypes: list(z.string().regex(/^[\x21-\x7e]{1,200}$/, 'must be printable ASCII without spaces, at most 200 characters'), /[\s,]+/).default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.tlsCert === undefined ? 'tlsCert' : 'tlsKey'], message: 'tlsCert and tlsKey go together' });
    }
    if (c.tlsClientCa !== undefined && c.tlsCert === undefined && c.clientCertificateHeader === undefined) {
      ctx.addIssue({ code: 'custom', path: ['tlsClientCa'], message: 'needs tlsCert/tlsKey or clientCertificateHeader: client certificates must reach the server' });
    }
    if (c.mtlsBaseUrl !== undefined) {
      if (c.tlsCert === undefined && c.clientCertificateHeader === undefined) {
        ctx.addIssue({ code: 'custom', path: ['mtlsBaseUrl'], message: 'needs tlsCert/tlsKey or clientCertificateHeader: client certificates must reach the server' });
      } else if (new URL(c.mtlsBaseUrl).pathname !== new URL(c.issuer).pathname) {
        // The aliases are the same routes reached under another scheme/host/port, so the path must be the issuer's.
        ctx.addIssue({ code: 'custom', path: ['mtlsBaseUrl'], message: 'must have the same path as issuer (only the scheme, host and port differ)' });
      }
    }
    if (c.sessionCookieSameSite === 'none' && !c.issuer.startsWith('https://')) {
      ctx.addIssue({ code: 'custom', path: ['sessionCookieSameSite'], message: 'none needs an https issuer: browsers drop a SameSite=None cookie that is not Secure' });
    }
    if (c.clientCertificateHeader !== undefined && c.trustedProxies.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['trustedProxies'], message: 'clientCertificateHeader is only read from trusted proxies; list them' });
    }
  })
  // The demo client and user are a development convenience: by default only where nobody else can reach them.
  .overwrite((c) => (c.demo === undefined ? { ...c, demo: isLoopbackIssuer(c.issuer) } : c));

/** Whether the issuer's host is this machine's loopback interface (engine/hosts.ts isLoopbackHost). */
export function isLoopbackIssuer(issuer: string): boolean {
  try {
    return isLoopbackHost(new URL(issuer).hostname);
  } catch {
    return false;
  }
}

/**
 * An http issuer on a host other than loopback: tokens, codes and cookies would cross the network in clear (RFC 8414
 * §2, OIDC Discovery §3: an issuer uses https). `serve` refuses it for the configured issuer, tenant creation for an
 * explicit tenant issuer, unless insecureHttpIssuer.
 */
export function isHttpIssuerOffLoopback(issuer: string): boolean {
  return new URL(issuer).protocol === 'http:' && !isLoopbackIssuer(issuer);
}

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export const optionDocs: Record<keyof Config, string> = {
  issuer: 'The issuer identifier; every URL the server prints is built from it, never from the Host header.',
  host: 'Address to listen on.',
  port: 'Port to listen on (0 picks a free one).',
  dataDir: 'Folder for the SQLite database and the generated key-encryption key.',
  databaseUrl:
    'sqlite:PATH (default sqlite:<dataDir>/latchkey.db) or postgres://USER:PASSWORD@HOST:PORT/DB. For TLS to PostgreSQL add ?sslmode=verify-full (and &sslrootcert=/path/ca.pem for a private CA) to the URL.',
  databasePoolSize: 'PostgreSQL connections per instance (ignored for SQLite).',
  keyEncryptionKey:
    'Encrypts private signing keys at rest and keys the secret hashes (32 bytes base64url). Generated to <dataDir>/master.key (mode 0600) when unset. Set it explicitly when several instances share a database.',
  logLevel: 'pino log level.',
  bodyLimit: 'Largest accepted request body, in bytes (larger bodies get 413).',
  requestTimeout: 'Seconds a client has to send a whole request (headers and body); a slower one gets 408 and its connection is closed, so slow or stalled bodies cannot hold connections open. Keep-alive idle connections are governed separately (72 s).',
  accessTokenTtl: 'Access token lifetime, seconds.',
  idTokenTtl: 'ID token lifetime, seconds.',
  refreshTokenTtl: 'Refresh token absolute lifetime, seconds.',
  authorizationCodeTtl: 'Authorization code lifetime, seconds (at most 600; RFC 6749 §4.1.2 recommends ≤ 10 minutes).',
  interactionTtl: 'How long a pending authorization request (ticket) waits for login/consent, seconds.',
  sessionTtl: 'Browser session absolute lifetime, seconds.',
  sessionIdleTtl: 'Browser session idle lifetime, seconds. A refresh with a session-bound refresh token (session_refresh_tokens) counts as activity in its session. The cleanup deletes sessions idle for longer than this plus cleanupGrace.',
  sessionCookieSameSite:
    'SameSite of the browser session cookie. `lax` (default): the browser sends it on top-level navigations from other sites, not in their iframes, so a silent `prompt=none` request from a client\'s hidden iframe finds no session and answers `login_required`. `none`: sent in other sites\' iframes too (as Keycloak\'s session cookies are), for clients that renew tokens in a hidden iframe; every form still needs its CSRF token, and the pages still refuse to be framed (`frame-ancestors \'none\'`). Needs an https issuer (browsers drop a SameSite=None cookie that is not Secure); a tenant on an http issuer keeps `lax`. Browsers that block third-party cookies (Safari, Firefox\'s Total Cookie Protection) hold it back from iframes anyway: refresh tokens are the dependable way for a browser app to renew.',
  accessTokenFormat: 'Default access token format: opaque (random, stored hashed) or jwt (RFC 9068). Clients may override.',
  demo:
    'On a fresh database, create a demo client and a demo user and print how to use them (secrets included). Default: on when the issuer\'s host is loopback (127.0.0.0/8, ::1, localhost: the out-of-the-box `http://127.0.0.1:9000`), off otherwise; the default shown is that of the default issuer. `true` with any other issuer creates them anyway and logs a warning at start: anyone who reads the start-up output can use them. `false` never creates them.',
  loginRateLimit: 'Failed logins allowed per account and per address within loginRateWindow.',
  loginRateWindow: 'Window for loginRateLimit, seconds.',
  rateLimitPerClient: 'Requests a client may make to each of the token, introspection, revocation, PAR, device authorization and registration-management endpoints within rateLimitWindow; more are answered 429. 0 (default) = no limit: a busy machine client legitimately makes many requests; set it for your traffic.',
  rateLimitPerIp: 'Requests an address may make to each of the token, introspection, revocation, PAR, device authorization and registration endpoints within rateLimitWindow; more are answered 429. 0 (default) = no limit (clients behind one NAT or proxy share an address); set it for your traffic.',
  rateLimitWindow: 'Window for rateLimitPerClient and rateLimitPerIp, seconds. Both are counted in the database, for all processes and instances sharing it together.',
  loginRateLimitPerIp: 'Failed logins allowed per client address within loginRateWindow (default: loginRateLimit). Raise it when many users share an address.',
  refreshTokenIdleTtl:
    'Refresh token idle lifetime, seconds: a refresh token unused this long expires (0 = none, only refreshTokenTtl). Clients may override (refresh_token_idle_lifetime).',
  refreshTokenRotation:
    'Issue a new refresh token on every refresh and detect replays (RFC 9700 §4.14.2). When false, the same refresh token is returned and stays valid; public clients always rotate. Clients may override (refresh_token_rotation).',
  refreshTokenReuseInterval:
    'Seconds after a rotation during which the rotated refresh token is accepted once more (a client retry) instead of revoking the family; 0 = never. At most 300. Clients may override (refresh_token_reuse_interval).',
  requirePushedAuthorizationRequests:
    'Every authorization request must come through the pushed authorization request endpoint (RFC 9126 §4). Clients may also require it one by one (require_pushed_authorization_requests).',
  pushedAuthorizationRequestTtl: 'Lifetime of a pushed request_uri, seconds (at most 60).',
  allowRemoteRequestUri:
    'Fetch request objects by reference (request_uri = an https URL the client registered in request_uris), with a 3 s timeout and a 64 KiB limit. Off by default: the server then makes outbound requests on behalf of clients (RFC 9101 §10.4). A PAR request_uri always works.',
  allowRegistration: 'Let users create an account from the sign-in flow (prompt=create, Initiating User Registration via OpenID Connect 1.0).',
  defaultAcr:
    'The acr value of a password sign-in, the only authentication method built in. ID tokens carry it; an essential acr request for any other value fails with access_denied (OIDC Core §5.5.1.1).',
  deviceCodeTtl: 'Lifetime of a device_code / user_code pair, seconds (RFC 8628 §3.2 expires_in).',
  dpopNonces:
    'Require server-provided nonces in DPoP proofs (RFC 9449 §8, §9): a proof without a current nonce is answered use_dpop_nonce with a DPoP-Nonce header. Nonces are stateless (HMAC of a time slot) and work across instances.',
  dpopProofWindow: 'How far a DPoP proof\'s iat may lie from the server clock, either way, seconds (RFC 9449 §11.1).',
  deviceCodeInterval: 'Seconds a device must wait between token polls (RFC 8628 §3.2 interval); polling faster raises it by 5 (slow_down).',
  cibaRequestTtl: 'Longest lifetime of a CIBA backchannel authentication request, seconds (OpenID CIBA Core §7.3 expires_in; a client\'s requested_expiry may shorten it).',
  cibaPollInterval: 'Seconds a CIBA client must wait between token polls (CIBA Core §7.3 interval); polling faster raises it by 5 (slow_down).',
  cibaNotifyUrl: 'Where each new CIBA request is announced, so the user\'s authentication device can be prompted: a POST of a signed JWT (application/jwt, typ latchkey-ciba-request+jwt, verifiable with the issuer\'s JWKS) naming the user, the client, the scope, the binding message, the approval page and a ticket for the Core API\'s backchannel/complete. Unset: nothing is sent; users approve on the /ciba page. Your URL, so not held to insecureRemoteFetchAddresses (a private address is fine). docs/ciba.md.',
  userCodeRateLimit: 'Wrong user codes a signed-in user, and an address, may enter on the /device page within loginRateWindow (RFC 8628 §5.1).',
  tlsCert: 'Path to a PEM certificate (chain): serve HTTPS directly. Goes with tlsKey.',
  tlsKey: 'Path to the PEM private key of tlsCert.',
  tlsClientCa:
    'Path to PEM CA certificates trusted for tls_client_auth (RFC 8705 §2.1). With HTTPS, clients are asked for a certificate but not required to send one.',
  clientCertificateHeader:
    "Header a TLS-terminating proxy puts the client certificate in, URL-encoded PEM (nginx: $ssl_client_escaped_cert). Read only from trustedProxies.",
  trustedProxies:
    'IP addresses or CIDR blocks (comma-separated in the environment) of your reverse proxies: their clientCertificateHeader and their X-Forwarded-For are believed (so login rate limits and logs see the client\'s address, not the proxy\'s); nobody else\'s.',
  registration: "Dynamic client registration (RFC 7591) at /oauth/register: off, open (anyone), or token (an initial access token is required).",
  registrationScopes: 'Scopes a dynamically registered client may register (space or comma separated list in the environment).',
  registrationMaxClients:
    'With registration: open, how many clients open registration may hold in each tenant; the next registration is answered 403 access_denied (LK7420) until one is deleted (RFC 7592 DELETE, the admin API, the CLI). Counted are the clients that registered themselves without an initial access token (those registered before this setting existed included); clients made by an operator or registered with an initial access token are not. 0 = no limit. See docs/clients.md.',
  registrationTrustedHosts:
    'With registration: open, the hosts every URI of a client registering itself must lie on (comma separated in the environment): redirect and post-logout redirect URIs (else invalid_redirect_uri, LK7421), logout URIs, jwks_uri, sector_identifier_uri, request_uris, logo_uri, client_uri, policy_uri, tos_uri, initiate_login_uri and allowed_cors_origins (else invalid_client_metadata, LK7422), at registration and at each RFC 7592 update of such a client. An entry is a host name or IP address, matched exactly, or .domain for every host below it (.example.com: app.example.com, not example.com). A native app\'s private-use scheme counts as its reversed domain (com.example.app: app.example.com); a native app\'s http loopback redirect URI (RFC 8252 §7.3) is always accepted. Empty (default): any host. It also decides which redirect URIs of such clients are trusted (RFC 9700 §4.11.2), with registration: open or not: an error in an authorization request (LK7470) or a failed prompt=none request (LK7471) is redirected only to one on a trusted host (or an http loopback URI), and a logout with no session only follows a post_logout_redirect_uri on one; otherwise the user is shown a page. Empty, no host is trusted for this: such clients\' errors are always shown. See docs/clients.md.',
  softwareStatementJwks:
    'Path to a JWK Set of issuers trusted to sign software statements (RFC 7591 §2.3). Unset: registrations carrying a software_statement are rejected.',
  insecureAllowHttpJwksUri: 'Allow http:// client jwks_uri values, and http:// CIBA backchannel_client_notification_endpoint values (development only: keys fetched without TLS can be forged, pings read). Logs a warning.',
  insecureAllowHttpSectorIdentifierUri:
    'Allow http:// sector_identifier_uri values (development only: a document fetched without TLS can be forged, and with it the pairwise sector). Logs a warning.',
  insecureHttpIssuer:
    '`serve` refuses to start with an http issuer whose host is not loopback (RFC 8414 §2 and OIDC Discovery §3 require https: tokens, codes and session cookies would cross the network in clear, and cookies lose their Secure flag). Set this to start anyway (development only, e.g. a test host on a private network). Logs a warning. An issuer on 127.0.0.0/8, ::1 or localhost needs nothing; behind a TLS-terminating proxy the issuer is the proxy\'s https URL. The same rule applies to the explicit issuer of a tenant when it is created (`latchkey tenant/service create --issuer`, the admin API, createTenant: refused with 400 invalid_request unless this is set).',
  mtlsBaseUrl:
    'RFC 8705 §5 mTLS endpoint aliases: an https base URL (e.g. https://mtls.example.com) where clients using mutual TLS reach the token, introspection, revocation, UserInfo, PAR and device authorization endpoints; discovery then lists them in mtls_endpoint_aliases. It must reach this same server (only scheme, host and port differ from issuer), through its own HTTPS listener (tlsCert) or a TLS-terminating proxy that asks for client certificates and forwards them (clientCertificateHeader), so that the main host never prompts browsers for a certificate. A DPoP proof may name an endpoint by its main URL or its alias.',
  insecureRemoteFetchAddresses:
    "Which addresses the server may connect to when it fetches a URL a client chose (jwks_uri, request_uri by reference, sector_identifier_uri) or delivers a back-channel logout: public (default) only public unicast addresses; loopback also 127.0.0.0/8 and ::1 (development, tests); any also private, link-local and other special-purpose ranges. Checked on the resolved address when connecting, so DNS rebinding cannot bypass it. Anything but public logs a warning: a client could make the server reach your internal network (SSRF). Registration (dynamic, admin API, CLI) refuses such a URI that this rule excludes without DNS, an IP address or a localhost name (invalid_client_metadata, LK7282): every call to it would fail, a back-channel logout silently; a host name is judged when it is resolved, at each connection.",
  workers:
    'Processes that serve requests (`latchkey serve --workers N`): a primary runs migrations and start-up once, then forks N workers sharing the port, and restarts a worker that dies. Default: the number of CPU cores available. 1 serves from one process, no cluster.',
  migrateOnStart:
    'Apply pending database migrations at start. Set false where `latchkey migrate` runs as its own deployment step: then a server whose schema is behind refuses to start, with one line saying so.',
  accessLog: 'Log one line per request at info level (method, route, status, time, request id; never query values that may be secret).',
  metrics: 'Serve Prometheus metrics at GET /metrics (restrict it at the proxy; see docs/operations.md).',
  shutdownTimeout: 'On SIGTERM/SIGINT, how long in-flight requests may take to finish before connections are cut, seconds.',
  cleanupInterval: 'How often expired codes, tickets, pushed requests, device codes, replay-cache entries, tokens, sessions, rate-limit windows, old logout deliveries and audit events past auditRetention are deleted, seconds (one process of the cluster, or of all instances sharing a database, runs each sweep). 0 turns the cleanup off.',
  cleanupGrace: 'How long expired or ended rows are kept before the cleanup deletes them, seconds (keeps recent history for reuse detection and diagnosis).',
  cleanupRetention: 'How long delivered or abandoned back-channel logout deliveries are kept, seconds.',
  auditRetention: 'How long audit events are kept before the cleanup deletes them, seconds (default 90 days); 0 keeps them forever.',
  keyActivationDelay:
    `Seconds between a key rotation and the new key's first signature. The new key is in the JWKS at once; the previous key keeps signing until then, so every instance (each re-validates its keys every 30 s) and every relying party that caches the JWKS (served with max-age 300) has the new key before any token needs it. The default, ${SAFE_KEY_ACTIVATION_DELAY}, is twice the re-validation interval plus that max-age; with several processes (workers, or instances sharing a PostgreSQL database) \`serve\` warns at start about a shorter delay. 0 signs at once: right for a single process only. \`latchkey keys rotate --now\` skips the delay (a compromised key). See docs/operations.md.`,
  introspectionNamedClientsOnly:
    "RFC 7662 §4: an access token is introspected only by its own client and by the clients named in the introspection_clients of a registered resource server in its audience; anyone else gets {\"active\":false}. A token for a resource server that names none (or for the issuer alone) is then introspectable by its own client only. Off (default): resource servers that name no introspection_clients leave their tokens to any confidential client of the tenant (node-oidc-provider's and Keycloak's default). Tenants may override it (settings.introspectionNamedClientsOnly). See docs/token-services.md.",
  fapiProfile:
    'The FAPI 2.0 Security Profile for every client of the tenant: off (default), or 2.0. With 2.0, registrations and updates must satisfy the profile (else invalid_client_metadata, LK7467), every client is held to it at run time (PAR, redirect_uri and PKCE in pushed requests, private_key_jwt or mTLS only, PS256/ES256/EdDSA, sender-constrained tokens only, codes of at most 60 s, no refresh token rotation unless a client sets it; an existing client outside it is refused, LK7468), and discovery says so (require_pushed_authorization_requests, narrowed methods and algorithms). Off, single clients can still be put under it (client metadata fapi_profile, operator only). Tenants may override it (settings.fapiProfile). See docs/clients.md.',
  requireSignedRequestObject:
    'RFC 9101 §10.5: every authorization request must be a signed request object (request parameter, or pushed to the PAR endpoint with request): plain parameters and alg none are refused, and discovery says require_signed_request_object: true. Clients then need registered keys (jwks or jwks_uri). Clients may also require it one by one (require_signed_request_object); tenants may override it (settings.requireSignedRequestObject). See docs/authorization.md.',
  insecureLegacyClientAssertionAudience:
    'JWT client assertions (private_key_jwt, client_secret_jwt) must have the issuer identifier as their sole `aud` (draft-ietf-oauth-rfc7523bis, after the OpenID Foundation\'s 2025 advisory on audience injection, CVE-2025-27370): a string, or an array holding only it. Set this to also accept, for older clients that follow RFC 7523 §3 / OIDC Core §9 as first published, the token endpoint URL and the URL of the endpoint the assertion is sent to (and their mTLS aliases), as a string or in an array whose every member is the issuer or such a URL (openid-client 5 sends [issuer, token endpoint]; Spring Security/Nimbus and Keycloak brokering send the token URL as a string); an array with any other member is refused either way. Logs a warning: a client tricked into making an assertion for a malicious server that claims our token endpoint as its own can then be impersonated. Tenants may override it (settings.insecureLegacyClientAssertionAudience). See docs/clients.md.',
  authorizationDetailsTypes:
    'OAuth 2.0 Rich Authorization Requests (RFC 9396): the authorization details types clients may request with authorization_details (comma or space separated in the environment), advertised as authorization_details_types_supported. Empty (default): the feature is off, nothing is advertised and an authorization_details parameter is ignored like any unknown parameter (RFC 6749 §3.1). Clients may be limited to some of them (authorization_details_types); tenants may override it (settings.authorizationDetailsTypes). See docs/authorization.md.',
};
