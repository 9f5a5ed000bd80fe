// The same API on plain node:http, with the Express-style middleware `requireToken(verifier, { scopes })`
// (`app.get('/items', requireToken(verifier, { scopes: ['items:read'] }), handler)` in Express).
//
//   LATCHKEY_ISSUER=http://127.0.0.1:9000 RS_CLIENT_ID=… RS_CLIENT_SECRET=… node examples/resource-server/node-http.mjs
import { createServer } from 'node:http';
import { createTokenVerifier, requireToken } from 'latchkey/resource-server';

const issuer = process.env.LATCHKEY_ISSUER ?? 'http://127.0.0.1:9000';
const items = [{ id: 1, name: 'first item' }];

const verifier = createTokenVerifier({
  issuer,
  audience: (process.env.RS_AUDIENCE ?? issuer).split(' '),
  realm: 'items',
  introspection: process.env.RS_CLIENT_ID
    ? { clientId: process.env.RS_CLIENT_ID, clientSecret: process.env.RS_CLIENT_SECRET ?? '', cacheTtl: Number(process.env.RS_CACHE_TTL ?? 30) }
    : undefined,
});

const json = (res, status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

/** method + path -> [middleware, handler] */
const routes = {
  'GET /health': [null, (_req, res) => json(res, 200, { ok: true })],
  'GET /items': [
    requireToken(verifier, { scopes: ['items:read'] }),
    (req, res) => json(res, 200, { items, caller: { sub: req.accessToken.subject, client_id: req.accessToken.clientId, scope: req.accessToken.scope } }),
  ],
  'POST /items': [
    requireToken(verifier, { scopes: ['items:write'] }),
    (req, res) => {
      const item = { id: items.length + 1, name: `item from ${req.accessToken.clientId}` };
      items.push(item);
      json(res, 201, item);
    },
  ],
};

const server = createServer((req, res) => {
  const route = routes[`${req.method} ${new URL(req.url, 'http://x').pathname}`];
  if (!route) return json(res, 404, { error: 'not_found' });
  const [guard, handler] = route;
  if (!guard) return handler(req, res);
  guard(req, res, (err) => (err ? json(res, 500, { error: 'server_error' }) : handler(req, res)));
});

server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
  console.log(`items API (node:http) listening on http://127.0.0.1:${server.address().port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
