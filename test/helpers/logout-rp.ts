import { createServer, type Server } from 'node:http';

/**
 * A relying party for logout tests on loopback: /cb* receives authorization responses, /bc* back-channel logout
 * POSTs (form logout_token), /fc* front-channel iframe loads, /bye the post-logout landing page. `down` makes the
 * back-channel endpoints answer 503, as a receiver that is down would.
 */
export async function startLogoutRp() {
  const callbacks: URL[] = [];
  const backchannel: { path: string; logoutToken: string }[] = [];
  const frontchannel: URL[] = [];
  const landings: URL[] = [];
  const state = { down: false };
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url!, 'http://127.0.0.1');
    if (req.method === 'POST' && u.pathname.startsWith('/bc')) {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (state.down) return void res.writeHead(503).end();
        backchannel.push({ path: u.pathname, logoutToken: new URLSearchParams(body).get('logout_token') ?? '' });
        res.writeHead(200, { 'cache-control': 'no-store' }).end();
      });
      return;
    }
    if (u.pathname.startsWith('/fc')) frontchannel.push(u);
    else if (u.pathname.startsWith('/cb')) callbacks.push(u);
    else if (u.pathname === '/bye') landings.push(u);
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>rp</title><p>${u.pathname}</p>`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { base, callbacks, backchannel, frontchannel, landings, state, close: () => new Promise<void>((r) => server.close(() => r())) };
}

export async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
