// Baseline: the cheapest possible node:http reply, to show what one core can do at all.
import { createServer } from 'node:http';

const port = Number(process.env.PORT);
const body = Buffer.from('hello\n');
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`ready ${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
