// The load scenarios. A scenario names the endpoint it measures (and any other endpoints it `needs`); it runs on
// every server that serves them (and lists it, when the server restricts its `scenarios`), so the bench is a
// server × scenario table.
//
// Each scenario says how to build its request, how to check one response thoroughly (`check`, used on sampled
// requests before and after the load) and how to check every response under load (`verifier`, run by autocannon
// on each body; keep it cheap). A response that fails either makes the whole cell a failure, not a figure.
// `setup(ctx)` runs once per cell before anything is sent (a live token to introspect, a DPoP key, a session).
// A multi-request scenario (the code flow) has `iterate(ctx, conn)` instead of `request`: the runner drives it with
// the bounded loop of lib/flow.mjs and counts iterations, each checked at every step.
import { createHash, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { Jar, keepAliveAgent, send, signIn } from './flow.mjs';

export function basicAuth(id, secret) {
  // RFC 6749 §2.3.1: form-urlencode each part before base64.
  const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
  return 'Basic ' + Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64');
}

/**
 * The bench's clients, user and resource server, the same on every server: a confidential machine client
 * (client_credentials, client_secret_basic), a resource server whose tokens are RFC 9068 JWTs signed ES256, a
 * confidential web client for the code flow (client_secret_basic, PKCE S256, scope openid) and a user to sign in.
 */
export function benchClient() {
  const secret = () => randomBytes(36).toString('base64url');
  return {
    id: 'bench',
    secret: secret(),
    scope: 'api:read',
    jwt: { resource: 'https://rs.bench.example/', scope: 'rs:read' },
    web: { id: 'bench-web', secret: secret(), redirectUri: 'https://client.bench.example/cb', scope: 'openid' },
    user: { username: 'bench-user', password: secret() },
  };
}

/** The scenario's request with any per-request hook applied (what autocannon would send next). */
function materialize(req) {
  const base = { method: req.method, headers: { ...req.headers }, body: req.body };
  return req.setupRequest ? req.setupRequest(base, {}) : base;
}

/** One request (or one iteration) outside the load, checked thoroughly by the scenario; a problem or undefined. */
export async function probe(scenario, ctx) {
  if (scenario.iterate) {
    const r = await scenario.iterate(ctx, {}, { thorough: true });
    return r.problem;
  }
  const req = materialize(scenario.request(ctx.client, ctx));
  const res = await fetch(ctx.url, { method: req.method, headers: req.headers, body: req.body, signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  return await scenario.check({ status: res.status, headers: res.headers, body }, ctx);
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const b64json = (part) => {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
};

/** A real opaque access token of the expected type: a string of at least 128 bits (22 base64url characters), not a JWT. */
function tokenProblem(json, scope, tokenType = 'bearer') {
  if (!json || typeof json !== 'object') return 'body is not JSON';
  if (typeof json.access_token !== 'string' || json.access_token.length < 22) return 'no access_token of at least 128 bits';
  if (json.access_token.split('.').length === 3) return 'access_token is a JWT, expected an opaque token';
  if (typeof json.token_type !== 'string' || json.token_type.toLowerCase() !== tokenType) return `token_type ${json.token_type}, expected ${tokenType}`;
  if (!(json.expires_in > 0)) return 'no positive expires_in';
  if (json.scope !== undefined && json.scope !== scope) return `scope ${json.scope}, asked for ${scope}`;
  return undefined;
}

/**
 * An RFC 9068 JWT access token for the bench resource server, checked without its signature (cheap enough for
 * every response): header typ at+jwt and alg ES256, the claims RFC 9068 §2.2 requires with the right values.
 */
function jwtTokenProblem(json, ctx) {
  if (!json || typeof json !== 'object') return 'body is not JSON';
  if (typeof json.token_type !== 'string' || json.token_type.toLowerCase() !== 'bearer') return `token_type ${json.token_type}`;
  if (!(json.expires_in > 0)) return 'no positive expires_in';
  const parts = typeof json.access_token === 'string' ? json.access_token.split('.') : [];
  if (parts.length !== 3) return 'access_token is not a JWS';
  const header = b64json(parts[0]);
  const claims = b64json(parts[1]);
  if (!header || !claims) return 'access_token header or payload is not JSON';
  if (header.typ !== 'at+jwt' && header.typ !== 'application/at+jwt') return `typ ${header.typ}, expected at+jwt (RFC 9068 §2.1)`;
  if (header.alg !== 'ES256') return `alg ${header.alg}, expected ES256`;
  const { resource, scope } = ctx.client.jwt;
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(resource)) return `aud ${JSON.stringify(claims.aud)}, expected ${resource}`;
  if (claims.iss !== ctx.issuer) return `iss ${claims.iss}`;
  if (claims.client_id !== ctx.client.id || claims.sub !== ctx.client.id) return `client_id ${claims.client_id} / sub ${claims.sub}`;
  if (claims.scope !== scope) return `scope ${claims.scope}, expected ${scope}`;
  if (typeof claims.jti !== 'string' || !(claims.exp > claims.iat)) return 'no jti, or exp not after iat';
  return undefined;
}

/** Fresh tokens under load: each response passes `problem`, and the first 20,000 tokens are all different. */
function freshTokens(problem) {
  return {
    async check(res, ctx) {
      if (res.status !== 200) return `status ${res.status}: ${res.body.slice(0, 200)}`;
      const json = parseJson(res.body);
      const p = problem(json, ctx);
      if (p) return p;
      ctx.seen ??= new Set();
      if (ctx.seen.has(json.access_token)) return 'the same access_token was issued twice';
      ctx.seen.add(json.access_token);
      return ctx.thorough ? await ctx.thorough(json, ctx) : undefined;
    },
    verifier(ctx) {
      ctx.seen ??= new Set();
      return (body) => {
        const json = parseJson(body);
        if (problem(json, ctx)) return false;
        if (ctx.seen.size < 20_000) {
          if (ctx.seen.has(json.access_token)) return false;
          ctx.seen.add(json.access_token);
        }
        return true;
      };
    },
  };
}

/** Checks for documents that must not change between requests: the body seen under load equals the probed one. */
function constantDocument(validate) {
  return {
    check(res, ctx) {
      if (res.status !== 200) return `status ${res.status}`;
      if (!/json/.test(res.headers.get('content-type') ?? '')) return `content-type ${res.headers.get('content-type')}`;
      const problem = validate(parseJson(res.body), ctx);
      if (problem) return problem;
      if (ctx.reference === undefined) ctx.reference = res.body;
      else if (ctx.reference !== res.body) return 'document changed between requests';
      return undefined;
    },
    verifier: (ctx) => (body) => body === ctx.reference,
  };
}

const form = (client, body) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(client.id, client.secret) },
  body,
});

const ccBody = (client) => `grant_type=client_credentials&scope=${encodeURIComponent(client.scope)}`;

/** The server's JWKS as a jose key set, for checking signatures outside the load. */
async function localJwks(ctx) {
  const res = await fetch(ctx.issuer + ctx.paths.jwks, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`JWKS: status ${res.status}`);
  return createLocalJWKSet(await res.json());
}

/**
 * RFC 9449 §4.2 proofs for one key, signed with node:crypto and a cached KeyObject: the load generator signs one
 * per request (about 30 µs of its core for ES256 P-256), so the header is encoded once and only the payload per proof.
 */
export function dpopProver(htu) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  const header = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })).toString('base64url');
  return () => {
    const payload = Buffer.from(JSON.stringify({ jti: randomUUID(), htm: 'POST', htu, iat: Math.floor(Date.now() / 1000) })).toString('base64url');
    const input = `${header}.${payload}`;
    return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  };
}

/** RFC 7636: a fresh verifier and its S256 challenge. */
function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeUrl(ctx, state, challenge) {
  const { web } = ctx.client;
  const q = new URLSearchParams({
    response_type: 'code', client_id: web.id, redirect_uri: web.redirectUri, scope: web.scope, state,
    code_challenge: challenge, code_challenge_method: 'S256',
  });
  return `${ctx.issuer}${ctx.paths.authorize}?${q}`;
}

/**
 * One code-flow iteration as a signed-in browser and its client do it: GET the authorization URL with the session
 * cookie, follow the server's own redirects (Latchkey goes through its interaction URL, which finds the session and
 * the consent and issues at once) to the redirect to the client, check state and iss there, then redeem the code at
 * the token endpoint with client_secret_basic and the PKCE verifier. Any page (a login or consent form) is a failure.
 */
async function codeFlowIteration(ctx, conn, opts = {}) {
  conn.jar ??= ctx.session.clone();
  const { web } = ctx.client;
  const { verifier, challenge } = pkce();
  const state = randomBytes(12).toString('base64url');
  let url = new URL(authorizeUrl(ctx, state, challenge));
  let requests = 0;
  let bytes = 0;
  let location;
  for (let hop = 0; hop < 5 && !location; hop++) {
    const cookie = conn.jar.header(url.pathname);
    const res = await send(ctx.agent, url, { headers: cookie ? { cookie } : {} });
    requests++;
    bytes += res.size;
    conn.jar.store(res.headers['set-cookie']);
    if (res.status < 300 || res.status >= 400 || !res.headers.location) {
      return { problem: `status ${res.status} at ${url.pathname} (a page instead of a redirect: ${res.body.slice(0, 120)})`, requests, bytes };
    }
    const next = new URL(res.headers.location, url);
    if (next.href.startsWith(web.redirectUri)) location = next;
    else if (next.origin === url.origin) url = next;
    else return { problem: `redirect to ${next.origin}`, requests, bytes };
  }
  if (!location) return { problem: 'too many redirects', requests, bytes };
  const q = location.searchParams;
  if (q.get('error')) return { problem: `authorization error ${q.get('error')}: ${q.get('error_description')}`, requests, bytes };
  if (q.get('state') !== state) return { problem: 'state not returned unchanged', requests, bytes };
  if (q.has('iss') && q.get('iss') !== ctx.issuer) return { problem: `iss ${q.get('iss')} (RFC 9207)`, requests, bytes };
  const code = q.get('code');
  if (!code || code.length < 16) return { problem: 'no code', requests, bytes };
  const body = `grant_type=authorization_code&code=${encodeURIComponent(code)}&redirect_uri=${encodeURIComponent(web.redirectUri)}&code_verifier=${verifier}`;
  const res = await send(ctx.agent, ctx.issuer + ctx.paths.token, form(web, body));
  requests++;
  bytes += res.size;
  if (res.status !== 200) return { problem: `token: status ${res.status}: ${res.body.slice(0, 200)}`, requests, bytes };
  const json = parseJson(res.body);
  let problem = tokenProblem(json, web.scope);
  if (!problem) {
    const idt = typeof json.id_token === 'string' ? json.id_token.split('.') : [];
    const claims = idt.length === 3 ? b64json(idt[1]) : undefined;
    if (!claims) problem = 'no id_token';
    else if (claims.iss !== ctx.issuer || claims.aud !== web.id || claims.sub !== ctx.subject) problem = `id_token iss ${claims.iss} aud ${claims.aud} sub ${claims.sub}`;
  }
  if (!problem && opts.thorough) {
    // Outside the load: the ID token's signature too (OIDC Core §3.1.3.7).
    try {
      ctx.jwks ??= await localJwks(ctx);
      await jwtVerify(json.id_token, ctx.jwks, { issuer: ctx.issuer, audience: web.id });
    } catch (e) {
      problem = `id_token does not verify: ${e.message}`;
    }
  }
  return { problem, requests, bytes };
}

export const scenarios = [
  {
    name: 'client_credentials',
    endpoint: 'token',
    summary: 'POST token endpoint, grant_type=client_credentials, client_secret_basic, scope=api:read (opaque token)',
    request: (client) => form(client, ccBody(client)),
    // Every response must carry a fresh token; the first 20,000 are also checked for uniqueness.
    ...freshTokens((json, ctx) => tokenProblem(json, ctx.client.scope)),
  },
  {
    name: 'client_credentials_jwt',
    endpoint: 'token',
    summary:
      'the same with resource=https://rs.bench.example/ and scope=rs:read: a resource server configured for RFC 9068 JWT access tokens signed ES256 (checked: typ at+jwt, alg ES256, iss, aud, sub, client_id, scope, jti; the signature against the JWKS outside the load)',
    request: (client) => form(client, `grant_type=client_credentials&scope=${encodeURIComponent(client.jwt.scope)}&resource=${encodeURIComponent(client.jwt.resource)}`),
    async setup(ctx) {
      const jwks = await localJwks(ctx);
      ctx.thorough = async (json) => {
        try {
          await jwtVerify(json.access_token, jwks, { typ: 'at+jwt', algorithms: ['ES256'], issuer: ctx.issuer, audience: ctx.client.jwt.resource });
          return undefined;
        } catch (e) {
          return `JWT access token does not verify: ${e.message}`;
        }
      };
    },
    ...freshTokens(jwtTokenProblem),
  },
  {
    name: 'client_credentials_dpop',
    endpoint: 'token',
    summary:
      'client_credentials (as above, opaque) with a fresh DPoP proof per request (RFC 9449: ES256, new jti and iat, signed by the load generator with node:crypto), token_type DPoP checked',
    setup(ctx) {
      ctx.proof = dpopProver(ctx.url);
    },
    request: (client, ctx) => ({
      ...form(client, ccBody(client)),
      // autocannon calls this before every request: one proof per request, never replayed.
      setupRequest(req) {
        req.headers = { ...req.headers, DPoP: ctx.proof() };
        return req;
      },
    }),
    ...freshTokens((json, ctx) => tokenProblem(json, ctx.client.scope, 'dpop')),
  },
  {
    name: 'introspection',
    endpoint: 'introspection',
    needs: ['token'],
    summary:
      'POST introspection endpoint (RFC 7662), client_secret_basic, token=<a live opaque client_credentials token obtained before the load>; every answer checked active:true with the right client_id and scope',
    async setup(ctx) {
      const res = await fetch(ctx.issuer + ctx.paths.token, { ...form(ctx.client, ccBody(ctx.client)), signal: AbortSignal.timeout(10_000) });
      const json = parseJson(await res.text());
      const problem = res.status === 200 ? tokenProblem(json, ctx.client.scope) : `status ${res.status}`;
      if (problem) throw new Error(`introspection setup: no token to introspect (${problem})`);
      ctx.liveToken = json.access_token;
    },
    request: (client, ctx) => form(client, `token=${encodeURIComponent(ctx.liveToken)}&token_type_hint=access_token`),
    check(res, ctx) {
      if (res.status !== 200) return `status ${res.status}: ${res.body.slice(0, 200)}`;
      const json = parseJson(res.body);
      if (!json || json.active !== true) return `not active: ${res.body.slice(0, 200)}`;
      if (json.client_id !== ctx.client.id) return `client_id ${json.client_id}`;
      if (json.scope !== ctx.client.scope) return `scope ${json.scope}`;
      if (!(json.exp > Date.now() / 1000)) return `exp ${json.exp}`;
      if (json.token_type !== undefined && String(json.token_type).toLowerCase() !== 'bearer') return `token_type ${json.token_type}`;
      return undefined;
    },
    verifier(ctx) {
      return (body) => {
        const json = parseJson(body);
        return !!json && json.active === true && json.client_id === ctx.client.id && json.scope === ctx.client.scope;
      };
    },
  },
  {
    name: 'code_flow',
    endpoint: 'authorize',
    needs: ['token', 'jwks'],
    iterations: true,
    summary:
      'authorization code flow end to end, with a session: GET the authorization endpoint with the session cookie (signed in and consented once before the load, through each server\'s own login and consent pages), follow the server\'s redirects to the client\'s redirect_uri, check state and iss, redeem the code at the token endpoint (client_secret_basic, PKCE S256, scope openid; checked: opaque access token, ID token iss/aud/sub, its signature outside the load). One iteration = that whole sequence; "req/s" counts iterations, latency is per iteration',
    async setup(ctx) {
      ctx.agent = keepAliveAgent(ctx.connections ?? 50);
      const jar = new Jar();
      const { challenge, verifier } = pkce();
      const state = randomBytes(12).toString('base64url');
      const back = await signIn(ctx.agent, jar, authorizeUrl(ctx, state, challenge), ctx.client.user);
      const code = back.searchParams.get('code');
      if (!code || back.searchParams.get('state') !== state) throw new Error(`code_flow setup: sign-in ended at ${back.href.slice(0, 200)}`);
      // The ID token's sub for this user: from redeeming the sign-in's own code.
      const { web } = ctx.client;
      const res = await send(ctx.agent, ctx.issuer + ctx.paths.token, form(web, `grant_type=authorization_code&code=${encodeURIComponent(code)}&redirect_uri=${encodeURIComponent(web.redirectUri)}&code_verifier=${verifier}`));
      const idt = parseJson(res.body)?.id_token;
      const claims = typeof idt === 'string' ? b64json(idt.split('.')[1] ?? '') : undefined;
      if (res.status !== 200 || !claims?.sub) throw new Error(`code_flow setup: token ${res.status} ${res.body.slice(0, 200)}`);
      ctx.subject = claims.sub;
      ctx.session = jar;
    },
    teardown(ctx) {
      ctx.agent?.destroy();
    },
    iterate: codeFlowIteration,
  },
  {
    name: 'discovery',
    endpoint: 'discovery',
    summary: 'GET /.well-known/openid-configuration',
    request: () => ({ method: 'GET' }),
    ...constantDocument((doc, ctx) => {
      if (!doc) return 'body is not JSON';
      if (doc.issuer !== ctx.issuer) return `issuer ${doc.issuer}, expected ${ctx.issuer}`;
      if (typeof doc.token_endpoint !== 'string' || typeof doc.jwks_uri !== 'string') return 'no token_endpoint or jwks_uri';
      return undefined;
    }),
  },
  {
    name: 'jwks',
    endpoint: 'jwks',
    summary: 'GET the JWKS (jwks_uri)',
    request: () => ({ method: 'GET' }),
    ...constantDocument((doc) => {
      if (!doc || !Array.isArray(doc.keys) || doc.keys.length === 0) return 'no keys';
      for (const k of doc.keys) {
        if (typeof k.kid !== 'string' || typeof k.kty !== 'string') return 'a key without kid or kty';
        if ('d' in k || 'p' in k) return 'a private key member is published';
      }
      return undefined;
    }),
  },
  {
    name: 'hello',
    endpoint: 'hello',
    summary: 'GET / on bare node:http (baseline)',
    request: () => ({ method: 'GET' }),
    check(res) {
      if (res.status !== 200) return `status ${res.status}`;
      return res.body === 'hello\n' ? undefined : 'unexpected body';
    },
    verifier: () => (body) => body === 'hello\n',
  },
  {
    name: 'hello_doc',
    endpoint: 'hello_doc',
    summary: 'GET /doc on bare node:http: a constant 3,400-byte JSON document, about the size of the discovery document (baseline)',
    request: () => ({ method: 'GET' }),
    ...constantDocument((doc) => (doc && typeof doc.padding === 'string' ? undefined : 'not the padding document')),
  },
];

/** Whether a server runs a scenario: it serves every endpoint the scenario needs and, if it restricts them, lists it. */
export function serves(srv, sc) {
  if (srv.scenarios && !srv.scenarios.includes(sc.name)) return false;
  return [sc.endpoint, ...(sc.needs ?? [])].every((e) => srv.paths[e]);
}

const TOKEN_SCENARIOS = ['client_credentials', 'client_credentials_jwt', 'client_credentials_dpop', 'introspection', 'code_flow'];

/**
 * Ratios printed after the table (a ÷ b). `b` may name a different scenario (`bScenario`) for baselines that only
 * serve one endpoint. `target`: the ratio issue 14 asks for, shown next to the measured one.
 */
export const comparisons = [
  { label: 'Latchkey / oidc-provider', a: 'latchkey', b: 'oidc-provider', targets: { client_credentials: 4, client_credentials_jwt: 4, introspection: 4, code_flow: 2 } },
  { label: 'Latchkey / oidc-provider (SQLite adapter)', a: 'latchkey', b: 'oidc-provider-sqlite', scenarios: TOKEN_SCENARIOS },
  { label: '2 workers vs 1: Latchkey --workers 2 (unpinned) / Latchkey', a: 'latchkey-w2', b: 'latchkey', scenarios: TOKEN_SCENARIOS, targets: { client_credentials: 1.7, introspection: 1.7 } },
  { label: 'PostgreSQL vs SQLite: Latchkey on PostgreSQL / on SQLite', a: 'latchkey-pg', b: 'latchkey', scenarios: TOKEN_SCENARIOS },
  { label: '2 workers vs 1 on PostgreSQL: --workers 2 (unpinned) / 1', a: 'latchkey-pg-w2', b: 'latchkey-pg', scenarios: TOKEN_SCENARIOS },
  { label: 'Latchkey / bare node:http hello', a: 'latchkey', b: 'bare', bScenario: 'hello', scenarios: ['client_credentials', 'discovery', 'jwks'], targets: { client_credentials: 0.35, discovery: 0.8, jwks: 0.8 } },
  { label: 'Latchkey / bare node:http serving a document of the same size (3.4 KB)', a: 'latchkey', b: 'bare', bScenario: 'hello_doc', scenarios: ['discovery'] },
];
