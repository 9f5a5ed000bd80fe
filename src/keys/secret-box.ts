import { compactDecrypt, CompactEncrypt } from 'jose';

/**
 * Encrypts the few secrets that must be recoverable (a client_secret_jwt client's secret is the HMAC key its
 * assertions are verified with) under the key-encryption key, like private signing keys: JWE dir + A256GCM.
 * Everything else secret is stored as a keyed hash.
 */
export interface SecretBox {
  encrypt(plaintext: string): Promise<string>;
  decrypt(jwe: string): Promise<string>;
}

export function secretBox(keyEncryptionKey: Uint8Array, contentType = 'latchkey-secret'): SecretBox {
  return {
    async encrypt(plaintext) {
      return new CompactEncrypt(new TextEncoder().encode(plaintext))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: contentType })
        .encrypt(keyEncryptionKey);
    },
    async decrypt(jwe) {
      const { plaintext } = await compactDecrypt(jwe, keyEncryptionKey, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
      return new TextDecoder().decode(plaintext);
    },
  };
}
