import type { FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import { auditIssuedConsent, auditTypeByResultCode, type AuditEventType } from '../audit/audit.js';
import type { AuthorizationResult } from '../engine/authorization/index.js';
import { clientNamedBy } from '../engine/client-auth.js';
import type { RegistrationResult } from '../engine/registration.js';
import type { Result } from '../engine/result.js';
import type { Latchkey } from '../server/latchkey.js';
import { header } from './adapt.js';

/** What the audit reads of a request: a Fastify request, or the fast path's (fast-path.ts). */
export interface AuditRequest {
  body?: unknown;
  headers: IncomingHttpHeaders;
  ip: string;
}

/** The request body as form parameters, or undefined when it is none (Core API inputs carry them as `parameters`). */
function formOf(body: unknown): URLSearchParams | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    return new URLSearchParams(body);
  } catch {
    return undefined;
  }
}

/**
 * Who the request says it comes from, for the audit record only (never for a decision): the engine's reading of the
 * names a request gives (clientNamedBy: Basic user name, client_id, client assertion issuer).
 */
function presentedClientId(req: AuditRequest): string | null {
  return typeof req.body === 'string' ? (clientNamedBy({ parameters: req.body, authorization: header(req.headers.authorization) }) ?? null) : null;
}

/** An outcome to audit, whichever way it came: a built-in endpoint, the fast path or the Core API. */
interface Outcome {
  endpoint: string;
  /** How the outcome came, when not through the built-in endpoints. */
  via?: 'core_api';
  resultCode: string;
  resultMessage: unknown;
  ip: string;
  clientId: string | null;
  subject?: string | null;
  /** The protocol parameters of the request, when form-encoded. */
  form?: URLSearchParams;
}

/**
 * The one rule for what an audit event holds: the endpoint (and `via` for the Core API), the grant_type when the
 * request names one, the result message only for failed client authentication and reuse detection (the events an
 * operator investigates), and the presented names cut to the columns' sizes.
 */
function recordOutcome(lk: Latchkey, tenantId: string, type: AuditEventType, o: Outcome): void {
  const detail: Record<string, unknown> = { endpoint: o.endpoint };
  if (o.via) detail.via = o.via;
  const grantType = o.form?.get('grant_type');
  if (grantType) detail.grant_type = grantType.slice(0, 200);
  if (type === 'client.auth_failed' || type.endsWith('reuse_detected')) detail.message = o.resultMessage;
  lk.audit.record({
    tenantId, type, clientId: o.clientId?.slice(0, 200) ?? null, subject: o.subject?.slice(0, 255) ?? null,
    ip: o.ip, resultCode: o.resultCode, detail,
  });
}

/**
 * The one place back-channel engine Results become audit events: the Result's result code, through the table in
 * src/audit/audit.ts, says whether the outcome is a security event. Results that are not, cost one map lookup.
 */
export function auditResult(lk: Latchkey, tenantId: string, endpoint: string, req: AuditRequest, result: Result, clientId?: string | null): void {
  const type = auditTypeByResultCode[result.resultCode];
  if (!type) return;
  const form = formOf(req.body);
  recordOutcome(lk, tenantId, type, {
    endpoint, resultCode: result.resultCode, resultMessage: result.resultMessage, ip: req.ip,
    clientId: clientId !== undefined ? clientId : presentedClientId(req), form,
  });
}

/**
 * Dynamic registration (RFC 7591 §3, RFC 7592 §2): bodies are JSON, so the client is the path's (management) or
 * the one just registered (the Result names it).
 */
export function auditRegistration(lk: Latchkey, tenantId: string, req: FastifyRequest, result: RegistrationResult, pathClientId?: string): void {
  const type = auditTypeByResultCode[result.resultCode];
  if (!type) return;
  const clientId = pathClientId || result.clientId || null;
  recordOutcome(lk, tenantId, type, { endpoint: 'registration', resultCode: result.resultCode, resultMessage: result.resultMessage, ip: req.ip, clientId }); // a JSON body: no form
}

/**
 * Core API results (POST /api/{service}/…), through the same result-code table as the built-in endpoints: one call
 * from the Core API's generic handler, for every endpoint. The client is the one the call names (clientId, or
 * client_id in the protocol parameters), else the one the Result names (a registration's new client); `ip` is the caller's (the delegating server), as it is for any request.
 */
export function auditCoreApiResult(lk: Latchkey, tenantId: string, endpoint: string, req: FastifyRequest, input: unknown, result: unknown): void {
  // auth/authorization/issue with consentGiven: consent.granted, as the built-in consent page writes it.
  auditIssuedConsent(lk.audit, tenantId, result as Pick<AuthorizationResult, 'consentGranted'>, { ip: req.ip, via: 'core_api' });
  const rc = (result as { resultCode?: unknown } | undefined)?.resultCode;
  const type = typeof rc === 'string' ? auditTypeByResultCode[rc] : undefined;
  if (!type) return;
  const i = (input ?? {}) as { clientId?: unknown; subject?: unknown; parameters?: unknown };
  const named = (result as { clientId?: unknown }).clientId; // a registration names the client it created
  const form = formOf(i.parameters);
  recordOutcome(lk, tenantId, type, {
    endpoint, via: 'core_api', resultCode: rc as string, resultMessage: (result as { resultMessage?: unknown }).resultMessage, ip: req.ip,
    clientId: typeof i.clientId === 'string' ? i.clientId : (form?.get('client_id') ?? (typeof named === 'string' ? named : null)),
    subject: typeof i.subject === 'string' ? i.subject : null, form,
  });
}
