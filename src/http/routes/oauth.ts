import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { token } from '../../engine/token/index.js';
import { introspection } from '../../engine/introspection.js';
import { revocation } from '../../engine/revocation.js';
import { registration, registrationManagement } from '../../engine/registration.js';
import { userinfo } from '../../engine/userinfo.js';
import { pushedAuthorizationRequest } from '../../engine/par.js';
import { deviceAuthorization } from '../../engine/device.js';
import type { Latchkey } from '../../server/latchkey.js';
import { completePasswordGrant } from '../../services/password-grant.js';
import { DEFAULT_TENANT } from '../../store/types.js';
import type { Result } from '../../engine/result.js';
import { header, sendResult } from '../adapt.js';
import { clientCertificateSource } from '../client-certificate.js';
import { auditResult } from '../audit.js';
import type { EngineContext } from '../../engine/context.js';
import { fixedContext, type ContextOf } from '../tenant.js';

interface BackChannelRequest {
  parameters: string;
  contentType: string;
  authorization?: string;
  accept?: string;
  clientCertificate?: string;
  clientAddress?: string;
  /** RFC 9449 §4.1: the DPoP header (token endpoint, PAR). */
  dpop?: string;
}

/** Back-channel OAuth endpoints. Bodies reach the engine as raw strings, whatever their content type. */
export async function registerOAuthRoutes(app: FastifyInstance, lk: Latchkey, contextOf?: ContextOf): Promise<void> {
  // The default tenant's context once, or (under /t/:service) the request's tenant.
  const ctxOf = contextOf ?? fixedContext(await lk.context(DEFAULT_TENANT));
  const certificateOf = clientCertificateSource(lk.config);
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

    /**
     * The request as received, for any back-channel engine endpoint: raw body, content type, Authorization and
     * Accept headers, and the TLS client certificate (from the socket, or a trusted proxy's header).
     */
    const backChannel =
      (engine: (input: BackChannelRequest, c: EngineContext) => Promise<Result>, endpoint: string) => async (req: FastifyRequest, reply: FastifyReply) => {
        const ctx = ctxOf(req);
        const result = await engine(
          {
            parameters: typeof req.body === 'string' ? req.body : '',
            contentType: req.headers['content-type'] ?? '',
            authorization: header(req.headers.authorization),
            accept: header(req.headers.accept),
            clientCertificate: certificateOf(req),
            clientAddress: req.ip,
            dpop: header(req.headers.dpop),
          },
          ctx,
        );
        auditResult(lk, ctx.tenant.id, endpoint, req, result);
        return sendResult(reply, result);
      };

    // RFC 6749 §4.3: for the password grant the engine asks its caller to verify the resource owner's credentials.
    // Successful token responses are counted by grant type (latchkey_tokens_issued_total).
    const tokenEndpoint = async (input: BackChannelRequest, c: EngineContext): Promise<Result> => {
      const first = await token(input, c);
      const result = first.action === 'PASSWORD' ? await completePasswordGrant(c, first, input.clientAddress ?? '') : first;
      if (result.action === 'OK') lk.metrics.tokensIssued.inc([grantTypeOf(input.parameters)]);
      return result;
    };
    scope.post('/oauth/token', backChannel(tokenEndpoint, 'token'));
    scope.post('/oauth/introspect', backChannel(introspection, 'introspection'));
    scope.post('/oauth/revoke', backChannel(revocation, 'revocation'));
    scope.post('/oauth/par', backChannel(pushedAuthorizationRequest, 'par')); // RFC 9126 §2
    scope.post('/oauth/device_authorization', backChannel(deviceAuthorization, 'device_authorization')); // RFC 8628 §3.1

    // OIDC Core §5.3.1: GET and POST; the token in the header or, for POST, the form body (RFC 6750 §2.2).
    const ui = async (req: FastifyRequest, reply: FastifyReply) => {
      const result = await userinfo(
        {
          authorization: header(req.headers.authorization),
          parameters: req.method === 'POST' && typeof req.body === 'string' ? req.body : undefined,
          contentType: req.headers['content-type'],
          dpop: header(req.headers.dpop),
          method: req.method,
          clientCertificate: certificateOf(req),
        },
        ctxOf(req),
      );
      return sendResult(reply, result);
    };
    scope.get('/oauth/userinfo', ui);
    scope.post('/oauth/userinfo', ui);

    // RFC 7591 §3 registration and RFC 7592 §2 management: only routed when registration is enabled.
    if (lk.config.registration !== 'off') {
      scope.post('/oauth/register', async (req, reply) => {
        const result = await registration(
          { body: typeof req.body === 'string' ? req.body : '', contentType: req.headers['content-type'], authorization: header(req.headers.authorization), clientAddress: req.ip },
          ctxOf(req),
        );
        return sendResult(reply, result);
      });
      const manage = async (req: FastifyRequest<{ Params: { clientId: string } }>, reply: FastifyReply) => {
        const result = await registrationManagement(
          {
            method: req.method as 'GET' | 'PUT' | 'DELETE',
            clientId: req.params.clientId,
            body: typeof req.body === 'string' ? req.body : '',
            contentType: req.headers['content-type'],
            authorization: header(req.headers.authorization),
            clientAddress: req.ip,
          },
          ctxOf(req),
        );
        return sendResult(reply, result);
      };
      scope.get('/oauth/register/:clientId', manage);
      scope.put('/oauth/register/:clientId', manage);
      scope.delete('/oauth/register/:clientId', manage);
    }
  });
}

/**
 * The grant_type of a request the engine has just answered OK, for the tokens-issued metric only (no protocol
 * decision rests on it): the engine accepted it, so it is present once and names a registered grant handler.
 */
function grantTypeOf(body: string): string {
  const m = /(?:^|&)grant_type=([^&]*)/.exec(body);
  if (!m) return 'unknown';
  try {
    return decodeURIComponent(m[1]!.replace(/\+/g, ' ')).slice(0, 100);
  } catch {
    return 'unknown';
  }
}
