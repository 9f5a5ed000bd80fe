import { encryptionKeyFor } from '../response-encryption.js';
import type { Check } from './request.js';

/**
 * JARM §2.2 and OIDC Core §10.2: a client that registered encrypted authorization responses or ID tokens has a key
 * for them before the user is asked anything, so a misconfigured client finds out at once rather than after the login.
 * Without a JARM key no response can reach the client encrypted: the refusal goes to the user agent (LK7242, the
 * error response itself cannot be encrypted). Without an ID token key (only when this response carries one) the
 * refusal is redirected, as invalid_client_metadata (LK7241).
 */
export const checkResponseEncryption: Check = async (s) => {
  const client = s.client!;
  if (client.authorizationEncryptedResponseAlg !== undefined && s.request.responseMode!.endsWith('.jwt')) {
    await encryptionKeyFor(s.ctx, client, 'authorization', 'LK7242');
  }
  if (client.idTokenEncryptedResponseAlg !== undefined && s.request.responseType!.split(' ').includes('id_token')) {
    await encryptionKeyFor(s.ctx, client, 'id_token', 'LK7241');
  }
};
