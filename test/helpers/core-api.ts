import type { EngineContext } from '../../src/engine/context.js';
import { registerClient } from '../../src/services/clients.js';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { createTenant } from '../../src/services/tenants.js';
import { jsonOrUndefined, type TestServer } from './server.js';

export interface CoreReply {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

/** POST a Core API call as a delegating application would. `body` may be a raw string (to send bad JSON). */
export async function core(
  s: { url(path: string): string },
  serviceId: string,
  path: string,
  body: unknown,
  token: string | undefined,
  headers: Record<string, string> = {},
): Promise<CoreReply> {
  const res = await fetch(s.url(`/api/${serviceId}/${path}`), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const json = jsonOrUndefined(text);
  return { status: res.status, headers: res.headers, json, text };
}

export interface TestService {
  id: string;
  ctx: EngineContext;
  /** A service token for this service only. */
  token: string;
  client(meta: Record<string, unknown>): Promise<{ clientId: string; clientSecret?: string }>;
}

/** A service (tenant) with its own keys and a service token scoped to it. */
export async function testService(s: TestServer, id: string, issuer?: string): Promise<TestService> {
  await createTenant(s.lk, { id, issuer });
  const ctx = await s.lk.context(id);
  const { token } = await createServiceToken(s.lk, { serviceId: id, name: `${id} tests` });
  return {
    id,
    ctx,
    token,
    async client(meta) {
      const { json } = await registerClient(ctx, meta);
      return { clientId: json.client_id as string, clientSecret: json.client_secret as string | undefined };
    },
  };
}

/** A ctx whose store and keys fail on every use: how an engine answers when something unexpected breaks. */
export function brokenContext(ctx: EngineContext): EngineContext {
  const fail = () => Promise.reject(new Error('the database is on fire'));
  const store = new Proxy(ctx.store, { get: (t, k) => (k === 'dialect' ? t.dialect : fail) });
  return { ...ctx, store, keys: fail, log: undefined };
}
