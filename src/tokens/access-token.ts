import type { EngineContext } from '../engine/context.js';
import { nowSeconds } from '../engine/context.js';
import type { ClientRecord, TokenRecord } from '../store/types.js';
import { newOrderedHandle, tokenKey } from './handles.js';
import { signJwt, signJwtWithTurn } from './jwt.js';
import { subjectFor } from '../engine/subject.js';

export interface AccessTokenRequest {
  client: ClientRecord;
  subject: string | null;
  scope: string[];
  grantId: string | null;
  /** Audience (resource indicators, see engine/resources.ts tokenTarget); defaults to the issuer. */
  audience?: string[];
  /** Format asked for by the token's resource servers or the request; else the client's, else the tenant's. */
  format?: 'opaque' | 'jwt';
  /** Lifetime asked for by the token's resource servers; the shorter of it and the client's wins. */
  lifetime?: number;
  /** Hard upper bound on exp (a token exchange never outlives the tokens it came from). */
  notAfter?: number;
  /** `sub` of a token with no user: the client it stands for, when not the one it is issued to (token exchange). */
  clientSubject?: string;
  /** RFC 8693 §4.1 actor claim (delegation); nested for chains. */
  act?: Record<string, unknown>;
  authTime?: number;
  acr?: string;
  amr?: string[];
  sid?: string;
  /** RFC 9396 §9: the authorization details the token carries (introspection, and the JWT's claim). */
  authorizationDetails?: readonly Record<string, unknown>[];
  /** Claims to keep with the token (for UserInfo's claims-by-request, the original grant type, …). */
  extra?: Record<string, unknown>;
  /** The caller holds no store transaction: a JWT is signed with the turn's other tokens (jwt.ts signJwtWithTurn). */
  outsideTransaction?: boolean;
}

export interface IssuedAccessToken {
  token: string;
  expiresIn: number;
  record: TokenRecord;
}

/**
 * Mint an access token. Opaque (256 random bits, stored as a keyed hash) by default; RFC 9068 JWT when the
 * client or tenant asks for it, in which case the row is keyed by the hash of its jti so it stays revocable.
 */
export async function mintAccessToken(ctx: EngineContext, req: AccessTokenRequest): Promise<IssuedAccessToken> {
  const now = nowSeconds(ctx);
  const lifetimes = [req.client.accessTokenLifetime, req.lifetime].filter((v): v is number => typeof v === 'number');
  let expiresAt = now + (lifetimes.length ? Math.min(...lifetimes) : ctx.tenant.settings.accessTokenTtl);
  if (req.notAfter !== undefined && req.notAfter < expiresAt) expiresAt = req.notAfter;
  const ttl = expiresAt - now;
  const format = req.format ?? req.client.accessTokenFormat ?? ctx.tenant.settings.accessTokenFormat;
  // RFC 9068 §3: with no resource indicated, a default audience; see tokenTarget for how it is chosen.
  const audience = req.audience && req.audience.length ? req.audience : [ctx.tenant.issuer];
  const data: Record<string, unknown> = { format, aud: audience, ...req.extra };
  if (req.clientSubject !== undefined) data.sub = req.clientSubject;
  if (req.act !== undefined) data.act = req.act;
  // RFC 8693 §4.4: who may act for this token's subject, by the operator's policy for the client (access_token_may_act).
  const mayAct = req.client.accessTokenMayAct ? { sub: req.client.accessTokenMayAct.sub } : undefined;
  if (mayAct) data.may_act = mayAct;
  if (req.authTime !== undefined) data.auth_time = req.authTime;
  if (req.acr !== undefined) data.acr = req.acr;
  if (req.amr !== undefined) data.amr = req.amr;
  if (req.sid !== undefined) data.sid = req.sid;
  if (ctx.confirmation) data.cnf = { ...ctx.confirmation }; // RFC 9449 §6, RFC 8705 §3.1
  if (req.authorizationDetails?.length) data.authorization_details = req.authorizationDetails; // RFC 9396 §9.2

  let token: string;
  let handle: string;
  if (format === 'jwt') {
    const jti = newOrderedHandle(ctx.random, ctx.clock(), 16);
    handle = jti;
    data.jti = jti;
    const keys = await ctx.keys();
    // RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat and jti are required.
    const payload: Record<string, unknown> = {
      iss: ctx.tenant.issuer,
      exp: expiresAt,
      aud: audience.length === 1 ? audience[0] : audience, // RFC 7519 §4.1.3: a string when there is one
      // RFC 9068 §2.2: with no resource owner (client_credentials), sub names the client.
      // OIDC Core §8: a pairwise client (and whoever it shows the token to) sees its own sub, never the local one.
      sub: (req.subject === null ? undefined : subjectFor(ctx, req.client, req.subject)) ?? req.clientSubject ?? req.client.clientId,
      client_id: req.client.clientId,
      iat: now,
      jti,
    };
    if (req.scope.length) payload.scope = req.scope.join(' '); // RFC 9068 §2.2.3
    // RFC 9068 §2.2.1: how and when the user authenticated. The session id (sid) stays on the row: a resource
    // server has no use for it and RFC 9068 §6 asks to minimise what tokens reveal.
    if (req.authTime !== undefined) payload.auth_time = req.authTime;
    if (req.acr !== undefined) payload.acr = req.acr;
    if (ctx.confirmation) payload.cnf = { ...ctx.confirmation }; // RFC 9449 §6.1, RFC 8705 §3.1
    if (req.amr !== undefined) payload.amr = req.amr;
    if (req.act !== undefined) payload.act = req.act; // RFC 8693 §4.1
    if (mayAct) payload.may_act = mayAct; // RFC 8693 §4.4
    if (req.authorizationDetails?.length) payload.authorization_details = req.authorizationDetails; // RFC 9396 §9.1
    const key = keys.signingKey('ES256');
    const header = { typ: 'at+jwt' }; // RFC 9068 §2.1
    token = req.outsideTransaction ? await signJwtWithTurn(key, payload, header) : signJwt(key, payload, header);
  } else {
    token = newOrderedHandle(ctx.random, ctx.clock());
    handle = token;
  }
  const record: TokenRecord = {
    tenantId: ctx.tenant.id,
    hash: tokenKey(ctx.hasher, handle),
    kind: 'access_token',
    clientId: req.client.clientId,
    subject: req.subject,
    scope: req.scope,
    grantId: req.grantId,
    issuedAt: now,
    expiresAt,
    revokedAt: null,
    consumedAt: null,
    data,
  };
  await ctx.store.insertToken(record);
  return { token, expiresIn: ttl, record };
}
