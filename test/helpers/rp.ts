import { createServer, type Server } from 'node:http';

/**
 * A relying party's callback endpoint on loopback: records every redirect it receives (GET) and every form posted
 * to it (POST, form_post response mode), and shows a page.
 */
export async function startCallbackServer(): Promise<{
  url: string;
  received: URL[];
  posted: URLSearchParams[];
  next(): Promise<URL>;
  nextPost(): Promise<URLSearchParams>;
  close(): Promise<void>;
}> {
  const received: URL[] = [];
  const posted: URLSearchParams[] = [];
  const waiters: ((u: URL) => void)[] = [];
  const postWaiters: ((p: URLSearchParams) => void)[] = [];
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url!, 'http://127.0.0.1');
    const page = () => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>RP</title><h1>Signed in</h1>');
    if (u.pathname === '/cb' && req.method === 'POST') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        const form = new URLSearchParams(req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') ? body : '');
        posted.push(form);
        postWaiters.shift()?.(form);
        page();
      });
      return;
    }
    if (u.pathname === '/cb') {
      // Only the callback counts (browsers also ask for /favicon.ico).
      received.push(u);
      waiters.shift()?.(u);
    }
    page();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}/cb`;
  return {
    url,
    received,
    posted,
    next: () => new Promise((r) => waiters.push((u) => r(new URL(u.pathname + u.search, url)))),
    nextPost: () => new Promise((r) => postWaiters.push(r)),
    close: () => new Promise((r) => server.close(() => r())),
  };
}
