import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { token } from '../../engine/token/index.js';
import { introspection } from '../../engine/introspection.js';
import { revocation } from '../../engine/revocation.js';
import { userinfo } from '../../engine/userinfo.js';
import { pushedAuthorizationRequest } from '../../engine/par.js';
import { deviceAuthorization } from '../../engine/device.js';
import type { Latchkey } from '../../server/latchkey.js';
import { DEFAULT_TENANT } from '../../store/types.js';
import { header, sendResult } from '../adapt.js';

/** Back-channel OAuth endpoints. Bodies reach the engine as raw strings, whatever their content type. */
export async function registerOAuthRoutes(app: FastifyInstance, lk: Latchkey): Promise<void> {
  const ctx = await lk.context(DEFAULT_TENANT);
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

    scope.post('/oauth/token', async (req, reply) => {
      const result = await token(
        {
          parameters: typeof req.body === 'string' ? req.body : '',
          contentType: req.headers['content-type'] ?? '',
          authorization: header(req.headers.authorization),
        },
        ctx,
      );
      if (result.action === 'OK') lk.metrics.tokensIssued.inc([grantTypeOf(req.body)]);
      return sendResult(reply, result);
    });

    scope.post('/oauth/introspect', async (req, reply) => {
      const result = await introspection(
        {
          parameters: typeof req.body === 'string' ? req.body : '',
          contentType: req.headers['content-type'] ?? '',
          authorization: header(req.headers.authorization),
          accept: header(req.headers.accept),
        },
        ctx,
      );
      return sendResult(reply, result);
    });

    scope.post('/oauth/revoke', async (req, reply) => {
      const result = await revocation(
        {
          parameters: typeof req.body === 'string' ? req.body : '',
          contentType: req.headers['content-type'] ?? '',
          authorization: header(req.headers.authorization),
        },
        ctx,
      );
      return sendResult(reply, result);
    });

    // OIDC Core §5.3.1: GET and POST; the token in the header or, for POST, the form body (RFC 6750 §2.2).
    const ui = async (req: FastifyRequest, reply: FastifyReply) => {
      const result = await userinfo(
        {
          authorization: header(req.headers.authorization),
          parameters: req.method === 'POST' && typeof req.body === 'string' ? req.body : undefined,
          contentType: req.headers['content-type'],
        },
        ctx,
      );
      return sendResult(reply, result);
    };
    scope.get('/oauth/userinfo', ui);
    scope.post('/oauth/userinfo', ui);

    // RFC 9126 §2: pushed authorization requests.
    scope.post('/oauth/par', async (req, reply) => {
      const result = await pushedAuthorizationRequest(
        {
          parameters: typeof req.body === 'string' ? req.body : '',
          contentType: req.headers['content-type'] ?? '',
          authorization: header(req.headers.authorization),
        },
        ctx,
      );
      return sendResult(reply, result);
    });

    // RFC 8628 §3.1: device authorization.
    scope.post('/oauth/device_authorization', async (req, reply) => {
      const result = await deviceAuthorization(
        {
          parameters: typeof req.body === 'string' ? req.body : '',
          contentType: req.headers['content-type'] ?? '',
          authorization: header(req.headers.authorization),
        },
        ctx,
      );
      return sendResult(reply, result);
    });
  });
}

/**
 * The grant_type of a request the engine has just answered OK, for the tokens-issued metric only (no protocol
 * decision rests on it): the engine accepted it, so it is present once and names a registered grant handler.
 */
function grantTypeOf(body: unknown): string {
  const m = typeof body === 'string' ? /(?:^|&)grant_type=([^&]*)/.exec(body) : null;
  if (!m) return 'unknown';
  try {
    return decodeURIComponent(m[1]!.replace(/\+/g, ' ')).slice(0, 100);
  } catch {
    return 'unknown';
  }
}
