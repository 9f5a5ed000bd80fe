import { withUnidentifiedErrorCors } from '../engine/cors.js';

/*
 * CORS on the error answers made before any engine endpoint ran (body too large, a request the HTTP parser or the
 * router refused, a failure outside the engine): such an answer names no client, so engine/cors.ts decides it as it
 * decides every error for which no client could be identified (unidentifiedErrorCors). This file only says which
 * paths are CORS endpoints; the rule stays in the engine.
 */

/**
 * The paths of the CORS endpoints (engine/cors.ts CORS_ENDPOINTS: token, revocation, PAR, device authorization,
 * UserInfo), for the default tenant or any other (/t/<id>/…), under any mount path; never the Core API (/api/…).
 */
const CORS_ENDPOINT_PATH = /\/oauth\/(?:token|revoke|par|device_authorization|userinfo)$/;

/** Whether the request URL (path and query as received) is one of the CORS endpoints. */
export function isCorsEndpointPath(url: string): boolean {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return !path.startsWith('/api/') && CORS_ENDPOINT_PATH.test(path);
}

/**
 * The headers of an error answer made outside the engine, with CORS added when the request (to `url`, with this
 * Origin header) was for a CORS endpoint; otherwise the headers unchanged. A request without Origin costs one check.
 */
export function preEngineErrorCors<H extends Record<string, string> | undefined>(url: string, origin: string | undefined, headers: H): H | Record<string, string> {
  if (origin === undefined || !isCorsEndpointPath(url)) return headers;
  return withUnidentifiedErrorCors(origin, headers)!;
}
