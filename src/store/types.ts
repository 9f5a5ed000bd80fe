/**
 * Storage contracts. Each engine module depends on the narrow interface it uses (fosite-style);
 * `Store` composes them. All timestamps are epoch seconds. All secrets (codes, tokens, client secrets,
 * tickets, session ids) are stored only as keyed hashes and looked up by hash.
 */

export const DEFAULT_TENANT = 'default';

/**
 * The longest an authorization code may live, seconds (config and tenant settings cap authorizationCodeTtl here).
 * A code is written only with its grant, so a grant is never swept before this long after it was made
 * (GrantSweepStore): an unredeemed code always finds its grant.
 */
export const MAX_AUTHORIZATION_CODE_TTL = 600;

export interface TenantRecord {
  id: string;
  issuer: string;
  settings: Record<string, unknown>;
  createdAt: number;
}

export type TokenEndpointAuthMethod =
  | 'client_secret_basic'
  | 'client_secret_post'
  | 'none'
  | 'client_secret_jwt' // RFC 7523 §2.2, OIDC Core §9
  | 'private_key_jwt' // RFC 7523 §2.2, OIDC Core §9
  | 'tls_client_auth' // RFC 8705 §2.1
  | 'self_signed_tls_client_auth'; // RFC 8705 §2.2

/** RFC 7591 client metadata plus Latchkey's per-client policy (camelCase inside, snake_case on the wire). */
export interface ClientMetadata {
  clientName?: string;
  logoUri?: string;
  clientUri?: string;
  /** OIDC Registration §2: an https URI a third party uses to have the client start a login (OIDC Core §4); stored and returned only. */
  initiateLoginUri?: string;
  redirectUris: string[];
  grantTypes: string[];
  responseTypes: string[];
  /** Scopes this client may request. */
  scope: string[];
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  applicationType: 'web' | 'native';
  idTokenSignedResponseAlg: string;
  /** Latchkey policy: PKCE required even for a confidential client. Always true for public clients. */
  requirePkce: boolean;
  /** Latchkey policy: first-party client, consent is not asked. */
  skipConsent: boolean;
  /**
   * Latchkey policy: OpenID requests get a refresh token even without offline_access; it is bound to the browser
   * session and revoked when the session ends (offline_access grants outlive sessions, OIDC Core §11).
   */
  sessionRefreshTokens?: boolean;
  accessTokenFormat?: 'opaque' | 'jwt';
  /** RFC 9701 §6: alg of signed introspection responses; RS256 when absent. */
  introspectionSignedResponseAlg?: string;
  /** Latchkey policy: this client may introspect only tokens issued to itself (default: any token of the tenant). */
  introspectionOwnTokensOnly?: boolean;
  postLogoutRedirectUris?: string[];
  backchannelLogoutUri?: string;
  backchannelLogoutSessionRequired?: boolean;
  frontchannelLogoutUri?: string;
  frontchannelLogoutSessionRequired?: boolean;
  /** OpenID CIBA Core §4: poll or ping (only with the CIBA grant). */
  backchannelTokenDeliveryMode?: 'poll' | 'ping';
  /** OpenID CIBA Core §4: where a ping-mode client is told its request was decided. */
  backchannelClientNotificationEndpoint?: string;
  contacts?: string[];
  /** JARM: alg of signed authorization responses; RS256 when absent. */
  authorizationSignedResponseAlg?: string;
  /** RFC 9126 §6: this client must use pushed authorization requests. */
  requirePushedAuthorizationRequests?: boolean;
  /** FAPI 2.0 Security Profile enforced for this client (engine/fapi.ts); set by an operator only. */
  fapiProfile?: '2.0';
  /** RFC 7591 §2: the client's public keys, inline (request objects; client JWT authentication). */
  jwks?: { keys: Record<string, unknown>[] };
  /** RFC 7591 §2: where the client's public keys are published. */
  jwksUri?: string;
  /** OIDC Registration §2: the only alg accepted for this client's request objects ('none' only when registered so). */
  requestObjectSigningAlg?: string;
  /** OIDC Registration §2: request_uri values the server may fetch (only when remote request_uri fetching is enabled). */
  requestUris?: string[];
  /** RFC 8707: resource servers this client may ask tokens for; absent = every registered one of the tenant. */
  resources?: string[];
  /** RFC 9396 §10: the authorization details types this client may request; absent = every type the tenant supports. */
  authorizationDetailsTypes?: string[];
  /** Lifetimes (seconds) and refresh policy overriding the tenant's settings. */
  accessTokenLifetime?: number;
  idTokenLifetime?: number;
  refreshTokenLifetime?: number;
  /** 0 = no idle expiry. */
  refreshTokenIdleLifetime?: number;
  refreshTokenRotation?: boolean;
  refreshTokenReuseInterval?: number;
  /** RFC 6749 §4.3 password grant opt-in (RFC 9700 §2.4 says MUST NOT; off unless set). */
  insecurePasswordGrant?: boolean;
  /** RFC 8693 token exchange policy; present when the client registered the token-exchange grant. */
  tokenExchange?: TokenExchangePolicy;
  // Client authentication (issue 6): keys, certificate expectations, software statement.
  /** OIDC Registration §2: the only alg accepted for client_secret_jwt / private_key_jwt assertions. */
  tokenEndpointAuthSigningAlg?: string;
  /** RFC 8705 §2.1.2: exactly one of these for tls_client_auth. */
  tlsClientAuthSubjectDn?: string;
  tlsClientAuthSanDns?: string;
  tlsClientAuthSanUri?: string;
  tlsClientAuthSanIp?: string;
  tlsClientAuthSanEmail?: string;
  tosUri?: string;
  policyUri?: string;
  softwareId?: string;
  softwareVersion?: string;
  /** RFC 7591 §3.2.1: a verified software statement is returned unmodified. */
  softwareStatement?: string;
  /** RFC 9449 §5.2: this client's access tokens must be DPoP-bound (token requests without a proof are refused). */
  dpopBoundAccessTokens?: boolean;
  /** RFC 8705 §3.4: access tokens are bound to the client certificate presented at the token endpoint. */
  tlsClientCertificateBoundAccessTokens?: boolean;
  /** OIDC Core §8, OIDC Registration §2: public (default) or pairwise subject identifiers for this client. */
  subjectType?: 'public' | 'pairwise';
  /** OIDC Registration §2: an https URL listing the client's redirect URIs; its host is the pairwise sector (OIDC Core §8.1). */
  sectorIdentifierUri?: string;
  /** OIDC Registration §2: UserInfo responses are JWTs signed with this alg (OIDC Core §5.3.2); JSON when absent. */
  userinfoSignedResponseAlg?: string;
  /** RFC 9101 §10.5: only authorization requests made as signed request objects (by value or pushed) are accepted. */
  requireSignedRequestObject?: boolean;
  /** OIDC Registration §2: the max_age of this client's authorization requests that send none (seconds). */
  defaultMaxAge?: number;
  /** OIDC Registration §2: auth_time is required in ID tokens; Latchkey always sends it, so this is only kept and echoed. */
  requireAuthTime?: boolean;
  /**
   * RFC 8693 §4.4: the one party authorized to act for the subject of this client's access tokens (`may_act`, carried
   * in each access token issued to it and enforced when one is the subject_token of a token exchange). Operator only.
   */
  accessTokenMayAct?: MayActClaim;
  /**
   * CORS (Fetch standard): origins whose pages may read this client's answers at the token, revocation, PAR, device
   * authorization and UserInfo endpoints, besides those derived from its redirect URIs (engine/cors.ts).
   */
  allowedCorsOrigins?: string[];
  /**
   * Encrypted responses (OIDC Registration §2, JARM §2.2, RFC 9701 §6): the JWE alg and enc for ID tokens, UserInfo,
   * JARM authorization responses and JWT introspection responses (engine/response-encryption.ts). An enc is stored
   * only with its alg, A128CBC-HS256 when the client named none.
   */
  idTokenEncryptedResponseAlg?: string;
  idTokenEncryptedResponseEnc?: string;
  userinfoEncryptedResponseAlg?: string;
  userinfoEncryptedResponseEnc?: string;
  authorizationEncryptedResponseAlg?: string;
  authorizationEncryptedResponseEnc?: string;
  introspectionEncryptedResponseAlg?: string;
  introspectionEncryptedResponseEnc?: string;
}

/** RFC 8693 §4.4: the party a `may_act` claim names; ours is a client (its client_id) or a user (as `act.sub` shows them). */
export interface MayActClaim {
  sub: string;
}

/** Which token exchanges (RFC 8693) a client may perform. */
export interface TokenExchangePolicy {
  /** Token type URIs accepted as subject_token (RFC 8693 §3). */
  subjectTokenTypes: string[];
  /** Token type URIs accepted as actor_token. */
  actorTokenTypes: string[];
  /** Access tokens issued to other clients are accepted when their aud includes one of these. */
  subjectTokenAudiences: string[];
  /** With an actor_token: the new token carries `act` (RFC 8693 §4.1). */
  delegation: boolean;
  /** Without an actor_token: the new token stands for the subject alone (RFC 8693 §1.1). */
  impersonation: boolean;
}

export interface ClientRecord extends ClientMetadata {
  tenantId: string;
  clientId: string;
  /** Keyed hash of the client secret; null for public clients. */
  secretHash: string | null;
  createdAt: number;
  // Credential material besides secretHash (issue 6). Never part of the client's JSON.
  /** client_secret_jwt only: the secret itself, encrypted (JWE dir/A256GCM), for HMAC verification. */
  secretJwe?: string;
  /** Secret rotation: the previous secret keeps working until previousSecretExpiresAt (epoch seconds). */
  previousSecretHash?: string;
  previousSecretJwe?: string;
  previousSecretExpiresAt?: number;
  /** RFC 7592 §1.2: keyed hash of the registration access token (dynamically registered clients only). */
  registrationAccessTokenHash?: string;
  /**
   * How a dynamically registered client registered (RFC 7591 §3): `open` (no initial access token) or `token` (with
   * one). Absent for operators' clients, and for dynamic clients stored before it was recorded (engine/registration-
   * policy.ts openlyRegistered treats those as open). Kept through every update.
   */
  registeredThrough?: 'open' | 'token';
  /**
   * OIDC Core §8.1: the pairwise sector, fixed when a pairwise client is registered or replaced (subject.ts
   * sectorToStore), so a change in how sectors are derived never changes the subs a client already hands out.
   * Absent on records stored before it existed: their sector is derived as it was then (subject.ts sectorOf).
   */
  pairwiseSector?: string;
  /**
   * Replaced by the store on every updateClient (stored in the metadata JSON, like registrationAccessTokenHash), so a
   * write built from a record as read can be made conditional on nothing having been written since (ClientWriteCondition
   * .revision). Absent on records created or stored before it existed: absent is itself a value a condition compares.
   */
  revision?: string;
}

/**
 * A condition on a client write, checked in the same statement (RFC 7592 §2.2: a rotated registration access token
 * stops working at once): the row is written only while its stored registration access token hash is this one.
 */
export interface ClientWriteCondition {
  /** null: the client must still have no registration access token (one registered by an operator). */
  registrationAccessTokenHash: string | null;
  /**
   * The revision of the record the write was built from (null: it had none); the write happens only while the stored
   * revision is still that one, i.e. nobody (client or operator) has written the client since it was read. Omitted: not
   * checked, for a deletion, which puts nothing back (RFC 7592 §2.3: the token alone authorises it).
   */
  revision?: string | null;
}

export interface ClientStore {
  findClient(tenantId: string, clientId: string): Promise<ClientRecord | undefined>;
  createClient(client: ClientRecord): Promise<void>;
  /**
   * Whether a row was written: false when the client is gone or, with `condition`, its token hash or revision has
   * changed. Every write stores a fresh `revision` (whatever the record passed holds).
   */
  updateClient(client: ClientRecord, condition?: ClientWriteCondition): Promise<boolean>;
  listClients(tenantId: string): Promise<ClientRecord[]>;
  /**
   * Store a client that registered itself through open registration, unless the tenant holds `max` such clients
   * already (those with a registration access token whose registeredThrough is not `token`): counted and inserted in
   * one transaction that concurrent calls for the tenant cannot interleave with. Whether it was stored.
   */
  createClientWithinLimit(client: ClientRecord, max: number): Promise<boolean>;
  /** Whether a row was deleted: false when there was none or, with `condition`, its token hash has changed. */
  deleteClient(tenantId: string, clientId: string, condition?: ClientWriteCondition): Promise<boolean>;
}

export interface UserRecord {
  tenantId: string;
  /** The `sub`. */
  id: string;
  username: string;
  passwordHash: string;
  /** OIDC standard claims (name, email, email_verified, address, …). */
  claims: Record<string, unknown>;
  disabled: boolean;
  createdAt: number;
}

export interface UserStore {
  findUserById(tenantId: string, id: string): Promise<UserRecord | undefined>;
  findUserByUsername(tenantId: string, username: string): Promise<UserRecord | undefined>;
  createUser(user: UserRecord): Promise<void>;
  listUsers(tenantId: string): Promise<UserRecord[]>;
  deleteUser(tenantId: string, id: string): Promise<boolean>;
  /** Replace username, password hash, claims and disabled flag; false when there is no such user. */
  updateUser(user: UserRecord): Promise<boolean>;
}

/** A user's authenticator app (RFC 6238 TOTP, services/mfa.ts): its secret, encrypted, and the last step accepted. */
export interface OtpRecord {
  tenantId: string;
  userId: string;
  /** The shared secret, encrypted under the key-encryption key (SecretBox). */
  secret: string;
  /** When the user confirmed it with a first code; null while it is being set up (not yet asked at sign-in). */
  confirmedAt: number | null;
  /** The last time step a code was accepted for (RFC 6238 §5.2: none at or before it is accepted again). */
  lastStep: number;
  createdAt: number;
}

export interface OtpStore {
  findOtp(tenantId: string, userId: string): Promise<OtpRecord | undefined>;
  /** Start (or restart) setting up an app: a new unconfirmed secret; false when the user already has a confirmed one. */
  putPendingOtp(r: OtpRecord): Promise<boolean>;
  /**
   * Accept a code's step, once: one conditional update, true when `step` is after the last accepted one (and, with
   * `confirm`, the secret was unconfirmed and is now confirmed at `now`; without it, the secret was confirmed).
   * `recoveryCodes` (keyed hashes): when the step is accepted, they replace the user's in the same transaction.
   */
  acceptOtpStep(tenantId: string, userId: string, step: number, opts: { confirm: boolean; now: number; recoveryCodes?: string[] }): Promise<boolean>;
  /**
   * Remove a user's app (turned off, reset by an operator, user deleted), its recovery codes and security keys, in one
   * transaction; false when there was no app.
   */
  deleteOtp(tenantId: string, userId: string): Promise<boolean>;
  /** Replace a user's recovery codes (their keyed hashes) with these, in one transaction. */
  replaceRecoveryCodes(tenantId: string, userId: string, hashes: string[]): Promise<void>;
  /** Spend one recovery code, once (one conditional update); false when it is not the user's or was spent. */
  useRecoveryCode(tenantId: string, userId: string, hash: string, now: number): Promise<boolean>;
  /** How many of the user's recovery codes are left unspent. */
  countRecoveryCodes(tenantId: string, userId: string): Promise<number>;
  /** The user's security keys and passkeys, oldest first. */
  listWebauthnCredentials(tenantId: string, userId: string): Promise<WebauthnCredentialRecord[]>;
  /** Register a key; false when its credential id is already registered in the tenant (to anyone). */
  addWebauthnCredential(r: WebauthnCredentialRecord): Promise<boolean>;
  /**
   * A sign-in with the key: one conditional update, true when the key is the user's and its counter is still
   * `previousCounter` (so two sign-ins racing with one key cannot both pass the counter check), now `counter`.
   */
  useWebauthnCredential(tenantId: string, userId: string, credentialId: string, previousCounter: number, counter: number, now: number): Promise<boolean>;
  /** Remove one of the user's keys; false when the user has no such key. */
  deleteWebauthnCredential(tenantId: string, userId: string, credentialId: string): Promise<boolean>;
}

/** A security key or passkey registered for two-step sign-in (services/webauthn.ts). */
export interface WebauthnCredentialRecord {
  tenantId: string;
  userId: string;
  /** The credential id, base64url (WebAuthn §6.1: at most 1023 bytes). */
  credentialId: string;
  /** The credential public key as COSE_Key bytes, base64url (WebAuthn §6.5.1.1). */
  publicKey: string;
  /** The signature counter last seen (WebAuthn §6.1.1); 0 for keys that keep none. */
  counter: number;
  /** The transports the authenticator said it speaks (hints for the browser). */
  transports: string[];
  /** The name the user gave it. */
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface SigningKeyRecord {
  tenantId: string;
  kid: string;
  alg: string;
  /** active: signs new tokens; published: verifies only (rotated out, still in the JWKS). */
  status: 'active' | 'published' | 'retired';
  publicJwk: Record<string, unknown>;
  /** Private JWK, encrypted (JWE dir/A256GCM) with the key-encryption key. */
  privateJwe: string;
  createdAt: number;
  /**
   * Staged activation (issue 8): an 'active' key signs only from this time (epoch seconds) on, and only until a
   * newer active key of its alg reaches its own activation time. Absent on input: createdAt (signs at once).
   */
  activatesAt?: number;
}

export interface KeyStoreRepo {
  listKeys(tenantId: string): Promise<SigningKeyRecord[]>;
  /**
   * Adds new active keys and demotes the previous active key of the same alg to 'published', atomically. A key
   * staged for later (activatesAt > createdAt) demotes nothing: the previous key keeps signing until then.
   */
  addActiveKeys(keys: SigningKeyRecord[]): Promise<void>;
  /** A number that changes whenever a tenant's keys change (cheap to poll). */
  keysVersion(tenantId: string): Promise<number>;
  /**
   * Mark a key retired (it leaves the JWKS) if its stored status is still `from`: a compare-and-set, so that of
   * racing retirements one wins. Whether a key may be retired is not decided here but by keyStates (KeyManager.retire):
   * a stored 'active' row may be one a newer key has replaced. False when no such key has that status.
   */
  retireKey(tenantId: string, kid: string, from?: 'published' | 'active'): Promise<boolean>;
}

export type TokenKind = 'access_token' | 'refresh_token';

export interface TokenRecord {
  tenantId: string;
  hash: string;
  kind: TokenKind;
  clientId: string;
  subject: string | null;
  scope: string[];
  grantId: string | null;
  issuedAt: number;
  expiresAt: number;
  revokedAt: number | null;
  /** Refresh tokens: set once rotated. */
  consumedAt: number | null;
  /** Everything else (aud, auth_time, acr, sid, jti, claims, cnf, format, parent refresh hash, …). */
  data: Record<string, unknown>;
}

export interface TokenStore {
  insertToken(token: TokenRecord): Promise<void>;
  /** Move the expiry of an unrevoked token (a non-rotating refresh token's idle expiry slides). */
  extendToken(tenantId: string, hash: string, expiresAt: number): Promise<void>;
  /**
   * RFC 9700 §4.14.2 grace for client retries: atomically mark a refresh token that was rotated at or after
   * `rotatedSince` (and is not revoked) as re-used, once; undefined when it was not in that state.
   */
  reuseRotatedToken(tenantId: string, hash: string, now: number, rotatedSince: number): Promise<TokenRecord | undefined>;
  findToken(tenantId: string, hash: string): Promise<TokenRecord | undefined>;
  /**
   * Atomically mark an unconsumed, unrevoked refresh token consumed and return it; undefined when it was not
   * in that state (already rotated, revoked or unknown). One conditional statement: two racers cannot both win.
   * keepUntil becomes the row's expires_at in the same statement: a rotated token is kept (by the cleanup, which goes
   * by expires_at) as long as its family can live, since presenting it again is what reveals a stolen family.
   */
  consumeToken(tenantId: string, hash: string, now: number, keepUntil?: number): Promise<TokenRecord | undefined>;
  revokeToken(tenantId: string, hash: string, now: number): Promise<void>;
}

export interface GrantRecord {
  tenantId: string;
  id: string;
  clientId: string;
  subject: string | null;
  scope: string[];
  createdAt: number;
  revokedAt: number | null;
  data: Record<string, unknown>;
  /** The browser session the grant was made in (OIDC session management), if any. */
  sid?: string | null;
}

export interface GrantStore {
  insertGrant(grant: GrantRecord): Promise<void>;
  findGrant(tenantId: string, id: string): Promise<GrantRecord | undefined>;
  /**
   * findGrant inside a transaction that issues tokens under the grant: on PostgreSQL it also holds the grant's row
   * (FOR NO KEY UPDATE) until the transaction ends, so a concurrent revokeGrant (revokeSubject, revokeClientTokens) waits
   * for it and then revokes the tokens it issued, or, having gone first, is seen here as revoked (RFC 7009 §2.1).
   * SQLite runs one write transaction at a time: there it is findGrant.
   */
  findGrantLocked(tenantId: string, id: string): Promise<GrantRecord | undefined>;
  /**
   * findUserById inside a transaction that issues tokens to the user: on PostgreSQL it also holds the user's row
   * (FOR SHARE) until the transaction ends, so a concurrent disable or delete (an UPDATE or DELETE of the row, done
   * before its revokeSubject) waits for it and then revokes what it issued, or, having gone first, is seen here.
   * SQLite runs one write transaction at a time: there it is findUserById.
   */
  findUserLocked(tenantId: string, id: string): Promise<UserRecord | undefined>;
  /** Grants made in one browser session (the clients that received tokens in it). */
  listGrantsBySid(tenantId: string, sid: string): Promise<GrantRecord[]>;
  /** Revoke the grant and every token it issued: one store call (code reuse, refresh reuse, logout). */
  revokeGrant(tenantId: string, id: string, now: number): Promise<void>;
  /** Grants of one user, newest first. */
  listGrantsOfSubject(tenantId: string, subject: string): Promise<GrantRecord[]>;
  /**
   * Revoke every grant and token of a user (user disabled or deleted), and deny the device codes they approved that
   * no device has redeemed yet (RFC 8628 §3.5: its next poll is access_denied; the grant would be made only then),
   * and the CIBA requests still waiting for their decision.
   */
  revokeSubject(tenantId: string, subject: string, now: number): Promise<void>;
  /** Revoke every grant and token issued to a client (client deleted, RFC 7592 §2.3). */
  revokeClientTokens(tenantId: string, clientId: string, now: number): Promise<void>;
}

export interface AuthorizationCodeRecord {
  tenantId: string;
  hash: string;
  clientId: string;
  grantId: string;
  expiresAt: number;
  consumedAt: number | null;
  /** redirect_uri, code_challenge, nonce, auth_time, acr, sid, scope, claims … */
  data: Record<string, unknown>;
}

export interface CodeStore {
  insertCode(code: AuthorizationCodeRecord): Promise<void>;
  /**
   * A new grant and its authorization code, both or neither (the authorization endpoint's step two). On SQLite,
   * outside a transaction, group-committed with the other writes of the event-loop turn.
   */
  insertGrantWithCode(grant: GrantRecord, code: AuthorizationCodeRecord): Promise<void>;
  /** Atomically consume; returns { code, firstUse }. A second redemption returns firstUse=false with the record. */
  consumeCode(tenantId: string, hash: string, now: number): Promise<{ code: AuthorizationCodeRecord; firstUse: boolean } | undefined>;
  /** Read a code without consuming it (to look up its user before the redeeming transaction). */
  findCode(tenantId: string, hash: string): Promise<AuthorizationCodeRecord | undefined>;
}

/** A pending authorization request between the two steps (authorization -> issue/fail). */
export interface TicketRecord {
  tenantId: string;
  hash: string;
  clientId: string;
  expiresAt: number;
  consumedAt: number | null;
  data: Record<string, unknown>;
}

export interface TicketStore {
  insertTicket(ticket: TicketRecord): Promise<void>;
  findTicket(tenantId: string, hash: string): Promise<TicketRecord | undefined>;
  /** Replace the data of a pending (unconsumed) ticket. */
  updateTicketData(tenantId: string, hash: string, data: Record<string, unknown>): Promise<void>;
  /**
   * Atomically mark an unconsumed ticket consumed and return it. Each flow stores its tickets under its own hash
   * input (authorization: the handle; `logout:`, `password-grant:` prefixes), so a flow finds only its own.
   */
  consumeTicket(tenantId: string, hash: string, now: number): Promise<TicketRecord | undefined>;
  /**
   * Undo consumeTicket when what it was consumed for wrote nothing (the issue step's store write failed): the ticket
   * is pending again, for the host or the user to try once more. Only the consumption made at `consumedAt`; false
   * when the ticket is not consumed at that time (never consumed, or another consumption since).
   */
  releaseTicket(tenantId: string, hash: string, consumedAt: number): Promise<boolean>;
}


export interface SessionRecord {
  tenantId: string;
  /** keyed hash of the cookie value */
  hash: string;
  /** the public `sid` claim */
  sid: string;
  subject: string;
  authTime: number;
  acr: string | null;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  endedAt: number | null;
  data: Record<string, unknown>;
}

export interface SessionStore {
  insertSession(session: SessionRecord): Promise<void>;
  findSession(tenantId: string, hash: string): Promise<SessionRecord | undefined>;
  touchSession(tenantId: string, hash: string, now: number): Promise<void>;
  endSession(tenantId: string, hash: string, now: number): Promise<void>;
  findSessionBySid(tenantId: string, sid: string): Promise<SessionRecord | undefined>;
  /** Live (not ended, not expired) sessions of a user, newest first. */
  listSessionsBySubject(tenantId: string, subject: string, now: number): Promise<SessionRecord[]>;
  /** End by sid; returns whether a live session was ended (exactly once). */
  endSessionBySid(tenantId: string, sid: string, now: number): Promise<boolean>;
  /**
   * A new authentication in a live session: its cookie hash (the session id) is replaced by `next.hash`, and its
   * authentication fields and lifetime renewed, keeping its sid; atomically, only while it is live (not ended).
   * Returns the session as it now is, or undefined when there was no such live session. OWASP Session Management:
   * the session id is renewed on every authentication, so a value known before it is worth nothing after it.
   */
  renewSession(
    tenantId: string,
    hash: string,
    next: Pick<SessionRecord, 'hash' | 'authTime' | 'acr' | 'lastSeenAt' | 'expiresAt' | 'data'>,
  ): Promise<SessionRecord | undefined>;
}

/** A back-channel logout token waiting to be delivered (OIDC Back-Channel Logout 1.0 §2.5, with retries). */
export interface LogoutDeliveryRecord {
  tenantId: string;
  id: string;
  clientId: string;
  uri: string;
  logoutToken: string;
  attempts: number;
  /** null once delivered or given up. */
  nextAttemptAt: number | null;
  deliveredAt: number | null;
  lastError: string | null;
  createdAt: number;
}

export interface LogoutDeliveryStore {
  insertDelivery(d: LogoutDeliveryRecord): Promise<void>;
  updateDelivery(d: LogoutDeliveryRecord): Promise<void>;
  /** Deliveries whose next attempt is due, across tenants. */
  dueDeliveries(now: number, limit: number): Promise<LogoutDeliveryRecord[]>;
  /** Take a due delivery for an attempt (moves its next attempt to leaseUntil); false if another worker took it. */
  claimDelivery(tenantId: string, id: string, expectedNext: number, leaseUntil: number): Promise<boolean>;
  listDeliveries(tenantId: string, clientId?: string): Promise<LogoutDeliveryRecord[]>;
}

export interface ConsentRecord {
  tenantId: string;
  subject: string;
  clientId: string;
  scope: string[];
  updatedAt: number;
}

export interface ConsentStore {
  findConsent(tenantId: string, subject: string, clientId: string): Promise<ConsentRecord | undefined>;
  /** The user's consents, one per client, most recently given first (the account page). */
  listConsentsOfSubject(tenantId: string, subject: string): Promise<ConsentRecord[]>;
  saveConsent(consent: ConsentRecord): Promise<void>;
  /**
   * Add `scope` to the user's consent for the client, atomically: two consents given at once (two tabs) both count.
   * A stored consent updated before `notBefore` (given to an earlier client under the same client_id) is replaced,
   * not added to. Returns the scope stored.
   */
  addConsent(consent: ConsentRecord, notBefore: number): Promise<string[]>;
}

export interface RateLimitStore {
  /** Increment the counter for key in the window starting at windowStart; returns the new count. */
  hit(key: string, windowStart: number, expiresAt: number): Promise<number>;
  count(key: string, windowStart: number): Promise<number>;
  reset(key: string): Promise<void>;
}

/** A protected resource (RFC 8707 §2) the tenant issues access tokens for. */
export interface ResourceServerRecord {
  tenantId: string;
  /** The resource indicator: an absolute URI without fragment, and the `aud` of its tokens. */
  identifier: string;
  name?: string;
  /** Scopes meaningful at this resource: its tokens carry no others (RFC 8707 §2.2, RFC 9068 §2.2.3). */
  scopes: string[];
  /** Overrides the client's and the tenant's access token format for tokens aimed at it. */
  accessTokenFormat?: 'opaque' | 'jwt';
  /** Access token lifetime (seconds) for tokens aimed at it; the shortest of the client's and the resources' wins. */
  accessTokenLifetime?: number;
  createdAt: number;
  /**
   * The clients that introspect for this resource (RFC 7662 §4): absent, any confidential client of the tenant may
   * introspect its tokens; present, only these (and each token's own client). `[]`: only the token's own client.
   */
  introspectionClients?: string[];
}

export interface ResourceServerStore {
  findResourceServer(tenantId: string, identifier: string): Promise<ResourceServerRecord | undefined>;
  listResourceServers(tenantId: string): Promise<ResourceServerRecord[]>;
  createResourceServer(r: ResourceServerRecord): Promise<void>;
  deleteResourceServer(tenantId: string, identifier: string): Promise<boolean>;
  /** Replace a resource server's metadata (identifier and createdAt stay); false when there is no such resource server. */
  updateResourceServer(r: ResourceServerRecord): Promise<boolean>;
}

export interface TenantStore {
  findTenant(id: string): Promise<TenantRecord | undefined>;
  createTenant(t: TenantRecord): Promise<void>;
  listTenants(): Promise<TenantRecord[]>;
}

/** RFC 9126: a pushed authorization request, referenced by its request_uri (stored hashed) until used once. */
export interface PushedRequestRecord {
  tenantId: string;
  hash: string;
  clientId: string;
  expiresAt: number;
  consumedAt: number | null;
  /** { parameters: the validated request parameters, form-encoded } */
  data: Record<string, unknown>;
}

export interface PushedRequestStore {
  insertPushedRequest(r: PushedRequestRecord): Promise<void>;
  /**
   * Atomically mark an unused pushed request used and return it; undefined when unknown or already used.
   * With clientId, only a request pushed by that client is consumed (RFC 9126 §4): another client's attempt
   * finds nothing and leaves it unspent.
   */
  consumePushedRequest(tenantId: string, hash: string, now: number, clientId?: string): Promise<PushedRequestRecord | undefined>;
}

/** RFC 8628: a device authorization, found by the device code's hash (client polling) or the user code's hash (user). */
export interface DeviceCodeRecord {
  tenantId: string;
  hash: string;
  userCodeHash: string;
  clientId: string;
  scope: string[];
  status: 'pending' | 'approved' | 'denied';
  /** Seconds the client must wait between polls; raised by 5 on every too-early poll (RFC 8628 §3.5). */
  interval: number;
  lastPolledAt: number | null;
  createdAt: number;
  expiresAt: number;
  subject: string | null;
  decidedAt: number | null;
  /** Set once tokens were issued for it. */
  consumedAt: number | null;
  /** auth_time, acr, amr, sid of the approving user … */
  data: Record<string, unknown>;
  /** The grant its redemption made (set with consumedAt), so a second redemption can revoke it; absent until then. */
  grantId?: string;
}

export interface DeviceCodeStore {
  /** Throws when the user code hash is taken (unique per tenant); the caller retries with a new user code. */
  insertDeviceCode(r: DeviceCodeRecord): Promise<void>;
  findDeviceCodeByUserCode(tenantId: string, userCodeHash: string): Promise<DeviceCodeRecord | undefined>;
  /**
   * Record a poll. When the previous poll was at least `interval` seconds ago (or there was none) the poll is
   * stamped and slowDown is false; otherwise the interval is raised by 5 seconds and slowDown is true. Each
   * outcome is one conditional statement, so two racing polls cannot both be on time. Only a poll by the client the
   * code was issued to (`clientId`) touches the row: another client's poll changes nothing and finds nothing (RFC 8628
   * §3.5: another client must not be able to slow the device down).
   */
  pollDeviceCode(tenantId: string, hash: string, now: number, clientId: string): Promise<{ record: DeviceCodeRecord; slowDown: boolean } | undefined>;
  /** Approve or deny a pending, unexpired device code, once; undefined when it was not in that state. */
  decideDeviceCode(
    tenantId: string,
    userCodeHash: string,
    decision: { status: 'approved' | 'denied'; subject: string | null; scope?: string[]; data: Record<string, unknown> },
    now: number,
  ): Promise<DeviceCodeRecord | undefined>;
  /**
   * Atomically mark an approved, unconsumed device code consumed and return it (tokens are issued once). With
   * grantId, the same statement records the grant the redemption makes (for reuse detection).
   */
  consumeDeviceCode(tenantId: string, hash: string, now: number, grantId?: string): Promise<DeviceCodeRecord | undefined>;
  /**
   * CIBA: the pending, unexpired requests waiting for this user's decision, newest first (a CIBA request names its
   * user when it is made; a device code's subject is set only when decided, so none of them is listed).
   */
  listPendingDeviceCodesOf(tenantId: string, subject: string, now: number, limit: number): Promise<DeviceCodeRecord[]>;
  /** Read a device code by its hash without touching it (a losing redemption looks up what the winner issued). */
  findDeviceCode(tenantId: string, hash: string): Promise<DeviceCodeRecord | undefined>;
}

/** One-time identifiers (JWT client assertion jti, RFC 7523 §3 item 7) remembered until they expire. */
export interface ReplayCacheStore {
  /**
   * Remember `jti` in `namespace` until expiresAt. True the first time; false when it is already remembered and
   * not yet expired (a replay). One atomic statement, so instances sharing the database agree.
   */
  rememberJti(tenantId: string, namespace: string, jti: string, expiresAt: number, now: number): Promise<boolean>;
}

/**
 * Bearer credentials for the management surfaces: admin API tokens and RFC 7591 initial access tokens.
 * Stored by keyed hash; `id` is a public handle for listing and revoking.
 */
export interface ManagementTokenRecord {
  id: string;
  kind: 'admin' | 'initial_access';
  /** Tenant an initial access token registers clients in; null for admin tokens (all tenants). */
  tenantId: string | null;
  hash: string;
  name: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  /** Uses left (initial access tokens); null = unlimited. */
  remainingUses: number | null;
}

export interface ManagementTokenStore {
  insertManagementToken(t: ManagementTokenRecord): Promise<void>;
  listManagementTokens(kind: ManagementTokenRecord['kind']): Promise<ManagementTokenRecord[]>;
  /** The live token with this hash (not revoked, not expired, uses left), without consuming a use. */
  findManagementToken(kind: ManagementTokenRecord['kind'], hash: string, now: number): Promise<ManagementTokenRecord | undefined>;
  /** The live token with this hash (not revoked, not expired, uses left), consuming one use when counted. Atomic. */
  useManagementToken(kind: ManagementTokenRecord['kind'], hash: string, now: number): Promise<ManagementTokenRecord | undefined>;
  revokeManagementToken(kind: ManagementTokenRecord['kind'], id: string, now: number): Promise<boolean>;
}

/**
 * A Core API credential (issue 7): a bearer token a delegating application presents to call the JSON protocol
 * API, for one service (tenant) or, with tenantId null, for every service. Stored only as a keyed hash.
 */
export interface ServiceTokenRecord {
  /** Public identifier, for listing and revoking; not a secret. */
  id: string;
  /** The service the token may act for; null: every service. */
  tenantId: string | null;
  hash: string;
  name: string | null;
  createdAt: number;
  revokedAt: number | null;
}

export interface ServiceTokenStore {
  insertServiceToken(t: ServiceTokenRecord): Promise<void>;
  findServiceTokenByHash(hash: string): Promise<ServiceTokenRecord | undefined>;
  listServiceTokens(): Promise<ServiceTokenRecord[]>;
  /** Revoke by id; false when there is no such live token. */
  revokeServiceToken(id: string, now: number): Promise<boolean>;
}

/** A security event (docs/audit.md): login, consent, token issued/revoked, reuse detected, client auth failure, admin action. */
export interface AuditEventRecord {
  id: string;
  tenantId: string;
  /** Milliseconds since the epoch. */
  at: number;
  type: string;
  clientId: string | null;
  subject: string | null;
  ip: string | null;
  resultCode: string | null;
  detail: Record<string, unknown>;
}

export interface AuditEventQuery {
  type?: string;
  /** Only events at or after this time (ms since the epoch). */
  since?: number;
  limit: number;
}

export interface AuditStore {
  insertAuditEvents(events: AuditEventRecord[]): Promise<void>;
  /** Newest first. */
  listAuditEvents(tenantId: string, q: AuditEventQuery): Promise<AuditEventRecord[]>;
}

export interface Store
  extends TenantStore,
    ClientStore,
    UserStore,
    OtpStore,
    KeyStoreRepo,
    TokenStore,
    GrantStore,
    CodeStore,
    TicketStore,
    SessionStore,
    ConsentStore,
    RateLimitStore,
    LogoutDeliveryStore,
    PushedRequestStore,
    DeviceCodeStore,
    ReplayCacheStore,
    ManagementTokenStore,
    ServiceTokenStore,
    AuditStore,
    ResourceServerStore {
  readonly dialect: 'sqlite' | 'postgres';
  /** Run fn in one database transaction; the store passed to fn is bound to it. */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  /** Cheap liveness query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Operations (issue 8): what the cleanup job needs. Declared as a merge into Store so that adding it is one
 * appended block (other branches extend Store too).
 */
export type PurgeTarget =
  | 'authorization_codes'
  | 'tickets'
  | 'tokens'
  | 'sessions'
  | 'rate_limits'
  | 'logout_deliveries'
  | 'pushed_requests'
  | 'device_codes'
  | 'jti_replay_cache'
  | 'audit_events';

export interface MaintenanceStore {
  /**
   * Take the named lease until `until` (epoch seconds) if it is free: never taken, or expired at `now`. One
   * conditional statement, so of many processes (or instances on one database) asking at once, one gets it.
   */
  acquireLease(name: string, holder: string, now: number, until: number): Promise<boolean>;
  /**
   * Delete at most `limit` rows of `target` that are dead before `cutoff` (epoch seconds) and return how many:
   * codes, tickets, tokens, rate-limit windows, pushed requests, device codes and replay-cache entries by
   * expires_at; sessions by expires_at or ended_at; logout deliveries that are finished (delivered or given up) by
   * created_at. One bounded statement per call.
   */
  purgeExpired(target: PurgeTarget, cutoff: number, limit: number): Promise<number>;
  /**
   * Delete at most `limit` of a tenant's sessions last seen before `lastSeenBefore` (epoch seconds) and return how
   * many: sessions that went idle (the cleanup passes now − the tenant's sessionIdleTtl − its grace). One bounded
   * delete per call, by the (tenant_id, last_seen_at) index, and in its transaction one update that makes the grants
   * of those sessions due for the grant sweep (sweep_after).
   */
  purgeIdleSessions(tenantId: string, lastSeenBefore: number, limit: number): Promise<number>;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface Store extends MaintenanceStore {}

/**
 * What outlives a grant unless removed with it (F1, session 7): the user's consent (ConsentRecord) and a client's
 * interactions still in progress. Deleting a client, deleting a user and revoking a user's grant call these in the
 * same transaction as their grant and token revocation; each is one statement (no read-then-write).
 */
export interface ConsentCleanupStore {
  /** Forget one user's consent to one client (a grant revoked by the user or an admin); false when there was none. */
  deleteConsent(tenantId: string, subject: string, clientId: string): Promise<boolean>;
  /** Forget every user's consent to a client (client deleted); returns how many. OIDC Core §3.1.2.4: consent is per client. */
  deleteClientConsents(tenantId: string, clientId: string): Promise<number>;
  /** Forget every consent a user gave (user deleted); returns how many. */
  deleteSubjectConsents(tenantId: string, subject: string): Promise<number>;
  /** Delete every ticket of a client, of every kind, used or not (client deleted): no pending interaction can finish. */
  deleteClientTickets(tenantId: string, clientId: string): Promise<number>;
  /** RFC 9126: delete a client's pushed authorization requests (client deleted): no request_uri of it can be used. */
  deleteClientPushedRequests(tenantId: string, clientId: string): Promise<number>;
  /** RFC 8628: delete a client's device codes (client deleted): pending or approved, none can be redeemed any more. */
  deleteClientDeviceCodes(tenantId: string, clientId: string): Promise<number>;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface Store extends ConsentCleanupStore {}

/**
 * Dead grants (cleanup): a grant is kept while anything that refers to it is kept — a token row (live, or expired
 * or consumed but still within the cleanup's grace, including rotated refresh tokens kept until their family's end),
 * a session of its sid that the cleanup still keeps (performLogout finds a session's clients through its grants,
 * OIDC Back-Channel Logout §2.5, Front-Channel Logout §3), and, for MAX_AUTHORIZATION_CODE_TTL after it was made,
 * the authorization code written with it. Nothing on the token path writes the grant for this: each grant row
 * carries `sweep_after`, the earliest time it can be dead (set at insert, moved by the sweep to the latest end of
 * what refers to it), and the sweep visits only grants past it, by an index.
 */
export interface GrantSweepStore {
  /**
   * Visit at most `limit` grants whose sweep_after is before `cutoff`, oldest first: delete those of them nothing
   * kept at `cutoff` refers to (re-checked in the deleting statement), move the others' sweep_after to the end of
   * what refers to them. Across tenants. Returns how many were visited and how many deleted.
   */
  sweepGrants(cutoff: number, limit: number): Promise<{ examined: number; deleted: number }>;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface Store extends GrantSweepStore {}
