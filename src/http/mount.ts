import type { FastifyInstance } from 'fastify';
import type { Latchkey } from '../server/latchkey.js';
import { DEFAULT_TENANT } from '../store/types.js';
import { registerOAuthRoutes } from './routes/oauth.js';
import { registerUiRoutes, type UiOptions } from './routes/ui.js';
import { documentPreflight, registerWellKnownRoutes, sendOAuthMetadata } from './routes/well-known.js';
import { registerTenantScope } from './tenant.js';

export interface ProtocolRouteOptions {
  /**
   * Where the routes sit in the Fastify app: '' (the standalone server: at the root, as a proxy in front of an
   * issuer with a path would forward them) or the issuer's path (an app embedding Latchkey under e.g. /auth).
   */
  mountPath?: string;
  /** Whether the RFC 8414 metadata routes go on `app` (only where `app` is the root of the host). Default true. */
  oauthMetadataRoutes?: boolean;
  /** The built-in UI's options for the default tenant (an embedding application's own sign-in page). */
  ui?: UiOptions;
}

/**
 * The protocol endpoints and the built-in UI, for the default tenant at the mount path and for every other tenant
 * at `<mount path>/t/<id>`: the same route plugins, registered twice. The standalone server (http/app.ts) and an
 * embedding application (createLatchkey) both mount them through here.
 */
export async function registerProtocolRoutes(app: FastifyInstance, lk: Latchkey, opts: ProtocolRouteOptions = {}): Promise<void> {
  const mount = opts.mountPath ?? '';
  // RFC 8414 §3.1: the OAuth metadata of an issuer with a path is at the host's root, the path after the
  // well-known segment (/.well-known/oauth-authorization-server/t/acme), so these two routes sit outside the mount.
  if (opts.oauthMetadataRoutes !== false) {
    const defaultContext = await lk.context(DEFAULT_TENANT);
    app.get(`/.well-known/oauth-authorization-server${mount}`, (_req, reply) => {
      sendOAuthMetadata(defaultContext, reply);
    });
    app.options(`/.well-known/oauth-authorization-server${mount}`, documentPreflight); // CORS (engine/cors.ts)
    await registerTenantScope(
      app,
      lk,
      async (scope, ctxOf) => {
        scope.get('/', { prefixTrailingSlash: 'no-slash' }, (req, reply) => sendOAuthMetadata(ctxOf(req), reply));
        scope.options('/', { prefixTrailingSlash: 'no-slash' }, documentPreflight);
      },
      `/.well-known/oauth-authorization-server${mount}/t/:service`,
    );
  }

  await app.register(
    async (scope) => {
      await registerWellKnownRoutes(scope, lk);
      await registerOAuthRoutes(scope, lk);
      await registerUiRoutes(scope, lk, undefined, opts.ui);
      await registerTenantScope(scope, lk, async (tenant, ctxOf) => {
        await registerWellKnownRoutes(tenant, lk, ctxOf);
        await registerOAuthRoutes(tenant, lk, ctxOf);
        await registerUiRoutes(tenant, lk, ctxOf);
      });
    },
    { prefix: mount },
  );
}
