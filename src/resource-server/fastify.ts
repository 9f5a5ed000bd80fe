import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { AuthorizationServerUnavailable, TokenRejection } from './errors.js';
import { createTokenVerifier, peerCertificate, type ResourceServerOptions, type TokenVerifier, type VerifiedAccessToken } from './verifier.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** A preHandler that admits only requests with a valid Latchkey access token granting `scopes`. */
    requireToken(requirement?: { scopes?: string[] }): preHandlerAsyncHookHandler;
  }
  interface FastifyRequest {
    /** Set by requireToken once the request's access token is verified. */
    accessToken?: VerifiedAccessToken;
  }
}

export type FastifyResourceServerOptions = ResourceServerOptions | { verifier: TokenVerifier };

/**
 * Fastify plugin protecting routes with Latchkey access tokens:
 *
 *     await app.register(latchkeyResourceServer, { issuer, audience, introspection: { clientId, clientSecret } });
 *     app.get('/items', { preHandler: app.requireToken({ scopes: ['items:read'] }) }, (req) => req.accessToken);
 *
 * Not encapsulated (like fastify-plugin), so `app.requireToken` is available where the plugin was registered.
 * A refusal is answered 401/403/400 with WWW-Authenticate (RFC 6750 §3), or 503 when the authorization server cannot
 * be reached.
 */
async function plugin(app: FastifyInstance, opts: FastifyResourceServerOptions): Promise<void> {
  const verifier = 'verifier' in opts ? opts.verifier : createTokenVerifier(opts);
  app.decorateRequest('accessToken', undefined);
  app.decorate('requireToken', (requirement: { scopes?: string[] } = {}): preHandlerAsyncHookHandler => {
    return async function requireToken(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      try {
        request.accessToken = await verifier.verify(
          {
            method: request.method,
            url: request.url,
            headers: request.headers,
            encrypted: request.protocol === 'https',
            clientCertificate: peerCertificate(request.raw.socket),
          },
          requirement,
        );
      } catch (err) {
        if (err instanceof TokenRejection) {
          return reply
            .code(err.status)
            .header('WWW-Authenticate', verifier.challenge(err))
            .header('Cache-Control', 'no-store')
            .type('application/json')
            .send(JSON.stringify(err.body()));
        }
        if (err instanceof AuthorizationServerUnavailable) {
          request.log.warn({ err }, 'resource server: authorization server unavailable');
          return reply.code(503).header('Retry-After', '5').header('Cache-Control', 'no-store').type('application/json').send(JSON.stringify(err.body()));
        }
        throw err;
      }
    };
  });
}

/** The plugin, marked to skip Fastify's encapsulation (what fastify-plugin does) and named for Fastify's logs. */
export const latchkeyResourceServer = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'latchkey-resource-server',
});
