import type { EngineContext } from '../engine/context.js';
import { nowSeconds } from '../engine/context.js';
import type { ClientRecord, TokenRecord } from '../store/types.js';
import { newHandle } from './handles.js';
import { signJwt } from './jwt.js';

export interface AccessTokenRequest {
  client: ClientRecord;
  subject: string | null;
  scope: string[];
  grantId: string | null;
  /** Audience (resource indicators); defaults to the client. */
  audience?: string[];
  authTime?: number;
  acr?: string;
  sid?: string;
  /** Claims to keep with the token (for UserInfo's claims-by-request, the original grant type, …). */
  extra?: Record<string, unknown>;
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
  const ttl = ctx.tenant.settings.accessTokenTtl;
  const format = req.client.accessTokenFormat ?? ctx.tenant.settings.accessTokenFormat;
  const audience = req.audience && req.audience.length ? req.audience : [req.client.clientId];
  const data: Record<string, unknown> = { format, aud: audience, ...req.extra };
  if (req.authTime !== undefined) data.auth_time = req.authTime;
  if (req.acr !== undefined) data.acr = req.acr;
  if (req.sid !== undefined) data.sid = req.sid;
  if (ctx.confirmation) data.cnf = { ...ctx.confirmation }; // RFC 9449 §6, RFC 8705 §3.1

  let token: string;
  let handle: string;
  if (format === 'jwt') {
    const jti = newHandle(ctx.random, 16);
    handle = jti;
    data.jti = jti;
    const keys = await ctx.keys();
    const payload: Record<string, unknown> = {
      iss: ctx.tenant.issuer,
      sub: req.subject ?? req.client.clientId, // RFC 9068 §2.2: client_credentials tokens carry the client as sub
      aud: audience.length === 1 ? audience[0] : audience,
      client_id: req.client.clientId,
      iat: now,
      exp: now + ttl,
      jti,
    };
    if (req.scope.length) payload.scope = req.scope.join(' ');
    if (req.authTime !== undefined) payload.auth_time = req.authTime;
    if (req.acr !== undefined) payload.acr = req.acr;
    if (req.sid !== undefined) payload.sid = req.sid;
    if (ctx.confirmation) payload.cnf = { ...ctx.confirmation }; // RFC 9449 §6.1, RFC 8705 §3.1
    token = signJwt(keys.signingKey('ES256'), payload, { typ: 'at+jwt' }); // RFC 9068 §2.1
  } else {
    token = newHandle(ctx.random);
    handle = token;
  }
  const record: TokenRecord = {
    tenantId: ctx.tenant.id,
    hash: ctx.hasher.hash(handle),
    kind: 'access_token',
    clientId: req.client.clientId,
    subject: req.subject,
    scope: req.scope,
    grantId: req.grantId,
    issuedAt: now,
    expiresAt: now + ttl,
    revokedAt: null,
    consumedAt: null,
    data,
  };
  await ctx.store.insertToken(record);
  return { token, expiresIn: ttl, record };
}
