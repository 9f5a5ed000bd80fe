import { validateClientMetadata } from '../../src/engine/client-metadata.js';
// Pairwise subject identifiers (OIDC Core §8, §8.1; OIDC Registration §2, §5), end to end over HTTP: the same
// pairwise sub in the ID token, at UserInfo, at introspection and in JWT access tokens; one sub per sector.
import { createServer, type Server } from 'node:http';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectFor } from '../../src/engine/subject.js';
import { basic } from '../helpers/server.js';
import { authorize, CB, type Conformance, redeem, startAuthorization, startConformance, USER, userinfoGet } from '../conformance/helpers.js';

describe('pairwise subject identifiers', () => {
  let t: Conformance;
  let srv: Server;
  let base: string;
  const docs = new Map<string, string>();

  beforeAll(async () => {
    srv = createServer((req, res) => {
      const body = docs.get(req.url ?? '');
      if (body === undefined) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    t = await startConformance({ insecureAllowHttpSectorIdentifierUri: true, registration: 'open' });
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((r) => srv.close(r));
  });

  const sector = (path: string, uris: string[]) => {
    docs.set(path, JSON.stringify(uris));
    return base + path;
  };

  /** A code flow for a client; the ID token's sub (signature checked by openid-client). */
  async function subOf(c: { clientId: string; clientSecret: string }, redirectUri = CB, extra: Record<string, string> = {}) {
    const config = await t.rp(c);
    const browser = t.browser();
    const started = await startAuthorization(config, browser, { redirect_uri: redirectUri, ...extra });
    let r = started.page;
    if (r.html.includes('name="password"')) r = await browser.login(r, USER.username, USER.password);
    if (r.html.includes('/consent')) r = await browser.consent(r, 'approve');
    const a = { ...started, callback: new URL(r.location!) };
    expect(a.callback.origin + a.callback.pathname).toBe(redirectUri);
    const tokens = await redeem(config, a);
    return { sub: tokens.claims()!.sub, tokens, config, a };
  }

  it('OIDC Core §8.1: a pairwise client gets a sub that is not the local one, the same at every login', async () => {
    const c = await t.client({ subject_type: 'pairwise' });
    const one = await subOf(c);
    const two = await subOf(c);
    expect(one.sub).not.toBe(t.sub);
    expect(one.sub).toMatch(/^[A-Za-z0-9_-]{43}$/); // HMAC-SHA-256, base64url
    expect(two.sub).toBe(one.sub);
    const publicClient = await t.client();
    expect((await subOf(publicClient)).sub).toBe(t.sub); // OIDC Core §8: public is the default
  });

  it('OIDC Core §8.1: clients of one sector (redirect URI host) share a pairwise sub; another sector gets another', async () => {
    const a = await t.client({ subject_type: 'pairwise', redirect_uris: ['https://app.example/cb'] });
    const b = await t.client({ subject_type: 'pairwise', redirect_uris: ['https://app.example/other'] });
    const other = await t.client({ subject_type: 'pairwise', redirect_uris: ['https://elsewhere.example/cb'] });
    const subA = (await subOf(a, 'https://app.example/cb')).sub;
    expect((await subOf(b, 'https://app.example/other')).sub).toBe(subA);
    expect((await subOf(other, 'https://elsewhere.example/cb')).sub).not.toBe(subA);
  });

  it('OIDC Core §8.1, Registration §5: with a sector_identifier_uri, its host is the sector, whatever the redirect URI hosts', async () => {
    const uris = ['https://one.example/cb', 'https://two.example/cb'];
    const doc = sector('/shared/redirect_uris.json', uris);
    const one = await t.client({ subject_type: 'pairwise', redirect_uris: uris, sector_identifier_uri: doc });
    const two = await t.client({ subject_type: 'pairwise', redirect_uris: ['https://two.example/cb'], sector_identifier_uri: doc });
    const s1 = (await subOf(one, 'https://one.example/cb')).sub;
    expect((await subOf(two, 'https://two.example/cb')).sub).toBe(s1);
    const byHost = await t.client({ subject_type: 'pairwise', redirect_uris: ['https://one.example/cb'] });
    expect((await subOf(byHost, 'https://one.example/cb')).sub).not.toBe(s1);
  });

  it('OIDC Core §5.3.2, RFC 7662 §2.2, RFC 9068 §2.2: UserInfo, introspection and a JWT access token carry the same pairwise sub', async () => {
    const c = await t.client({ subject_type: 'pairwise', access_token_format: 'jwt' });
    const { sub, tokens } = await subOf(c);
    expect(decodeJwt(tokens.access_token).sub).toBe(sub);
    expect((await (await userinfoGet(t, tokens.access_token)).json()).sub).toBe(sub);
    const rs = await t.client({ grant_types: ['client_credentials'], redirect_uris: [] });
    const res = await fetch(t.discovery.introspection_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(rs.clientId, rs.clientSecret) },
      body: new URLSearchParams({ token: tokens.access_token }),
    });
    const body = await res.json();
    expect(body.active).toBe(true);
    expect(body.sub).toBe(sub);
  });

  it('OIDC Core §3.1.2.1: id_token_hint with prompt=none works for a pairwise client (the hint names the pairwise sub)', async () => {
    const c = await t.client({ subject_type: 'pairwise' });
    const config = await t.rp(c);
    const browser = t.browser();
    const a = await authorize(config, browser);
    const first = await redeem(config, a);
    const again = await startAuthorization(config, browser, { prompt: 'none', id_token_hint: first.id_token! });
    expect(again.page.location, again.page.html.slice(0, 200)).toBeDefined();
    const callback = new URL(again.page.location!);
    expect(callback.searchParams.get('error')).toBeNull();
    const second = await redeem(config, { ...again, callback });
    expect(second.claims()!.sub).toBe(first.claims()!.sub);
    // OIDC Core §5.5.1: a claims sub value names the user the same way.
    const named = await startAuthorization(config, browser, { prompt: 'none', claims: JSON.stringify({ id_token: { sub: { value: first.claims()!.sub } } }) });
    expect(new URL(named.page.location!).searchParams.get('error')).toBeNull();
    const wrong = await startAuthorization(config, browser, { prompt: 'none', claims: JSON.stringify({ id_token: { sub: { value: t.sub } } }) });
    expect(new URL(wrong.page.location!).searchParams.get('error')).toBe('login_required'); // the local sub is not this client's
  });

  it('RP-Initiated Logout §2: a pairwise client\'s id_token_hint ends the session at once (tied by sid, not by sub)', async () => {
    const c = await t.client({ subject_type: 'pairwise', post_logout_redirect_uris: ['https://rp.example/bye'] });
    const config = await t.rp(c);
    const browser = t.browser();
    const tokens = await redeem(config, await authorize(config, browser));
    expect(tokens.claims()!.sid).toBeTruthy();
    const r = await browser.request(`${t.issuer}/oauth/logout?${new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://rp.example/bye', state: 's' })}`);
    expect(r.status).toBe(303); // no confirmation page
    expect(r.location).toBe('https://rp.example/bye?state=s');
    // The session is gone: prompt=none now answers login_required.
    const again = await startAuthorization(config, browser, { prompt: 'none' });
    expect(new URL(again.page.location!).searchParams.get('error')).toBe('login_required');
  });

  it('OIDC Registration §5: an update (RFC 7592 §2.2) checks the sector document again', async () => {
    const doc = sector('/update/redirect_uris.json', [CB]);
    const reg = await fetch(t.discovery.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [CB], subject_type: 'pairwise', sector_identifier_uri: doc }),
    });
    expect(reg.status).toBe(201);
    const r = await reg.json();
    const put = await fetch(r.registration_client_uri, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${r.registration_access_token}` },
      body: JSON.stringify({ client_id: r.client_id, redirect_uris: [CB, 'https://rp.example/new'], subject_type: 'pairwise', sector_identifier_uri: doc }),
    });
    expect(put.status).toBe(400);
    expect((await put.json()).error).toBe('invalid_client_metadata');
  });

  it('OIDC Core §8.1: a pairwise client whose redirect URI has no host (a private-use scheme) must name its sector', () => {
    const native = { redirect_uris: ['com.example.app:/cb'], application_type: 'native', token_endpoint_auth_method: 'none', subject_type: 'pairwise' };
    expect(() => validateClientMetadata(native)).toThrow(/no host needs a sector_identifier_uri/);
    expect(validateClientMetadata({ ...native, sector_identifier_uri: 'https://apps.example.com/sector.json' }).metadata.subjectType).toBe('pairwise');
    expect(validateClientMetadata({ ...native, subject_type: 'public' }).metadata.subjectType).not.toBe('pairwise');
  });

  it('the pairwise salt is per tenant: the same user, sector and client metadata give another sub in another tenant', () => {
    const meta = { subjectType: 'pairwise' as const, redirectUris: [CB] };
    const here = subjectFor(t.s.ctx, meta, t.sub);
    const there = subjectFor({ ...t.s.ctx, tenant: { ...t.s.ctx.tenant, id: 'another-tenant' } }, meta, t.sub);
    expect(here).not.toBe(there);
    expect(subjectFor(t.s.ctx, meta, t.sub)).toBe(here);
    expect(subjectFor(t.s.ctx, { ...meta, subjectType: 'public' }, t.sub)).toBe(t.sub);
  });
});
