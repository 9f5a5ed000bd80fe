import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { CORE_API, type CoreApiEndpoint } from '../../core-api/endpoints.js';
import { coreApiOpenApiJson } from '../../core-api/openapi.js';
import { resultCodes, type ResultCode } from '../../engine/result-codes.js';
import type { Latchkey } from '../../server/latchkey.js';
import { authenticateServiceToken } from '../../services/service-tokens.js';
import { serviceContext } from '../../services/tenants.js';
import { header } from '../adapt.js';
import { auditCoreApiResult } from '../audit.js';
import { rawBodies } from '../raw-body.js';
import { repeatedAuthorizationOf } from '../raw-headers.js';
import { jsonSyntaxProblem } from '../../ops/json-error.js';

type CoreAction = 'CALLER_ERROR' | 'SERVICE_UNAUTHORIZED' | 'SERVICE_NOT_FOUND' | 'INTERNAL_SERVER_ERROR';

/**
 * A failed Core API call (the call itself, not the protocol request inside it). Nothing in it is meant for the
 * end client: responseContent is empty, and the HTTP status is this call's, not one to pass on.
 */
function fail(reply: FastifyReply, status: number, action: CoreAction, resultCode: ResultCode, detail?: string): FastifyReply {
  const body = { action, resultCode, resultMessage: detail ? `${resultCodes[resultCode]} ${detail}` : resultCodes[resultCode], responseContent: '' };
  return reply.code(status).header('Cache-Control', 'no-store').type('application/json').send(JSON.stringify(body));
}

/** The first problem zod found, named by its field: `subject: required`, `scopes.1: expected string, received number`. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) return `${path}: required`;
  const message = issue.message.replace(/^Invalid input: /, '');
  return path ? `${path}: ${message}` : message;
}

function isJson(contentType: string | undefined): boolean {
  const mime = contentType?.split(';')[0]!.trim().toLowerCase();
  return mime === 'application/json' || (mime !== undefined && /^application\/[a-z0-9.+-]+\+json$/.test(mime));
}

/**
 * The Core API over HTTP: POST /api/{serviceId}/{endpoint} with a JSON body, authenticated with a service access
 * token. Each call is checked (token, service, JSON, fields), handed to the endpoint's engine function with the
 * service's engine context, and the engine's Result is sent back whole as JSON with 200: branch on `action`.
 */
export async function registerCoreApiRoutes(app: FastifyInstance, lk: Latchkey): Promise<void> {
  await app.register(
    async (scope) => {
      rawBodies(scope); // an unparseable Content-Type reaches the handler too: 415 LK11003 as for any other non-JSON type

      scope.setErrorHandler((err: FastifyError, req, reply) => {
        if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return fail(reply, 413, 'CALLER_ERROR', 'LK11009');
        if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return fail(reply, 400, 'CALLER_ERROR', 'LK11001', '(unreadable request)');
        req.log.error({ err }, 'core api: unhandled error');
        return fail(reply, 500, 'INTERNAL_SERVER_ERROR', 'LK0001');
      });
      scope.setNotFoundHandler((_req, reply) => fail(reply, 404, 'CALLER_ERROR', 'LK11008'));

      scope.get('/openapi.json', (_req, reply) => {
        void reply.header('Cache-Control', 'public, max-age=300').type('application/json').send(coreApiOpenApiJson());
      });

      const handle = (e: CoreApiEndpoint) => async (req: FastifyRequest, reply: FastifyReply) => {
        const serviceId = (req.params as { serviceId: string }).serviceId;
        // RFC 6750 §2: one token, one place. Node keeps the first of two Authorization headers; which was meant is unknown.
        if (repeatedAuthorizationOf(req.raw)) return fail(reply, 400, 'CALLER_ERROR', 'LK7310');
        const auth = await authenticateServiceToken(lk, header(req.headers.authorization), serviceId);
        if (!auth.ok) {
          // RFC 6750 §3: no error code when no token was presented.
          const challenge = auth.resultCode === 'LK11004' ? 'Bearer realm="latchkey-core-api"' : 'Bearer realm="latchkey-core-api", error="invalid_token"';
          reply.header('WWW-Authenticate', challenge);
          return fail(reply, 401, 'SERVICE_UNAUTHORIZED', auth.resultCode);
        }
        const ctx = await serviceContext(lk, serviceId);
        if (!ctx) return fail(reply, 404, 'SERVICE_NOT_FOUND', 'LK11007', `(${JSON.stringify(serviceId.slice(0, 63))})`);

        const raw = typeof req.body === 'string' ? req.body : '';
        let body: unknown = {};
        if (req.method === 'POST' && raw.trim() !== '') {
          if (!isJson(req.headers['content-type'])) return fail(reply, 415, 'CALLER_ERROR', 'LK11003');
          try {
            body = JSON.parse(raw);
          } catch (err) {
            // Where it broke, in our words: V8's message quotes the body (and its secrets) and is the runtime's text.
            return fail(reply, 400, 'CALLER_ERROR', 'LK11001', `(${jsonSyntaxProblem(err)})`);
          }
        }
        if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail(reply, 400, 'CALLER_ERROR', 'LK11002', '(the body must be a JSON object)');
        const parsed = e.input.safeParse(body);
        if (!parsed.success) return fail(reply, 400, 'CALLER_ERROR', 'LK11002', `(${describeIssue(parsed.error.issues[0]!)})`);

        const result = await e.call(parsed.data, ctx);
        auditCoreApiResult(lk, ctx.tenant.id, e.path, req, parsed.data, result);
        if (typeof (result as { resultCode?: unknown }).resultCode === 'string') req.resultCode = (result as { resultCode: string }).resultCode; // metrics
        return reply.code(200).header('Cache-Control', 'no-store').type('application/json').send(JSON.stringify(result));
      };

      for (const e of CORE_API) {
        scope.post(`/:serviceId/${e.path}`, handle(e));
        if (e.get) scope.get(`/:serviceId/${e.path}`, handle(e));
      }
    },
    { prefix: '/api' },
  );
}
