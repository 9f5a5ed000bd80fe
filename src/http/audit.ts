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
export function auditResult(lk: Latchkey, tenantId: string, endpoint: string, req: AuditRequest, result: Result): void {
  const type = auditTypeByResultCode[result.resultCode];
  if (!type) return;
  const detail: Record<string, unknown> = { endpoint };
  const grantType = endpoint === 'token' ? formField(req, 'grant_type') : undefined;
  if (grantType) detail.grant_type = grantType;
  if (type === 'client.auth_failed' || type.endsWith('reuse_detected')) detail.message = result.resultMessage;
  lk.audit.record({ tenantId, type, clientId: presentedClientId(req), ip: req.ip, resultCode: result.resultCode, detail });
}
