import { withUnidentifiedErrorCors, type CorsEndpoint } from '../engine/cors.js';

/*
 * CORS on the error answers made before any engine endpoint ran (body too large, a request the HTTP parser or the
 * router refused, a failure outside the engine): such an answer names no client, so engine/cors.ts decides it as it
 * decides every error for which no client could be identified (unidentifiedErrorCors). This file only says which
 * paths are CORS endpoints; the rule stays in the engine.
 */

/**
 * The CORS endpoints (engine/cors.ts CORS_ENDPOINTS) by the path each is routed at, relative to its tenant: the one
 * map from paths to them, for preflights (method-not-allowed.ts) and for the CORS headers of errors made outside
 * the engine (below).
 */
export const CORS_ENDPOINT_PATHS: Readonly<Record<string, CorsEndpoint>> = {
  '/oauth/token': 'token',
  '/oauth/revoke': 'revocation',
  '/oauth/par': 'par',
  '/oauth/device_authorization': 'device_authorization',
  '/oauth/userinfo': 'userinfo',
};

/**
 * Whether the request URL (path and query as received) is one of the CORS endpoints, for the default tenant or any
 * other (/t/<id>/…), under any mount path; never the Core API (/api/…).
 */
export function isCorsEndpointPath(url: string): boolean {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const i = path.lastIndexOf('/oauth/');
  return i >= 0 && !path.startsWith('/api/') && Object.hasOwn(CORS_ENDPOINT_PATHS, path.slice(i));
}

/**
 * The headers of an error answer made outside the engine, with CORS added when the request (to `url`, with this
 * Origin header) was for a CORS endpoint; otherwise the headers unchanged. A request without Origin costs one check.
 */
export function preEngineErrorCors<H extends Record<string, string> | undefined>(url: string, origin: string | undefined, headers: H): H | Record<string, string> {
  if (origin === undefined || !isCorsEndpointPath(url)) return headers;
  return withUnidentifiedErrorCors(origin, headers)!;
}
