import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../../engine/errors.js';
import type { Latchkey } from '../../server/latchkey.js';
import { ServiceError } from '../../services/errors.js';
import { verifyAdminToken } from '../../services/management-tokens.js';
import { header } from '../adapt.js';
import { adminOpenApiDocument } from '../admin/openapi.js';
import { operations, schemas } from '../admin/operations.js';
import { DEFAULT_TENANT } from '../../store/types.js';
import { repeatedAuthorizationOf } from '../raw-headers.js';

function sendError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  return reply.code(status).header('Cache-Control', 'no-store').type('application/json').send(JSON.stringify({ error, error_description: description }));
}

/**
 * The admin API (/admin/…): JSON over HTTP, every operation authenticated with an admin token, every route
 * generated from the operation table that also generates /admin/openapi.json.
 */
export async function registerAdminRoutes(app: FastifyInstance, lk: Latchkey): Promise<void> {
  const openapi = JSON.stringify(adminOpenApiDocument(lk.config.issuer));
  app.get('/admin/openapi.json', (_req, reply) => {
    void reply.header('Cache-Control', 'no-cache').type('application/json').send(openapi);
  });

  /**
   * The admin token is checked when the request arrives, before its body is read or parsed (as the Core API checks
   * its token before the JSON): without one, a malformed, oversized or mistyped body is a 401, never a 400/413/415
   * that would answer an anonymous caller about the body. RFC 6750 §3: no error code when no bearer token was
   * presented; error="invalid_token" when the one presented is unknown, expired or revoked (§3.1).
   */
  const requireAdminToken = async (req: FastifyRequest, reply: FastifyReply) => {
    // RFC 6750 §2: one token, one place. Node keeps the first of two Authorization headers; which was meant is unknown.
    if (repeatedAuthorizationOf(req.raw)) return sendError(reply, 400, 'invalid_request', 'more than one Authorization header');
    const authorization = header(req.headers.authorization);
    if (await verifyAdminToken(lk, authorization)) return;
    const presented = authorization !== undefined && /^Bearer\b/i.test(authorization);
    reply.header('WWW-Authenticate', presented ? 'Bearer realm="latchkey-admin", error="invalid_token"' : 'Bearer realm="latchkey-admin"');
    return sendError(reply, 401, 'unauthorized', 'a valid admin token is required (latchkey admin-token create)');
  };

  for (const op of operations) {
    app.route({
      method: op.method,
      url: op.path.replace(/\{([^}]+)\}/g, ':$1'),
      onRequest: requireAdminToken,
      handler: async (req, reply) => {
        let body: unknown = req.body ?? {};
        if (op.body && (typeof body !== 'object' || body === null || Array.isArray(body))) {
          return sendError(reply, 400, 'invalid_request', 'the request body must be a JSON object');
        }
        if (op.body && op.validateBody) {
          const parsed = schemas[op.body].safeParse(body);
          if (!parsed.success) {
            const i = parsed.error.issues[0]!;
            return sendError(reply, 400, 'invalid_request', `${i.path.join('.') || 'body'}: ${i.message}`);
          }
          body = parsed.data;
        }
        try {
          const out = await op.handler(lk, { params: req.params as Record<string, string>, body, query: req.query as Record<string, string>, ip: req.ip });
          if (op.method !== 'GET') {
            // docs/audit.md: every admin write is an audit event (the body is not recorded: it may carry secrets).
            const params = req.params as Record<string, string>;
            lk.audit.record({
              tenantId: params.tenant_id ?? (op.operationId === 'createTenant' ? String((body as { id?: unknown }).id) : DEFAULT_TENANT),
              type: 'admin.action',
              clientId: params.client_id ?? null,
              subject: params.sub ?? null,
              ip: req.ip,
              detail: { operation: op.operationId, method: op.method, path: req.url.split('?')[0] },
            });
          }
          reply.code(op.response.status).header('Cache-Control', 'no-store');
          if (op.response.status === 204) return reply.send();
          return reply.type('application/json').send(JSON.stringify(out));
        } catch (e) {
          if (e instanceof ServiceError) return sendError(reply, e.status, e.code, e.message);
          if (e instanceof OAuthError) return sendError(reply, e.status && e.status < 500 ? e.status : 400, e.code, e.description);
          throw e;
        }
      },
    });
  }
}
