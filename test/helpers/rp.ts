import { createServer, type Server } from 'node:http';

/** A relying party's callback endpoint on loopback: records every redirect it receives and shows a page. */
export async function startCallbackServer(): Promise<{ url: string; received: URL[]; next(): Promise<URL>; close(): Promise<void> }> {
  const received: URL[] = [];
  const waiters: ((u: URL) => void)[] = [];
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url!, 'http://127.0.0.1');
    if (u.pathname === '/cb') {
      // Only the callback counts (browsers also ask for /favicon.ico).
      received.push(u);
      waiters.shift()?.(u);
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>RP</title><h1>Signed in</h1>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}/cb`;
  return {
    url,
    received,
    next: () => new Promise((r) => waiters.push((u) => r(new URL(u.pathname + u.search, url)))),
    close: () => new Promise((r) => server.close(() => r())),
  };
}
