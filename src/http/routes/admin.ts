import type { FastifyInstance, FastifyReply } from 'fastify';
import { OAuthError } from '../../engine/errors.js';
import type { Latchkey } from '../../server/latchkey.js';
import { ServiceError } from '../../services/errors.js';
import { verifyAdminToken } from '../../services/management-tokens.js';
import { header } from '../adapt.js';
import { adminOpenApiDocument } from '../admin/openapi.js';
import { operations, schemas } from '../admin/operations.js';
import { DEFAULT_TENANT } from '../../store/types.js';

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

  for (const op of operations) {
    app.route({
      method: op.method,
      url: op.path.replace(/\{([^}]+)\}/g, ':$1'),
      handler: async (req, reply) => {
        if (!(await verifyAdminToken(lk, header(req.headers.authorization)))) {
          // RFC 6750 §3.1: error="invalid_token" when a bearer token was presented, no error code when none was (as the Core API does).
          const presented = /^Bearer\b/i.test(header(req.headers.authorization) ?? '');
          reply.header('WWW-Authenticate', presented ? 'Bearer realm="latchkey-admin", error="invalid_token"' : 'Bearer realm="latchkey-admin"');
          return sendError(reply, 401, 'unauthorized', 'a valid admin token is required (latchkey admin-token create)');
        }
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
