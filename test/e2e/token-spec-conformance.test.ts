import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../helpers/agent.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

/*
 * Findings of the token-side spec review (RFC 8693, RFC 9068, RFC 6749 §6, OIDC Core §2/§3/§5/§11/§12, RFC 6750,
 * RFC 9449 §7), each as the rule it checks, through HTTP.
 */

const CB = 'https://rp.example/cb';
type Creds = { clientId: string; clientSecret?: string };

describe('token-side spec conformance', () => {
  let s: TestServer;
  let rp: Creds;
  let agent: Agent;

  beforeAll(async () => {
    s = await startTestServer();
    rp = await s.client({
      redirect_uris: [CB],
      grant_types: ['authorization_code', 'implicit', 'refresh_token'],
      response_types: ['code', 'id_token', 'id_token token', 'code id_token', 'code token'],
      skip_consent: true,
      scope: 'openid profile offline_access',
    });
    await s.user('alice', 'alice-password', { name: 'Alice' });
    agent = new Agent(s.issuer);
  });
  afterAll(() => s.close());

  const authUrl = (c: Creds, p: Record<string, string>) =>
    `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: c.clientId, redirect_uri: CB, state: 'st', ...p });
  const token = (c: Creds, body: Record<string, string>) => postForm(s.url('/oauth/token'), body, { authorization: basic(c.clientId, c.clientSecret!) });
  const fragment = (u: URL) => new URLSearchParams(u.hash.slice(1));

  describe('OIDC Core §11: offline_access', () => {
    it('OIDC Core §11: offline_access is ignored for a response type that returns no authorization code', async () => {
      const u = await agent.authorize(authUrl(rp, { response_type: 'id_token token', scope: 'openid profile offline_access', nonce: 'n1' }), 'alice', 'alice-password');
      const f = fragment(u);
      expect(f.get('access_token'), u.toString()).toBeTruthy();
      expect(f.get('scope')!.split(' ').sort()).toEqual(['openid', 'profile']);
      const intro = await postForm(s.url('/oauth/introspect'), { token: f.get('access_token')! }, { authorization: basic(rp.clientId, rp.clientSecret!) });
      expect(intro.json.active).toBe(true);
      expect(intro.json.scope.split(' ')).not.toContain('offline_access');
    });

    it('OIDC Core §11: with a response type that returns a code, offline_access is kept and yields a refresh token', async () => {
      const u = await agent.authorize(authUrl(rp, { response_type: 'code id_token', scope: 'openid offline_access', nonce: 'n2' }), 'alice', 'alice-password');
      const f = fragment(u);
      const r = await token(rp, { grant_type: 'authorization_code', code: f.get('code')!, redirect_uri: CB });
      expect(r.status, r.text).toBe(200);
      expect(r.json.scope.split(' ')).toContain('offline_access');
      expect(r.json.refresh_token).toBeTruthy();
      expect(decodeJwt(f.get('id_token')!).c_hash).toBeTypeOf('string');
    });
  });
});
