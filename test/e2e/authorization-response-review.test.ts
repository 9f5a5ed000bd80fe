import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

/** Authorization responses and errors, as a client sees them over HTTP. */
describe('authorization endpoint: response encoding and error codes', () => {
  let s: TestServer;
  const CB = 'https://rp.example/cb';
  const IRI = 'https://rp.example/日本/cb';
  let plain: { clientId: string };
  let iri: { clientId: string };
  let conf: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer();
    plain = await s.client({ redirect_uris: [CB], skip_consent: true });
    iri = await s.client({ redirect_uris: [IRI], skip_consent: true });
    conf = await s.client({ redirect_uris: [CB], skip_consent: true });
  });
  afterAll(() => s.close());

  const authorize = (p: Record<string, string>) =>
    fetch(`${s.issuer}/oauth/authorize?${new URLSearchParams(p)}`, { redirect: 'manual' });

  it('RFC 6749 §4.1.2.1, Multiple Response Types §2.1: a fragment response to a redirect URI with non-ASCII characters is a redirect to its serialised form, as the query response is', async () => {
    for (const mode of ['fragment', 'query']) {
      const r = await authorize({ client_id: iri.clientId, redirect_uri: IRI, response_type: 'code', scope: 'openid', state: 'st', response_mode: mode, prompt: 'none' });
      expect(r.status).toBe(303);
      const loc = new URL(r.headers.get('location')!);
      expect(loc.origin + loc.pathname).toBe(new URL(IRI).href);
      const params = new URLSearchParams(mode === 'fragment' ? loc.hash.slice(1) : loc.search);
      expect(params.get('error')).toBe('login_required');
      expect(params.get('state')).toBe('st');
      expect(params.get('iss')).toBe(s.issuer); // RFC 9207 §2
    }
  });

  it('OIDC Core §3.1.2.6: the registration parameter (Self-Issued OPs only, §7.2.1) is registration_not_supported, redirected with state and iss; JSON at the PAR endpoint', async () => {
    const r = await authorize({ client_id: plain.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st', registration: '{"client_name":"x"}' });
    expect(r.status).toBe(303);
    const loc = new URL(r.headers.get('location')!);
    expect(loc.origin + loc.pathname).toBe(CB);
    expect(loc.searchParams.get('error')).toBe('registration_not_supported');
    expect(loc.searchParams.get('state')).toBe('st');
    expect(loc.searchParams.get('iss')).toBe(s.issuer);

    const par = await postForm(s.url('/oauth/par'), { redirect_uri: CB, response_type: 'code', scope: 'openid', registration: '{}' }, { authorization: basic(conf.clientId, conf.clientSecret!) });
    expect(par.status).toBe(400);
    expect(par.json.error).toBe('registration_not_supported');

    // Without it, the same requests go through.
    expect((await authorize({ client_id: plain.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st', prompt: 'none' })).headers.get('location')).toContain('error=login_required');
    expect((await postForm(s.url('/oauth/par'), { redirect_uri: CB, response_type: 'code', scope: 'openid' }, { authorization: basic(conf.clientId, conf.clientSecret!) })).status).toBe(201);
  });

  it('RFC 6749 §4.1.2.1: a repeated parameter is invalid_request redirected to the client (with state and iss) once client_id and redirect_uri verify; a repeated client_id or redirect_uri gets the error page', async () => {
    const q = (p: Record<string, string>, extra: string) => `${s.issuer}/oauth/authorize?${new URLSearchParams(p)}&${extra}`;
    const base = { client_id: plain.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st' };

    let r = await fetch(q(base, 'scope=profile'), { redirect: 'manual' });
    expect(r.status).toBe(303);
    let loc = new URL(r.headers.get('location')!);
    expect(loc.origin + loc.pathname).toBe(CB);
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('error_description')).toContain('repeated');
    expect(loc.searchParams.get('state')).toBe('st');
    expect(loc.searchParams.get('iss')).toBe(s.issuer);

    // In the response mode sent (once); a repeated state is not echoed (which one would it be?).
    r = await fetch(q({ ...base, response_mode: 'fragment' }, 'state=other'), { redirect: 'manual' });
    loc = new URL(r.headers.get('location')!);
    expect(loc.search).toBe('');
    const frag = new URLSearchParams(loc.hash.slice(1));
    expect(frag.get('error')).toBe('invalid_request');
    expect(frag.has('state')).toBe(false);
    expect(frag.get('iss')).toBe(s.issuer);

    // The same POSTed (OIDC Core §3.1.2.1).
    const post = await fetch(`${s.issuer}/oauth/authorize`, {
      method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `${new URLSearchParams(base)}&scope=profile`,
    });
    expect(post.status).toBe(303);
    expect(new URL(post.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');

    // client_id or redirect_uri repeated (even with the same value), or an unverified one: never redirected.
    for (const extra of [`client_id=${plain.clientId}`, `redirect_uri=${encodeURIComponent(CB)}`, 'redirect_uri=https%3A%2F%2Fevil.example%2Fcb']) {
      const page = await fetch(q(base, extra), { redirect: 'manual' });
      expect(page.status).toBe(400);
      expect(page.headers.get('location')).toBeNull();
    }
    const unregistered = await fetch(q({ ...base, redirect_uri: 'https://evil.example/cb' }, 'scope=profile'), { redirect: 'manual' });
    expect(unregistered.status).toBe(400);
    expect(unregistered.headers.get('location')).toBeNull();
  });
});
