/**
 * Protect resource servers with Latchkey access tokens (`import … from 'latchkey/resource-server'`): RFC 9068 JWTs
 * checked locally, opaque tokens by RFC 7662 introspection, RFC 9449 DPoP and RFC 8705 mTLS bindings, RFC 6750 errors.
 */
export { createTokenVerifier, certificateThumbprint } from './verifier.js';
export type { ResourceServerOptions, ResourceRequest, TokenBinding, TokenVerifier, VerifiedAccessToken } from './verifier.js';
export { AuthorizationServerUnavailable, TokenRejection } from './errors.js';
export type { ResourceErrorCode, TokenScheme } from './errors.js';
export { accessTokenHash } from './dpop.js';
export type { DpopReplayStore } from './dpop.js';
export { requireToken, resourceRequestOf, sendRejection } from './node.js';
export type { RequestWithToken, TokenMiddleware } from './node.js';
export { latchkeyResourceServer } from './fastify.js';
export type { FastifyResourceServerOptions } from './fastify.js';
