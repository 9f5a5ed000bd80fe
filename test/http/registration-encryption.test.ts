import * as client from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENCRYPTION_METADATA_FIELDS } from '../../src/engine/client-metadata.js';
import { createAdminToken } from '../../src/services/management-tokens.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * OIDC Registration §2: request_object_encryption_alg/enc ask the server to decrypt request objects, which needs
 * server encryption keys Latchkey does not have: such metadata is refused with invalid_client_metadata naming the field
 * (RFC 7591 §3.2.2), at every way in: dynamic registration, its RFC 7592 update, and the admin API. Encrypted
 * responses (*_encrypted_response_alg/enc) are supported, with their own rules checked here at the HTTP edge.
 */
describe('registration and encryption metadata', () => {
  let s: TestServer;
  let admin: string;
  let encKey: Record<string, string>;
  const values: Record<string, string> = {};
  for (const f of ENCRYPTION_METADATA_FIELDS) values[f] = f.endsWith('_enc') ? 'A128CBC-HS256' : 'RSA-OAEP-256';

  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
    admin = (await createAdminToken(s.lk, { name: 'encryption test' })).token;
    encKey = { ...(await exportJWK((await generateKeyPair('RSA-OAEP-256', { extractable: true })).publicKey)), use: 'enc', kid: 'enc-1' } as unknown as Record<string, string>;
  });
  afterAll(() => s?.close());

  const base = { redirect_uris: ['https://rp.example/cb'], token_endpoint_auth_method: 'client_secret_basic' };
  const send = async (url: string, method: string, body: unknown, auth?: string) => {
    const res = await fetch(url, {
      method, headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) }, body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, string> };
  };

  it('the refused list is request object encryption alone', () => {
    expect([...ENCRYPTION_METADATA_FIELDS].sort()).toEqual(['request_object_encryption_alg', 'request_object_encryption_enc']);
  });

  it('OIDC Discovery §3: discovery lists response encryption, and no request object encryption', async () => {
    const doc = (await (await fetch(s.url('/.well-known/openid-configuration'))).json()) as Record<string, unknown>;
    expect(Object.keys(doc).filter((k) => /encrypt/i.test(k)).sort()).toEqual([
      'authorization_encryption_alg_values_supported', 'authorization_encryption_enc_values_supported',
      'id_token_encryption_alg_values_supported', 'id_token_encryption_enc_values_supported',
      'introspection_encryption_alg_values_supported', 'introspection_encryption_enc_values_supported',
      'userinfo_encryption_alg_values_supported', 'userinfo_encryption_enc_values_supported',
    ]);
    expect(doc.id_token_encryption_alg_values_supported).toEqual(['RSA-OAEP', 'RSA-OAEP-256', 'ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A256KW']);
    expect(doc.id_token_encryption_enc_values_supported).toEqual(['A128CBC-HS256', 'A256CBC-HS512', 'A128GCM', 'A256GCM']);
    const as = (await (await fetch(s.url('/.well-known/oauth-authorization-server'))).json()) as Record<string, unknown>;
    expect(as.introspection_encryption_alg_values_supported).toEqual(doc.introspection_encryption_alg_values_supported);
  });

  for (const field of ENCRYPTION_METADATA_FIELDS) {
    it(`RFC 7591 §3.2.2: dynamic registration with ${field} is invalid_client_metadata naming the field`, async () => {
      const r = await send(s.url('/oauth/register'), 'POST', { ...base, [field]: values[field] });
      expect(r.status).toBe(400);
      expect(r.json.error).toBe('invalid_client_metadata');
      expect(r.json.error_description).toContain(field);
      expect(r.json.error_description).toContain('encryption is not supported');
    });
  }

  it('OIDC Registration §2: openid-client registers for encrypted ID tokens; the enc defaults to A128CBC-HS256 and is echoed', async () => {
    const registered = await client.dynamicClientRegistration(
      new URL(s.issuer), { ...base, jwks: { keys: [encKey] }, id_token_encrypted_response_alg: 'RSA-OAEP-256' }, undefined, { execute: [client.allowInsecureRequests] },
    );
    const m = registered.clientMetadata();
    expect(m.id_token_encrypted_response_alg).toBe('RSA-OAEP-256');
    expect(m.id_token_encrypted_response_enc).toBe('A128CBC-HS256');
  });

  it('OIDC Registration §2: an _enc without its _alg, RSA1_5, or no key to encrypt to is invalid_client_metadata', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ jwks: { keys: [encKey] }, userinfo_encrypted_response_enc: 'A256GCM' }, /userinfo_encrypted_response_enc needs userinfo_encrypted_response_alg/],
      [{ jwks: { keys: [encKey] }, id_token_encrypted_response_alg: 'RSA1_5' }, /id_token_encrypted_response_alg/],
      [{ authorization_encrypted_response_alg: 'RSA-OAEP' }, /jwks or jwks_uri/],
      [{ jwks: { keys: [{ ...encKey, use: 'sig' }] }, introspection_encrypted_response_alg: 'RSA-OAEP' }, /no key to encrypt to/],
      [{ jwks: { keys: [encKey] }, id_token_encrypted_response_alg: 'ECDH-ES' }, /no key to encrypt to/],
    ];
    for (const [meta, why] of cases) {
      const r = await send(s.url('/oauth/register'), 'POST', { ...base, ...meta });
      expect(r.status, JSON.stringify(meta)).toBe(400);
      expect(r.json.error).toBe('invalid_client_metadata');
      expect(r.json.error_description).toMatch(why);
    }
  });

  it('RFC 7592 §2.2: an update adding request_object_encryption_alg is refused and leaves the client as it was; one adding userinfo encryption is kept', async () => {
    const reg = await send(s.url('/oauth/register'), 'POST', base);
    expect(reg.status).toBe(201);
    const put = await send(reg.json.registration_client_uri!, 'PUT', { ...base, client_id: reg.json.client_id, request_object_encryption_alg: 'RSA-OAEP' }, reg.json.registration_access_token);
    expect(put.status).toBe(400);
    expect(put.json).toMatchObject({ error: 'invalid_client_metadata' });
    expect(put.json.error_description).toContain('request_object_encryption_alg: encryption is not supported');
    const ok = await send(reg.json.registration_client_uri!, 'PUT', { ...base, client_id: reg.json.client_id, jwks: { keys: [encKey] }, userinfo_encrypted_response_alg: 'RSA-OAEP-256', userinfo_encrypted_response_enc: 'A256GCM' }, reg.json.registration_access_token);
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ userinfo_encrypted_response_alg: 'RSA-OAEP-256', userinfo_encrypted_response_enc: 'A256GCM' });
  });

  it('a null encryption field asks for nothing and is accepted', async () => {
    const r = await send(s.url('/oauth/register'), 'POST', { ...base, id_token_encrypted_response_alg: null, request_object_encryption_alg: null });
    expect(r.status).toBe(201);
    expect(r.json.id_token_encrypted_response_alg).toBeUndefined();
  });

  it('RFC 7591 §3.2.2: the admin API refuses request object encryption on create and replace, naming the field', async () => {
    const created = await send(s.url('/admin/tenants/default/clients'), 'POST', { ...base, request_object_encryption_enc: 'A256GCM' }, admin);
    expect(created.status).toBe(400);
    expect(JSON.stringify(created.json)).toContain('request_object_encryption_enc: encryption is not supported');
    const ok = await send(s.url('/admin/tenants/default/clients'), 'POST', base, admin);
    expect(ok.status).toBe(201);
    const id = (ok.json.client_id ?? (ok.json as unknown as { client: { client_id: string } }).client?.client_id)!;
    const replaced = await send(s.url(`/admin/tenants/default/clients/${encodeURIComponent(id)}`), 'PUT', { ...base, request_object_encryption_alg: 'ECDH-ES' }, admin);
    expect(replaced.status).toBe(400);
    expect(JSON.stringify(replaced.json)).toContain('request_object_encryption_alg: encryption is not supported');
  });
});
