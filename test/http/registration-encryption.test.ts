import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENCRYPTION_METADATA_FIELDS } from '../../src/engine/client-metadata.js';
import { createAdminToken } from '../../src/services/management-tokens.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * OIDC Registration §2: *_encrypted_response_alg/enc and request_object_encryption_alg/enc ask the server to encrypt
 * (or decrypt) JWTs. Latchkey does neither, so such metadata is refused with invalid_client_metadata naming the field
 * (RFC 7591 §3.2.2), at every way in: dynamic registration, its RFC 7592 update, and the admin API. Silently dropping
 * it would leave the client expecting encrypted responses it never gets.
 */
describe('registration refuses encryption metadata', () => {
  let s: TestServer;
  let admin: string;
  const values: Record<string, string> = {};
  for (const f of ENCRYPTION_METADATA_FIELDS) values[f] = f.endsWith('_enc') ? 'A128CBC-HS256' : 'RSA-OAEP-256';

  beforeAll(async () => {
    s = await startTestServer({ registration: 'open' });
    admin = (await createAdminToken(s.lk, { name: 'encryption test' })).token;
  });
  afterAll(() => s?.close());

  const base = { redirect_uris: ['https://rp.example/cb'], token_endpoint_auth_method: 'client_secret_basic' };
  const send = async (url: string, method: string, body: unknown, auth?: string) => {
    const res = await fetch(url, {
      method, headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) }, body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, string> };
  };

  it('the list covers every encryption field OIDC Registration, JARM and RFC 9701 define', () => {
    expect([...ENCRYPTION_METADATA_FIELDS].sort()).toEqual([
      'authorization_encrypted_response_alg', 'authorization_encrypted_response_enc',
      'id_token_encrypted_response_alg', 'id_token_encrypted_response_enc',
      'introspection_encrypted_response_alg', 'introspection_encrypted_response_enc',
      'request_object_encryption_alg', 'request_object_encryption_enc',
      'userinfo_encrypted_response_alg', 'userinfo_encrypted_response_enc',
    ]);
  });

  it('OIDC Discovery §3: discovery advertises no encryption algorithms or methods', async () => {
    const doc = (await (await fetch(s.url('/.well-known/openid-configuration'))).json()) as Record<string, unknown>;
    const named = Object.keys(doc).filter((k) => /encrypt/i.test(k));
    expect(named).toEqual([]);
    const as = (await (await fetch(s.url('/.well-known/oauth-authorization-server'))).json()) as Record<string, unknown>;
    expect(Object.keys(as).filter((k) => /encrypt/i.test(k))).toEqual([]);
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

  it('OIDC Registration §2: openid-client registering for encrypted ID tokens is refused with invalid_client_metadata', async () => {
    const config = await client.discovery(new URL(s.issuer), 'ignored', undefined, undefined, { execute: [client.allowInsecureRequests] });
    const err = await client
      .dynamicClientRegistration(new URL(s.issuer), { ...base, id_token_encrypted_response_alg: 'RSA-OAEP-256' }, undefined, { execute: [client.allowInsecureRequests] })
      .then(() => undefined, (e: unknown) => e);
    expect(config.serverMetadata().registration_endpoint).toBe(s.url('/oauth/register'));
    expect(err).toBeInstanceOf(client.ResponseBodyError);
    expect((err as client.ResponseBodyError).error).toBe('invalid_client_metadata');
    expect((err as client.ResponseBodyError).error_description).toContain('id_token_encrypted_response_alg');
  });

  it('RFC 7592 §2.2: an update adding userinfo_encrypted_response_alg is refused and leaves the client as it was', async () => {
    const reg = await send(s.url('/oauth/register'), 'POST', base);
    expect(reg.status).toBe(201);
    const put = await send(reg.json.registration_client_uri!, 'PUT', { ...base, client_id: reg.json.client_id, userinfo_encrypted_response_alg: 'RSA-OAEP' }, reg.json.registration_access_token);
    expect(put.status).toBe(400);
    expect(put.json).toMatchObject({ error: 'invalid_client_metadata' });
    expect(put.json.error_description).toContain('userinfo_encrypted_response_alg: encryption is not supported');
  });

  it('a null encryption field asks for nothing and is accepted', async () => {
    const r = await send(s.url('/oauth/register'), 'POST', { ...base, id_token_encrypted_response_alg: null });
    expect(r.status).toBe(201);
    expect(r.json.id_token_encrypted_response_alg).toBeUndefined();
  });

  it('RFC 7591 §3.2.2: the admin API refuses encryption metadata on create and replace, naming the field', async () => {
    const created = await send(s.url('/admin/tenants/default/clients'), 'POST', { ...base, request_object_encryption_enc: 'A256GCM' }, admin);
    expect(created.status).toBe(400);
    expect(JSON.stringify(created.json)).toContain('request_object_encryption_enc: encryption is not supported');
    const ok = await send(s.url('/admin/tenants/default/clients'), 'POST', base, admin);
    expect(ok.status).toBe(201);
    const id = (ok.json.client_id ?? (ok.json as unknown as { client: { client_id: string } }).client?.client_id)!;
    const replaced = await send(s.url(`/admin/tenants/default/clients/${encodeURIComponent(id)}`), 'PUT', { ...base, authorization_encrypted_response_alg: 'ECDH-ES' }, admin);
    expect(replaced.status).toBe(400);
    expect(JSON.stringify(replaced.json)).toContain('authorization_encrypted_response_alg: encryption is not supported');
  });
});
