import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replaceClient } from '../../src/services/clients.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

const insecure = { [oauth.allowInsecureRequests]: true } as const;

/**
 * RFC 6749 §6: a refresh never yields more than the original grant, and (Latchkey's rule) never a scope the client
 * is no longer registered for: an operator narrowing a client's scope narrows its refreshes at once. Asking for no
 * scope means "as originally granted", which is narrowed silently to what the client may still have (RFC 6749 §3.3:
 * the response's scope says so); naming a scope it may no longer have is invalid_scope, as a new request would be.
 * The refresh token keeps its scope (§6: identical), so a scope the operator gives back returns.
 */
describe('RFC 6749 §6: refresh is bounded by the client\'s current registered scope', () => {
  let s: TestServer;
  let as: oauth.AuthorizationServer;
  const meta = { grant_types: ['password', 'refresh_token'], insecure_password_grant: true, scope: 'api1 api2' };
  let app: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer();
    await s.user('ivy', 'pw-ivy-123456');
    const issuer = new URL(s.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  });
  afterAll(() => s.close());

  const setScope = (scope: string) => replaceClient(s.ctx, app.clientId, { ...meta, scope });
  const passwordGrant = (scope: string) =>
    postForm(s.url('/oauth/token'), { grant_type: 'password', username: 'ivy', password: 'pw-ivy-123456', scope }, { authorization: basic(app.clientId, app.clientSecret!) });

  async function refresh(rt: string, scope?: string): Promise<{ scope?: string; refresh_token?: string; error?: string; error_description?: string }> {
    const res = await oauth.refreshTokenGrantRequest(as, { client_id: app.clientId }, oauth.ClientSecretBasic(app.clientSecret!), rt, {
      ...insecure,
      ...(scope ? { additionalParameters: { scope } } : {}),
    });
    try {
      return await oauth.processRefreshTokenResponse(as, { client_id: app.clientId }, res);
    } catch (e) {
      if (e instanceof oauth.ResponseBodyError) return { error: e.error, error_description: e.error_description };
      throw e;
    }
  }

  it('RFC 6749 §6: without a scope parameter the refreshed token loses the scopes the operator removed from the client; naming one is invalid_scope; restored, it comes back', async () => {
    app = await s.client(meta);
    const t = await passwordGrant('api1 api2');
    expect(t.json.scope, t.text).toBe('api1 api2');
    await setScope('api1');
    // A new request for api2 is refused now; a refresh must not be a way around that.
    expect((await passwordGrant('api2')).json.error).toBe('invalid_scope');
    const narrowed = await refresh(t.json.refresh_token);
    expect(narrowed).toMatchObject({ scope: 'api1' });
    expect((await refresh(narrowed.refresh_token!, 'api2')).error).toBe('invalid_scope');
    // The refresh token's own scope is unchanged (RFC 6749 §6): given back to the client, api2 returns.
    await setScope('api1 api2');
    expect(await refresh(narrowed.refresh_token!)).toMatchObject({ scope: 'api1 api2' });
  });

  it('RFC 6749 §6: when the client may have none of the granted scopes any more, the refresh is invalid_scope', async () => {
    app = await s.client(meta);
    const t = await passwordGrant('api2');
    await setScope('api1');
    const r = await refresh(t.json.refresh_token);
    expect(r.error).toBe('invalid_scope');
  });
});
