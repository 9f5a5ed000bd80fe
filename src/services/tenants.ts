import type { EngineContext } from '../engine/context.js';
import type { Latchkey } from '../server/latchkey.js';
import { DEFAULT_TENANT, type TenantRecord } from '../store/types.js';
import { UserInputError } from './users.js';

/*
 * Services (tenants) for the CLI and the Core API: each has its own issuer, clients, users, tokens and signing
 * keys. Kept small on purpose: the admin API (branch `clients`) brings full tenant management; the two meet here.
 */

/** Path-safe service ids: they appear in Core API URLs (/api/{serviceId}/…). */
export const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function tenantView(t: TenantRecord, lk: Latchkey): Record<string, unknown> {
  return { id: t.id, issuer: issuerOf(t, lk), created_at: t.createdAt };
}

const issuerOf = (t: TenantRecord, lk: Latchkey) => (t.id === DEFAULT_TENANT ? lk.config.issuer : t.issuer);

export function listTenants(lk: Latchkey): Promise<TenantRecord[]> {
  return lk.store.listTenants();
}

/** RFC 8414 §2, OIDC Discovery §3: an https (or http) URL without query or fragment; no trailing slash, so paths join. */
function checkIssuer(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UserInputError(`issuer ${JSON.stringify(value)} is not a URL`);
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.search || u.hash || value.endsWith('/') || u.username || u.password) {
    throw new UserInputError('issuer must be an http(s) URL without query, fragment, credentials or trailing slash');
  }
  return value;
}

/**
 * A new service with its own signing keys. Its issuer defaults to `<issuer>/t/<id>`; a service used through the
 * Core API takes the issuer of the application that fronts it (its endpoints are that application's). Two services
 * never share an issuer: an issuer names exactly one authorization server (RFC 8414 §2).
 */
export async function createTenant(lk: Latchkey, input: { id: string; issuer?: string }): Promise<TenantRecord> {
  if (!TENANT_ID.test(input.id)) throw new UserInputError('service id must be 1-63 lower-case letters, digits and dashes, starting with a letter or digit');
  const issuer = checkIssuer(input.issuer ?? `${lk.config.issuer}/t/${input.id}`);
  const existing = await lk.store.listTenants();
  if (existing.some((t) => t.id === input.id)) throw new UserInputError(`service ${input.id} already exists`);
  const clash = existing.find((t) => issuerOf(t, lk) === issuer);
  if (clash) throw new UserInputError(`issuer ${issuer} is already the issuer of service ${clash.id}`);
  const t: TenantRecord = { id: input.id, issuer, settings: {}, createdAt: Math.floor(lk.clock() / 1000) };
  try {
    await lk.store.createTenant(t);
  } catch (e) {
    if (await lk.store.findTenant(input.id)) throw new UserInputError(`service ${input.id} already exists`);
    throw e;
  }
  await lk.keys.ensureKeys(t.id);
  return t;
}

/** The engine context of a service, or undefined when there is no such service. */
export async function serviceContext(lk: Latchkey, id: string): Promise<EngineContext | undefined> {
  if (!TENANT_ID.test(id)) return undefined;
  try {
    return await lk.context(id); // cached after the first call
  } catch (e) {
    if (!(await lk.store.findTenant(id))) return undefined;
    throw e;
  }
}
