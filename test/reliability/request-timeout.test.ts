import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * A request must arrive whole within requestTimeout: a body shorter than its Content-Length (a stalled or
 * deliberately slow client) gets 408 in the endpoint's error shape and its connection is closed, instead of holding
 * the connection for ever. Both routes are checked: the token endpoint (answered by the fast path) and a Fastify one.
 */
describe('requestTimeout: a stalled request is answered 408 and its connection closed', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ requestTimeout: 1 });
  });
  afterAll(() => s.close());

  /** Send the head and part of the body, then wait for the server to answer and close. */
  function stall(path: string, contentType: string): Promise<{ text: string; closedAfterMs: number }> {
    const { port } = new URL(s.issuer);
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const sock = connect(Number(port), '127.0.0.1');
      const chunks: Buffer[] = [];
      const guard = setTimeout(() => {
        sock.destroy();
        reject(new Error('the connection was still open after 10 s'));
      }, 10_000);
      sock.on('data', (c) => chunks.push(c));
      sock.on('error', () => {});
      sock.on('close', () => {
        clearTimeout(guard);
        resolve({ text: Buffer.concat(chunks).toString('utf8'), closedAfterMs: Date.now() - started });
      });
      sock.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nContent-Length: 100\r\n\r\ngrant`);
    });
  }

  it('the token endpoint: 408 with an OAuth error body and no-store, then the connection closes', async () => {
    const r = await stall('/oauth/token', 'application/x-www-form-urlencoded');
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.text.toLowerCase()).toContain('cache-control: no-store');
    expect(r.text).toContain('"error"');
  });

  it('a route Fastify serves (registration): the same', async () => {
    const r = await stall('/oauth/register', 'application/json');
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
  });
});
