import { request as httpRequest } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { ConfigInput } from '../../src/config/schema.js';
import { buildApp } from '../../src/http/app.js';
import { freePort, openTestLatchkey, type TestLatchkey } from './server.js';

/**
 * One Latchkey served twice: on `fast` with the fast path (src/http/fast-path.ts), on `slow` through the Fastify routes
 * only. The issuer is the fast port's address. Tests send the same request to both and expect the same answer.
 */
export interface TwoPaths {
  t: TestLatchkey;
  fast: number;
  slow: number;
  close(): Promise<void>;
}

export async function openTwoPaths(overrides: ConfigInput = {}): Promise<TwoPaths> {
  const fast = await freePort();
  const slow = await freePort();
  const t = await openTestLatchkey({ issuer: `http://127.0.0.1:${fast}`, ...overrides });
  let fastApp: FastifyInstance | undefined;
  let slowApp: FastifyInstance | undefined;
  const close = async () => {
    await fastApp?.close();
    await slowApp?.close();
    await t.close();
  };
  try {
    fastApp = await buildApp(t.lk, { logger: false });
    slowApp = await buildApp(t.lk, { logger: false, fastPath: false });
    await fastApp.listen({ host: '127.0.0.1', port: fast });
    await slowApp.listen({ host: '127.0.0.1', port: slow });
  } catch (err) {
    await close();
    throw err;
  }
  return { t, fast, slow, close };
}

/** An answer as Node's HTTP client reads it (headers parsed); raw-http.ts has the raw-socket one. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request through Node's HTTP client (Content-Length set from the body), and the whole answer. */
export function sendTo(port: number, method: string, path: string, headers: Record<string, string | string[]>, body?: string | Buffer): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
