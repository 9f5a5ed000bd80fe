import { CompactEncrypt, type CompactJWEHeaderParameters, importJWK, type JWK } from 'jose';
import type { ClientMetadata } from '../store/types.js';
import { clientJwks, clientKeySet, ENCRYPTION_KEY_OPS } from './client-keys.js';
import type { EngineContext } from './context.js';
import { OAuthError } from './errors.js';
import type { ResultCode } from './result-codes.js';

/**
 * Encrypted responses for clients that register for them (OIDC Core §10.2, §16.14; OIDC Registration §2
 * id_token_/userinfo_encrypted_response_alg/enc; JARM §2.2 authorization_encrypted_response_alg/enc; RFC 9701 §6
 * introspection_encrypted_response_alg/enc). Every JWE is made by `jose` (CompactEncrypt) with the client's public
 * key: asymmetric key management only. `dir` and the A*KW algorithms over a key derived from the client secret
 * (OIDC Core §10.2) are not offered; RSA1_5 never is (RFC 8725 §3.2: padding-oracle attacks).
 */
export const ENCRYPTION_ALGS = ['RSA-OAEP', 'RSA-OAEP-256', 'ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A256KW'] as const;
export const ENCRYPTION_ENCS = ['A128CBC-HS256', 'A256CBC-HS512', 'A128GCM', 'A256GCM'] as const;
export type EncryptionAlg = (typeof ENCRYPTION_ALGS)[number];
export type EncryptionEnc = (typeof ENCRYPTION_ENCS)[number];
/** OIDC Registration §2, JARM §2.2, RFC 9701 §6: the content encryption when only the alg is registered. */
export const DEFAULT_ENCRYPTION_ENC: EncryptionEnc = 'A128CBC-HS256';

/** The responses a client may ask to be encrypted, by the prefix of their metadata names. */
export type EncryptedResponse = 'id_token' | 'userinfo' | 'authorization' | 'introspection';
export const ENCRYPTED_RESPONSES: readonly EncryptedResponse[] = ['id_token', 'userinfo', 'authorization', 'introspection'];

type EncryptionMetadata = Pick<
  ClientMetadata,
  | 'idTokenEncryptedResponseAlg' | 'idTokenEncryptedResponseEnc' | 'userinfoEncryptedResponseAlg' | 'userinfoEncryptedResponseEnc'
  | 'authorizationEncryptedResponseAlg' | 'authorizationEncryptedResponseEnc' | 'introspectionEncryptedResponseAlg' | 'introspectionEncryptedResponseEnc'
>;

export interface ResponseEncryption {
  alg: EncryptionAlg;
  enc: EncryptionEnc;
}

/** The alg/enc a client registered for a response, or undefined when it asked for none. */
export function responseEncryption(client: EncryptionMetadata | undefined, kind: EncryptedResponse): ResponseEncryption | undefined {
  if (!client) return undefined;
  const [alg, enc] =
    kind === 'id_token' ? [client.idTokenEncryptedResponseAlg, client.idTokenEncryptedResponseEnc]
    : kind === 'userinfo' ? [client.userinfoEncryptedResponseAlg, client.userinfoEncryptedResponseEnc]
    : kind === 'authorization' ? [client.authorizationEncryptedResponseAlg, client.authorizationEncryptedResponseEnc]
    : [client.introspectionEncryptedResponseAlg, client.introspectionEncryptedResponseEnc];
  if (alg === undefined) return undefined;
  return { alg: alg as EncryptionAlg, enc: (enc ?? DEFAULT_ENCRYPTION_ENC) as EncryptionEnc };
}

const ECDH_CURVES = ['P-256', 'P-384', 'P-521'];

/**
 * Whether a JWK of the client can encrypt to it with `alg`: meant for encryption (RFC 7517 §4.2 `use` enc, or no
 * `use`; §4.3 key_ops, when present, allowing it), not limited to another alg (§4.4), and of a type the alg takes
 * (RFC 7518 §4.3: RSA of at least 2048 bits; §4.6: an EC key on a NIST curve or an X25519 OKP key, RFC 8037 §3.2).
 */
export function canEncryptWith(jwk: Record<string, unknown>, alg: EncryptionAlg): boolean {
  if (jwk.use !== undefined && jwk.use !== 'enc') return false;
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.some((op) => ENCRYPTION_KEY_OPS.includes(op as string))) return false;
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (alg.startsWith('RSA-OAEP')) {
    return jwk.kty === 'RSA' && typeof jwk.n === 'string' && Buffer.from(jwk.n, 'base64url').length * 8 >= 2048 && typeof jwk.e === 'string';
  }
  if (jwk.kty === 'EC') return typeof jwk.crv === 'string' && ECDH_CURVES.includes(jwk.crv) && typeof jwk.x === 'string' && typeof jwk.y === 'string';
  return jwk.kty === 'OKP' && jwk.crv === 'X25519' && typeof jwk.x === 'string';
}

/** The first key of a JWK Set the client can be sent `alg` JWEs with. */
export function selectEncryptionKey(keys: readonly Record<string, unknown>[], alg: EncryptionAlg): Record<string, unknown> | undefined {
  return keys.find((k) => canEncryptWith(k, alg));
}

/** The wire name of a response's alg member (for messages). */
export const algMember = (kind: EncryptedResponse): string => `${kind}_encrypted_response_alg`;

export interface EncryptionKey extends ResponseEncryption {
  key: CryptoKey | Uint8Array;
  kid?: string;
}

const MAX_IMPORTED = 1000;
const imported = new Map<string, CryptoKey | Uint8Array>();

async function importOnce(jwk: Record<string, unknown>, alg: EncryptionAlg): Promise<CryptoKey | Uint8Array> {
  const cacheKey = `${alg} ${JSON.stringify(jwk)}`;
  let key = imported.get(cacheKey);
  if (!key) {
    const { use: _use, key_ops: _ops, alg: _alg, ...material } = jwk;
    key = await importJWK(material as JWK, alg);
    if (imported.size >= MAX_IMPORTED) imported.delete(imported.keys().next().value!);
    imported.set(cacheKey, key);
  }
  return key;
}

/**
 * The client's key for a response it registered encryption for, or a refusal: `invalid_client_metadata` (the
 * client's registered keys cannot serve its registered alg; node-oidc-provider answers the same), with the endpoint's
 * result code, so the response is never sent unencrypted. Keys come from the inline `jwks` or, through the one
 * fetcher and cache of client keys (client-keys.ts), from `jwks_uri`: a remote set missing a usable key is
 * refetched once (within its cooldown), as when a client rotates its keys.
 */
export async function encryptionKeyFor(ctx: EngineContext, client: ClientMetadata, kind: EncryptedResponse, resultCode: ResultCode): Promise<EncryptionKey> {
  const wanted = responseEncryption(client, kind);
  if (!wanted) throw new Error(`encryptionKeyFor: the client registered no ${kind} encryption`);
  const refuse = (why: string) =>
    new OAuthError('invalid_client_metadata', `no usable encryption key for ${algMember(kind)} ${wanted.alg} (${why})`, { resultCode, status: 400 });
  let jwk: Record<string, unknown> | undefined;
  if (client.jwks) {
    jwk = selectEncryptionKey(client.jwks.keys, wanted.alg);
    if (!jwk) throw refuse('none in the client\'s jwks');
  } else if (client.jwksUri) {
    try {
      const set = clientKeySet(client, ctx.clients?.keySet)!;
      jwk = selectEncryptionKey((await clientJwks(set)).keys as Record<string, unknown>[], wanted.alg);
      if (!jwk && 'reload' in set) jwk = selectEncryptionKey((await clientJwks(set, { refetch: true })).keys as Record<string, unknown>[], wanted.alg);
    } catch (e) {
      ctx.log?.warn?.({ err: e, clientId: (client as { clientId?: string }).clientId }, 'jwks_uri could not be fetched for response encryption');
      throw refuse('the client\'s jwks_uri could not be fetched');
    }
    if (!jwk) throw refuse('none in the document at the client\'s jwks_uri');
  } else {
    throw refuse('the client registered no jwks or jwks_uri');
  }
  let key: CryptoKey | Uint8Array;
  try {
    key = await importOnce(jwk, wanted.alg);
  } catch {
    throw refuse('the client\'s key could not be imported');
  }
  return { ...wanted, key, kid: typeof jwk.kid === 'string' ? jwk.kid : undefined };
}

/**
 * encryptionKeyFor with the refusal returned rather than thrown, for a caller that resolves the key ahead (outside
 * any store transaction) and throws the refusal only where the response is made, if it is made at all.
 */
export async function resolveEncryptionKey(ctx: EngineContext, client: ClientMetadata, kind: EncryptedResponse, resultCode: ResultCode): Promise<EncryptionKey | OAuthError> {
  try {
    return await encryptionKeyFor(ctx, client, kind, resultCode);
  } catch (e) {
    if (e instanceof OAuthError) return e;
    throw e;
  }
}

const encoder = new TextEncoder();

/**
 * A compact JWE of `plaintext` to the client's key. `nested`: the plaintext is a JWS, so the header says
 * cty JWT (RFC 7519 §5.2, OIDC Core §16.14: signed, then encrypted); otherwise it is a JWT Claims Set itself.
 */
export async function encryptTo(k: EncryptionKey, plaintext: string, nested: boolean): Promise<string> {
  const header: CompactJWEHeaderParameters = { alg: k.alg, enc: k.enc };
  if (k.kid !== undefined) header.kid = k.kid; // RFC 7516 §4.1.6: which of its keys the client needs
  if (nested) header.cty = 'JWT';
  return new CompactEncrypt(encoder.encode(plaintext)).setProtectedHeader(header).encrypt(k.key);
}

/** The response encrypted to the client when it registered encryption for it; else as it is (no work at all). */
export async function encryptIfRegistered(
  ctx: EngineContext,
  client: ClientMetadata,
  kind: EncryptedResponse,
  jws: string,
  resultCode: ResultCode,
): Promise<string> {
  if (responseEncryption(client, kind) === undefined) return jws;
  return encryptTo(await encryptionKeyFor(ctx, client, kind, resultCode), jws, true);
}
