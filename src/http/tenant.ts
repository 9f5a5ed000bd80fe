import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EngineContext } from '../engine/context.js';
import type { Latchkey } from '../server/latchkey.js';
import { serviceContext } from '../services/tenants.js';
import { preEngineErrorCors } from './cors-errors.js';
import { DEFAULT_TENANT } from '../store/types.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The engine context of the tenant a request under /t/:service is for (set by the tenant scope's hook). */
    latchkeyContext: EngineContext | null;
  }
}

/** The engine context a request is for: fixed for the default tenant's routes, per request under /t/:service. */
export type ContextOf = (req: FastifyRequest) => EngineContext;

export const fixedContext = (ctx: EngineContext): ContextOf => () => ctx;

/** Where a tenant's pages live as the browser sees them, and its cookie names: all derived from its issuer. */
export interface TenantPages {
  /** The issuer's path ('' for an issuer at the root of its host): every page URL and cookie path starts with it. */
  base: string;
  /** Cookies are Secure when the issuer is https. */
  secure: boolean;
  /**
   * A cookie name for this tenant. The default tenant keeps the plain names; any other tenant's carry its id (over
   * https its cookies are __Host-, Path=/, like the default tenant's: routes/ui.ts), so that a cookie of the default
   * tenant reaching /t/x is never read as one of tenant x's (a session with one service is never a session with another).
   */
  cookie(name: string): string;
}

const pagesCache = new WeakMap<EngineContext, TenantPages>();

export function pagesOf(ctx: EngineContext): TenantPages {
  let p = pagesCache.get(ctx);
  if (!p) {
    const id = ctx.tenant.id;
    const u = new URL(ctx.tenant.issuer);
    p = {
      base: u.pathname === '/' ? '' : u.pathname,
      secure: u.protocol === 'https:',
      cookie: id === DEFAULT_TENANT ? (name) => name : (name) => `${name}_${id}`,
    };
    pagesCache.set(ctx, p);
  }
  return p;
}

/** The path a cookie of this tenant is scoped to: the issuer's path (or /). */
export const cookiePath = (p: TenantPages, sub = ''): string => p.base + sub || '/';

/**
 * Register route plugins a second time under `/t/:service`, for every tenant other than the default one: a hook
 * resolves the tenant (engine contexts are cached per tenant, so tenants created through the admin API or the CLI,
 * even by another instance, are served) and answers 404 not_found for an unknown one.
 */
export async function registerTenantScope(
  app: FastifyInstance,
  lk: Latchkey,
  register: (scope: FastifyInstance, contextOf: ContextOf) => Promise<void>,
  prefix = '/t/:service',
): Promise<void> {
  await app.register(
    async (scope) => {
      scope.decorateRequest('latchkeyContext', null);
      scope.addHook('onRequest', async (req, reply) => {
        const id = (req.params as { service?: string }).service ?? '';
        // The default tenant lives at the root of the issuer: one issuer, one place.
        const ctx = id === DEFAULT_TENANT ? undefined : await serviceContext(lk, id);
        if (!ctx) {
          // CORS: an unknown tenant identifies no client; a CORS endpoint's page may read the error (cors-errors.ts).
          const cors = preEngineErrorCors(req.url, req.headers.origin, undefined);
          if (cors) void reply.headers(cors);
          void reply.code(404).header('Cache-Control', 'no-store').type('application/json').send(JSON.stringify({ error: 'not_found', error_description: 'no such service' }));
          return reply;
        }
        req.latchkeyContext = ctx;
      });
      await register(scope, (req) => req.latchkeyContext!);
    },
    { prefix },
  );
}
