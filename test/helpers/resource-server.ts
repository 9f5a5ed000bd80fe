import { createServer, type Server } from 'node:http';
import * as oauth from 'oauth4webapi';

export interface TestResourceServer {
  url: string;
  /** Call the resource server with an access token; it validates it with oauth4webapi (RFC 9068 §4). */
  call(accessToken: string): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/**
 * A protected resource as a third party would write it: it discovers the authorization server and validates
 * JWT access tokens with oauth4webapi's validateJwtAccessToken (RFC 6750, RFC 9068), expecting `audience`.
 * It answers 200 with the validated claims, or 401 with the library's error code and message.
 */
export async function startResourceServer(issuer: string, audience: string): Promise<TestResourceServer> {
  const issuerUrl = new URL(issuer);
  const as = await oauth.processDiscoveryResponse(issuerUrl, await oauth.discoveryRequest(issuerUrl, { [oauth.allowInsecureRequests]: true }));
  const server: Server = createServer((req, res) => {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const request = new Request(`http://127.0.0.1${req.url ?? '/'}`, { method: req.method, headers });
    oauth
      .validateJwtAccessToken(as, request, audience, { [oauth.allowInsecureRequests]: true })
      .then((claims) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ claims }));
      })
      .catch((e: { code?: string; message?: string }) => {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ code: e.code, message: e.message }));
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    async call(accessToken) {
      const res = await fetch(`${url}/resource`, { headers: { authorization: `Bearer ${accessToken}` } });
      return { status: res.status, body: await res.json() };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
