import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCommon } from '../../src/http/app.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

/*
 * Failures outside the engine (sign-in pages, admin API) go through the app's error handler: a database that is
 * away is a 503 with Retry-After, a value the database refuses is a 400, anything else a generic 500; never a
 * stack trace or a driver's message.
 */
describe('the app error handler', () => {
  let t: TestLatchkey;
  const app = Fastify({ logger: false });
  beforeAll(async () => {
    t = await openTestLatchkey();
    installCommon(app, t.lk);
    const fail = (e: Error & { code?: string }) => () => {
      throw e;
    };
    app.get('/away', fail(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })));
    app.get('/nul', fail(Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' })));
    app.get('/bug', fail(new Error('secret internals at /srv/app.js:12')));
    // A request body the client aborted: Fastify's error carries ECONNRESET and a 400 statusCode.
    app.get('/aborted', fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET', statusCode: 400 })));
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await t.close();
  });

  it('a database that cannot be reached: 503 temporarily_unavailable with Retry-After', async () => {
    const r = await app.inject('/away');
    expect(r.statusCode).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    expect(r.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; retry later' });
  });

  it('a value the database refuses (SQLSTATE 22021): 400 invalid_request', async () => {
    const r = await app.inject('/nul');
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toBe('invalid_request');
  });

  it('a client error Fastify raised (an aborted body, ECONNRESET with statusCode 400) stays a 400, not a database outage', async () => {
    const r = await app.inject('/aborted');
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toBe('invalid_request');
  });

  it('anything else: a generic 500 with nothing of the cause', async () => {
    const r = await app.inject('/bug');
    expect(r.statusCode).toBe(500);
    expect(r.json()).toEqual({ error: 'server_error', error_description: 'internal server error' });
    expect(r.body).not.toMatch(/secret|srv/);
  });
});
