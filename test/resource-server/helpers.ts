import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { accessTokenHash } from '../../src/resource-server/dpop.js';

/** Listen on a random loopback port; returns the base URL and a close function. */
export async function listen(server: Server): Promise<{ url: string; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `${'setSecureContext' in server ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}

/** A node:http server answering JSON from a handler. */
export function jsonServer(handler: (req: IncomingMessage, body: string) => { status?: number; json: unknown } | Promise<{ status?: number; json: unknown }>): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      const r = await handler(req, body);
      res.writeHead(r.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify(r.json));
    });
  });
}

/** A DPoP key pair (RFC 9449 §4) and a proof maker; every field of the proof can be overridden to break it. */
export async function dpopKey(alg: 'ES256' | 'EdDSA' = 'ES256') {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk: JWK = await exportJWK(publicKey);
  const jkt = await calculateJwkThumbprint(jwk);
  return {
    jwk,
    jkt,
    async proof(
      htm: string,
      htu: string,
      accessToken: string,
      o: { iat?: number; jti?: string; ath?: string | null; typ?: string; key?: CryptoKey; jwk?: JWK; omit?: string[] } = {},
    ): Promise<string> {
      const claims: Record<string, unknown> = { jti: o.jti ?? randomUUID(), htm, htu, iat: o.iat ?? Math.floor(Date.now() / 1000) };
      if (o.ath !== null) claims.ath = o.ath ?? accessTokenHash(accessToken);
      for (const k of o.omit ?? []) delete claims[k];
      return new SignJWT(claims).setProtectedHeader({ alg, typ: o.typ ?? 'dpop+jwt', jwk: o.jwk ?? jwk }).sign(o.key ?? privateKey);
    },
  };
}
