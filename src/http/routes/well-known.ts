import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PUBLIC_DOCUMENT_CORS } from '../../engine/cors.js';
import { sendPreflight } from '../method-not-allowed.js';
import { tenantMetadataDocuments } from '../../engine/discovery.js';
import type { EngineContext } from '../../engine/context.js';
import type { Latchkey } from '../../server/latchkey.js';
import { DEFAULT_TENANT } from '../../store/types.js';
import { fixedContext, type ContextOf } from '../tenant.js';

export const cacheable = 'public, max-age=300';

/** A tenant's two metadata documents as ready-to-send strings (also served by the fast path and the Core API). */
export function metadataDocuments(ctx: EngineContext): { openid: string; oauth: string } {
  return tenantMetadataDocuments(ctx);
}

/** The RFC 8414 metadata document of a request's tenant (for the path-inserted route registered outside the tenant scope). */
export function sendOAuthMetadata(ctx: EngineContext, reply: FastifyReply): void {
  void reply.header('Cache-Control', 'public, max-age=300').headers(PUBLIC_DOCUMENT_CORS).type('application/json').send(metadataDocuments(ctx).oauth);
}

/** OPTIONS on a public document: a CORS preflight is answered (engine/cors.ts), anything else is not found as before. */
export function documentPreflight(req: FastifyRequest, reply: FastifyReply): void {
  if (!sendPreflight(req, reply, 'GET, HEAD')) reply.callNotFound();
}

/**
 * Discovery and JWKS: constant documents, built once as ready-to-send strings and rebuilt when keys change.
 * `contextOf` is given for the tenant scope (/t/:service); without it, the default tenant's.
 */
export async function registerWellKnownRoutes(app: FastifyInstance, lk: Latchkey, contextOf?: ContextOf): Promise<void> {
  const fixed = contextOf ? undefined : await lk.context(DEFAULT_TENANT);
  const ctxOf = contextOf ?? fixedContext(fixed!);
  const fixedDocs = fixed && metadataDocuments(fixed); // the default tenant's: no lookup per request

  // OIDC Discovery §4.1: the issuer followed by /.well-known/openid-configuration (for every tenant).
  app.get('/.well-known/openid-configuration', (req, reply) => {
    void reply.header('Cache-Control', cacheable).headers(PUBLIC_DOCUMENT_CORS).type('application/json').send((fixedDocs ?? metadataDocuments(ctxOf(req))).openid);
  });
  app.options('/.well-known/openid-configuration', documentPreflight);
  // RFC 8414 §3.1: for an issuer with a path, the path goes after the well-known segment, so the OAuth metadata
  // routes are registered at the root of the host, outside the issuer's path (http/mount.ts).
  app.get('/.well-known/jwks.json', async (req, reply) => {
    const keys = await ctxOf(req).keys();
    return reply.header('Cache-Control', cacheable).headers(PUBLIC_DOCUMENT_CORS).type('application/jwk-set+json').send(keys.jwksJson);
  });
  app.options('/.well-known/jwks.json', documentPreflight);
}
