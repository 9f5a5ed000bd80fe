import { z } from 'zod';
import { CORE_API, type CoreApiEndpoint } from './endpoints.js';

/*
 * The OpenAPI 3.1 document of the Core API, generated from the endpoint table (request schemas are the very zod
 * schemas the edge checks with), so it cannot drift from what the server accepts.
 */

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

/** Fields every answer carries. */
const common = {
  resultCode: { type: 'string', description: 'A stable diagnostic code (docs/result-codes.md).' },
  resultMessage: { type: 'string', description: 'For humans and logs.' },
  responseContent: {
    type: 'string',
    description: 'What goes to the client: a JSON body, a redirect URL (LOCATION), an HTML page (FORM) or a WWW-Authenticate value (resource refusals).',
  },
  status: { type: 'integer', description: 'The HTTP status to answer the client with.' },
  contentType: { type: 'string', description: 'The Content-Type of responseContent, when it is a body.' },
  headers: { type: 'object', additionalProperties: { type: 'string' }, description: 'Headers to send with it (Cache-Control, WWW-Authenticate, Location …).' },
};

function answerSchema(e: CoreApiEndpoint): Record<string, unknown> {
  const extra = jsonSchema(e.output, 'output');
  return {
    type: 'object',
    required: ['action', 'resultCode', 'resultMessage', 'responseContent'],
    properties: {
      action: { type: 'string', enum: [...e.actions], description: 'The only thing to branch on.' },
      ...common,
      ...((extra.properties as Record<string, unknown> | undefined) ?? {}),
    },
  };
}

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/CoreApiError' } } } });

function operation(e: CoreApiEndpoint, method: 'post' | 'get'): Record<string, unknown> {
  return {
    operationId: `${method === 'get' ? 'get_' : ''}${e.path.replace(/\//g, '_')}`,
    summary: e.summary,
    description: e.description,
    tags: [e.path.split('/')[0]],
    parameters: [{ $ref: '#/components/parameters/serviceId' }],
    ...(method === 'post' ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(e.input, 'input') } } } } : {}),
    responses: {
      200: { description: 'The engine\'s answer. Branch on action.', content: { 'application/json': { schema: answerSchema(e) } } },
      400: errorResponse('CALLER_ERROR: the body is not JSON, or a field is missing, mistyped or unknown (resultMessage names it).'),
      401: errorResponse('SERVICE_UNAUTHORIZED: no service access token, an unknown or revoked one, or one for another service.'),
      404: errorResponse('SERVICE_NOT_FOUND: no such service.'),
      413: errorResponse('CALLER_ERROR: the body is too large.'),
      415: errorResponse('CALLER_ERROR: the body is not application/json.'),
      500: errorResponse('INTERNAL_SERVER_ERROR: the call failed; the cause is logged.'),
    },
  };
}

let cached: string | undefined;

export function coreApiOpenApi(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const e of CORE_API) {
    paths[`/api/{serviceId}/${e.path}`] = { post: operation(e, 'post'), ...(e.get ? { get: operation(e, 'get') } : {}) };
  }
  paths['/api/openapi.json'] = {
    get: { operationId: 'openapi', summary: 'This document', security: [], responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': {} } } } },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Latchkey Core API',
      version: '1',
      description:
        'The OAuth 2.0 / OpenID Connect engine as a JSON service: an application keeps its own pages and users, passes each protocol request to Latchkey as received, and does what the answer\'s action says. See docs/core-api.md.',
    },
    security: [{ serviceToken: [] }],
    paths,
    components: {
      securitySchemes: { serviceToken: { type: 'http', scheme: 'bearer', description: 'A service access token (latchkey service-token create).' } },
      parameters: { serviceId: { name: 'serviceId', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }, description: 'The service (tenant).' } },
      schemas: {
        CoreApiError: {
          type: 'object',
          required: ['action', 'resultCode', 'resultMessage', 'responseContent'],
          properties: {
            action: { type: 'string', enum: ['CALLER_ERROR', 'SERVICE_UNAUTHORIZED', 'SERVICE_NOT_FOUND', 'INTERNAL_SERVER_ERROR'] },
            resultCode: { type: 'string' },
            resultMessage: { type: 'string' },
            responseContent: { type: 'string', description: 'Always empty: nothing here is for the client.' },
          },
        },
      },
    },
  };
}

/** The document as ready-to-send JSON, built once. */
export function coreApiOpenApiJson(): string {
  return (cached ??= JSON.stringify(coreApiOpenApi()));
}
