import { clientToJson } from '../engine/client-metadata.js';
import { clientResponse, newClientRecord, replacedClientRecord, rotatedSecretRecord, storedClient } from '../engine/client-records.js';
import { removeClient } from '../engine/client-removal.js';
import { openlyRegistered } from '../engine/registration-policy.js';
import type { EngineContext } from '../engine/context.js';
import { nowSeconds } from '../engine/context.js';
import type { ClientRecord } from '../store/types.js';
import { badRequest, conflict, notFound } from './errors.js';

/**
 * Operations on clients shared by the CLI, the admin API and the demo bootstrap. Dynamic registration (RFC 7591)
 * builds its records with the same engine functions (engine/client-records.ts).
 */

/** The client as the admin API and CLI show it: RFC 7591 metadata, plus the end of a secret rotation grace. */
export function clientView(c: ClientRecord): Record<string, unknown> {
  const json = clientToJson(c);
  if (c.previousSecretExpiresAt !== undefined && c.previousSecretHash) json.previous_secret_expires_at = c.previousSecretExpiresAt;
  if (c.registrationAccessTokenHash) {
    json.dynamically_registered = true;
    // Which clients take a slot of registrationMaxClients and are held to registrationTrustedHosts.
    json.open_registration = openlyRegistered(c);
  }
  return json;
}

/** Register a client from RFC 7591 metadata (an operator may choose client_id and client_secret). */
export async function registerClient(ctx: EngineContext, input: unknown): Promise<{ client: ClientRecord; json: Record<string, unknown> }> {
  const { client, issued } = await newClientRecord(ctx, input, { dynamic: false });
  if (await ctx.store.findClient(ctx.tenant.id, client.clientId)) throw conflict(`client_id ${client.clientId} already exists`);
  try {
    await ctx.store.createClient(client);
  } catch (e) {
    if (await ctx.store.findClient(ctx.tenant.id, client.clientId)) throw conflict(`client_id ${client.clientId} already exists`);
    throw e;
  }
  if (client.grantTypes.includes('password')) {
    ctx.log?.warn({ tenant: ctx.tenant.id, client: client.clientId }, 'client registered for the password grant (insecure_password_grant; RFC 9700 §2.4 says MUST NOT)');
  }
  return { client, json: { ...clientView(client), ...clientResponse(ctx, client, issued) } };
}

export async function listClients(ctx: EngineContext): Promise<ClientRecord[]> {
  return ctx.store.listClients(ctx.tenant.id);
}

/**
 * The client as stored now, or 404: read past the client cache (storedClient), so what an operator reads through one
 * instance shows a change or deletion made through another at once (read-your-writes behind a load balancer).
 */
export async function getClient(ctx: EngineContext, clientId: string): Promise<ClientRecord> {
  return currentClient(ctx, clientId);
}

/** Replace a client's metadata; its secret is kept unless client_secret is given (or its new method needs one). */
export async function replaceClient(ctx: EngineContext, clientId: string, input: unknown): Promise<{ client: ClientRecord; json: Record<string, unknown> }> {
  const body = input as Record<string, unknown> | null;
  const { client, issued } = await writeOver(ctx, clientId, (existing) => {
    if (body && typeof body === 'object' && body.client_id !== undefined && body.client_id !== clientId) {
      throw badRequest('client_id in the body differs from the client being updated');
    }
    return replacedClientRecord(ctx, existing, input, { dynamic: false });
  });
  return { client, json: { ...clientView(client), ...clientResponse(ctx, client, issued) } };
}

/**
 * Write a client record built from the client as read, on condition that the client has not changed its registration
 * (RFC 7592 §2.2) since: every update a client makes rotates its registration access token, and the record built here
 * carries the token hash that was read, so an unconditional write would put a rotated-out token back (and undo the
 * client's metadata and any secret its update issued); a client's own deletion would leave nothing to write. The
 * write is also conditional on the client's revision as read (any write since, another operator's included, fails it). On a
 * lost race the client is read again and the record rebuilt on it, once: an operator's replacement or new secret
 * means the same on the fresh record, and the client's rotation stands. Lost again (a client updating in a loop), the
 * operator gets 409 rather than a write loop; a client deleted meanwhile is 404.
 */
async function writeOver<T extends { client: ClientRecord }>(ctx: EngineContext, clientId: string, build: (existing: ClientRecord) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const existing = await currentClient(ctx, clientId);
    const out = await build(existing);
    // The revision too: a client's own update racing this one may keep its token's hash (it lost, or was retried) but
    // still change what this write would carry over, e.g. its metadata or the secret a concurrent rotation issued.
    const condition = { registrationAccessTokenHash: existing.registrationAccessTokenHash ?? null, revision: existing.revision ?? null };
    if (await ctx.store.updateClient(out.client, condition)) return out;
    if (attempt === 1) throw conflict(`client ${clientId} changed while it was being updated; try again`);
  }
}

/** The client as stored now (storedClient: past the client cache), or 404. */
async function currentClient(ctx: EngineContext, clientId: string): Promise<ClientRecord> {
  const c = clientId.length <= 255 ? await storedClient(ctx, clientId) : undefined;
  if (!c) throw notFound(`client ${clientId}`);
  return c;
}

/**
 * Delete a client and revoke every grant and token issued to it; its users' consents and its pending interactions
 * (tickets, pushed requests, device codes) go in the same transaction (engine/client-removal.ts).
 */
export async function deleteClient(ctx: EngineContext, clientId: string): Promise<void> {
  await getClient(ctx, clientId);
  await ctx.store.transaction((tx) => removeClient(tx, ctx.tenant.id, clientId, nowSeconds(ctx)));
}

/** A new secret; the old one keeps working for graceSeconds. */
export async function rotateClientSecret(
  ctx: EngineContext,
  clientId: string,
  graceSeconds: number,
): Promise<{ client: ClientRecord; json: Record<string, unknown> }> {
  if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > 90 * 86400) {
    throw badRequest('grace_seconds must be an integer between 0 and 7776000 (90 days)');
  }
  const rotated = await writeOver(ctx, clientId, async (existing) => {
    try {
      return await rotatedSecretRecord(ctx, existing, graceSeconds);
    } catch (e) {
      throw badRequest((e as Error & { description?: string }).description ?? (e as Error).message);
    }
  });
  return { client: rotated.client, json: { ...clientView(rotated.client), client_secret: rotated.secret } };
}
