import type { EngineContext } from '../engine/context.js';
import { endpointsOf } from '../engine/context.js';
import { OAuthError } from '../engine/errors.js';
import { newHandle } from '../tokens/handles.js';
import { registerClient } from './clients.js';
import { createUser } from './users.js';

export const DEMO_CLIENT_ID = 'demo-client';
export const DEMO_USERNAME = 'demo';

/**
 * On a database with no clients and no users, create a demo confidential client and a demo user with fresh
 * random secrets, and return instructions (the secrets are shown only this once). Returns undefined otherwise.
 */
export async function ensureDemo(ctx: EngineContext): Promise<string | undefined> {
  const [clients, users] = await Promise.all([ctx.store.listClients(ctx.tenant.id), ctx.store.listUsers(ctx.tenant.id)]);
  if (clients.length || users.length) return undefined;
  const issuer = ctx.tenant.issuer;
  let redirectUri: string | undefined = `${issuer}/demo/callback`;
  const demo = {
    client_id: DEMO_CLIENT_ID,
    client_name: 'Latchkey demo client',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    scope: 'openid profile email address phone offline_access api:read',
  };
  let json: Record<string, unknown>;
  try {
    try {
      ({ json } = await registerClient(ctx, demo));
    } catch (e) {
      // An http issuer off the loopback interface cannot have http redirect URIs: the demo is then client_credentials only.
      if (!(e instanceof OAuthError) || e.code !== 'invalid_redirect_uri') throw e;
      redirectUri = undefined;
      ({ json } = await registerClient(ctx, { ...demo, redirect_uris: undefined, grant_types: ['client_credentials'] }));
    }
  } catch (e) {
    // Several instances starting at once on one fresh database: the one that created the demo prints it.
    if (await ctx.store.findClient(ctx.tenant.id, DEMO_CLIENT_ID)) return undefined;
    throw e;
  }
  const password = newHandle(ctx.random, 12);
  await createUser(ctx, {
    username: DEMO_USERNAME,
    password,
    claims: { name: 'Demo User', given_name: 'Demo', family_name: 'User', email: 'demo@example.com', email_verified: true },
  });
  const e = endpointsOf(issuer);
  return [
    'latchkey: fresh database, created a demo client and user (secrets shown only now):',
    `  client_id     ${DEMO_CLIENT_ID}`,
    `  client_secret ${json.client_secret as string}`,
    `  redirect_uri  ${redirectUri ?? '(none: redirect URIs need an https issuer, or http on 127.0.0.1/localhost)'}`,
    `  user          ${DEMO_USERNAME} / ${password}`,
    '  try:',
    `    curl -s -u ${DEMO_CLIENT_ID}:${json.client_secret as string} -d grant_type=client_credentials -d scope=api:read ${e.token}`,
    ...(redirectUri
      ? [`    open ${e.authorization}?response_type=code&client_id=${DEMO_CLIENT_ID}&scope=openid%20profile&redirect_uri=${encodeURIComponent(redirectUri)}&state=xyz`]
      : []),
  ].join('\n');
}
