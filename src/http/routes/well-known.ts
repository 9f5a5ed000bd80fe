import type { FastifyInstance } from 'fastify';
import { discoveryDocument } from '../../engine/discovery.js';
import type { EngineContext } from '../../engine/context.js';
import type { Latchkey } from '../../server/latchkey.js';
import { DEFAULT_TENANT } from '../../store/types.js';

export const cacheable = 'public, max-age=300';

/** The two metadata documents of a tenant, as sent (also served by the fast path, fast-path.ts). */
export function metadataDocuments(ctx: EngineContext): { openid: string; oauth: string } {
  return {
    openid: JSON.stringify(discoveryDocument(ctx.tenant.issuer, 'openid', { clients: ctx.clients, settings: ctx.tenant.settings })),
    oauth: JSON.stringify(discoveryDocument(ctx.tenant.issuer, 'oauth', { clients: ctx.clients, settings: ctx.tenant.settings })),
  };
}

/** Discovery and JWKS: constant documents, built once as ready-to-send strings and rebuilt when keys change. */
export async function registerWellKnownRoutes(app: FastifyInstance, lk: Latchkey): Promise<void> {
  const ctx = await lk.context(DEFAULT_TENANT);
  const { openid, oauth } = metadataDocuments(ctx);

  app.get('/.well-known/openid-configuration', (_req, reply) => {
    void reply.header('Cache-Control', cacheable).type('application/json').send(openid);
  });
  // RFC 8414 §3: for an issuer with a path, the path goes after the well-known segment.
  app.get('/.well-known/oauth-authorization-server', (_req, reply) => {
    void reply.header('Cache-Control', cacheable).type('application/json').send(oauth);
  });
  app.get('/.well-known/jwks.json', async (_req, reply) => {
    const keys = await ctx.keys();
    return reply.header('Cache-Control', cacheable).type('application/jwk-set+json').send(keys.jwksJson);
  });
}
