import { limitAddress, limitClient } from './abuse-limit.js';
import { newHandle } from '../tokens/handles.js';
import { runChecks } from './authorization/index.js';
import type { CheckState } from './authorization/request.js';
import { PAR_URN_PREFIX } from './authorization/request-object.js';
import { authenticateClient, clientAuthDeps, presentedCredentials } from './client-auth.js';
import { type EngineContext, endpointsOf, nowSeconds } from './context.js';
import type { OAuthError } from './errors.js';
import { checkFormContentType, Params, type RepeatedHeaders } from './params.js';
import { jsonResult, runEngine, type Result } from './result.js';
import { pushedDpopJkt } from './token-binding.js';

export type PushedAuthorizationAction = 'CREATED' | 'BAD_REQUEST' | 'UNAUTHORIZED' | 'INTERNAL_SERVER_ERROR';

/** A back-channel request as received (DESIGN: the engine contract). */
export interface BackChannelInput extends RepeatedHeaders {
  /** The raw application/x-www-form-urlencoded body, unmodified. */
  parameters: string;
  contentType?: string;
  /** The raw Authorization header; decoded here when clientId/clientSecret are not given. */
  authorization?: string;
  clientId?: string;
  clientSecret?: string;
  /** The TLS client certificate (PEM), for tls_client_auth / self_signed_tls_client_auth (RFC 8705 §2). */
  clientCertificate?: string;
  /** RFC 9449 §10.1: the DPoP header of the pushed request. */
  dpop?: string;
  /** With dpop: the method and URL of the request (RFC 9449 §4.3); a Core API caller names its own endpoint. POST to ours when absent. */
  htm?: string;
  htu?: string;
  /** The caller's address, for the per-address abuse limit (abuse-limit.ts); absent for Core API callers. */
  clientAddress?: string;
}

/** Client authentication parameters: they authenticate the push and are never stored with the request. */
const CLIENT_AUTH_PARAMS = ['client_secret', 'client_assertion', 'client_assertion_type'];

const actionFor = (e: OAuthError): PushedAuthorizationAction => (e.status === 401 ? 'UNAUTHORIZED' : 'BAD_REQUEST');

/**
 * The pushed authorization request endpoint (RFC 9126 §2). The client authenticates as at the token endpoint;
 * the parameters (or the request object they carry, §3) go through the same checks as at the authorization
 * endpoint, and any failure is answered here as JSON (§2.3). The validated parameters are kept under a
 * single-use request_uri that lives at most 60 seconds (§2.2), stored only as a hash.
 */
export function pushedAuthorizationRequest(input: BackChannelInput, ctx: EngineContext): Promise<Result<PushedAuthorizationAction>> {
  return runEngine(
    async () => {
      checkFormContentType(input.contentType, input.repeatedContentType);
      const body = Params.parse(input.parameters, { allowRepeated: ['resource'] }); // RFC 8707 §2
      await limitAddress(ctx, 'par', input.clientAddress);
      const { client, method } = await authenticateClient(clientAuthDeps(ctx, endpointsOf(ctx.tenant.issuer).pushedAuthorizationRequest), presentedCredentials(input), body);
      await limitClient(ctx, 'par', client.clientId, method, input.clientAddress);
      const kept = Object.fromEntries([...body.entries()].filter(([k]) => !CLIENT_AUTH_PARAMS.includes(k)));
      const resource = body.getAll('resource');
      const state: CheckState = {
        params: Params.fromRecord({ ...kept, ...(resource.length ? { resource } : {}), client_id: client.clientId }), ctx, client, request: { clientId: client.clientId },
      };
      await runChecks('par', state);
      state.params = await pushedDpopJkt(ctx, input.dpop, state.params, input, client); // RFC 9449 §10.1
      const handle = newHandle(ctx.random);
      const ttl = Math.min(60, ctx.tenant.settings.pushedAuthorizationRequestTtl ?? 60);
      await ctx.store.insertPushedRequest({
        tenantId: ctx.tenant.id,
        hash: ctx.hasher.hash(handle),
        clientId: client.clientId,
        expiresAt: nowSeconds(ctx) + ttl,
        consumedAt: null,
        // RFC 9126 §3: whether the parameters came from a (signed) request object, for require_signed_request_object at use.
        data: { parameters: state.params.toString(), ...(state.requestObjectAlg ? { requestObjectAlg: state.requestObjectAlg } : {}) },
      });
      return jsonResult('CREATED', 201, 'LK7004', { request_uri: PAR_URN_PREFIX + handle, expires_in: ttl });
    },
    actionFor,
    'INTERNAL_SERVER_ERROR',
    ctx.log,
  );
}
