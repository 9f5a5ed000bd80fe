import { createHash } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type { EngineContext } from '../engine/context.js';
import { nowSeconds } from '../engine/context.js';
import type { ClientRecord } from '../store/types.js';
import { signJwt, type SigningAlg } from './jwt.js';

/**
 * OIDC Core §3.1.3.6 / §3.3.2.11: at_hash and c_hash are the left half of the hash of the ASCII value, with the
 * hash of the ID token's alg (SHA-256 for *256; SHA-512 for EdDSA over Ed25519).
 */
export function halfHash(value: string, alg: SigningAlg): string {
  const digest = createHash(alg === 'EdDSA' ? 'sha512' : 'sha256').update(value, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

export interface IdTokenRequest {
  client: ClientRecord;
  subject: string;
  authTime?: number;
  nonce?: string;
  acr?: string;
  amr?: string[];
  sid?: string;
  accessToken?: string;
  code?: string;
  /** User claims to put in the token (when no access token goes with it, OIDC Core §5.4). */
  claims?: Record<string, unknown>;
}

/** Mint an ID token (OIDC Core §2), signed with the client's id_token_signed_response_alg (RS256 by default). */
export async function mintIdToken(ctx: EngineContext, req: IdTokenRequest): Promise<string> {
  const alg = req.client.idTokenSignedResponseAlg as SigningAlg;
  const key = (await ctx.keys()).signingKey(alg);
  const now = nowSeconds(ctx);
  const payload: Record<string, unknown> = {
    ...req.claims,
    iss: ctx.tenant.issuer,
    sub: req.subject,
    aud: req.client.clientId,
    exp: now + (req.client.idTokenLifetime ?? ctx.tenant.settings.idTokenTtl),
    iat: now,
  };
  if (req.authTime !== undefined) payload.auth_time = req.authTime;
  if (req.nonce !== undefined) payload.nonce = req.nonce;
  if (req.acr !== undefined) payload.acr = req.acr;
  if (req.amr !== undefined) payload.amr = req.amr;
  payload.azp = req.client.clientId;
  if (req.sid !== undefined) payload.sid = req.sid;
  if (req.accessToken !== undefined) payload.at_hash = halfHash(req.accessToken, alg);
  if (req.code !== undefined) payload.c_hash = halfHash(req.code, alg);
  return signJwt(key, payload);
}

/**
 * Verify an ID token this tenant issued (signature against our keys by kid, iss, a string sub), with `jose`
 * as for every untrusted JWT. The one verifier for id_token_hint (OIDC Core §3.1.2.1) and for ID tokens
 * presented to token exchange (RFC 8693 §3). Only untyped (or `typ: JWT`) tokens count: our access tokens
 * (at+jwt) and introspection answers (token-introspection+jwt) are never taken for ID tokens (RFC 8725 §3.11).
 * Throws on any failure; callers turn that into their own error.
 */
export async function verifyIdToken(
  ctx: EngineContext,
  token: string,
  opts: { audience: string; allowExpired: boolean },
): Promise<JWTPayload & { sub: string }> {
  const header = decodeProtectedHeader(token);
  if (header.typ !== undefined && header.typ.toUpperCase() !== 'JWT') throw new Error('not an ID token (typ)');
  const key = header.kid ? (await ctx.keys()).publicKey(header.kid) : undefined;
  if (!key) throw new Error('unknown kid');
  const { payload } = await jwtVerify(token, key, {
    issuer: ctx.tenant.issuer,
    audience: opts.audience,
    // An expired ID token is still a valid hint of who the user is.
    currentDate: opts.allowExpired ? new Date(0) : new Date(ctx.clock()),
    algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
  });
  if (typeof payload.sub !== 'string') throw new Error('no sub');
  if ('token_introspection' in payload || 'client_id' in payload) throw new Error('not an ID token (claims)');
  return payload as JWTPayload & { sub: string };
}
