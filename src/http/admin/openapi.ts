import { z } from 'zod';
import { operations, schemas, type AdminOperation } from './operations.js';

/** Bodies the client sends are described as zod inputs, responses as outputs. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

const ref = (name: string, io: 'input' | 'output') => ({ $ref: `#/components/schemas/${io === 'input' ? `${name}Input` : name}` });

function operationObject(op: AdminOperation): Record<string, unknown> {
  const params: Record<string, unknown>[] = [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
  for (const q of op.query ?? []) params.push({ name: q.name, in: 'query', required: false, description: q.description, schema: { type: q.type } });
  const responses: Record<string, unknown> = {};
  if (op.response.schema) {
    const item = ref(op.response.schema, 'output');
    responses[String(op.response.status)] = {
      description: op.response.description,
      content: { 'application/json': { schema: op.response.array ? { type: 'array', items: item } : item } },
    };
  } else {
    responses[String(op.response.status)] = { description: op.response.description };
  }
  const error = (description: string) => ({ description, content: { 'application/json': { schema: ref('Error', 'output') } } });
  responses['400'] = error('Invalid input; error_description names the field');
  responses['401'] = error('Missing or invalid admin token');
  responses['404'] = error('No such tenant or resource');
  if (op.method !== 'GET') responses['409'] = error('Conflicts with the current state');
  return {
    operationId: op.operationId,
    summary: op.summary,
    tags: [op.tag],
    ...(params.length ? { parameters: params } : {}),
    ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: ref(op.body, 'input') } } } } : {}),
    responses,
  };
}

/** The admin API's OpenAPI 3.1 document, generated from the operation table and its zod schemas. */
export function adminOpenApiDocument(serverUrl: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) (paths[op.path] ??= {})[op.method.toLowerCase()] = operationObject(op);
  const componentSchemas: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(schemas)) {
    componentSchemas[name] = jsonSchema(schema, 'output');
    if (operations.some((o) => o.body === name)) componentSchemas[`${name}Input`] = jsonSchema(schema, 'input');
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Latchkey admin API',
      version: '1',
      description:
        'Tenants, clients, users, grants, sessions, signing keys, initial access tokens and resource servers. Authenticate with an admin token: `latchkey admin-token create`, then `Authorization: Bearer lka_…`.',
    },
    servers: [{ url: serverUrl }],
    security: [{ adminToken: [] }],
    paths,
    components: {
      schemas: componentSchemas,
      securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'An admin token (lka_…) from `latchkey admin-token create`' } },
    },
  };
}
