import { uuidv7 } from '../tokens/handles.js';
import type { AuthorizationResult } from '../engine/authorization/index.js';
import type { EngineLogger } from '../engine/result.js';
import type { AuditEventRecord, Store } from '../store/types.js';

/**
 * The audit trail (docs/audit.md): security events in one stable shape, written to the logs at once and to the
 * store in batches, off the request path. An audit write failure is logged and never fails a request; close()
 * writes whatever is still queued, so a clean shutdown loses nothing.
 */

export const AUDIT_EVENT_TYPES = [
  'login.success',
  'login.failure',
  'login.locked',
  'user.registered',
  'consent.granted',
  'consent.denied',
  'consent.revoked',
  'password.changed',
  'profile.updated',
  'token.issued',
  'token.revoked',
  'code.reuse_detected',
  'refresh.reuse_detected',
  'client.auth_failed',
  'rate_limited',
  'admin.action',
  'device.approved',
  'device.denied',
  'ciba.approved',
  'ciba.denied',
  'mfa.enabled',
  'mfa.recovery_codes_renewed',
  'mfa.disabled',
  'mfa.key_added',
  'mfa.key_removed',
  'logout',
  'client.registered',
  'client.updated',
  'client.deleted',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/**
 * Engine result code -> audit event type: the one table that turns protocol outcomes into audit events.
 * Applied where every back-channel engine Result passes (src/http/audit.ts), so no engine module records events.
 */
export const auditTypeByResultCode: Readonly<Record<string, AuditEventType>> = {
  LK2001: 'token.issued',
  LK2005: 'code.reuse_detected',
  LK2009: 'refresh.reuse_detected',
  LK5004: 'token.revoked',
  LK5005: 'token.revoked',
  LK1001: 'client.auth_failed',
  LK1002: 'client.auth_failed',
  LK1003: 'client.auth_failed',
  LK1005: 'client.auth_failed',
  LK8001: 'client.auth_failed',
  LK8002: 'client.auth_failed',
  LK8003: 'client.auth_failed',
  LK8004: 'client.auth_failed',
  LK8005: 'client.auth_failed',
  LK8006: 'client.auth_failed',
  LK8007: 'client.auth_failed',
  LK8008: 'client.auth_failed',
  LK8009: 'client.auth_failed',
  LK8010: 'client.auth_failed',
  LK8011: 'client.auth_failed',
  LK8012: 'client.auth_failed',
  LK14001: 'rate_limited',
  // token services: refreshes under a client's policy issue tokens too; the password grant is a sign-in
  LK6030: 'token.issued',
  LK6031: 'token.issued',
  LK6011: 'login.failure',
  LK6012: 'login.locked',
  LK6016: 'login.failure', // the password grant for an account with two-step sign-in on
  // dynamic client registration (RFC 7591 §3, RFC 7592 §2)
  LK8020: 'client.registered',
  LK8022: 'client.updated',
  LK8023: 'client.deleted',
  // a reused device code revokes what it issued, as a reused authorization code does (detail.grant_type tells them apart)
  LK7040: 'code.reuse_detected',
  LK7491: 'code.reuse_detected', // and a reused CIBA auth_req_id
  // client assertion audience (draft-ietf-oauth-rfc7523bis)
  LK7280: 'client.auth_failed',
  LK7281: 'client.auth_failed',
  // a client assertion typed as another kind of JWT (RFC 8725 §3.11)
  LK7370: 'client.auth_failed',
};

export interface AuditEventInput {
  tenantId: string;
  type: AuditEventType;
  clientId?: string | null;
  subject?: string | null;
  ip?: string | null;
  resultCode?: string | null;
  detail?: Record<string, unknown>;
}

/** Where a consent decision came from: the built-in consent page (the browser's address), a Core API caller, the library. */
export interface ConsentOrigin {
  ip?: string | null;
  via?: 'core_api' | 'library';
}

/**
 * consent.granted / consent.denied (docs/audit.md), in one shape whichever page asked the user: the built-in one,
 * a Core API caller's or a library host's (`detail.via` tells those apart). `scope` is what the decision was about:
 * the scopes and `claim:<name>` entries (engine/consent.ts consentScopes).
 */
export function auditConsent(
  audit: AuditLog,
  tenantId: string,
  type: 'consent.granted' | 'consent.denied',
  c: { clientId: string; subject: string; scope: string[] },
  origin: ConsentOrigin = {},
): void {
  audit.record({ tenantId, type, clientId: c.clientId, subject: c.subject, ip: origin.ip ?? null, detail: { scope: c.scope.join(' '), ...(origin.via ? { via: origin.via } : {}) } });
}

/** The consent an issue step recorded (its Result's consentGranted, from consentGiven), as consent.granted. */
export function auditIssuedConsent(audit: AuditLog, tenantId: string, result: Pick<AuthorizationResult, 'consentGranted'>, origin: ConsentOrigin = {}): void {
  if (result.consentGranted) auditConsent(audit, tenantId, 'consent.granted', result.consentGranted, origin);
}

/** The JSON shape of an event, as logged and as served by the admin API. */
export function auditEventView(e: AuditEventRecord): Record<string, unknown> {
  return {
    id: e.id, tenant_id: e.tenantId, at: new Date(e.at).toISOString(), type: e.type, client_id: e.clientId, subject: e.subject,
    ip: e.ip, result_code: e.resultCode, detail: e.detail,
  };
}

const BATCH = 200;
const DELAY_MS = 50;
/** Pauses before the second and third attempt at a batch that could not be stored. */
const RETRY_PAUSES_MS = [100, 1000];

export class AuditLog {
  private queue: AuditEventRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly clock: () => number,
    public log: EngineLogger | undefined,
  ) {}

  /** Queue an event (logged now, stored within DELAY_MS). Never throws. */
  record(input: AuditEventInput): void {
    const e: AuditEventRecord = {
      id: uuidv7(this.clock()),
      tenantId: input.tenantId,
      at: this.clock(),
      type: input.type,
      clientId: input.clientId ?? null,
      subject: input.subject ?? null,
      ip: input.ip ?? null,
      resultCode: input.resultCode ?? null,
      detail: input.detail ?? {},
    };
    // The JSON view is built only when info lines are written (pino's isLevelEnabled; any other logger: always).
    const log = this.log as (EngineLogger & { isLevelEnabled?: (level: string) => boolean }) | undefined;
    if (log && (typeof log.isLevelEnabled !== 'function' || log.isLevelEnabled('info'))) log.info({ audit: auditEventView(e) }, `audit ${e.type}`);
    this.queue.push(e);
    if (this.queue.length >= BATCH) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), DELAY_MS);
      this.timer.unref();
    }
  }

  /** Write every queued event; resolves once they are stored (or their failure logged). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.queue;
    this.queue = [];
    // Chained: batches are written in order, one at a time.
    this.writing = this.writing.then(async () => {
      if (batch.length === 0) return;
      // A failed write is tried again after a pause (a PostgreSQL connection terminated under it, a busy SQLite file):
      // the events are still in memory, and the next batch waits, so order is kept. An event's id is its primary key and
      // the insert ignores ids already stored, so a write that landed but whose reply was lost stores nothing twice.
      for (let attempt = 0; ; attempt++) {
        try {
          await this.store.insertAuditEvents(batch);
          return;
        } catch (err) {
          if (attempt >= RETRY_PAUSES_MS.length) {
            this.log?.error({ err, lost: batch.length }, 'audit: could not store events');
            return;
          }
          this.log?.warn({ err, events: batch.length }, 'audit: could not store events; trying again');
          await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSES_MS[attempt]).unref());
        }
      }
    });
    return this.writing;
  }
}
