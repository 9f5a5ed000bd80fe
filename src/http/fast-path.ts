import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { EngineContext } from '../engine/context.js';
import { internalErrorResult, type Result } from '../engine/result.js';
import { requestIdOf } from '../ops/log.js';
import type { Latchkey } from '../server/latchkey.js';
import { toHttp, typed } from './adapt.js';
import { auditResult } from './audit.js';
import { backChannelEngines, backChannelInput, type BackChannelEngine } from './back-channel.js';
import { preEngineErrorCors } from './cors-errors.js';
import { trustedAddresses, type ClientCertificateOf } from './client-certificate.js';
import { cacheable, metadataDocuments } from './routes/well-known.js';
import { turnQueue } from './turn.js';

/*
 * The hot endpoints answered before Fastify routes the request: the token, introspection and revocation endpoints
 * and the three metadata documents of the default tenant. Fastify's per-request machinery (request and reply
 * objects, hook runners, content-type parsing, a child logger) cost about as much as a discovery request itself
 * (bench/README.md). Nothing protocol-related is skipped: a request taken here reaches the very same engine
 * function as through routes/oauth.ts, with the same input, and its Result is written as sendResult writes it,
 * with the headers the app's onSend hook adds, the same metrics, and the same audit events.
 *
 * Only plain requests are taken: an exact path, a form-encoded body with a Content-Length within the body limit
 * (POST) or no body at all (GET). Anything else (HEAD, chunked bodies, other content types, odd paths, request
 * logging turned on) goes to Fastify, which answers it as before. test/http/fast-path.test.ts sends the same
 * requests both ways and compares the answers.
 */

/** A public document, ready to send. */
interface Document {
  body: Buffer;
  type: string;
}

interface PostRoute {
  engine: BackChannelEngine;
  /** Audit endpoint name, as routes/oauth.ts names it. */
  name: string;
}

export interface FastPath {
  /** Answers the request and returns true, or returns false having touched nothing (Fastify takes it). */
  handle(req: IncomingMessage, res: ServerResponse, repeated?: number): boolean;
}

const FORM = /^application\/x-www-form-urlencoded\s*(;|$)/i;

/** The client address as Fastify's trustProxy computes it: the nearest untrusted hop (proxy-addr semantics). */
export function clientAddressOf(trusted: readonly string[]): (req: IncomingMessage) => string {
  const socketAddress = (req: IncomingMessage) => req.socket.remoteAddress ?? '';
  if (!trusted.length) return socketAddress;
  const isTrusted = trustedAddresses(trusted);
  return (req) => {
    let addr = socketAddress(req);
    if (!isTrusted(addr)) return addr;
    const forwarded = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      addr = hops[i]!;
      if (!isTrusted(addr)) return addr;
    }
    return addr;
  };
}

export function createFastPath(lk: Latchkey, ctx: EngineContext, certificateOf: ClientCertificateOf, log: FastifyBaseLogger, later: (work: () => void) => void): FastPath {
  const engines = backChannelEngines(lk);
  const post = new Map<string, PostRoute>([
    ['/oauth/token', { engine: engines.token, name: 'token' }],
    ['/oauth/introspect', { engine: engines.introspection, name: 'introspection' }],
    ['/oauth/revoke', { engine: engines.revocation, name: 'revocation' }],
  ]);
  /*
   * The public documents as bytes, encoded once: a string body would be UTF-8 encoded and measured on every request
   * (about a microsecond for the 4.4 KB discovery document). The JWKS is re-encoded only when the key set changes.
   */
  const { openid, oauth } = metadataDocuments(ctx);
  const json = 'application/json; charset=utf-8';
  const constant = (body: string): Document => ({ body: Buffer.from(body), type: json });
  const openidDoc = constant(openid);
  const oauthDoc = constant(oauth);
  const jwksType = typed('application/jwk-set+json');
  let jwksDoc: Document & { json: string } = { body: Buffer.alloc(0), type: jwksType, json: '' };
  const jwks = async (): Promise<Document> => {
    const current = (await ctx.keys()).jwksJson;
    if (current !== jwksDoc.json) jwksDoc = { body: Buffer.from(current), type: jwksType, json: current };
    return jwksDoc;
  };
  const documents = new Map<string, Document | (() => Promise<Document>)>([
    ['/.well-known/openid-configuration', openidDoc],
    ['/.well-known/oauth-authorization-server', oauthDoc],
    ['/.well-known/jwks.json', jwks],
  ]);
  const limit = lk.config.bodyLimit;
  const ipOf = clientAddressOf(lk.config.trustedProxies);
  const m = lk.metrics;

  /*
   * Replies finished during one turn of the event loop are written together, in that turn's check phase, instead
   * of each as soon as its engine call settles. A write to a loopback or LAN peer that is idle in epoll costs the
   * writer a wake-up of that peer; written back to back, most of a turn's replies find their peers already awake.
   * With 50 keep-alive connections this took introspection from ~148 to ~75 µs of server CPU per request
   * (bench/README.md). A reply waits at most for the rest of the current turn.
   */
  const replies: { res: ServerResponse; status: number; headers: Record<string, string>; body: string | Buffer }[] = [];
  function writeReplies() {
    const batch = replies.splice(0);
    for (const r of batch) {
      try {
        r.res.writeHead(r.status, r.headers);
        r.res.end(r.body);
      } catch (e) {
        log.error({ err: e }, 'reply write failed');
        r.res.destroy();
      }
    }
  }

  /** The app's onSend headers and its onResponse metrics, for a reply written here. */
  function finish(req: IncomingMessage, res: ServerResponse, route: string, id: string, started: number, status: number, resultCode: string, headers: Record<string, string>, body: string | Buffer) {
    headers['X-Content-Type-Options'] = 'nosniff';
    headers['X-Request-Id'] = id;
    if (lk.draining) headers.Connection = 'close';
    headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.length);
    replies.push({ res, status, headers, body });
    if (replies.length === 1) setImmediate(writeReplies);
    m.http.observe(req.method!, route, status, (performance.now() - started) / 1000);
    if (resultCode) m.results.inc([resultCode]);
  }

  /**
   * As the app's error handler answers an unexpected failure: the engine's internalErrorResult (logged, generic to the
   * client; a database that is away is 503 with Retry-After, LK9501).
   */
  function fail(req: IncomingMessage, res: ServerResponse, route: string, id: string, started: number, err: unknown) {
    if (res.headersSent) {
      log.error({ err, reqId: id }, 'unhandled error');
      res.destroy();
      return;
    }
    const result = internalErrorResult('INTERNAL_SERVER_ERROR', err, log.child({ reqId: id }));
    result.headers = preEngineErrorCors(route, req.headers.origin, result.headers); // CORS: no client identified (cors-errors.ts)
    sendResult(req, res, route, id, started, result);
  }

  /** sendResult's mapping from a Result to a reply (toHttp, the one mapping). */
  function sendResult(req: IncomingMessage, res: ServerResponse, route: string, id: string, started: number, result: Result) {
    const answer = toHttp(result);
    finish(req, res, route, id, started, answer.status, result.resultCode, answer.headers, answer.body ?? '');
  }

  function handlePost(req: IncomingMessage, res: ServerResponse, path: string, route: PostRoute, repeated: number | undefined): boolean {
    const type = req.headers['content-type'];
    const length = req.headers['content-length'];
    if (type === undefined || !FORM.test(type) || length === undefined || req.headers['transfer-encoding'] !== undefined) return false;
    const expected = Number(length);
    if (!Number.isSafeInteger(expected) || expected < 0 || expected > limit) return false;
    const started = performance.now();
    const id = requestIdOf(req);
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (received !== expected) {
        res.destroy(); // Node's parser delivers exactly Content-Length bytes; anything else is a broken connection.
        return;
      }
      const body = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, received).toString('utf8');
      const ip = ipOf(req);
      const fake = { headers: req.headers, raw: req };
      let input;
      try {
        input = backChannelInput(body, req.headers, ip, certificateOf(fake), repeated ?? req.rawHeaders);
      } catch (e) {
        fail(req, res, path, id, started, e);
        return;
      }
      const engineInput = input;
      later(() => {
        let pending: Promise<Result>;
        try {
          pending = route.engine(engineInput, ctx);
        } catch (e) {
          fail(req, res, path, id, started, e);
          return;
        }
        pending.then(
          (result) => {
            try {
              auditResult(lk, ctx.tenant.id, route.name, { body, headers: req.headers, ip }, result);
              sendResult(req, res, path, id, started, result);
            } catch (e) {
              fail(req, res, path, id, started, e);
            }
          },
          (e: unknown) => fail(req, res, path, id, started, e),
        );
      });
    });
    return true;
  }

  function handleGet(req: IncomingMessage, res: ServerResponse, path: string, document: Document | (() => Promise<Document>)): boolean {
    if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) return false;
    const started = performance.now();
    const id = requestIdOf(req);
    // CORS: engine/cors.ts PUBLIC_DOCUMENT_CORS, written out (a literal, no spread, on the hot path); test/http/cors.test.ts compares.
    const send = (d: Document) => finish(req, res, path, id, started, 200, '', { 'Cache-Control': cacheable, 'content-type': d.type, 'Access-Control-Allow-Origin': '*' }, d.body);
    if (typeof document !== 'function') send(document);
    else document().then(send, (e: unknown) => fail(req, res, path, id, started, e));
    return true;
  }

  return {
    handle(req, res, repeated) {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      if (req.method === 'POST') {
        const route = post.get(path);
        return route ? handlePost(req, res, path, route, repeated) : false;
      }
      if (req.method === 'GET') {
        const document = documents.get(path);
        return document ? handleGet(req, res, path, document) : false;
      }
      return false;
    },
  };
}
