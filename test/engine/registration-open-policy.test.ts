import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { EngineContext } from '../../src/engine/context.js';
import { registration, registrationManagement } from '../../src/engine/registration.js';
import { isTrustedHost, trustedHostEntry } from '../../src/engine/registration-policy.js';
import { clientView, deleteClient, replaceClient } from '../../src/services/clients.js';
import { createInitialAccessToken } from '../../src/services/management-tokens.js';
import { createTenant } from '../../src/services/tenants.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

/**
 * Policies for clients registering themselves through open registration (RFC 7591 §3 without an initial access
 * token): a quota per tenant (registrationMaxClients) and trusted hosts (registrationTrustedHosts), like Keycloak's
 * anonymous Max Clients and Trusted Hosts policies. Engine level: src/engine/registration-policy.ts.
 */

type Json = Record<string, any>;

const register = async (ctx: EngineContext, meta: Json, authorization?: string) => {
  const r = await registration({ body: JSON.stringify(meta), contentType: 'application/json', authorization }, ctx);
  return { ...r, body: JSON.parse(r.responseContent as string) as Json };
};

const manage = async (ctx: EngineContext, reg: Json, method: 'GET' | 'PUT' | 'DELETE', body?: Json) => {
  const r = await registrationManagement(
    {
      method,
      clientId: reg.client_id,
      authorization: `Bearer ${reg.registration_access_token}`,
      ...(body ? { body: JSON.stringify(body), contentType: 'application/json' } : {}),
    },
    ctx,
  );
  return { ...r, body: r.responseContent ? (JSON.parse(r.responseContent as string) as Json) : undefined };
};

/** Clients of the tenant that open registration counts, as the store holds them. */
const counted = async (ctx: EngineContext) =>
  (await ctx.store.listClients(ctx.tenant.id)).filter((c) => c.registrationAccessTokenHash !== undefined && c.registeredThrough !== 'token').length;

const web = (host = 'app.example.com') => ({ redirect_uris: [`https://${host}/cb`] });

describe('registrationTrustedHosts entries', () => {
  it('an entry is a host name or IP address, or .domain for the hosts below it; canonical as URLs carry hosts', () => {
    expect(trustedHostEntry('App.Example.COM.')).toBe('app.example.com');
    expect(trustedHostEntry('.Example.com')).toBe('.example.com');
    expect(trustedHostEntry('bücher.example')).toBe('xn--bcher-kva.example');
    expect(trustedHostEntry('192.0.2.10')).toBe('192.0.2.10');
    expect(trustedHostEntry('[2001:DB8::1]')).toBe('[2001:db8::1]');
    for (const bad of ['', '.', 'https://app.example.com', 'app.example.com:443', 'app.example.com/cb', '*.example.com', 'user@app.example.com', '.192.0.2.10', 'a b.example', '2001:db8::1']) {
      expect(trustedHostEntry(bad), bad).toBeUndefined();
    }
  });

  it('a host matches an entry exactly, or lies below a .domain entry (not the domain itself, not a look-alike)', () => {
    const trusted = ['app.example.com', '.example.org'];
    expect(isTrustedHost('app.example.com', trusted)).toBe(true);
    expect(isTrustedHost('APP.example.com.', trusted)).toBe(true);
    expect(isTrustedHost('evil.app.example.com', trusted)).toBe(false);
    expect(isTrustedHost('a.b.example.org', trusted)).toBe(true);
    expect(isTrustedHost('example.org', trusted)).toBe(false);
    expect(isTrustedHost('evilexample.org', trusted)).toBe(false);
  });

  it('configuration: entries are checked at start with a message, and normalised; the quota defaults to 200', () => {
    const load = (o: Json) => loadConfig({ env: {}, file: undefined, overrides: o });
    expect(load({}).registrationMaxClients).toBe(200);
    expect(load({}).registrationTrustedHosts).toEqual([]);
    expect(loadConfig({ env: { LATCHKEY_REGISTRATION_TRUSTED_HOSTS: 'App.Example.com, .example.org' }, file: undefined }).registrationTrustedHosts).toEqual([
      'app.example.com', '.example.org',
    ]);
    expect(() => load({ registrationTrustedHosts: ['*.example.com'] })).toThrow(/registrationTrustedHosts.*\.domain/s);
  });
});

describe('registrationTrustedHosts: every URI of an openly registered client on a trusted host (engine)', () => {
  let t: TestLatchkey;
  let sector: Server;
  let sectorHits = 0;
  let sectorUrl = '';
  beforeAll(async () => {
    t = await openTestLatchkey({
      registration: 'open',
      registrationTrustedHosts: ['app.example.com', '.example.org'],
      insecureAllowHttpSectorIdentifierUri: true,
    });
    sector = createServer((_req, res) => {
      sectorHits++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(['https://app.example.com/cb']));
    });
    await new Promise<void>((resolve) => sector.listen(0, '127.0.0.1', resolve));
    sectorUrl = `http://127.0.0.1:${(sector.address() as { port: number }).port}/sector.json`;
  });
  afterAll(async () => {
    sector.close();
    await t.close();
  });

  it('redirect URIs on a trusted host, or below a .domain entry, are registered', async () => {
    const r = await register(t.ctx, { redirect_uris: ['https://app.example.com/cb', 'https://login.shop.example.org/cb'] });
    expect(r.action, r.responseContent).toBe('CREATED');
  });

  it.each([
    ['another host', ['https://evil.example.net/cb']],
    ['a look-alike host', ['https://app.example.com.evil.example/cb']],
    ['the bare .domain', ['https://example.org/cb']],
    ['one bad among good ones', ['https://app.example.com/cb', 'https://evil.example.net/cb']],
  ])('RFC 7591 §3.2.2: a redirect URI on %s is invalid_redirect_uri (LK7421)', async (_what, redirect_uris) => {
    const r = await register(t.ctx, { redirect_uris });
    expect([r.action, r.status, r.resultCode, r.body.error]).toEqual(['BAD_REQUEST', 400, 'LK7421', 'invalid_redirect_uri']);
    expect(r.body.error_description).toMatch(/redirect_uris: .*evil\.example|redirect_uris: .*example\.org/);
  });

  it('RFC 7591 §3.2.2: a post-logout redirect URI off the trusted hosts is invalid_redirect_uri (LK7421), like the redirect URIs', async () => {
    const r = await register(t.ctx, { ...web(), post_logout_redirect_uris: ['https://evil.example.net/bye'] });
    expect([r.status, r.resultCode, r.body.error]).toEqual([400, 'LK7421', 'invalid_redirect_uri']);
    expect(r.body.error_description).toMatch(/^post_logout_redirect_uris: /);
  });

  it.each([
    ['backchannel_logout_uri', { backchannel_logout_uri: 'https://evil.example.net/bc' }],
    ['jwks_uri', { jwks_uri: 'https://evil.example.net/jwks.json' }],
    ['request_uris', { request_uris: ['https://app.example.com/r', 'https://evil.example.net/r'] }],
    ['logo_uri', { logo_uri: 'https://evil.example.net/logo.png' }],
    ['client_uri', { client_uri: 'https://evil.example.net/' }],
    ['policy_uri', { policy_uri: 'https://evil.example.net/policy' }],
    ['tos_uri', { tos_uri: 'https://evil.example.net/tos' }],
    ['initiate_login_uri', { initiate_login_uri: 'https://evil.example.net/login' }],
    ['allowed_cors_origins', { allowed_cors_origins: ['https://evil.example.net'] }],
  ])('RFC 7591 §3.2.2: %s off the trusted hosts is invalid_client_metadata (LK7422)', async (field, meta) => {
    const r = await register(t.ctx, { ...web(), ...meta });
    expect([r.action, r.status, r.resultCode, r.body.error]).toEqual(['BAD_REQUEST', 400, 'LK7422', 'invalid_client_metadata']);
    expect(r.body.error_description).toMatch(new RegExp(`^${field}: `));
    // The same field on a trusted host is registered.
    const trusted = JSON.parse(JSON.stringify(meta).replaceAll('evil.example.net', 'cdn.example.org')) as Json;
    const ok = await register(t.ctx, { ...web(), ...trusted });
    expect(ok.action, ok.responseContent).toBe('CREATED');
  });

  it('a frontchannel_logout_uri off the trusted hosts is invalid_client_metadata (LK7422), though it shares the origin of a native app\'s exempt loopback redirect URI', async () => {
    // Front-Channel Logout 1.0 §2 ties it to a redirect URI's origin; only the loopback exception can leave one untrusted.
    const native = { application_type: 'native', redirect_uris: ['http://127.0.0.1/cb'] };
    const r = await register(t.ctx, { ...native, frontchannel_logout_uri: 'http://127.0.0.1:8080/fc' });
    expect([r.status, r.resultCode, r.body.error]).toEqual([400, 'LK7422', 'invalid_client_metadata']);
    expect(r.body.error_description).toMatch(/^frontchannel_logout_uri: /);
    const ok = await register(t.ctx, { ...web(), frontchannel_logout_uri: 'https://app.example.com/fc' });
    expect(ok.action, ok.responseContent).toBe('CREATED');
  });

  it('a sector_identifier_uri off the trusted hosts is refused (LK7422) before it is fetched', async () => {
    const r = await register(t.ctx, { ...web(), subject_type: 'pairwise', sector_identifier_uri: sectorUrl });
    expect([r.status, r.resultCode, r.body.error]).toEqual([400, 'LK7422', 'invalid_client_metadata']);
    expect(sectorHits).toBe(0);
  });

  it('RFC 8252 §7.3: a native app\'s loopback redirect URI is accepted whatever the trusted hosts; a web client\'s is not', async () => {
    const native = { application_type: 'native', token_endpoint_auth_method: 'none' };
    const loopback = await register(t.ctx, { ...native, redirect_uris: ['http://127.0.0.1/cb', 'http://[::1]/cb', 'http://localhost:8080/cb'] });
    expect(loopback.action, loopback.responseContent).toBe('CREATED');
    const webLoopback = await register(t.ctx, { redirect_uris: ['http://127.0.0.1:8080/cb'] });
    expect([webLoopback.status, webLoopback.resultCode]).toEqual([400, 'LK7421']);
  });

  it('RFC 8252 §7.1: a private-use scheme counts as its reversed domain: org.example.app is app.example.org\'s, com.example.evil is not trusted', async () => {
    const native = { application_type: 'native', token_endpoint_auth_method: 'none' };
    const ok = await register(t.ctx, { ...native, redirect_uris: ['org.example.app:/cb'] });
    expect(ok.action, ok.responseContent).toBe('CREATED');
    const bad = await register(t.ctx, { ...native, redirect_uris: ['net.example.evil:/cb'] });
    expect([bad.status, bad.resultCode, bad.body.error]).toEqual([400, 'LK7421', 'invalid_redirect_uri']);
  });

  it('RFC 7592 §2.2: an openly registered client cannot move a URI off the trusted hosts by an update; the refused update changes nothing', async () => {
    const reg = (await register(t.ctx, { ...web(), client_name: 'Shop' })).body;
    const moved = await manage(t.ctx, reg, 'PUT', { client_id: reg.client_id, redirect_uris: ['https://evil.example.net/cb'] });
    expect([moved.status, moved.resultCode, moved.body!.error]).toEqual([400, 'LK7421', 'invalid_redirect_uri']);
    const logo = await manage(t.ctx, reg, 'PUT', { client_id: reg.client_id, ...web(), logo_uri: 'https://evil.example.net/l.png' });
    expect([logo.status, logo.resultCode, logo.body!.error]).toEqual([400, 'LK7422', 'invalid_client_metadata']);
    // The refused updates kept the record and the token (only a successful update rotates it).
    const read = await manage(t.ctx, reg, 'GET');
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ redirect_uris: ['https://app.example.com/cb'], client_name: 'Shop' });
    expect(read.body!.logo_uri).toBeUndefined();
    const fine = await manage(t.ctx, reg, 'PUT', { client_id: reg.client_id, redirect_uris: ['https://app.example.com/cb', 'https://x.example.org/cb'] });
    expect(fine.status, fine.responseContent).toBe(200);
  });

  it('a dynamic client stored before registrations recorded how they were made is held to the trusted hosts on update', async () => {
    const reg = (await register(t.ctx, web())).body;
    const stored = (await t.ctx.store.findClient(t.ctx.tenant.id, reg.client_id))!;
    const { registeredThrough: _dropped, ...legacy } = stored;
    await t.ctx.store.updateClient(legacy);
    const moved = await manage(t.ctx, reg, 'PUT', { client_id: reg.client_id, redirect_uris: ['https://evil.example.net/cb'] });
    expect([moved.status, moved.resultCode]).toEqual([400, 'LK7421']);
  });

  it('clients registered with an initial access token, and operators\' clients, are not held to the trusted hosts', async () => {
    const tokenCtx: EngineContext = { ...t.ctx, clients: { ...t.ctx.clients!, registration: 'token' } };
    const { token } = await createInitialAccessToken(t.lk, { tenantId: 'default' });
    const reg = await register(tokenCtx, { redirect_uris: ['https://partner.example.net/cb'] }, `Bearer ${token}`);
    expect(reg.action, reg.responseContent).toBe('CREATED');
    const update = await manage(tokenCtx, reg.body, 'PUT', { client_id: reg.body.client_id, redirect_uris: ['https://other.example.net/cb'] });
    expect(update.status, update.responseContent).toBe(200);
    // Even with open registration switched on again, the client that registered with a token keeps its freedom.
    const again = await manage(t.ctx, update.body!, 'PUT', { client_id: reg.body.client_id, redirect_uris: ['https://third.example.net/cb'] });
    expect(again.status, again.responseContent).toBe(200);
    const operator = await t.client({ redirect_uris: ['https://anywhere.example.net/cb'] });
    expect(operator.clientId).toBeTruthy();
  });
});

describe('registrationMaxClients: a quota on the clients open registration holds, per tenant (engine)', () => {
  let t: TestLatchkey;
  beforeAll(async () => {
    t = await openTestLatchkey({ registration: 'open', registrationMaxClients: 3 });
  });
  afterAll(() => t.close());

  const fill = async (ctx: EngineContext) => {
    while ((await counted(ctx)) < 3) expect((await register(ctx, web())).action).toBe('CREATED');
  };

  it('the registration past the limit is 403 access_denied (LK7420) and stores nothing; a deleted client (RFC 7592 §2.3) frees its slot', async () => {
    const first = (await register(t.ctx, web())).body;
    await fill(t.ctx);
    const before = (await t.ctx.store.listClients('default')).length;
    const refused = await register(t.ctx, web());
    expect([refused.action, refused.status, refused.resultCode, refused.body.error]).toEqual(['FORBIDDEN', 403, 'LK7420', 'access_denied']);
    expect(refused.body.error_description).toMatch(/limit of 3/);
    expect(refused.headers).toMatchObject({ 'Cache-Control': 'no-store' });
    expect((await t.ctx.store.listClients('default')).length).toBe(before);
    const deleted = await manage(t.ctx, first, 'DELETE');
    expect(deleted.status).toBe(204);
    expect((await register(t.ctx, web())).action).toBe('CREATED');
    expect((await register(t.ctx, web())).status).toBe(403);
  });

  it('an operator\'s deletion (admin API, CLI) frees a slot too', async () => {
    await fill(t.ctx);
    const open = (await t.ctx.store.listClients('default')).find((c) => c.registeredThrough === 'open')!;
    await deleteClient(t.ctx, open.clientId);
    expect((await register(t.ctx, web())).action).toBe('CREATED');
  });

  it('clients made by an operator, or registered with an initial access token (even once an operator replaced them), are not counted', async () => {
    await fill(t.ctx);
    expect((await register(t.ctx, web())).status).toBe(403);
    // Room is made; then an operator's clients and token registrations go past 3 without taking it.
    const open = (await t.ctx.store.listClients('default')).find((c) => c.registeredThrough === 'open')!;
    await deleteClient(t.ctx, open.clientId);
    for (let i = 0; i < 4; i++) await t.client(web());
    const tokenCtx: EngineContext = { ...t.ctx, clients: { ...t.ctx.clients!, registration: 'token' } };
    const { token } = await createInitialAccessToken(t.lk, { tenantId: 'default' });
    const viaToken = await register(tokenCtx, web(), `Bearer ${token}`);
    expect(viaToken.action).toBe('CREATED');
    // An operator's replacement keeps how the client registered (it does not become an open one).
    const replaced = await replaceClient(t.ctx, viaToken.body.client_id, web('partner.example.net'));
    // The admin API and CLI show which clients take a slot.
    expect(replaced.json).toMatchObject({ dynamically_registered: true, open_registration: false });
    expect(clientView((await t.ctx.store.listClients('default')).find((c) => c.registeredThrough === 'open')!)).toMatchObject({ open_registration: true });
    expect((await register(t.ctx, web())).action).toBe('CREATED');
    expect((await register(t.ctx, web())).status).toBe(403);
  });

  it('a dynamic client stored before registrations recorded how they were made counts as an open one', async () => {
    await fill(t.ctx);
    const open = (await t.ctx.store.listClients('default')).find((c) => c.registeredThrough === 'open')!;
    await deleteClient(t.ctx, open.clientId);
    const { registeredThrough: _none, ...legacy } = { ...open, clientId: 'legacy-dynamic' };
    await t.ctx.store.createClient(legacy);
    expect((await register(t.ctx, web())).status).toBe(403);
  });

  it('the quota is per tenant: another tenant\'s clients take no slot', async () => {
    await fill(t.ctx);
    await createTenant(t.lk, { id: 'acme' });
    const acme = await t.lk.context('acme');
    for (let i = 0; i < 3; i++) expect((await register(acme, web())).action).toBe('CREATED');
    expect((await register(acme, web())).status).toBe(403);
    expect((await register(t.ctx, web())).status).toBe(403);
  });

  it('0 is no limit', async () => {
    const unlimited: EngineContext = { ...t.ctx, clients: { ...t.ctx.clients!, registrationMaxClients: 0 } };
    await fill(t.ctx);
    for (let i = 0; i < 3; i++) expect((await register(unlimited, web())).action).toBe('CREATED');
  });
});

describe('registrationMaxClients under concurrent registrations (engine; run on PostgreSQL too)', () => {
  let t: TestLatchkey;
  beforeAll(async () => {
    t = await openTestLatchkey({ registration: 'open', registrationMaxClients: 3, databasePoolSize: 10 });
  });
  afterAll(() => t.close());

  it('registrations racing for the last slots never take the tenant past the limit: exactly 3 of 16 are stored', async () => {
    const results = await Promise.all(Array.from({ length: 16 }, () => register(t.ctx, web())));
    const actions = results.map((r) => r.action);
    expect(actions.filter((a) => a === 'CREATED')).toHaveLength(3);
    expect(actions.filter((a) => a === 'FORBIDDEN')).toHaveLength(13);
    expect(await counted(t.ctx)).toBe(3);
  });
});

describe('Consent Required: an openly registered client can never skip consent (engine)', () => {
  let t: TestLatchkey;
  beforeAll(async () => {
    t = await openTestLatchkey({ registration: 'open' });
  });
  afterAll(() => t.close());

  it('RFC 7591 §2, RFC 7592 §2.2: skip_consent sent at registration or in an update is ignored; the record keeps skipConsent false', async () => {
    const reg = await register(t.ctx, { ...web(), skip_consent: true });
    expect(reg.action).toBe('CREATED');
    expect(reg.body.skip_consent).toBe(false);
    const update = await manage(t.ctx, reg.body, 'PUT', { client_id: reg.body.client_id, ...web(), skip_consent: true });
    expect(update.status).toBe(200);
    expect(update.body!.skip_consent).toBe(false);
    expect((await t.ctx.store.findClient('default', reg.body.client_id))!.skipConsent).toBe(false);
  });
});
