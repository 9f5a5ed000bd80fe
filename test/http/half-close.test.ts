import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../helpers/raw-http.js';
import { basic, type TestLatchkey } from '../helpers/server.js';
import { openTwoPaths, type TwoPaths } from '../helpers/two-paths.js';

/*
 * RFC 9112 §9.6 and TCP (RFC 9293 §3.6): a client may close its sending side once its request is out (a half-close,
 * shutdown(SHUT_WR), `nc -N`) and still read the answer. Node's HTTP server gives up on such a request unless its
 * answer is already written; ours are written a turn later (turn.ts, the fast path's batched replies), so every
 * path must keep the request and answer it, then close.
 */
describe('a request whose client half-closes the connection is still answered', () => {
  let t: TestLatchkey;
  let paths: TwoPaths;
  let fast: number;
  let slow: number;
  let auth: string;

  beforeAll(async () => {
    paths = await openTwoPaths({});
    ({ t, fast, slow } = paths);
    const c = await t.client({ grant_types: ['client_credentials'], scope: 'api:read' });
    auth = basic(c.clientId, c.clientSecret!);
  }, 30_000);
  afterAll(async () => {
    await paths?.close();
  });

  const form = 'Content-Type: application/x-www-form-urlencoded';

  it('RFC 9112 §9.6: a token request followed by a half-close gets its token, on the fast path and through Fastify', async () => {
    for (const port of [fast, slow]) {
      const a = await rawRequest(port, ['POST /oauth/token HTTP/1.1', 'Host: 127.0.0.1', `Authorization: ${auth}`, form], 'grant_type=client_credentials', { halfClose: true });
      expect(a.status, `port ${port === fast ? 'fast' : 'slow'}`).toBe(200);
      expect(JSON.parse(a.body)).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String) });
    }
  });

  it('RFC 6749 §5.2: a refused token request followed by a half-close gets its error', async () => {
    for (const port of [fast, slow]) {
      const a = await rawRequest(port, ['POST /oauth/token HTTP/1.1', 'Host: 127.0.0.1', form], 'grant_type=client_credentials', { halfClose: true });
      expect(a.status).toBe(401);
      expect(JSON.parse(a.body)).toMatchObject({ error: 'invalid_client' });
    }
  });

  it('OIDC Discovery §4: the configuration document and the JWKS are answered to a half-closed connection', async () => {
    for (const port of [fast, slow]) {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/jwks.json']) {
        const head = [`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
        const a = await rawRequest(port, head, '', { halfClose: true });
        expect(a.status, path).toBe(200);
        expect(JSON.parse(a.body)).toBeTypeOf('object');
      }
    }
  });

  it('pages and routed endpoints (UserInfo, an unknown path) answer a half-closed connection too', async () => {
    for (const port of [fast, slow]) {
      const userinfo = await rawRequest(port, ['GET /oauth/userinfo HTTP/1.1', 'Host: 127.0.0.1', 'Authorization: Bearer nope'], '', { halfClose: true });
      expect(userinfo.status).toBe(401);
      expect(userinfo.headers['www-authenticate']).toMatch(/^Bearer /);
      const missing = await rawRequest(port, ['GET /nowhere HTTP/1.1', 'Host: 127.0.0.1'], '', { halfClose: true });
      expect(missing.status).toBe(404);
    }
  });

  it('RFC 9112 §9.3: a half-closed connection still gets both answers of two pipelined requests, then closes', async () => {
    const body = 'grant_type=client_credentials';
    const one = ['POST /oauth/token HTTP/1.1', 'Host: 127.0.0.1', `Authorization: ${auth}`, form, `Content-Length: ${body.length}`, '', body].join('\r\n');
    for (const port of [fast, slow]) {
      // The first request is sent whole inside the "lines", the second by rawRequest (which adds its Content-Length).
      const a = await rawRequest(port, [one + 'POST /oauth/token HTTP/1.1', 'Host: 127.0.0.1', `Authorization: ${auth}`, form], body, { halfClose: true });
      expect(a.status).toBe(200);
      // rawRequest splits at the first answer's head: its body holds the first token, then the whole second answer.
      expect(a.body.match(/"access_token"/g)?.length ?? 0, 'two tokens').toBe(2);
      expect(a.body.match(/HTTP\/1\.1 200 OK\r\n/g)?.length ?? 0, 'the second answer follows the first').toBe(1);
    }
  });
});
