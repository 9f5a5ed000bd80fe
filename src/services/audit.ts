import { AUDIT_EVENT_TYPES } from '../audit/audit.js';
import type { Latchkey } from '../server/latchkey.js';
import type { AuditEventQuery, AuditEventRecord } from '../store/types.js';
import { badRequest } from './errors.js';

/** Query options as given on the admin API or the CLI (strings), checked. */
export function parseAuditQuery(q: { type?: string; since?: string; limit?: string }): AuditEventQuery {
  const out: AuditEventQuery = { limit: 100 };
  if (q.type !== undefined && q.type !== '') {
    if (!(AUDIT_EVENT_TYPES as readonly string[]).includes(q.type)) throw badRequest(`type must be one of ${AUDIT_EVENT_TYPES.join(', ')}`);
    out.type = q.type;
  }
  if (q.since !== undefined && q.since !== '') {
    const ms = /^\d{1,12}$/.test(q.since) ? Number(q.since) * 1000 : Date.parse(q.since);
    if (!Number.isFinite(ms)) throw badRequest('since must be an RFC 3339 time or seconds since the epoch');
    out.since = ms;
  }
  if (q.limit !== undefined && q.limit !== '') {
    if (!/^\d{1,4}$/.test(q.limit) || Number(q.limit) < 1 || Number(q.limit) > 1000) throw badRequest('limit must be an integer from 1 to 1000');
    out.limit = Number(q.limit);
  }
  return out;
}

/** Security events of a tenant, newest first. Events still queued are written first, so a query sees them. */
export async function listAuditEvents(lk: Latchkey, tenantId: string, q: AuditEventQuery): Promise<AuditEventRecord[]> {
  await lk.audit.flush();
  return lk.store.listAuditEvents(tenantId, q);
}
