import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { EngineContext } from '../../src/engine/context.js';
import { registerClient } from '../../src/services/clients.js';
import { createTenant } from '../../src/services/tenants.js';
import { mintIdToken } from '../../src/tokens/id-token.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * RFC 8725 §3.8-§3.9 (issuer and audience): every JWT one tenant issued or was sent is nothing at another tenant of
 * the same server, over HTTP: JWT access tokens at introspection and UserInfo, ID tokens as id_token_hint, client
 * assertions made for the other tenant's issuer.
 */
describe('tenants: JWTs do not cross from one tenant to another', () => {
  let s: TestServer;
  let b: EngineContext;
  let bBase: string;
  let jwtApp: { clientId: string; clientSecret?: string };
  let rsAtB: { clientId: string; clientSecret?: string };
  let key: { privateKey: CryptoKey; jwk: JWK };

  beforeAll(async () => {
    s = await startTestServer();
    await createTenant(s.lk, { id: 'other' });
    b = await s.lk.context('other');
    bBase = s.url('/t/other');
    jwtApp = await s.client({ grant_types: ['client_credentials'], scope: 'api:read', access_token_format: 'jwt', redirect_uris: ['https://rp.example/cb'], post_logout_redirect_uris: ['https://rp.example/bye'] });
    const r = await registerClient(b, { grant_types: ['client_credentials'] });
    rsAtB = { clientId: r.json.client_id as string, clientSecret: r.json.client_secret as string };
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    key = { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' } };
  });
  afterAll(() => s.close());

  it('RFC 9068 §4, RFC 7662 §2.2: tenant A\'s JWT access token is inactive at tenant B\'s introspection and refused at its UserInfo', async () => {
    const t = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', scope: 'api:read' }, { authorization: basic(jwtApp.clientId, jwtApp.clientSecret!) });
    const at = t.json.access_token as string;
    expect(at.split('.')).toHaveLength(3);
    const atA = await postForm(s.url('/oauth/introspect'), { token: at }, { authorization: basic(jwtApp.clientId, jwtApp.clientSecret!) });
    expect(atA.json.active).toBe(true);
    const atB = await postForm(`${bBase}/oauth/introspect`, { token: at }, { authorization: basic(rsAtB.clientId, rsAtB.clientSecret!) });
    expect(atB.status).toBe(200);
    expect(atB.json).toEqual({ active: false });
    const ui = await fetch(`${bBase}/oauth/userinfo`, { headers: { authorization: `Bearer ${at}` } });
    expect(ui.status).toBe(401);
  });

  it('RP-Initiated Logout §2: tenant A\'s ID token is no id_token_hint at tenant B (400), while A takes it', async () => {
    const client = (await s.ctx.store.findClient(s.ctx.tenant.id, jwtApp.clientId))!;
    const idt = await mintIdToken(s.ctx, { client, subject: 'u1' });
    const q = new URLSearchParams({ id_token_hint: idt, post_logout_redirect_uri: 'https://rp.example/bye' });
    const atB = await fetch(`${bBase}/oauth/logout?${q}`, { redirect: 'manual' });
    expect(atB.status).toBe(400);
    const atA = await fetch(s.url(`/oauth/logout?${q}`), { redirect: 'manual' });
    expect(atA.status).not.toBe(400);
    expect(atA.status).toBeLessThan(500);
  });

  it('draft-ietf-oauth-rfc7523bis: an assertion made for tenant A\'s issuer does not authenticate the same keys\' client at tenant B', async () => {
    const r = await registerClient(b, { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.jwk] } });
    const id = r.json.client_id as string;
    const now = Math.floor(Date.now() / 1000);
    const assertion = (aud: string) => new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(id).setSubject(id).setAudience(aud).setIssuedAt(now).setExpirationTime(now + 60).sign(key.privateKey);
    const wrong = await postForm(`${bBase}/oauth/token`, { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion(s.issuer) });
    expect([wrong.status, wrong.json.error]).toEqual([401, 'invalid_client']);
    const right = await postForm(`${bBase}/oauth/token`, { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion(b.tenant.issuer) });
    expect(right.status).toBe(200);
  });
});
