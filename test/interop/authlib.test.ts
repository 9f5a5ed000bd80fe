import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** Debian's python, where python3-authlib is installed (a `python3` earlier on PATH may be another one). */
const PYTHON = '/usr/bin/python3';
const CB = 'https://rp.example/cb';

/**
 * Interoperability beyond Node: Python's authlib drives a full code flow with PKCE, refresh and UserInfo, then
 * client_credentials with introspection and revocation, against a real Latchkey. scripts/test.sh installs authlib
 * (scripts/ensure-python-authlib.sh).
 */
describe('interoperability: Python authlib as the client', () => {
  let s: TestServer;
  let result: any;
  let code: { clientId: string; clientSecret?: string };
  let cc: { clientId: string; clientSecret?: string };
  let jwtClient: { clientId: string; clientSecret?: string };
  let sub: string;

  beforeAll(async () => {
    const probe = spawnSync(PYTHON, ['-c', 'import authlib, requests'], { encoding: 'utf8' });
    if (probe.status !== 0) throw new Error(`authlib is missing: run bash scripts/ensure-python-authlib.sh (${probe.stderr || probe.error})`);
    s = await startTestServer();
    code = await s.client({ client_name: 'authlib RP', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'] });
    cc = await s.client({ grant_types: ['client_credentials'], scope: 'items:read items:write' });
    jwtClient = await s.client({ grant_types: ['client_credentials'], scope: 'items:read', access_token_format: 'jwt' });
    const rs = await s.client({ client_name: 'resource server', grant_types: ['client_credentials'], scope: 'introspect' });
    sub = await s.user('ada', 'ada-password-1', { name: 'Ada Lovelace', email: 'ada@example.com', email_verified: true });
    const input = {
      issuer: s.issuer,
      username: 'ada',
      password: 'ada-password-1',
      code_client: { client_id: code.clientId, client_secret: code.clientSecret, redirect_uri: CB },
      cc_client: { client_id: cc.clientId, client_secret: cc.clientSecret },
      jwt_client: { client_id: jwtClient.clientId, client_secret: jwtClient.clientSecret },
      rs_client: { client_id: rs.clientId, client_secret: rs.clientSecret },
    };
    // Asynchronous: the server runs in this process and must keep answering while the script runs.
    const child = spawn(PYTHON, [resolve('test/interop/authlib_client.py'), JSON.stringify(input)], { env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const status = await new Promise<number | null>((r) => child.on('close', r));
    if (status !== 0) throw new Error(`authlib_client.py failed (${status}):\n${stderr}\n${stdout}`);
    result = JSON.parse(stdout);
  });
  afterAll(() => s?.close());

  it('OIDC Discovery: authlib reads the metadata (issuer, S256 PKCE)', () => {
    expect(result.discovery).toEqual({ issuer: s.issuer, pkce: ['S256'] });
  });

  it('RFC 6749 §4.1 + RFC 7636: code flow with PKCE through the login and consent forms; RFC 9207 iss on the callback', () => {
    const f = result.code_flow;
    expect(f.steps).toEqual(['login', 'consent']);
    expect(f.callback_iss).toBe(s.issuer);
    expect(f.state_ok).toBe(true);
    expect(f.token_type).toBe('Bearer');
    expect(f.scope.split(' ').sort()).toEqual(['email', 'offline_access', 'openid', 'profile']);
    expect(f.has_refresh_token).toBe(true);
  });

  it('OIDC Core §3.1.3.7: authlib validates the ID token (signature via JWKS, iss, aud, nonce, at_hash)', () => {
    expect(result.code_flow.id_token).toMatchObject({ sub, aud: code.clientId, header_alg: 'RS256' });
    expect(result.code_flow.id_token.nonce).toBeTruthy();
  });

  it('OIDC Core §5.3: UserInfo answers the bearer token authlib sends, with the scoped claims', () => {
    expect(result.code_flow.userinfo_status).toBe(200);
    expect(result.code_flow.userinfo).toMatchObject({ sub, name: 'Ada Lovelace', email: 'ada@example.com', email_verified: true });
  });

  it('RFC 6749 §6: authlib refreshes; the refresh token rotates and the old one is refused (RFC 9700 §4.14.2)', () => {
    expect(result.refresh).toEqual({
      new_access_token: true,
      rotated: true,
      has_id_token: true,
      userinfo_status: 200,
      userinfo_sub: sub,
      replay_status: 400,
      replay_error: 'invalid_grant',
    });
  });

  it('RFC 6749 §4.4 + RFC 7662 + RFC 7009: client_credentials, introspection by another client, revocation', () => {
    const c = result.client_credentials;
    expect(c.token_type).toBe('Bearer');
    expect(c.scope).toBe('items:read');
    expect(c.introspection).toMatchObject({ active: true, client_id: cc.clientId, scope: 'items:read', token_type: 'Bearer', iss: s.issuer });
    expect(c.revocation_status).toBe(200);
    expect(c.introspection_after_revocation).toEqual({ active: false });
  });

  it('RFC 9068: authlib verifies a JWT access token against the JWKS (typ at+jwt)', () => {
    const j = result.jwt_access_token;
    expect(j.typ).toBe('at+jwt');
    expect(j.claims).toMatchObject({ iss: s.issuer, client_id: jwtClient.clientId, sub: jwtClient.clientId, scope: 'items:read' });
    expect(typeof j.claims.jti).toBe('string');
  });
});
