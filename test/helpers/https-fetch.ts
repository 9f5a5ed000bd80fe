import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';

/**
 * A fetch over node:https with a client certificate (undici's Agent is not a dependency), in the shape
 * oauth4webapi's customFetch and jose's customFetch call: (url, { method, headers, body, signal }).
 */
export function tlsFetch(opts: { ca?: string; cert?: string; key?: string; localAddress?: string }) {
  return (url: string | URL, init: { method?: string; headers?: HeadersInit; body?: unknown; signal?: AbortSignal | null } = {}): Promise<Response> => {
    const u = new URL(url.toString());
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const body = init.body === undefined || init.body === null ? undefined : typeof init.body === 'string' ? init.body : String(init.body);
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        u,
        {
          method: init.method ?? 'GET',
          headers,
          ...(u.protocol === 'https:' ? { ca: opts.ca, cert: opts.cert, key: opts.key } : {}),
          localAddress: opts.localAddress,
          signal: init.signal ?? undefined,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
            const status = res.statusCode ?? 500;
            resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: h }));
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  };
}
