// OIDC Core §8.1: the pairwise sector is the HOST component of the redirect URI (or of sector_identifier_uri),
// without the port. The sector is stored on the client when it is registered, so clients stored before (whose
// sector kept the port) keep handing out the subs they always did, also across updates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorize, type Conformance, redeem, startAuthorization, startConformance, USER } from '../conformance/helpers.js';

describe('pairwise sector: host without port', () => {
  let t: Conformance;

  beforeAll(async () => {
    t = await startConformance({ registration: 'open' });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Register over HTTP (RFC 7591), with a registration access token for later updates. */
  async function register(meta: Record<string, unknown>) {
    const res = await fetch(t.discovery.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_types: ['authorization_code'], ...meta }),
    });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(201);
    return body as { client_id: string; client_secret: string; registration_access_token: string; registration_client_uri: string };
  }

  /** A code flow at redirectUri; the ID token's sub. */
  async function subOf(c: { client_id: string; client_secret: string }, redirectUri: string) {
    const config = await t.rp({ clientId: c.client_id, clientSecret: c.client_secret });
    const browser = t.browser();
    const started = await startAuthorization(config, browser, { redirect_uri: redirectUri });
    let r = started.page;
    if (r.html.includes('name="password"')) r = await browser.login(r, USER.username, USER.password);
    if (r.html.includes('/consent')) r = await browser.consent(r, 'approve');
    expect(r.location!.startsWith(`${redirectUri}?`), r.html.slice(0, 300)).toBe(true);
    const callback = new URL(r.location!);
    return (await redeem(config, { ...started, callback })).claims()!.sub;
  }

  it('OIDC Core §8.1: the sector is the redirect URI host without its port: rp.example and rp.example:8443 give one pairwise sub', async () => {
    const plain = await register({ subject_type: 'pairwise', redirect_uris: ['https://port.example/cb'] });
    const ported = await register({ subject_type: 'pairwise', redirect_uris: ['https://port.example:8443/cb'] });
    const sub = await subOf(plain, 'https://port.example/cb');
    expect(sub).not.toBe(t.sub);
    expect(await subOf(ported, 'https://port.example:8443/cb')).toBe(sub);
  });

  it('OIDC Core §8.1: redirect URIs on one host with different ports are one sector (no sector_identifier_uri needed)', async () => {
    const c = await register({ subject_type: 'pairwise', redirect_uris: ['https://multi.example/cb', 'https://multi.example:9443/cb'] });
    expect(await subOf(c, 'https://multi.example:9443/cb')).toBe(await subOf(c, 'https://multi.example/cb'));
    const res = await fetch(t.discovery.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subject_type: 'pairwise', redirect_uris: ['https://multi.example/cb', 'https://other.example/cb'] }),
    });
    expect(res.status).toBe(400); // several hosts still need a sector_identifier_uri
    expect((await res.json()).error).toBe('invalid_client_metadata');
  });

  it('OIDC Core §8.1: a client stored before sectors were stored keeps its subs (sector with port), also after an update (RFC 7592 §2.2)', async () => {
    const c = await register({ subject_type: 'pairwise', redirect_uris: ['https://legacy.example:8443/cb'] });
    // The record as an earlier version stored it: no pairwiseSector.
    const stored = (await t.s.ctx.store.findClient(t.s.ctx.tenant.id, c.client_id))!;
    expect(stored.pairwiseSector).toBe('legacy.example');
    await t.s.ctx.store.updateClient({ ...stored, pairwiseSector: undefined });
    const legacySub = await subOf(c, 'https://legacy.example:8443/cb');
    const fresh = await register({ subject_type: 'pairwise', redirect_uris: ['https://legacy.example:8443/cb'] });
    expect(await subOf(fresh, 'https://legacy.example:8443/cb')).not.toBe(legacySub); // a new client: host without port

    const put = await fetch(c.registration_client_uri, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${c.registration_access_token}` },
      body: JSON.stringify({ client_id: c.client_id, client_name: 'renamed', grant_types: ['authorization_code'], subject_type: 'pairwise', redirect_uris: ['https://legacy.example:8443/cb', 'https://legacy.example/cb'] }),
    });
    expect(put.status).toBe(200);
    const updated = await put.json();
    expect(updated.pairwise_sector).toBeUndefined(); // internal, never metadata
    expect((await t.s.ctx.store.findClient(t.s.ctx.tenant.id, c.client_id))!.pairwiseSector).toBe('legacy.example:8443');
    const again = { client_id: c.client_id, client_secret: c.client_secret };
    expect(await subOf(again, 'https://legacy.example:8443/cb')).toBe(legacySub);
    expect(await subOf(again, 'https://legacy.example/cb')).toBe(legacySub);

    // Moving to another host is a new sector: it takes the spec's derivation.
    const moved = await fetch(c.registration_client_uri, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${updated.registration_access_token}` },
      body: JSON.stringify({ client_id: c.client_id, grant_types: ['authorization_code'], subject_type: 'pairwise', redirect_uris: ['https://port.example:8443/cb'] }),
    });
    expect(moved.status).toBe(200);
    expect((await t.s.ctx.store.findClient(t.s.ctx.tenant.id, c.client_id))!.pairwiseSector).toBe('port.example');
  });

  it('OIDC Core §8.1: a private-use scheme redirect URI has no host: pairwise registration without sector_identifier_uri is refused', async () => {
    const res = await fetch(t.discovery.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subject_type: 'pairwise', application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['com.example.app:/cb'] }),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toBe('invalid_client_metadata');
  });

  it('OIDC Core §8.1: a native app registering itself as pairwise with a loopback redirect URI (RFC 8252 §7.3) must name its sector: every app on the machine would share 127.0.0.1', async () => {
    for (const uri of ['http://127.0.0.1/cb', 'http://[::1]:8080/cb', 'http://localhost/cb']) {
      const res = await fetch(t.discovery.registration_endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ subject_type: 'pairwise', application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: [uri] }),
      });
      expect(res.status, uri).toBe(400);
      const body = await res.json();
      expect(body.error).toBe('invalid_client_metadata');
      expect(body.error_description).toContain('sector_identifier_uri');
    }
    // A public-subject native app on loopback is unaffected.
    await register({ application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/cb'] });
  });

  it('OIDC Core §8.1: a pairwise client registered by an operator stores its sector (the redirect URI host) and sees a pairwise sub', async () => {
    const c = await t.client({ subject_type: 'pairwise' });
    const config = await t.rp(c);
    const tokens = await redeem(config, await authorize(config, t.browser()));
    expect(tokens.claims()!.sub).not.toBe(t.sub);
    expect((await t.s.ctx.store.findClient(t.s.ctx.tenant.id, c.clientId))!.pairwiseSector).toBe('rp.example');
  });

  it('OIDC Core §8.1: private-use scheme apps sharing a "host" (com.a.app://callback, com.b.app://callback) are different sectors', async () => {
    const native = { subject_type: 'pairwise', application_type: 'native', token_endpoint_auth_method: 'client_secret_basic' };
    const a = await register({ ...native, redirect_uris: ['com.a.app://callback'] });
    const a2 = await register({ ...native, redirect_uris: ['com.a.app://callback/other'] });
    const b = await register({ ...native, redirect_uris: ['com.b.app://callback'] });
    const subA = await subOf(a, 'com.a.app://callback');
    expect(subA).not.toBe(t.sub);
    expect(await subOf(a2, 'com.a.app://callback/other')).toBe(subA); // one app (scheme), one sector
    expect(await subOf(b, 'com.b.app://callback')).not.toBe(subA);
    // Two apps in one client need a sector_identifier_uri, like two hosts.
    const both = await fetch(t.discovery.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...native, redirect_uris: ['com.a.app://callback', 'com.b.app://callback'] }),
    });
    expect(both.status).toBe(400);
  });
});
