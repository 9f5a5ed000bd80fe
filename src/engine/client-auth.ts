import type { ClientRecord, ClientStore } from '../store/types.js';
import type { Hasher } from '../tokens/handles.js';
import { OAuthError } from './errors.js';
import type { Params } from './params.js';

/** Client credentials as presented, before any check. */
export interface PresentedCredentials {
  /** From HTTP Basic, already decoded (see parseBasicAuth). */
  clientId?: string;
  clientSecret?: string;
}

/**
 * RFC 6749 §2.3.1: the client id and secret are form-urlencoded before being put in the Basic header, so they
 * are decoded after base64. Returns undefined for a non-Basic scheme; throws invalid_request for a broken header.
 */
export function parseBasicAuth(header: string | undefined): PresentedCredentials | undefined {
  if (!header) return undefined;
  const m = /^Basic[ ]+([A-Za-z0-9+/=._~-]*)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) throw new OAuthError('invalid_request', 'malformed Basic authorization header', { resultCode: 'LK1005' });
  try {
    const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { clientId: dec(decoded.slice(0, i)), clientSecret: dec(decoded.slice(i + 1)) };
  } catch {
    throw new OAuthError('invalid_request', 'malformed Basic authorization header', { resultCode: 'LK1005' });
  }
}

/** Credentials from a request input: decoded Basic values if the caller gave them, else the raw header. */
export function presentedCredentials(input: { authorization?: string; clientId?: string; clientSecret?: string }): PresentedCredentials | undefined {
  if (input.clientId !== undefined) return { clientId: input.clientId, clientSecret: input.clientSecret ?? '' };
  return parseBasicAuth(input.authorization);
}

export interface AuthenticatedClient {
  client: ClientRecord;
  method: ClientRecord['tokenEndpointAuthMethod'];
}

function invalidClient(usedBasic: boolean, resultCode: 'LK1001' | 'LK1002' | 'LK1003', detail: string): OAuthError {
  // RFC 6749 §5.2: 401, and WWW-Authenticate naming the scheme the client tried when it used the header.
  return new OAuthError('invalid_client', 'client authentication failed', {
    status: 401,
    resultCode,
    detail,
    wwwAuthenticate: usedBasic ? 'Basic realm="latchkey", charset="UTF-8"' : undefined,
  });
}

/**
 * Authenticate the client of a back-channel request. Each client has exactly one registered method; any other
 * method is invalid_client. Failures never say whether the client exists.
 */
export async function authenticateClient(
  deps: { store: ClientStore; hasher: Hasher; tenantId: string },
  presented: PresentedCredentials | undefined,
  params: Params,
): Promise<AuthenticatedClient> {
  const bodyId = params.get('client_id');
  const bodySecret = params.get('client_secret');
  const usedBasic = presented?.clientId !== undefined;

  if (usedBasic && bodySecret !== undefined) {
    // RFC 6749 §2.3: a client MUST NOT use more than one authentication method in each request.
    throw new OAuthError('invalid_request', 'more than one client authentication method used', { resultCode: 'LK1004' });
  }
  if (usedBasic && bodyId !== undefined && bodyId !== presented!.clientId) {
    throw new OAuthError('invalid_request', 'client_id does not match the authenticated client', { resultCode: 'LK1006' });
  }
  const clientId = usedBasic ? presented!.clientId! : bodyId;
  if (clientId === undefined) throw invalidClient(false, 'LK1001', 'no client identification');

  const method: AuthenticatedClient['method'] = usedBasic ? 'client_secret_basic' : bodySecret !== undefined ? 'client_secret_post' : 'none';
  const client = clientId.length <= 255 ? await deps.store.findClient(deps.tenantId, clientId) : undefined;
  if (!client) throw invalidClient(usedBasic, 'LK1001', `unknown client ${JSON.stringify(clientId.slice(0, 64))}`);
  if (client.tokenEndpointAuthMethod !== method) {
    throw invalidClient(usedBasic, 'LK1003', `client registered ${client.tokenEndpointAuthMethod}, used ${method}`);
  }
  if (method !== 'none') {
    const secret = usedBasic ? presented!.clientSecret! : bodySecret!;
    if (!client.secretHash || !deps.hasher.verify(secret, client.secretHash)) throw invalidClient(usedBasic, 'LK1002', 'wrong secret');
  }
  return { client, method };
}
