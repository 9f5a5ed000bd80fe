import type { EngineContext } from './context.js';
import { tenantMetadataDocuments } from './discovery.js';
import { resultCodes } from './result-codes.js';
import { internalErrorResult, type Result } from './result.js';

/*
 * The two constant documents of a tenant as engine Results, for callers that serve them themselves (the Core API).
 * The built-in /.well-known routes serve the very same documents: tenantMetadataDocuments() and the keys' jwksJson.
 */

export type MetadataAction = 'OK' | 'INTERNAL_SERVER_ERROR';

const cacheable = { 'Cache-Control': 'public, max-age=300' };

/** OIDC Discovery §3 / RFC 8414 §2 metadata of the tenant, endpoints under its issuer. */
export async function serviceConfiguration(_input: Record<string, never>, ctx: EngineContext): Promise<Result<MetadataAction>> {
  return {
    action: 'OK',
    resultCode: 'LK11010',
    resultMessage: resultCodes.LK11010,
    responseContent: tenantMetadataDocuments(ctx).openid, // RFC 8414 §2: the server as configured, as /.well-known serves it
    status: 200,
    contentType: 'application/json',
    headers: { ...cacheable },
  };
}

/** RFC 7517 §5: the tenant's public keys, active and still published. */
export async function serviceJwks(_input: Record<string, never>, ctx: EngineContext): Promise<Result<MetadataAction>> {
  let jwksJson: string;
  try {
    jwksJson = (await ctx.keys()).jwksJson;
  } catch (e) {
    return internalErrorResult('INTERNAL_SERVER_ERROR', e, ctx.log);
  }
  return {
    action: 'OK',
    resultCode: 'LK11011',
    resultMessage: resultCodes.LK11011,
    responseContent: jwksJson,
    status: 200,
    contentType: 'application/jwk-set+json', // RFC 7517 §8.5.1
    headers: { ...cacheable },
  };
}
