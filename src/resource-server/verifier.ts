import { createHash } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { AuthorizationServerUnavailable, TokenRejection, type TokenScheme } from './errors.js';
import { accessTokenHash, DPOP_ALGS, memoryReplayStore, verifyDpopProof, type DpopReplayStore } from './dpop.js';
import { TtlCache } from './ttl-cache.js';

/** How a resource server reaches and trusts its Latchkey (or any RFC 8414 / OIDC Discovery authorization server). */
export interface ResourceServerOptions {
  /** The authorization server's issuer identifier. Its metadata is fetched from /.well-known/openid-configuration. */
  issuer: string;
  /** This resource server's identifier(s): a token must name one of them in `aud` (RFC 9068 §4). */
  audience: string | string[];
  /**
   * Credentials of a confidential client registered at the issuer, used to introspect opaque access tokens
   * (RFC 7662 §2.1). Without them only JWT access tokens are accepted.
   */
  introspection?: {
    clientId: string;
    clientSecret: string;
    /** How to authenticate at the introspection endpoint; default client_secret_basic. */
    authMethod?: 'client_secret_basic' | 'client_secret_post';
    /** Introspection answers of active tokens are kept this long, seconds (never past the token's exp). Default 30; 0 turns caching off. */
    cacheTtl?: number;
    /** At most this many cached answers. Default 1000. */
    cacheMaxEntries?: number;
  };
  /**
   * Also introspect JWT access tokens after verifying them, so that revocation is seen at once (RFC 9068 §5 leaves it
   * to the resource server). Needs `introspection`. Default false: JWTs are checked locally only, and a revoked JWT is
   * accepted until it expires.
   */
  introspectJwts?: boolean;
  /** The realm in WWW-Authenticate challenges (RFC 6750 §3). */
  realm?: string;
  /**
   * The public origin of this resource server (`https://api.example.com`), to check DPoP proofs' `htu` against.
   * When unset, the origin comes from the request's Host header and the socket (http or https); set it when behind a
   * proxy or when Host cannot be trusted.
   */
  origin?: string;
  /** JWS algorithms accepted on JWT access tokens. Default: the asymmetric ones Latchkey signs with. */
  algorithms?: string[];
  /** Clock skew allowed on exp/nbf/iat, seconds. Default 0 for tokens, 5 for DPoP proofs dated in the future. */
  clockTolerance?: number;
  /** How old a DPoP proof may be, seconds (RFC 9449 §11.1). Default 60. */
  dpopMaxAge?: number;
  /**
   * Where accepted DPoP proofs are remembered, so that each is used once (RFC 9449 §11.1). Default: this process's
   * memory. Several instances of the resource server behind a load balancer need one store they share (Redis, their
   * database), or a proof replayed at another instance within dpopMaxAge is accepted there.
   */
  dpopReplayStore?: DpopReplayStore;
  /** Timeout for calls to the authorization server, milliseconds. Default 5000. */
  timeout?: number;
  /** Milliseconds since the epoch (tests). */
  clock?: () => number;
}

/** A protected-resource request, whatever the framework. */
export interface ResourceRequest {
  method: string;
  /** The request target as received: path and query. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** Whether the connection is TLS (for the default origin). */
  encrypted?: boolean;
  /** The TLS client certificate, DER, when one was presented (RFC 8705 §3). */
  clientCertificate?: Buffer;
}

/** Proof-of-possession binding the token carried and the request satisfied. */
export type TokenBinding = { type: 'dpop'; jkt: string } | { type: 'mtls'; x5tS256: string };

/** What a verified access token says. */
export interface VerifiedAccessToken {
  token: string;
  format: 'jwt' | 'opaque';
  /** The scheme it was presented with (RFC 6750 Bearer or RFC 9449 DPoP). */
  scheme: TokenScheme;
  issuer: string;
  subject: string | undefined;
  clientId: string | undefined;
  scope: string[];
  audience: string[];
  /** Seconds since the epoch. */
  expiresAt: number | undefined;
  bindings: TokenBinding[];
  /** The JWT payload, or the RFC 7662 introspection answer. */
  claims: Record<string, unknown>;
}

export interface TokenVerifier {
  readonly options: Readonly<ResourceServerOptions>;
  /**
   * Verify the access token a request carries and that it grants every scope in `scopes`. Throws TokenRejection
   * (answer with its status and WWW-Authenticate) or AuthorizationServerUnavailable (answer 503).
   */
  verify(req: ResourceRequest, requirement?: { scopes?: string[] }): Promise<VerifiedAccessToken>;
  /** The WWW-Authenticate value for a rejection, with this verifier's realm. */
  challenge(rejection: TokenRejection): string;
}

interface ServerMetadata {
  issuer: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
}

/** RFC 6750 §2.1: b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** A JWS compact serialization. */
const JWS_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const DEFAULT_ALGS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'];

const noToken = (scheme?: TokenScheme) =>
  new TokenRejection(undefined, 'an access token is required', 401, 'LK4002', { scheme });
const invalidRequest = (description: string, scheme?: TokenScheme) =>
  new TokenRejection('invalid_request', description, 400, 'LK4005', { scheme });
const invalidToken = (description: string, resultCode: 'LK4003' | 'LK12003' | 'LK12004' | 'LK12005' | 'LK12007', scheme: TokenScheme, detail?: string) =>
  new TokenRejection('invalid_token', description, 401, resultCode, { scheme, detail });

function header(req: ResourceRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** The token and scheme from the Authorization header (RFC 6750 §2.1, RFC 9449 §7.1). */
function credentials(req: ResourceRequest): { token: string; scheme: TokenScheme } {
  const authorization = header(req, 'authorization');
  // RFC 6750 §3.1: a token in the query as well as the header is "more than one method". Query tokens alone are not
  // accepted (RFC 6750 §2.3 is optional, and RFC 9700 §2.4 advises against them): that request simply has no token.
  const inQuery = /[?&]access_token=/.test(req.url);
  if (authorization === undefined || authorization === '') throw noToken();
  const sp = authorization.indexOf(' ');
  const scheme = (sp < 0 ? authorization : authorization.slice(0, sp)).toLowerCase(); // RFC 9110 §11.1: case-insensitive
  if (scheme !== 'bearer' && scheme !== 'dpop') throw noToken();
  const s: TokenScheme = scheme === 'dpop' ? 'DPoP' : 'Bearer';
  const token = sp < 0 ? '' : authorization.slice(sp + 1).trim();
  if (!B64TOKEN.test(token) || token.length > 16384) throw invalidRequest('malformed Authorization header', s);
  if (inQuery) throw invalidRequest('the access token was presented in more than one way', s);
  return { token, scheme: s };
}

function scopesOf(v: unknown): string[] {
  return typeof v === 'string' ? v.split(' ').filter(Boolean) : [];
}

function audienceOf(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((a): a is string => typeof a === 'string') : [];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 8705 §3.1: base64url(SHA-256(DER certificate)). */
export function certificateThumbprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('base64url');
}

/**
 * Verifies Latchkey access tokens at a resource server: RFC 9068 JWTs locally against the issuer's JWKS, opaque
 * tokens by RFC 7662 introspection (with a short cache), then sender constraints (RFC 9449 DPoP, RFC 8705 mTLS) and
 * scopes. Framework-neutral; see fastify.ts and node.ts for the adapters.
 */
export function createTokenVerifier(options: ResourceServerOptions): TokenVerifier {
  const issuer = options.issuer;
  const audiences = Array.isArray(options.audience) ? options.audience : [options.audience];
  if (!issuer) throw new TypeError('issuer is required');
  if (audiences.length === 0 || audiences.some((a) => typeof a !== 'string' || a === '')) throw new TypeError('audience is required (RFC 9068 §4)');
  if (options.introspectJwts && !options.introspection) throw new TypeError('introspectJwts needs introspection credentials');
  const clock = options.clock ?? Date.now;
  const timeout = options.timeout ?? 5000;
  const tolerance = options.clockTolerance ?? 0;
  const dpopMaxAge = options.dpopMaxAge ?? 60;
  const algorithms = options.algorithms ?? DEFAULT_ALGS;
  const cacheTtl = options.introspection?.cacheTtl ?? 30;
  const introspectionCache = new TtlCache<Record<string, unknown>>(cacheTtl > 0 ? (options.introspection?.cacheMaxEntries ?? 1000) : 0, clock);
  const dpopReplay = options.dpopReplayStore ?? memoryReplayStore(10_000, clock);

  let metadata: Promise<ServerMetadata> | undefined;
  let jwks: JWTVerifyGetKey | undefined;

  async function fetchJson(url: string, init: RequestInit, what: string): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(timeout) });
    } catch (e) {
      throw new AuthorizationServerUnavailable(what, e);
    }
    if (res.status !== 200) throw new AuthorizationServerUnavailable(`${what} answered ${res.status}`);
    try {
      return await res.json();
    } catch (e) {
      throw new AuthorizationServerUnavailable(`${what} answered malformed JSON`, e);
    }
  }

  /** OIDC Discovery §4: fetched once; a failure is not cached, so the next request tries again. */
  function discover(): Promise<ServerMetadata> {
    metadata ??= (async () => {
      const doc = await fetchJson(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, { headers: { accept: 'application/json' } }, 'discovery');
      // OIDC Discovery §4.3, RFC 8414 §3.3: the document must be about exactly this issuer.
      if (!isObject(doc) || doc.issuer !== issuer) throw new AuthorizationServerUnavailable('discovery: issuer mismatch');
      return doc as unknown as ServerMetadata;
    })().catch((e) => {
      metadata = undefined;
      throw e;
    });
    return metadata;
  }

  /** The issuer's JWKS through jose, which caches it and refetches (with a cooldown) on an unknown kid. */
  async function keys(): Promise<JWTVerifyGetKey> {
    if (jwks) return jwks;
    const md = await discover();
    if (typeof md.jwks_uri !== 'string') throw new AuthorizationServerUnavailable('discovery: no jwks_uri');
    const remote = createRemoteJWKSet(new URL(md.jwks_uri), { timeoutDuration: timeout });
    jwks = async (h, t) => {
      try {
        return await remote(h, t);
      } catch (e) {
        // An unknown or ambiguous key is the token's problem; anything else (network, HTTP status, bad JSON) is not.
        if (e instanceof joseErrors.JWKSNoMatchingKey || e instanceof joseErrors.JWKSMultipleMatchingKeys) throw e;
        throw new AuthorizationServerUnavailable('JWKS', e);
      }
    };
    return jwks;
  }

  /** RFC 9068 §4: signature, typ, iss, aud, exp, and the claims §2.2 requires. */
  async function verifyJwt(token: string, scheme: TokenScheme): Promise<JWTPayload> {
    const getKey = await keys();
    try {
      const { payload } = await jwtVerify(token, getKey, {
        issuer,
        audience: audiences,
        typ: 'at+jwt', // RFC 9068 §4: also rejects ID tokens and other JWTs signed by the same keys (RFC 8725 §3.11)
        algorithms,
        requiredClaims: ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'],
        clockTolerance: tolerance,
        currentDate: new Date(clock()),
      });
      return payload;
    } catch (e) {
      if (e instanceof AuthorizationServerUnavailable) throw e;
      const aud = e instanceof joseErrors.JWTClaimValidationFailed && e.claim === 'aud';
      throw invalidToken(aud ? 'the access token is not meant for this resource' : 'the access token is invalid or expired', aud ? 'LK12005' : 'LK4003', scheme, (e as Error).message);
    }
  }

  /** RFC 7662 §2: ask the issuer; active answers are cached briefly (never past the token's exp). */
  async function introspect(token: string, scheme: TokenScheme): Promise<Record<string, unknown>> {
    const creds = options.introspection;
    if (!creds) throw invalidToken('the access token is invalid or expired', 'LK12007', scheme, 'an opaque token, and no introspection credentials are configured');
    const cacheKey = accessTokenHash(token); // the cache never holds tokens themselves
    const hit = introspectionCache.get(cacheKey);
    if (hit) return hit;
    const md = await discover();
    if (typeof md.introspection_endpoint !== 'string') throw new AuthorizationServerUnavailable('discovery: no introspection_endpoint');
    const form = new URLSearchParams({ token, token_type_hint: 'access_token' });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (creds.authMethod === 'client_secret_post') {
      form.set('client_id', creds.clientId);
      form.set('client_secret', creds.clientSecret);
    } else {
      // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
      const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
      headers.authorization = 'Basic ' + Buffer.from(`${enc(creds.clientId)}:${enc(creds.clientSecret)}`).toString('base64');
    }
    const answer = await fetchJson(md.introspection_endpoint, { method: 'POST', headers, body: form.toString() }, 'introspection');
    if (!isObject(answer) || typeof answer.active !== 'boolean') throw new AuthorizationServerUnavailable('introspection answered without "active"');
    const nowS = Math.floor(clock() / 1000);
    const inactive = (why: string) => invalidToken('the access token is invalid or expired', 'LK4003', scheme, why);
    if (!answer.active) throw inactive('introspection: inactive');
    if (answer.iss !== undefined && answer.iss !== issuer) throw inactive('introspection: another issuer');
    if (typeof answer.exp === 'number' && answer.exp <= nowS - tolerance) throw inactive('introspection: expired');
    if (typeof answer.nbf === 'number' && answer.nbf > nowS + tolerance) throw inactive('introspection: not yet valid');
    // RFC 7662 §2.2: token_type names an access token type; anything else (a refresh token, say) is not one.
    if (answer.token_type !== undefined && !/^(bearer|dpop)$/i.test(String(answer.token_type))) throw inactive(`introspection: token_type ${String(answer.token_type)}`);
    if (cacheTtl > 0) {
      const until = Math.min(clock() + cacheTtl * 1000, typeof answer.exp === 'number' ? answer.exp * 1000 : Infinity);
      introspectionCache.set(cacheKey, answer, until);
    }
    return answer;
  }

  function originOf(req: ResourceRequest): string {
    if (options.origin) return options.origin;
    return `${req.encrypted ? 'https' : 'http'}://${header(req, 'host') ?? 'localhost'}`;
  }

  return {
    options,
    challenge: (r) => r.wwwAuthenticate(options.realm, DPOP_ALGS),
    async verify(req, requirement = {}) {
      const { token, scheme } = credentials(req);
      let claims: Record<string, unknown>;
      let format: 'jwt' | 'opaque';
      if (JWS_SHAPE.test(token)) {
        format = 'jwt';
        claims = (await verifyJwt(token, scheme)) as Record<string, unknown>;
        if (options.introspectJwts) {
          const answer = await introspect(token, scheme);
          if (answer.jti !== undefined && answer.jti !== claims.jti) throw invalidToken('the access token is invalid or expired', 'LK4003', scheme, 'introspection: another jti');
        }
      } else {
        format = 'opaque';
        claims = await introspect(token, scheme);
        // RFC 9068 §4 for JWTs; the same rule for introspected tokens, so one setting means one thing.
        if (!audienceOf(claims.aud).some((a) => audiences.includes(a))) {
          throw invalidToken('the access token is not meant for this resource', 'LK12005', scheme, `aud ${JSON.stringify(claims.aud)}`);
        }
      }

      const cnf = isObject(claims.cnf) ? claims.cnf : {};
      const jkt = typeof cnf.jkt === 'string' ? cnf.jkt : undefined;
      const x5t = typeof cnf['x5t#S256'] === 'string' ? cnf['x5t#S256'] : undefined;
      const bindings: TokenBinding[] = [];
      if (jkt === undefined && scheme === 'DPoP') {
        throw invalidToken('the access token is not DPoP-bound; present it as a Bearer token', 'LK12003', 'DPoP');
      }
      if (jkt !== undefined) {
        // RFC 9449 §7.2: a DPoP-bound token presented as a bearer token is refused (no downgrade).
        if (scheme !== 'DPoP') throw invalidToken('the access token is DPoP-bound; present it with the DPoP scheme and a proof', 'LK12003', 'DPoP');
        const url = new URL(req.url, originOf(req));
        await verifyDpopProof({
          proof: req.headers['dpop'],
          method: req.method.toUpperCase(),
          url,
          accessToken: token,
          jkt,
          nowMs: clock(),
          maxAge: dpopMaxAge,
          clockTolerance: Math.max(tolerance, 5),
          replay: dpopReplay,
        });
        bindings.push({ type: 'dpop', jkt });
      }
      if (x5t !== undefined) {
        // RFC 8705 §3: the token is only good over a TLS connection authenticated with the certificate it is bound to.
        const presented = req.clientCertificate && req.clientCertificate.length ? certificateThumbprint(req.clientCertificate) : undefined;
        if (presented !== x5t) {
          throw invalidToken('the access token is bound to a client certificate that was not presented', 'LK12004', scheme, presented ? 'certificate thumbprint mismatch' : 'no client certificate');
        }
        bindings.push({ type: 'mtls', x5tS256: x5t });
      }

      const scope = scopesOf(claims.scope);
      const missing = (requirement.scopes ?? []).filter((s) => !scope.includes(s));
      if (missing.length) {
        // RFC 6750 §3.1: 403, naming the scope needed.
        throw new TokenRejection('insufficient_scope', 'the access token does not grant the scope this resource needs', 403, 'LK4004', {
          scheme,
          scope: requirement.scopes,
        });
      }
      return {
        token,
        format,
        scheme,
        issuer,
        subject: typeof claims.sub === 'string' ? claims.sub : undefined,
        clientId: typeof claims.client_id === 'string' ? claims.client_id : undefined,
        scope,
        audience: audienceOf(claims.aud),
        expiresAt: typeof claims.exp === 'number' ? claims.exp : undefined,
        bindings,
        claims,
      };
    },
  };
}

/** The DER of the client certificate on a TLS socket, if any (node:tls TLSSocket.getPeerCertificate). */
export function peerCertificate(socket: unknown): Buffer | undefined {
  const s = socket as { encrypted?: boolean; getPeerCertificate?: (detailed?: boolean) => { raw?: Buffer } | null };
  if (!s?.encrypted || typeof s.getPeerCertificate !== 'function') return undefined;
  const raw = s.getPeerCertificate(false)?.raw;
  return raw && raw.length ? raw : undefined;
}

