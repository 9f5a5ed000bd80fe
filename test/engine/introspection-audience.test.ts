import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeJwt } from 'jose';
import { introspection } from '../../src/engine/introspection.js';
import { token } from '../../src/engine/token/index.js';
import { registerResourceServer, updateResourceServer } from '../../src/services/resources.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';
import { insertRefreshFamily } from '../helpers/tokens.js';

type Creds = { clientId: string; clientSecret?: string };

/**
 * RFC 7662 §4: "If the token can be used only at certain resource servers, the authorization server MUST determine
 * whether or not the token can be used at the resource server making the introspection call." A registered
 * resource server may name the clients that introspect for it (introspection_clients).
 */
describe('introspection of audience-restricted tokens (RFC 7662 §4, engine)', () => {
  let t: TestLatchkey;
  const now = Date.UTC(2031, 0, 1);
  let app: Creds; // the client the tokens are issued to
  let rsA: Creds; // introspects for A
  let rsB: Creds; // introspects for B
  let stranger: Creds; // a confidential client named nowhere
  const A = 'https://a.example/';
  const B = 'https://b.example/';
  const C = 'https://c.example/'; // names no introspection clients: today's behaviour
  const D = 'urn:example:d'; // introspection_clients: []: only the token's own client
  const J = 'https://jwt.example/'; // JWT access tokens, introspected by rsA

  beforeAll(async () => {
    t = await openTestLatchkey({}, { clock: () => now });
    app = await t.client({ grant_types: ['client_credentials'], scope: 'a b c d j api' });
    rsA = await t.client({ grant_types: ['client_credentials'], scope: 'introspect' });
    rsB = await t.client({ grant_types: ['client_credentials'], scope: 'introspect' });
    stranger = await t.client({ grant_types: ['client_credentials'], scope: 'introspect' });
    await registerResourceServer(t.ctx, { identifier: A, scope: 'a', introspection_clients: [rsA.clientId] });
    await registerResourceServer(t.ctx, { identifier: B, scope: 'b', introspection_clients: [rsB.clientId, rsB.clientId] });
    await registerResourceServer(t.ctx, { identifier: C, scope: 'c' });
    await registerResourceServer(t.ctx, { identifier: D, scope: 'd', introspection_clients: [] });
    await registerResourceServer(t.ctx, { identifier: J, scope: 'j', access_token_format: 'jwt', introspection_clients: [rsA.clientId] });
  });
  afterAll(() => t.close());

  const issue = async (resources: string[], scope?: string) => {
    const params = new URLSearchParams({ grant_type: 'client_credentials' });
    if (scope) params.set('scope', scope);
    for (const r of resources) params.append('resource', r);
    const r = await token({ parameters: params.toString(), clientId: app.clientId, clientSecret: app.clientSecret }, t.ctx);
    expect(r.action, r.responseContent).toBe('OK');
    return JSON.parse(r.responseContent).access_token as string;
  };
  const introspect = (tok: string, caller: Creds, accept?: string) =>
    introspection({ parameters: `token=${encodeURIComponent(tok)}`, clientId: caller.clientId, clientSecret: caller.clientSecret, accept }, t.ctx);
  const active = async (tok: string, caller: Creds) => {
    const r = await introspect(tok, caller);
    expect(r.action).toBe('OK');
    expect(r.status).toBe(200);
    return JSON.parse(r.responseContent).active as boolean;
  };

  it('RFC 7662 §4: a token for a resource server that names its introspection clients is shown to a named client', async () => {
    const at = await issue([A]);
    const r = await introspect(at, rsA);
    expect(JSON.parse(r.responseContent)).toMatchObject({ active: true, client_id: app.clientId, aud: A, scope: 'a' });
    expect(r.resultCode).toBe('LK5001');
  });

  it('RFC 7662 §4: the token\'s own client may always introspect it', async () => {
    expect(await active(await issue([A]), app)).toBe(true);
    expect(await active(await issue([D]), app)).toBe(true);
  });

  it('RFC 7662 §4, §2.2: a client the resource server does not name gets {"active":false}, exactly as for an unknown token', async () => {
    const at = await issue([A]);
    for (const caller of [stranger, rsB]) {
      const r = await introspect(at, caller);
      expect(r.action).toBe('OK');
      expect(r.status).toBe(200);
      expect(r.resultCode).toBe('LK5002');
      expect(r.responseContent).toBe('{"active":false}');
      expect(r.resultMessage).toMatch(/introspection_clients/); // the log says why; the client never does
    }
    const unknown = await introspect('no-such-token-' + 'x'.repeat(30), stranger);
    expect(unknown.responseContent).toBe('{"active":false}');
    expect(unknown.status).toBe(200);
  });

  it('RFC 7662 §4: a resource server that names no introspection clients leaves its tokens to any confidential client (unchanged)', async () => {
    const at = await issue([C]);
    for (const caller of [stranger, rsA, rsB, app]) expect(await active(at, caller)).toBe(true);
    // A token for the authorization server itself (aud = issuer) names no resource server at all.
    const own = await issue([], 'api');
    expect(JSON.parse((await introspect(own, stranger)).responseContent)).toMatchObject({ active: true, aud: t.ctx.tenant.issuer });
  });

  it('RFC 7662 §4: introspection_clients [] leaves a token to its own client only', async () => {
    const at = await issue([D]);
    for (const caller of [stranger, rsA, rsB]) expect(await active(at, caller)).toBe(false);
    expect(await active(at, app)).toBe(true);
  });

  it('RFC 7662 §4: with several audiences, a client named by any restricting resource server may introspect; others may not', async () => {
    const ab = await issue([A, B]);
    expect(JSON.parse((await introspect(ab, rsA)).responseContent)).toMatchObject({ active: true, aud: [A, B] });
    expect(await active(ab, rsB)).toBe(true);
    expect(await active(ab, stranger)).toBe(false);
    // An unrestricted audience (C) does not open a token that a restricting one (A) is also an audience of.
    const ac = await issue([A, C]);
    expect(await active(ac, rsA)).toBe(true);
    expect(await active(ac, stranger)).toBe(false);
    expect(await active(ac, rsB)).toBe(false);
    expect(await active(ac, app)).toBe(true);
  });

  it('RFC 7662 §4: JWT access tokens (RFC 9068) follow the same rule', async () => {
    const at = await issue([J]);
    expect(decodeJwt(at).aud).toBe(J);
    expect(JSON.parse((await introspect(at, rsA)).responseContent)).toMatchObject({ active: true, jti: decodeJwt(at).jti });
    expect((await introspect(at, stranger)).responseContent).toBe('{"active":false}');
  });

  it('RFC 9701 §5 with RFC 7662 §4: the signed answer to an unnamed client says only active: false', async () => {
    const at = await issue([A]);
    const refused = await introspect(at, stranger, 'application/token-introspection+jwt');
    expect(refused.contentType).toBe('application/token-introspection+jwt');
    expect(decodeJwt(refused.responseContent)).toMatchObject({ aud: stranger.clientId, token_introspection: { active: false } });
    expect(Object.keys(decodeJwt(refused.responseContent).token_introspection as object)).toEqual(['active']);
    const shown = await introspect(at, rsA, 'application/token-introspection+jwt');
    expect(decodeJwt(shown.responseContent)).toMatchObject({ aud: rsA.clientId, token_introspection: { active: true, aud: A } });
  });

  it('RFC 7662 §4: a refresh token stays its own client\'s only, whatever resource servers name', async () => {
    const sub = await t.user('carol', 'correct horse battery staple');
    const fam = await insertRefreshFamily(t.ctx, { clientId: app.clientId, subject: sub });
    expect(await active(fam.refreshToken, rsA)).toBe(false);
    expect(await active(fam.refreshToken, app)).toBe(true);
  });

  it('the registry is not read when the token is for the authorization server (aud = issuer) or the caller\'s own', async () => {
    const issuerToken = await issue([], 'api');
    const restricted = await issue([A]);
    const spy = vi.spyOn(t.ctx.store, 'listResourceServers');
    try {
      expect(await active(issuerToken, stranger)).toBe(true);
      expect(await active(restricted, app)).toBe(true);
      expect(spy).not.toHaveBeenCalled();
      expect(await active(restricted, stranger)).toBe(false);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('RFC 7662 §4: naming introspection clients on an existing resource server (update) applies to its live tokens at once', async () => {
    await registerResourceServer(t.ctx, { identifier: 'https://later.example/', scope: 'later' });
    const c = await t.client({ grant_types: ['client_credentials'], scope: 'later' });
    const r = await token({ parameters: 'grant_type=client_credentials&resource=https%3A%2F%2Flater.example%2F', clientId: c.clientId, clientSecret: c.clientSecret }, t.ctx);
    const at = JSON.parse(r.responseContent).access_token as string;
    expect(await active(at, stranger)).toBe(true);
    await updateResourceServer(t.ctx, 'https://later.example/', { scope: 'later', introspection_clients: [rsA.clientId] });
    expect(await active(at, stranger)).toBe(false);
    expect(await active(at, rsA)).toBe(true);
    await updateResourceServer(t.ctx, 'https://later.example/', { scope: 'later' }); // named none again: today's behaviour
    expect(await active(at, stranger)).toBe(true);
    await expect(updateResourceServer(t.ctx, 'https://later.example/', { identifier: 'https://other.example/' })).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(updateResourceServer(t.ctx, 'https://nowhere.example/', {})).rejects.toMatchObject({ status: 404 });
  });

  it('introspection_clients must name confidential clients of the tenant: a typo or a public client is refused at registration', async () => {
    await expect(registerResourceServer(t.ctx, { identifier: 'https://typo.example/', introspection_clients: ['no-such-client'] })).rejects.toMatchObject({
      code: 'invalid_request',
      description: expect.stringMatching(/introspection_clients: no client/),
    });
    const pub = await t.client({ redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none' });
    await expect(registerResourceServer(t.ctx, { identifier: 'https://pub.example/', introspection_clients: [pub.clientId] })).rejects.toMatchObject({
      code: 'invalid_request',
      description: expect.stringMatching(/public client/),
    });
    await expect(registerResourceServer(t.ctx, { identifier: 'https://bad.example/', introspection_clients: 'x' })).rejects.toMatchObject({ code: 'invalid_request' });
    expect((await t.ctx.store.findResourceServer(t.ctx.tenant.id, B))!.introspectionClients).toEqual([rsB.clientId]); // de-duplicated
  });
});
