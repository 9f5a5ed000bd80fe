import type { FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import { auditTypeByResultCode } from '../audit/audit.js';
import type { Result } from '../engine/result.js';
import type { Latchkey } from '../server/latchkey.js';
import { header } from './adapt.js';

/** What the audit reads of a request: a Fastify request, or the fast path's (fast-path.ts). */
export interface AuditRequest {
  body?: unknown;
  headers: IncomingHttpHeaders;
  ip: string;
}

/**
 * Who the request says it comes from, for the audit record only (never for a decision): client_id from the form
 * body, else the user name of HTTP Basic credentials (RFC 6749 §2.3.1 form-encodes it).
 */
function presentedClientId(req: AuditRequest): string | null {
  const body = typeof req.body === 'string' ? req.body : '';
  try {
    const fromBody = new URLSearchParams(body).get('client_id');
    if (fromBody) return fromBody.slice(0, 200);
  } catch {
    /* not a form */
  }
  const auth = header(req.headers.authorization);
  const m = auth && /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return null;
  try {
    return decodeURIComponent(decoded.slice(0, i).replace(/\+/g, ' ')).slice(0, 200);
  } catch {
    return null;
  }
}

function formField(req: AuditRequest, name: string): string | undefined {
  if (typeof req.body !== 'string') return undefined;
  try {
    return new URLSearchParams(req.body).get(name)?.slice(0, 200) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * The one place back-channel engine Results become audit events: the Result's result code, through the table in
 * src/audit/audit.ts, says whether the outcome is a security event. Results that are not, cost one map lookup.
 */
export function auditResult(lk: Latchkey, tenantId: string, endpoint: string, req: AuditRequest, result: Result, clientId?: string | null): void {
  const type = auditTypeByResultCode[result.resultCode];
  if (!type) return;
  const detail: Record<string, unknown> = { endpoint };
  const grantType = endpoint === 'token' ? formField(req, 'grant_type') : undefined;
  if (grantType) detail.grant_type = grantType;
  if (type === 'client.auth_failed' || type.endsWith('reuse_detected')) detail.message = result.resultMessage;
  lk.audit.record({ tenantId, type, clientId: clientId !== undefined ? clientId : presentedClientId(req), ip: req.ip, resultCode: result.resultCode, detail });
}

/**
 * Dynamic registration (RFC 7591 §3, RFC 7592 §2): bodies are JSON, so the client is the path's (management) or
 * the one just registered (its client_id from the response; the secret in it is never read).
 */
export function auditRegistration(lk: Latchkey, tenantId: string, req: FastifyRequest, result: Result, pathClientId?: string): void {
  if (!auditTypeByResultCode[result.resultCode]) return;
  let clientId = pathClientId?.slice(0, 200) ?? null;
  if (!clientId && result.resultCode === 'LK8020') {
    try {
      clientId = String((JSON.parse(result.responseContent) as { client_id?: unknown }).client_id ?? '') || null;
    } catch {
      /* no body */
    }
  }
  auditResult(lk, tenantId, 'registration', req, result, clientId);
}

/**
 * Core API results (POST /api/{service}/…), through the same result-code table as the built-in endpoints: one call
 * from the Core API's generic handler, for every endpoint. The client is the one the call names (clientId, or
 * client_id in the protocol parameters); `ip` is the caller's (the delegating server), as it is for any request.
 */
export function auditCoreApiResult(lk: Latchkey, tenantId: string, endpoint: string, req: FastifyRequest, input: unknown, result: unknown): void {
  const rc = (result as { resultCode?: unknown } | undefined)?.resultCode;
  const type = typeof rc === 'string' ? auditTypeByResultCode[rc] : undefined;
  if (!type) return;
  const i = (input ?? {}) as { clientId?: unknown; subject?: unknown; parameters?: unknown };
  let params: URLSearchParams | undefined;
  try {
    params = typeof i.parameters === 'string' ? new URLSearchParams(i.parameters) : undefined;
  } catch {
    params = undefined;
  }
  const clientId = typeof i.clientId === 'string' ? i.clientId : (params?.get('client_id') ?? null);
  const detail: Record<string, unknown> = { endpoint, via: 'core_api' };
  const grantType = params?.get('grant_type');
  if (grantType) detail.grant_type = grantType.slice(0, 100);
  if (type === 'client.auth_failed' || type.endsWith('reuse_detected')) detail.message = (result as { resultMessage?: unknown }).resultMessage;
  lk.audit.record({
    tenantId, type, clientId: clientId?.slice(0, 200) ?? null, subject: typeof i.subject === 'string' ? i.subject.slice(0, 255) : null,
    ip: req.ip, resultCode: rc as string, detail,
  });
}
