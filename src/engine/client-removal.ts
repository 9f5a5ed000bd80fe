import type { ClientWriteCondition, Store } from '../store/types.js';

/**
 * Delete a client with everything that would otherwise outlive it, inside the caller's transaction (`tx`): its
 * grants and tokens are revoked (RFC 7592 §2.3), and its users' consents (OIDC Core §3.1.2.4: consent is given to
 * a client), its pending tickets, pushed authorization requests (RFC 9126) and device codes (RFC 8628) are deleted.
 * A client registered later under the same client_id starts with none of them: no consent it was never given, no
 * interaction begun for the earlier client that ends at a redirect URI registered for that one (RFC 6749 §3.1.2.2).
 * Returns whether there was such a client.
 */
export async function removeClient(tx: Store, tenantId: string, clientId: string, now: number, condition?: ClientWriteCondition): Promise<boolean> {
  // RFC 7592 §2.3 with a registration access token: the client row goes first, only while the token that authorised
  // the request is still its token; otherwise nothing is touched. (On PostgreSQL the deleted row also stays locked
  // until commit, so a racing conditional update then finds no row.)
  if (condition && !(await tx.deleteClient(tenantId, clientId, condition))) return false;
  await tx.revokeClientTokens(tenantId, clientId, now);
  await tx.deleteClientConsents(tenantId, clientId);
  await tx.deleteClientTickets(tenantId, clientId);
  await tx.deleteClientPushedRequests(tenantId, clientId);
  await tx.deleteClientDeviceCodes(tenantId, clientId);
  return (await tx.deleteClient(tenantId, clientId)) || condition !== undefined;
}
