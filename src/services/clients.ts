import { clientToJson, validateClientMetadata } from '../engine/client-metadata.js';
import type { EngineContext } from '../engine/context.js';
import { nowSeconds } from '../engine/context.js';
import { OAuthError } from '../engine/errors.js';
import type { ClientRecord } from '../store/types.js';
import { newHandle } from '../tokens/handles.js';

/** Operations on clients shared by the CLI, the admin API and dynamic registration. */
export async function registerClient(ctx: EngineContext, input: unknown): Promise<{ client: ClientRecord; json: Record<string, unknown> }> {
  const { clientId, clientSecret, metadata } = validateClientMetadata(input);
  const id = clientId ?? newHandle(ctx.random, 16);
  if (await ctx.store.findClient(ctx.tenant.id, id)) throw new OAuthError('invalid_client_metadata', `client_id ${id} already exists`);
  const secret = metadata.tokenEndpointAuthMethod === 'none' ? undefined : (clientSecret ?? newHandle(ctx.random, 32));
  const client: ClientRecord = {
    ...metadata,
    tenantId: ctx.tenant.id,
    clientId: id,
    secretHash: secret ? ctx.hasher.hash(secret) : null,
    createdAt: nowSeconds(ctx),
  };
  await ctx.store.createClient(client);
  if (client.grantTypes.includes('password')) {
    ctx.log?.warn({ tenant: ctx.tenant.id, client: id }, 'client registered for the password grant (insecure_password_grant; RFC 9700 §2.4 says MUST NOT)');
  }
  const json = clientToJson(client);
  if (secret) json.client_secret = secret;
  return { client, json };
}
