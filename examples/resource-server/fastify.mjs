// A Fastify API protected by Latchkey access tokens.
//
//   LATCHKEY_ISSUER=http://127.0.0.1:9000 RS_CLIENT_ID=… RS_CLIENT_SECRET=… node examples/resource-server/fastify.mjs
//
// RS_CLIENT_ID/RS_CLIENT_SECRET are a confidential client of the issuer that the API uses to introspect opaque tokens
// (`latchkey client create --name "items API"`); JWT access tokens are checked locally and need no call.
// RS_AUDIENCE lists the audiences this API answers to (space-separated); PORT defaults to 8080.
import Fastify from 'fastify';
import { latchkeyResourceServer } from 'latchkey/resource-server';

const issuer = process.env.LATCHKEY_ISSUER ?? 'http://127.0.0.1:9000';
const items = [{ id: 1, name: 'first item' }];

const app = Fastify();
await app.register(latchkeyResourceServer, {
  issuer,
  audience: (process.env.RS_AUDIENCE ?? issuer).split(' '),
  realm: 'items',
  introspection: process.env.RS_CLIENT_ID
    ? { clientId: process.env.RS_CLIENT_ID, clientSecret: process.env.RS_CLIENT_SECRET ?? '', cacheTtl: Number(process.env.RS_CACHE_TTL ?? 30) }
    : undefined,
});

app.get('/health', async () => ({ ok: true }));

app.get('/items', { preHandler: app.requireToken({ scopes: ['items:read'] }) }, async (req) => ({
  items,
  caller: { sub: req.accessToken.subject, client_id: req.accessToken.clientId, scope: req.accessToken.scope },
}));

app.post('/items', { preHandler: app.requireToken({ scopes: ['items:write'] }) }, async (req, reply) => {
  const item = { id: items.length + 1, name: `item from ${req.accessToken.clientId}` };
  items.push(item);
  return reply.code(201).send(item);
});

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 8080) });
console.log(`items API (Fastify) listening on http://127.0.0.1:${app.server.address().port}`);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => app.close().then(() => process.exit(0)));
