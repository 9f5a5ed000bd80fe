/**
 * Latchkey's public API (`import … from 'latchkey'`). Deliberately small: what an embedder needs to run the server
 * from code and to call the protocol engine directly. Everything else under dist/ is internal and may change.
 * Resource-server helpers are also at `latchkey/resource-server`, which pulls in no server code.
 */

// Embedding: a configured instance with a Fastify plugin and a node:http/Express handler (docs/library.md).
export { createLatchkey, issuerPath } from './library.js';
export type { CreateLatchkeyOptions, LatchkeyInstance, InteractionDetails, InteractionResult, AccountClaims, NodeHandler } from './library.js';

// Running the server from code: open a Latchkey (store, keys, tenants), serve it over HTTP.
export { Latchkey } from './server/latchkey.js';
export type { LatchkeyOptions } from './server/latchkey.js';
export { buildApp } from './http/app.js';
export type { AppOptions } from './http/app.js';
export { loadConfig, ConfigError } from './config/load.js';
export type { Config, ConfigInput } from './config/schema.js';

// Provisioning, as the CLI does it.
export { registerClient } from './services/clients.js';
export { createUser } from './services/users.js';

// The protocol engine: every endpoint is `async (input, ctx) => Result`; callers branch on `result.action` only.
// `ctx` comes from `latchkey.context()`.
export { authorization, authorizationIssue, authorizationFail } from './engine/authorization/index.js';
export type { AuthorizationAction, AuthorizationResult, AuthorizationIssueInput, FailReason } from './engine/authorization/index.js';
export { pushedAuthorizationRequest } from './engine/par.js';
export type { PushedAuthorizationAction, BackChannelInput } from './engine/par.js';
export { deviceAuthorization, deviceVerification, deviceComplete } from './engine/device.js';
export type { DeviceAuthorizationAction, DeviceVerificationAction, DeviceVerificationResult, DeviceCompleteAction, DeviceCompleteInput } from './engine/device.js';
export { backchannelAuthentication, cibaComplete, pendingCibaRequests } from './engine/ciba.js';
export type { BackchannelAuthenticationAction, CibaCompleteAction, CibaCompleteInput, PendingCibaRequest } from './engine/ciba.js';
export { token } from './engine/token/index.js';
export type { TokenAction, TokenInput } from './engine/token/index.js';
export { introspection } from './engine/introspection.js';
export type { IntrospectionAction, IntrospectionInput } from './engine/introspection.js';
export { revocation } from './engine/revocation.js';
export type { RevocationAction, RevocationInput } from './engine/revocation.js';
export { userinfo } from './engine/userinfo.js';
export type { UserInfoAction, UserInfoInput } from './engine/userinfo.js';
export { endSessionRequest } from './engine/logout.js';
export type { EndSessionAction, EndSessionResult } from './engine/logout.js';
export { logoutTiedToSession } from './engine/logout.js';
export { discoveryDocument } from './engine/discovery.js';
export type { EngineContext, TenantSettings } from './engine/context.js';
export type { Result, EngineLogger } from './engine/result.js';
export { OAuthError } from './engine/errors.js';
export type { OAuthErrorCode } from './engine/errors.js';
export { resultCodes } from './engine/result-codes.js';
export type { ResultCode } from './engine/result-codes.js';

// Protecting resource servers (the same as `latchkey/resource-server`).
export * from './resource-server/index.js';
