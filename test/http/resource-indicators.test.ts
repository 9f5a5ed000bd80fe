import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';
import { registerResourceServer } from '../../src/services/resources.js';

type Creds = { clientId: string; clientSecret?: string };
const CAL = 'https://cal.example/';
const CONTACTS = 'https://contacts.example/';
const SECRET = 'https://secret.example/';
const CB = 'https://rp.example/cb';

describe('resource indicators (RFC 8707)', () => {
  let s: TestServer;
  let svc: Creds;
  let limited: Creds; // may use CAL only
  let rp: Creds;

  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
    await registerResourceServer(s.ctx, { identifier: CAL, scope: 'calendar' });
    await registerResourceServer(s.ctx, { identifier: CONTACTS, scope: 'contacts' });
    await registerResourceServer(s.ctx, { identifier: SECRET, scope: 'secret' });
    // Two resource servers both claiming one scope make it ambiguous (RFC 9068 §3).
    await registerResourceServer(s.ctx, { identifier: 'https://shared-a.example/', scope: 'shared' });
    await registerResourceServer(s.ctx, { identifier: 'https://shared-b.example/', scope: 'shared' });
    svc = await s.client({ grant_types: ['client_credentials'], scope: 'calendar contacts shared', access_token_format: 'jwt' });
    limited = await s.client({ grant_types: ['client_credentials'], scope: 'calendar contacts secret', resources: [CAL], access_token_format: 'jwt' });
    rp = await s.client({
      redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid offline_access calendar contacts secret',
      resources: [CAL, CONTACTS], skip_consent: true, access_token_format: 'jwt',
    });
    await s.user('carol', 'carol-password');
  });
  afterAll(() => s.close());

  const token = (c: Creds, body: string | Record<string, string>) => postForm(s.url('/oauth/token'), body, { authorization: basic(c.clientId, c.clientSecret!) });
  const form = (pairs: [string, string][]) => new URLSearchParams(pairs).toString();

  describe('token requests (client_credentials)', () => {
    it('RFC 8707 §2: a resource that is not an absolute URI, or has a fragment, is invalid_target', async () => {
      for (const bad of ['calendar', '/relative', 'https://cal.example/#frag', 'https://cal.example/ x', '://nothing']) {
        const r = await token(svc, { grant_type: 'client_credentials', resource: bad });
        expect(r.status, bad).toBe(400);
        expect(r.json.error, bad).toBe('invalid_target');
      }
    });

    it('RFC 8707 §2: an unknown resource is invalid_target; so is one off the client\'s resources allow-list', async () => {
      expect((await token(svc, { grant_type: 'client_credentials', resource: 'https://unknown.example/' })).json.error).toBe('invalid_target');
      expect((await token(limited, { grant_type: 'client_credentials', resource: CONTACTS })).json.error).toBe('invalid_target');
      expect((await token(limited, { grant_type: 'client_credentials', resource: CAL })).status).toBe(200);
    });

    it('RFC 8707 §2: a scope no requested resource understands is invalid_target (an invalid combination)', async () => {
      const r = await token(svc, { grant_type: 'client_credentials', resource: CAL, scope: 'contacts' });
      expect(r.json.error).toBe('invalid_target');
    });

    it('RFC 9068 §2.2.3: a token names a resource server only with one of its scopes; none granted is invalid_target (a self-registered client gets no aud-only token for an API)', async () => {
      // svc holds no `secret`, and asks for SECRET without a scope: formerly a token with aud SECRET and no scope.
      const none = await token(svc, { grant_type: 'client_credentials', resource: SECRET });
      expect(none.status, none.text).toBe(400);
      expect(none.json.error).toBe('invalid_target');
      // A client registered dynamically (open registration, any resource) is held to the same rule.
      const reg = await postForm(s.url('/oauth/register'), JSON.stringify({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' }), { 'content-type': 'application/json' });
      expect(reg.status, reg.text).toBe(201);
      const anon = { clientId: reg.json.client_id as string, clientSecret: reg.json.client_secret as string };
      const r = await token(anon, { grant_type: 'client_credentials', resource: CAL });
      expect(r.json).toMatchObject({ error: 'invalid_target' });
      // Named with one meaningful resource, an idle one is left out of aud rather than named without scope.
      const mixed = await token(svc, form([['grant_type', 'client_credentials'], ['resource', CAL], ['resource', SECRET]]));
      expect(mixed.status, mixed.text).toBe(200);
      expect(decodeJwt(mixed.json.access_token)).toMatchObject({ aud: CAL, scope: 'calendar' });
    });

    it('RFC 8707 §2: a resource server registered without scopes is audience-only: any allowed client may name it', async () => {
      const AUD = 'https://audience-only.example/';
      await registerResourceServer(s.ctx, { identifier: AUD });
      const r = await token(svc, { grant_type: 'client_credentials', resource: AUD });
      expect(r.status, r.text).toBe(200);
      expect(decodeJwt(r.json.access_token).aud).toBe(AUD);
    });

    it('RFC 8707 §2, §2.2: resource may repeat; the token is for all of them and carries their scopes', async () => {
      const r = await token(svc, form([['grant_type', 'client_credentials'], ['resource', CAL], ['resource', CONTACTS]]));
      expect(r.status).toBe(200);
      expect(r.json.scope).toBe('calendar contacts');
      expect(decodeJwt(r.json.access_token).aud).toEqual([CAL, CONTACTS]);
      // Other parameters still may not repeat (RFC 6749 §3.1).
      expect((await token(svc, form([['grant_type', 'client_credentials'], ['scope', 'calendar'], ['scope', 'contacts']]))).json.error).toBe('invalid_request');
    });

    it('RFC 8707 §2.2: one resource gets a token down-scoped to it; the response says the effective scope', async () => {
      const r = await token(svc, { grant_type: 'client_credentials', resource: CAL });
      expect(r.json.scope).toBe('calendar');
      expect(decodeJwt(r.json.access_token)).toMatchObject({ aud: CAL, scope: 'calendar' });
    });

    it('RFC 9068 §3: scopes that point at different resource servers without a resource are invalid_scope', async () => {
      expect((await token(svc, { grant_type: 'client_credentials', scope: 'calendar contacts' })).json.error).toBe('invalid_scope');
      expect((await token(svc, { grant_type: 'client_credentials', scope: 'shared' })).json.error).toBe('invalid_scope');
      // Naming the resource settles it.
      expect((await token(svc, { grant_type: 'client_credentials', scope: 'shared', resource: 'https://shared-a.example/' })).status).toBe(200);
    });

    it('RFC 7662 §2.2: introspection reports the audience', async () => {
      const r = await token(svc, { grant_type: 'client_credentials', resource: CONTACTS });
      const i = await postForm(s.url('/oauth/introspect'), { token: r.json.access_token }, { authorization: basic(svc.clientId, svc.clientSecret!) });
      expect(i.json).toMatchObject({ active: true, aud: CONTACTS, scope: 'contacts' });
    });
  });

  describe('authorization requests and the code and refresh grants', () => {
    const authorizeUrl = (resources: string[], scope = 'openid offline_access calendar contacts') =>
      `${s.issuer}/oauth/authorize?` +
      new URLSearchParams([
        ['client_id', rp.clientId], ['redirect_uri', CB], ['response_type', 'code'], ['scope', scope], ['state', 'xyz'],
        ...resources.map((r) => ['resource', r] as [string, string]),
      ]);

    async function code(resources: string[], scope?: string): Promise<string> {
      const cb = await new Agent(s.issuer).authorize(authorizeUrl(resources, scope), 'carol', 'carol-password');
      const c = cb.searchParams.get('code');
      if (!c) throw new Error('no code: ' + cb.href);
      return c;
    }

    it('RFC 8707 §2.1: a bad, unknown or disallowed resource is redirected back as invalid_target, with state and iss', async () => {
      for (const bad of ['not a uri', 'https://cal.example/#x', 'https://unknown.example/', SECRET]) {
        const r = await new Agent(s.issuer).request(authorizeUrl([bad]));
        expect(r.status, bad).toBe(303);
        const loc = new URL(r.location!);
        expect(loc.origin + loc.pathname).toBe(CB);
        expect(loc.searchParams.get('error'), bad).toBe('invalid_target');
        expect(loc.searchParams.get('state')).toBe('xyz');
        expect(loc.searchParams.get('iss')).toBe(s.issuer);
      }
    });

    it('RFC 9068 §2.2.3: a resource none of whose scopes is asked for is redirected back as invalid_target (not refused only at the token endpoint, after the user approved)', async () => {
      const r = await new Agent(s.issuer).request(authorizeUrl([CAL], 'openid contacts'));
      expect(r.status).toBe(303);
      const loc = new URL(r.location!);
      expect(loc.origin + loc.pathname).toBe(CB);
      expect(loc.searchParams.get('error')).toBe('invalid_target');
      expect(loc.searchParams.get('state')).toBe('xyz');
      // One of its scopes, or another named resource that has one, is enough (the token names only those).
      expect(new URL((await new Agent(s.issuer).request(authorizeUrl([CAL, CONTACTS], 'openid contacts'))).location!, s.issuer).searchParams.get('error')).toBeNull();
    });

    it('RFC 8707 §2.2: with no resource at the token endpoint, the access token is for every granted resource', async () => {
      const r = await token(rp, { grant_type: 'authorization_code', code: await code([CAL, CONTACTS]), redirect_uri: CB });
      expect(r.status).toBe(200);
      expect(decodeJwt(r.json.access_token)).toMatchObject({ aud: [CAL, CONTACTS, s.issuer], scope: 'openid offline_access calendar contacts' });
    });

    it('RFC 8707 §2.2: the code grant may name a subset of the granted resources, and nothing else', async () => {
      const sub = await token(rp, { grant_type: 'authorization_code', code: await code([CAL, CONTACTS], 'calendar contacts offline_access'), redirect_uri: CB, resource: CAL });
      expect(sub.status).toBe(200);
      expect(sub.json.scope).toBe('calendar');
      expect(decodeJwt(sub.json.access_token).aud).toBe(CAL);
      const outside = await token(rp, { grant_type: 'authorization_code', code: await code([CAL]), redirect_uri: CB, resource: CONTACTS });
      expect(outside.status).toBe(400);
      expect(outside.json.error).toBe('invalid_target');
    });

    it('RFC 8707 §2.2: a refresh request names one of the granted resources and gets a token for just that one; the refresh token keeps the whole grant', async () => {
      const first = await token(rp, { grant_type: 'authorization_code', code: await code([CAL, CONTACTS], 'calendar contacts'), redirect_uri: CB, resource: CAL });
      expect(first.json.refresh_token).toBeTruthy();
      const contacts = await token(rp, { grant_type: 'refresh_token', refresh_token: first.json.refresh_token, resource: CONTACTS });
      expect(contacts.status).toBe(200);
      expect(contacts.json.scope).toBe('contacts');
      expect(decodeJwt(contacts.json.access_token)).toMatchObject({ aud: CONTACTS, scope: 'contacts' });
      // The rotated refresh token is still bound to both resources.
      const both = await token(rp, { grant_type: 'refresh_token', refresh_token: contacts.json.refresh_token });
      expect(decodeJwt(both.json.access_token).aud).toEqual([CAL, CONTACTS]);
      const outside = await token(rp, { grant_type: 'refresh_token', refresh_token: both.json.refresh_token, resource: SECRET });
      expect(outside.json.error).toBe('invalid_target');
      // A refused target does not spend the refresh token.
      expect((await token(rp, { grant_type: 'refresh_token', refresh_token: both.json.refresh_token, resource: CAL })).status).toBe(200);
    });

    it('RFC 8707 §2.2: a grant made without resources cannot be widened to one at the token endpoint', async () => {
      const r = await token(rp, { grant_type: 'authorization_code', code: await code([], 'openid calendar'), redirect_uri: CB, resource: CAL });
      expect(r.json.error).toBe('invalid_target');
    });
  });
});
