// Baseline: the cheapest possible node:http reply, to show what one core can do at all.
import { createServer } from 'node:http';

const port = Number(process.env.PORT);
const body = Buffer.from('hello\n');
// /doc: a constant JSON document about the size of Latchkey's discovery document, to show what the same bytes
// cost node:http and the load generator (autocannon reads every byte of every response on its own core).
export const DOC_BYTES = 3400;
const prefix = '{"padding":"';
const doc = Buffer.from(`${prefix}${'x'.repeat(DOC_BYTES - prefix.length - 2)}"}`);
const server = createServer((req, res) => {
  const b = req.url === '/doc' ? doc : body;
  res.writeHead(200, { 'content-type': b === doc ? 'application/json' : 'text/plain', 'content-length': b.length });
  res.end(b);
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`ready ${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
