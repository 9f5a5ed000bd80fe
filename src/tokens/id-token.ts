import { createHash } from 'node:crypto';
import type { EngineContext } from '../engine/context.js';
import { nowSeconds } from '../engine/context.js';
import type { ClientRecord } from '../store/types.js';
import { signJwt, type SigningAlg } from './jwt.js';
import { subjectFor } from '../engine/subject.js';
import { encryptIfRegistered } from '../engine/response-encryption.js';
import type { ResultCode } from '../engine/result-codes.js';

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
  /** The authorization request's state, hashed into s_hash when the ID token comes from the authorization endpoint. */
  state?: string;
  /** User claims to put in the token (when no access token goes with it, OIDC Core §5.4). */
  claims?: Record<string, unknown>;
  /** The result code of a refusal when the client registered ID token encryption and has no usable key (LK7240 by default). */
  encryptionRefusal?: ResultCode;
}

/**
 * Mint an ID token (OIDC Core §2), signed with the client's id_token_signed_response_alg (RS256 by default), then
 * encrypted to the client when it registered id_token_encrypted_response_alg (OIDC Core §10.2, §16.14: a nested JWT).
 */
export async function mintIdToken(ctx: EngineContext, req: IdTokenRequest): Promise<string> {
  const alg = req.client.idTokenSignedResponseAlg as SigningAlg;
  const key = (await ctx.keys()).signingKey(alg);
  const now = nowSeconds(ctx);
  const payload: Record<string, unknown> = {
    ...req.claims,
    iss: ctx.tenant.issuer,
    sub: subjectFor(ctx, req.client, req.subject), // OIDC Core §8: pairwise clients see their own sub
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
  // FAPI 1.0 Advanced §5.2.2.1: s_hash protects state in a front-channel ID token; computed like c_hash.
  if (req.state !== undefined) payload.s_hash = halfHash(req.state, alg);
  const jws = signJwt(key, payload);
  // A client without ID token encryption pays one property test (the token endpoint is benchmarked).
  return req.client.idTokenEncryptedResponseAlg === undefined ? jws : encryptIfRegistered(ctx, req.client, 'id_token', jws, req.encryptionRefusal ?? 'LK7240');
}

