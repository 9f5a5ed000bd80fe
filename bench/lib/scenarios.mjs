// The load scenarios. A scenario names the endpoint it needs; it runs on every server that serves that endpoint,
// so the bench is a server × scenario table. A later issue (introspection, JWT access tokens, the code flow, DPoP)
// adds an entry here and the path on each server that has it.
//
// Each scenario says how to build its request, how to check one response thoroughly (`check`, used on sampled
// requests before and after the load) and how to check every response under load (`verifier`, run by autocannon
// on each body; keep it cheap). A response that fails either makes the whole cell a failure, not a figure.

export function basicAuth(id, secret) {
  // RFC 6749 §2.3.1: form-urlencode each part before base64.
  const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
  return 'Basic ' + Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64');
}

/** One request outside the load, checked thoroughly by the scenario; returns a problem description or undefined. */
export async function probe(url, scenario, client, ctx) {
  const req = scenario.request(client);
  const res = await fetch(url, { method: req.method, headers: req.headers, body: req.body, signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  return scenario.check({ status: res.status, headers: res.headers, body }, ctx);
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A real opaque access token: a string of at least 128 bits (22 base64url characters), not a JWT. */
function tokenProblem(json, client) {
  if (!json || typeof json !== 'object') return 'body is not JSON';
  if (typeof json.access_token !== 'string' || json.access_token.length < 22) return 'no access_token of at least 128 bits';
  if (json.access_token.split('.').length === 3) return 'access_token is a JWT, expected an opaque token';
  if (typeof json.token_type !== 'string' || json.token_type.toLowerCase() !== 'bearer') return `token_type ${json.token_type}`;
  if (!(json.expires_in > 0)) return 'no positive expires_in';
  if (json.scope !== undefined && json.scope !== client.scope) return `scope ${json.scope}, asked for ${client.scope}`;
  return undefined;
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

export const scenarios = [
  {
    name: 'client_credentials',
    endpoint: 'token',
    summary: 'POST token endpoint, grant_type=client_credentials, client_secret_basic, scope=api:read (opaque token)',
    request: (client) => ({
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basicAuth(client.id, client.secret),
      },
      body: `grant_type=client_credentials&scope=${encodeURIComponent(client.scope)}`,
    }),
    check(res, ctx) {
      if (res.status !== 200) return `status ${res.status}: ${res.body.slice(0, 200)}`;
      const problem = tokenProblem(parseJson(res.body), ctx.client);
      if (problem) return problem;
      ctx.seen ??= new Set();
      const token = JSON.parse(res.body).access_token;
      if (ctx.seen.has(token)) return 'the same access_token was issued twice';
      ctx.seen.add(token);
      return undefined;
    },
    // Every response must carry a fresh token; the first 20,000 are also checked for uniqueness.
    verifier(ctx) {
      ctx.seen ??= new Set();
      return (body) => {
        const json = parseJson(body);
        if (tokenProblem(json, ctx.client)) return false;
        if (ctx.seen.size < 20_000) {
          if (ctx.seen.has(json.access_token)) return false;
          ctx.seen.add(json.access_token);
        }
        return true;
      };
    },
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
];

/**
 * Ratios printed after the table. `b` may name a different scenario (`bScenario`) for baselines that only
 * serve one endpoint.
 */
export const comparisons = [
  { label: 'Latchkey / oidc-provider', a: 'latchkey', b: 'oidc-provider' },
  { label: 'Latchkey / oidc-provider (SQLite adapter)', a: 'latchkey', b: 'oidc-provider-sqlite' },
  { label: 'Latchkey --workers 2 (unpinned) / Latchkey', a: 'latchkey-w2', b: 'latchkey', scenarios: ['client_credentials'] },
  { label: 'Latchkey on PostgreSQL / Latchkey on SQLite', a: 'latchkey-pg', b: 'latchkey', scenarios: ['client_credentials'] },
  { label: 'Latchkey on PostgreSQL --workers 2 (unpinned) / on PostgreSQL', a: 'latchkey-pg-w2', b: 'latchkey-pg', scenarios: ['client_credentials'] },
  { label: 'Latchkey / bare node:http hello', a: 'latchkey', b: 'bare', bScenario: 'hello', scenarios: ['discovery', 'jwks'] },
];
