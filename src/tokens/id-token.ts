import { createHash } from 'node:crypto';
import type { EngineContext } from '../engine/context.js';
import { nowSeconds } from '../engine/context.js';
import type { ClientRecord } from '../store/types.js';
import { signJwt, type SigningAlg } from './jwt.js';
import { subjectFor } from '../engine/subject.js';
import { encryptTo, type EncryptionKey } from '../engine/response-encryption.js';
import { OAuthError } from '../engine/errors.js';

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
  /**
   * OIDC Core §10.2: when the client registered ID token encryption, its key (or the refusal, thrown here), resolved
   * by the caller before any write or store transaction (encryptionKeyFor / resolveEncryptionKey): never fetched here.
   */
  encryptionKey?: EncryptionKey | OAuthError;
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
  if (req.client.idTokenEncryptedResponseAlg === undefined) return jws;
  const k = req.encryptionKey;
  // Fail closed: a caller that did not resolve the key gets no ID token at all (never an unencrypted one, never a fetch here).
  if (k === undefined) throw new Error('mintIdToken: the ID token encryption key must be resolved before minting');
  if (k instanceof OAuthError) throw k;
  return encryptTo(k, jws, true);
}

