import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthorizationServerUnavailable, TokenRejection } from './errors.js';
import { createTokenVerifier, peerCertificate, type ResourceRequest, type ResourceServerOptions, type TokenVerifier, type VerifiedAccessToken } from './verifier.js';

/** A node:http request once a token was accepted: the verified token is on `accessToken`. */
export type RequestWithToken = IncomingMessage & { accessToken?: VerifiedAccessToken };

/** Connect/Express-style middleware: `(req, res, next)`. */
export type TokenMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** The framework-neutral view of a node:http request. */
export function resourceRequestOf(req: IncomingMessage): ResourceRequest {
  const socket = req.socket as IncomingMessage['socket'] & { encrypted?: boolean };
  return {
    method: req.method ?? 'GET',
    // Express rewrites req.url inside mounted routers; originalUrl is what the client sent.
    url: (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/',
    headers: req.headers,
    encrypted: socket?.encrypted === true,
    clientCertificate: peerCertificate(socket),
  };
}

/** Answer a refusal: RFC 6750 §3 status and WWW-Authenticate, a small JSON body, never cached. */
export function sendRejection(verifier: TokenVerifier, res: ServerResponse, err: unknown): void {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  let status: number;
  let body: Record<string, string>;
  if (err instanceof TokenRejection) {
    status = err.status;
    body = err.body();
    headers['www-authenticate'] = verifier.challenge(err);
  } else if (err instanceof AuthorizationServerUnavailable) {
    status = err.status;
    body = err.body();
    headers['retry-after'] = '5';
  } else {
    status = 500;
    body = { error: 'server_error', error_description: 'internal server error' };
  }
  res.writeHead(status, headers).end(JSON.stringify(body));
}

/**
 * Protect node:http (and Express/Connect) handlers with Latchkey access tokens:
 *
 *     const verifier = createTokenVerifier({ issuer, audience, introspection: { clientId, clientSecret } });
 *     app.get('/items', requireToken(verifier, { scopes: ['items:read'] }), handler);   // Express
 *     requireToken(verifier)(req, res, () => handler(req, res));                         // node:http
 *
 * On success `req.accessToken` holds the verified token and `next()` is called; otherwise the refusal is answered
 * here (401/403/400 with WWW-Authenticate, or 503 when the authorization server is unreachable) and `next` is not.
 */
export function requireToken(verifier: TokenVerifier | ResourceServerOptions, requirement: { scopes?: string[] } = {}): TokenMiddleware {
  const v = 'verify' in verifier ? verifier : createTokenVerifier(verifier);
  return (req, res, next) => {
    v.verify(resourceRequestOf(req), requirement).then(
      (token) => {
        (req as RequestWithToken).accessToken = token;
        next();
      },
      (err: unknown) => {
        if (!(err instanceof TokenRejection) && !(err instanceof AuthorizationServerUnavailable)) {
          next(err);
          return;
        }
        sendRejection(v, res, err);
      },
    );
  };
}
