import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MANAGEMENT_METHODS, registration, registrationManagement } from '../../engine/registration.js';
import { userinfo } from '../../engine/userinfo.js';
import type { Latchkey } from '../../server/latchkey.js';
import { DEFAULT_TENANT } from '../../store/types.js';
import { header, sendResult } from '../adapt.js';
import { clientCertificateSource } from '../client-certificate.js';
import { auditRegistration, auditResult } from '../audit.js';
import { backChannelEngines, backChannelInput, type BackChannelEngine } from '../back-channel.js';
import { fixedContext, type ContextOf } from '../tenant.js';
import { answerMethodNotAllowed, METHODS_NOT_ALLOWED, POST_ONLY_ENDPOINTS, sendPreflight } from '../method-not-allowed.js';
import { CORS_ENDPOINTS } from '../../engine/cors.js';
import { repeatedAuthorizationOf, repeatedHeadersOf } from '../raw-headers.js';
import { rawBodies } from '../raw-body.js';

/** Back-channel OAuth endpoints. Bodies reach the engine as raw strings, whatever their content type. */
export async function registerOAuthRoutes(app: FastifyInstance, lk: Latchkey, contextOf?: ContextOf): Promise<void> {
  // The default tenant's context once, or (under /t/:service) the request's tenant.
  const ctxOf = contextOf ?? fixedContext(await lk.context(DEFAULT_TENANT));
  const certificateOf = clientCertificateSource(lk.config);
  await app.register(async (scope) => {
    rawBodies(scope); // every content type reaches the engine as sent, an unparseable one too (raw-body.ts)

    /**
     * The request as received, for any back-channel engine endpoint: raw body, content type, Authorization and
     * Accept headers, and the TLS client certificate (from the socket, or a trusted proxy's header).
     */
    const backChannel = (engine: BackChannelEngine, endpoint: string) => async (req: FastifyRequest, reply: FastifyReply) => {
      const ctx = ctxOf(req);
      const result = await engine(backChannelInput(req.body, req.headers, req.ip, certificateOf(req), repeatedHeadersOf(req.raw)), ctx);
      auditResult(lk, ctx.tenant.id, endpoint, req, result);
      return sendResult(reply, result);
    };

    const engines = backChannelEngines(lk);
    scope.post('/oauth/token', backChannel(engines.token, 'token'));
    scope.post('/oauth/introspect', backChannel(engines.introspection, 'introspection'));
    scope.post('/oauth/revoke', backChannel(engines.revocation, 'revocation'));
    scope.post('/oauth/par', backChannel(engines.par, 'par')); // RFC 9126 §2
    scope.post('/oauth/device_authorization', backChannel(engines.device_authorization, 'device_authorization')); // RFC 8628 §3.1
    scope.post('/oauth/bc-authorize', backChannel(engines.backchannel_authentication, 'backchannel_authentication')); // OpenID CIBA Core §7.1
    // RFC 9126 §2.3, RFC 9110 §15.5.6: any other method on these is 405 with Allow: POST (registration only when routed).
    answerMethodNotAllowed(scope, POST_ONLY_ENDPOINTS.filter((p) => p !== '/oauth/register' || lk.config.registration !== 'off'));

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
          origin: req.headers.origin,
          repeatedAuthorization: repeatedAuthorizationOf(req.raw),
        },
        ctxOf(req),
      );
      return sendResult(reply, result);
    };
    scope.get('/oauth/userinfo', ui);
    scope.post('/oauth/userinfo', ui);
    // CORS preflight (engine/cors.ts); any other OPTIONS request is not found, as before.
    scope.options('/oauth/userinfo', (req, reply) => {
      if (!sendPreflight(req, reply, CORS_ENDPOINTS.userinfo)) reply.callNotFound();
    });

    // RFC 7591 §3 registration and RFC 7592 §2 management: only routed when registration is enabled.
    if (lk.config.registration !== 'off') {
      scope.post('/oauth/register', async (req, reply) => {
        const result = await registration(
          { body: typeof req.body === 'string' ? req.body : '', contentType: req.headers['content-type'], authorization: header(req.headers.authorization), clientAddress: req.ip, repeatedAuthorization: repeatedAuthorizationOf(req.raw) },
          ctxOf(req),
        );
        auditRegistration(lk, ctxOf(req).tenant.id, req, result);
        return sendResult(reply, result);
      });
      const manage = async (req: FastifyRequest<{ Params: { clientId: string } }>, reply: FastifyReply) => {
        const result = await registrationManagement(
          {
            // RFC 9110 §9.3.2: HEAD is GET without the body (Fastify routes HEAD to GET handlers and drops the body).
            method: (req.method === 'HEAD' ? 'GET' : req.method) as 'GET' | 'PUT' | 'DELETE',
            clientId: req.params.clientId,
            body: typeof req.body === 'string' ? req.body : '',
            contentType: req.headers['content-type'],
            authorization: header(req.headers.authorization),
            clientAddress: req.ip,
            repeatedAuthorization: repeatedAuthorizationOf(req.raw),
          },
          ctxOf(req),
        );
        auditRegistration(lk, ctxOf(req).tenant.id, req, result, req.params.clientId);
        return sendResult(reply, result);
      };
      scope.get('/oauth/register/:clientId', manage);
      scope.put('/oauth/register/:clientId', manage);
      scope.delete('/oauth/register/:clientId', manage);
      // RFC 9110 §15.5.6: the client's URL exists, so the other methods Fastify routes are 405 (with Allow: GET, PUT,
      // DELETE), not 404; the engine answers them (LK7170), before looking at any token.
      scope.route({ method: [...METHODS_NOT_ALLOWED, 'POST'].filter((m) => !MANAGEMENT_METHODS.includes(m)), url: '/oauth/register/:clientId', handler: manage });
    }
  });
}
