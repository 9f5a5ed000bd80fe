import { limitAddress, limitClient } from './abuse-limit.js';
import type { ClientMetadata, ClientRecord } from '../store/types.js';
import { clientResponse, newClientRecord, replacedClientRecord, storedClient } from './client-records.js';
import { withoutNullMembers } from './client-metadata.js';
import { removeClient } from './client-removal.js';
import { originOf } from './cors.js';
import { nowSeconds, type EngineContext } from './context.js';
import { bearerError, extractBearer } from './bearer.js';
import { OAuthError } from './errors.js';
import { checkTrustedHosts, DEFAULT_REGISTRATION_MAX_CLIENTS, maxClientsReached, openlyRegistered } from './registration-policy.js';
import { jsonResult, NO_STORE, runEngine, type Result } from './result.js';

export type RegistrationAction = 'CREATED' | 'OK' | 'DELETED' | 'BAD_REQUEST' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'INTERNAL_SERVER_ERROR';

/** A registration (RFC 7591 §3.1) or management (RFC 7592 §2) request as received. */
export interface RegistrationInput {
  /** The raw request body (JSON), unmodified. */
  body?: string;
  contentType?: string;
  /** The raw Authorization header: an initial access token (registration) or registration access token (management). */
  authorization?: string;
  /** The caller's network address, for the abuse limits (src/engine/abuse-limit.ts). */
  clientAddress?: string;
  /** The request carried more than one Authorization header (the transport saw it; RFC 6750 §2: ambiguous). */
  repeatedAuthorization?: boolean;
}

/** A registration Result; CREATED also names the client just registered, so callers need not parse the reply. */
export interface RegistrationResult extends Result<RegistrationAction> {
  /** CREATED: the new client's client_id (also in responseContent). */
  clientId?: string;
}

export interface RegistrationManagementInput extends RegistrationInput {
  /** GET, PUT or DELETE (RFC 7592 §2); any other method is answered 405 (a caller passing HEAD maps it to GET). */
  method: 'GET' | 'PUT' | 'DELETE';
  /** The client_id from the registration_client_uri path. */
  clientId: string;
}

/** The prefix of initial access tokens, so they are recognisable in logs and secret scanners. */
export const INITIAL_ACCESS_TOKEN_PREFIX = 'lki_';

const actionFor = (e: OAuthError): RegistrationAction =>
  e.code === 'invalid_token' ? 'UNAUTHORIZED' : e.status === 403 ? 'FORBIDDEN' : 'BAD_REQUEST';

/**
 * The bearer token of the Authorization header (RFC 6750 §2.1), read as UserInfo reads it (bearer.ts): another
 * scheme is no authentication information at all, a malformed Bearer header 400 invalid_request (§3.1), and two
 * Authorization headers are ambiguous credentials (400 invalid_request).
 */
function bearerToken(input: RegistrationInput): string | undefined {
  return extractBearer({ authorization: input.authorization, repeatedAuthorization: input.repeatedAuthorization });
}

function invalidToken(resultCode: 'LK8027' | 'LK8028', detail: string, noCredentials = false): OAuthError {
  // RFC 6750 §3.1: a missing or bad bearer token is 401 with WWW-Authenticate; a request with no authentication
  // information at all (no header, or another scheme) gets the bare challenge, without an error code.
  return bearerError(noCredentials ? undefined : 'invalid_token', 'the access token is missing, invalid or expired', 401, { resultCode, detail });
}

/** The methods of the client configuration endpoint (RFC 7592 §2.1-§2.3); the HTTP layer routes the others here too (405). */
export const MANAGEMENT_METHODS: readonly string[] = ['GET', 'PUT', 'DELETE'];

function methodNotAllowed(method: unknown): OAuthError {
  // RFC 9110 §15.5.6: a 405 names the methods the resource supports in Allow.
  return new OAuthError('invalid_request', `${String(method).slice(0, 20)} is not allowed here: use GET, PUT or DELETE (RFC 7592 §2)`, {
    resultCode: 'LK7170',
    status: 405,
    headers: { Allow: MANAGEMENT_METHODS.join(', ') },
  });
}

function parseJsonBody(input: RegistrationInput): Record<string, unknown> {
  const mime = (input.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  // RFC 7591 §3.1: the request is an HTTP POST with a JSON body (application/json).
  if (mime !== 'application/json') {
    throw new OAuthError('invalid_request', 'the request body must be application/json', { resultCode: 'LK8030' });
  }
  let body: unknown;
  try {
    body = JSON.parse(input.body ?? '');
  } catch {
    throw new OAuthError('invalid_request', 'the request body is not valid JSON', { resultCode: 'LK8030' });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new OAuthError('invalid_client_metadata', 'the request body must be a JSON object of client metadata', { resultCode: 'LK8030' });
  }
  return body as Record<string, unknown>;
}

function registrationOff(ctx: EngineContext): Result<RegistrationAction> | undefined {
  if ((ctx.clients?.registration ?? 'off') !== 'off') return undefined;
  return jsonResult('FORBIDDEN', 403, 'LK8029', { error: 'access_denied', error_description: 'dynamic client registration is not enabled' });
}

/**
 * The client registration endpoint (RFC 7591 §3). Open, or protected by initial access tokens (`registration:
 * token`), which are bearer tokens created by an operator, stored hashed, optionally limited in time and uses.
 * The client gets its client_id, a secret when its method needs one, and a registration access token for
 * RFC 7592 management. Operator-only fields (client_id, client_secret, skip_consent) are ignored and scopes are
 * limited to `registrationScopes`. Open registration (no initial access token) is further bound by the tenant's quota
 * (`registrationMaxClients`) and the trusted hosts (`registrationTrustedHosts`): registration-policy.ts.
 */
export function registration(input: RegistrationInput, ctx: EngineContext): Promise<RegistrationResult> {
  return runEngine<RegistrationAction>(
    async () => {
      const off = registrationOff(ctx);
      if (off) return off;
      await limitAddress(ctx, 'registration', input.clientAddress);
      let gate: string | undefined;
      if (ctx.clients?.registration === 'token') {
        const token = bearerToken(input);
        if (!token) throw invalidToken('LK8027', 'no initial access token', true);
        gate = ctx.hasher.hash(token);
        const live = await ctx.store.findManagementToken('initial_access', gate, nowSeconds(ctx));
        if (!live || live.tenantId !== ctx.tenant.id) throw invalidToken('LK8027', 'unknown, expired, revoked or used-up initial access token');
      }
      const body = parseJsonBody(input);
      const open = gate === undefined;
      const { client, issued } = await newClientRecord(ctx, body, { dynamic: true, policy: open ? (m) => openRegistrationPolicy(ctx, m) : undefined });
      client.registeredThrough = open ? 'open' : 'token';
      const max = ctx.clients?.registrationMaxClients ?? DEFAULT_REGISTRATION_MAX_CLIENTS;
      // A use is spent only on a registration that succeeds (a typo in the metadata does not burn a one-time
      // token); the conditional decrement still settles races between requests holding the same token. Spent and
      // stored in one transaction: an insert that fails (an outage) gives the use back rather than burning it.
      await ctx.store.transaction(async (tx) => {
        if (gate !== undefined && !(await tx.useManagementToken('initial_access', gate, nowSeconds(ctx)))) {
          throw invalidToken('LK8027', 'the initial access token was used up meanwhile');
        }
        if (!open || max === 0) {
          await tx.createClient(client);
        } else if (!(await tx.createClientWithinLimit(client, max))) {
          // Counted and stored in one transaction: concurrent registrations never take the tenant past the limit.
          throw maxClientsReached(max);
        }
      });
      // RFC 7591 §3.2.1: 201 Created, with everything registered (defaults included).
      return { ...jsonResult('CREATED', 201, 'LK8020', clientResponse(ctx, client, issued), { message: `client ${client.clientId} registered` }), clientId: client.clientId };
    },
    actionFor,
    'INTERNAL_SERVER_ERROR',
    ctx.log,
  );
}

/**
 * The client configuration endpoint (RFC 7592 §2): read, update, delete, with the registration access token.
 * Decision: every successful update rotates the registration access token (§2.2 allows it; the old one stops
 * working at once), a read returns the token that was presented, and the secret is never returned after
 * registration (it is stored hashed), except a new one when an update moves the client to a secret method.
 */
export function registrationManagement(input: RegistrationManagementInput, ctx: EngineContext): Promise<Result<RegistrationAction>> {
  return runEngine(
    async () => {
      const off = registrationOff(ctx);
      if (off) return off;
      // Before the token and the limits: the method decides whether there is anything to authorise at all.
      if (!MANAGEMENT_METHODS.includes(input.method)) throw methodNotAllowed(input.method);
      await limitAddress(ctx, 'registration', input.clientAddress);
      const token = bearerToken(input);
      if (!token) throw invalidToken('LK8028', 'no registration access token', true);
      // Read past the client cache (a transaction's store has none): RFC 7592 §2.2, §2.3 changes take effect at once,
      // so a token rotated or a client deleted through another process must not be honoured here from a cached copy.
      const client = input.clientId.length <= 255 ? await ctx.store.transaction((tx) => tx.findClient(ctx.tenant.id, input.clientId)) : undefined;
      // RFC 7592 §2.1: an unknown client and a wrong token get the same 401.
      if (!client?.registrationAccessTokenHash || !ctx.hasher.verify(token, client.registrationAccessTokenHash)) {
        throw invalidToken('LK8028', client ? 'wrong registration access token' : 'unknown client');
      }
      await limitClient(ctx, 'registration', client.clientId);
      switch (input.method) {
        case 'GET':
          return jsonResult('OK', 200, 'LK8021', clientResponse(ctx, client, {}, token));
        case 'PUT':
          return update(ctx, client, token, parseJsonBody(input));
        case 'DELETE': {
          // RFC 7592 §2.3: the client's grants and tokens go with it, and its consents and pending interactions.
          // RFC 7592 §2.2: only while the presented token is still the client's (a racing update may have rotated it).
          // Not on the revision: a deletion puts nothing back, so an operator's write since does not make it stale.
          const condition = { registrationAccessTokenHash: client.registrationAccessTokenHash };
          const removed = await ctx.store.transaction((tx) => removeClient(tx, ctx.tenant.id, client.clientId, nowSeconds(ctx), condition));
          if (!removed) throw invalidToken('LK8028', 'the registration access token was replaced, or the client deleted, meanwhile');
          return { action: 'DELETED', resultCode: 'LK8023', resultMessage: `client ${client.clientId} deleted`, responseContent: '', status: 204, headers: { ...NO_STORE } };
        }
        default:
          // Never fall out of the switch with no Result: callers (the audit, sendResult) need one.
          throw methodNotAllowed(input.method);
      }
    },
    actionFor,
    'INTERNAL_SERVER_ERROR',
    ctx.log,
  );
}

/** RFC 7592 §2.2 fields the server issues; a client sends them back at its peril. */
const SERVER_ISSUED = ['registration_access_token', 'registration_client_uri', 'client_secret_expires_at', 'client_id_issued_at'];

/**
 * RFC 7592 §2.2: the old token stops working once a new one is issued, so the write is a compare-and-swap on the token
 * this request was authenticated with, and on the revision of the record it was built from: an operator's write since
 * (a rotated secret, narrowed scope or grants, a redirect URI taken away) keeps the token, and writing the record built
 * before it would put back what the operator changed. On a lost race the client is read again and, if the presented
 * token is still its token, the update is checked and rebuilt on what is stored now, once. A racing update or delete
 * of the client's own that got there first leaves this request holding a dead token: 401 invalid_token as for any bad
 * token (§2.1), not a second token for the same client. Lost twice with the token still good (operators writing in a
 * loop): 409 (LK7190), nothing written; the client may send the update again.
 */
async function update(ctx: EngineContext, read: ClientRecord, token: string, sent: Record<string, unknown>): Promise<Result<RegistrationAction>> {
  let client = read;
  for (let attempt = 0; ; attempt++) {
    const { updated, issued } = await rebuilt(ctx, client, sent);
    const condition = { registrationAccessTokenHash: client.registrationAccessTokenHash!, revision: client.revision ?? null };
    // Consent was given to a client that sends its codes to the places it named then. A registration access token is
    // a bearer credential: whoever holds it could move the redirect URIs to a host of theirs, and every user who had
    // consented would be signed in there silently (prompt=none). So a new redirect origin asks users again (RFC 9700
    // §4.1: the redirect URI is what binds an authorization response to the client). Forgotten before the write (a
    // failure in between loses consents, never keeps them, and leaves the presented token good for a retry) and after
    // it (a consent given meanwhile goes too). The write rotates the registration access token: once it is done, the
    // answer carrying the new token must go out, or the client is locked out of its registration (the old token no
    // longer works). So the second deletion, which only narrows a race, is logged when it fails, not answered.
    const elsewhere = newRedirectPlaces(client, updated);
    if (elsewhere) await ctx.store.deleteClientConsents(ctx.tenant.id, client.clientId);
    if (await ctx.store.updateClient(updated, condition)) {
      if (elsewhere) {
        await ctx.store.deleteClientConsents(ctx.tenant.id, client.clientId).catch((e: unknown) => {
          ctx.log?.warn({ err: e, tenant: ctx.tenant.id, client: client.clientId }, 'consents given during a redirect URI change could not be forgotten');
        });
      }
      return jsonResult('OK', 200, 'LK8022', clientResponse(ctx, updated, issued));
    }
    const now = await storedClient(ctx, client.clientId);
    if (!now?.registrationAccessTokenHash || !ctx.hasher.verify(token, now.registrationAccessTokenHash)) {
      throw invalidToken('LK8028', 'the registration access token was replaced, or the client deleted, meanwhile');
    }
    if (attempt === 1) {
      // RFC 9110 §15.5.10: a conflict with the current state of the resource, which the client may resolve by resending.
      throw new OAuthError('invalid_request', 'the client was changed by the server while it was being updated; send the update again', {
        resultCode: 'LK7190',
        status: 409,
      });
    }
    client = now;
  }
}

/**
 * Whether an update lets the client receive authorization responses somewhere it could not before: a redirect URI
 * at a web origin (RFC 6454) none of its previous ones had, or a new non-web URI (a native app's private-use scheme
 * has no origin: the URI itself is the place).
 */
function newRedirectPlaces(before: ClientRecord, after: ClientRecord): boolean {
  const place = (uri: string) => originOf(uri) ?? uri;
  const known = new Set(before.redirectUris.map(place));
  return after.redirectUris.some((u) => !known.has(place(u)));
}

/** The client's update checked and built against the client as stored (`client`), not yet written. */
async function rebuilt(ctx: EngineContext, client: ClientRecord, sent: Record<string, unknown>) {
  // RFC 7592 §2.2: null is no value (a deletion, as an omitted field is), so e.g. "client_secret": null sends no secret.
  const body = withoutNullMembers(sent);
  // RFC 7592 §2.2: the request MUST include client_id, the same as issued ...
  if (body.client_id !== client.clientId) {
    throw new OAuthError('invalid_request', 'client_id must be present and equal to the registered client_id (RFC 7592 §2.2)', { resultCode: 'LK8024' });
  }
  // ... MUST NOT include the fields the server issues ...
  const issuedField = SERVER_ISSUED.find((f) => f in sent); // even as null: they are not metadata to delete
  if (issuedField) throw new OAuthError('invalid_request', `${issuedField} must not be sent in an update (RFC 7592 §2.2)`, { resultCode: 'LK8024' });
  // ... and a client_secret, if sent, MUST match the current one: the client cannot choose its secret.
  if (body.client_secret !== undefined) {
    const matches = typeof body.client_secret === 'string' && client.secretHash !== null && ctx.hasher.verify(body.client_secret, client.secretHash);
    if (!matches) throw new OAuthError('invalid_request', 'client_secret does not match the current secret (RFC 7592 §2.2)', { resultCode: 'LK8024' });
  }
  // Keycloak's anonymous policies hold for the token an anonymous registration issued too: an openly registered client
  // cannot move its URIs off the trusted hosts by an update.
  const policy = openlyRegistered(client) ? (m: ClientMetadata) => openRegistrationPolicy(ctx, m) : undefined;
  const { client: updated, issued } = await replacedClientRecord(ctx, client, body, { dynamic: true, policy });
  return { updated, issued };
}

/** The rules for the metadata of a client registering (or updating) itself through open registration: registration-policy.ts. */
function openRegistrationPolicy(ctx: EngineContext, metadata: ClientMetadata): void {
  checkTrustedHosts(metadata, ctx.clients?.registrationTrustedHosts ?? []);
}
