import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, postForm, startTestInstances, type TestInstance } from '../helpers/server.js';

/**
 * RFC 7592 §2.2, §2.3 across instances (two Latchkey processes on one database, as `serve --workers 2` or two
 * instances behind a load balancer): each keeps client records in a 5 s cache (docs/operations.md), yet a rotated
 * registration access token or a deleted client is not honoured from a stale copy.
 */
describe('RFC 7592: client changes take effect at once, also at another instance', () => {
  let cluster: Awaited<ReturnType<typeof startTestInstances>>;
  let A: TestInstance, B: TestInstance;
  let rs: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    cluster = await startTestInstances(2, { registration: 'open' });
    [A, B] = cluster.instances as [TestInstance, TestInstance];
    rs = await A.client({ grant_types: ['client_credentials'] });
  });
  afterAll(() => cluster?.close());

  const register = async (at: TestInstance) => {
    const r = await fetch(at.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' }) });
    expect(r.status).toBe(201);
    return (await r.json()) as Record<string, any>;
  };
  const manage = (at: TestInstance, reg: Record<string, any>, method: string, token: string, body?: unknown) =>
    fetch(at.url(new URL(reg.registration_client_uri).pathname), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  const tokenAt = (at: TestInstance, reg: Record<string, any>) => postForm(at.url('/oauth/token'), { grant_type: 'client_credentials' }, { authorization: basic(reg.client_id, reg.client_secret) });
  const introspect = (at: TestInstance, token: string) => postForm(at.url('/oauth/introspect'), { token }, { authorization: basic(rs.clientId, rs.clientSecret!) });

  it('RFC 7592 §2.2: a registration access token rotated at one instance is refused at once at another that has the client cached', async () => {
    const reg = await register(A);
    expect((await tokenAt(B, reg)).status).toBe(200); // B now holds the client in its cache
    const { registration_access_token: old } = reg;
    const { client_id, client_secret } = reg;
    const put = await manage(A, reg, 'PUT', old, { client_id, client_secret, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', client_name: 'renamed' });
    expect(put.status).toBe(200);
    const rotated = ((await put.json()) as Record<string, any>).registration_access_token as string;
    expect(rotated).not.toBe(old);
    expect((await manage(B, reg, 'GET', old)).status).toBe(401);
    const read = await manage(B, reg, 'GET', rotated);
    expect(read.status).toBe(200);
    expect(((await read.json()) as Record<string, any>).client_name).toBe('renamed');
  });

  it('RFC 7592 §2.3: a token issued by an instance that still had the deleted client cached is not active', async () => {
    const reg = await register(A);
    expect((await tokenAt(B, reg)).status).toBe(200); // cached at B
    expect((await manage(A, reg, 'DELETE', reg.registration_access_token)).status).toBe(204);
    // Within its cache period B still authenticates the client (docs/operations.md) ...
    const late = await tokenAt(B, reg);
    expect(late.status).toBe(200);
    // ... but what it issued dies with the client: inactive wherever it is presented.
    expect((await introspect(A, late.json.access_token)).json).toEqual({ active: false });
    // And the deleted client's registration is gone at every instance.
    expect((await manage(B, reg, 'GET', reg.registration_access_token)).status).toBe(401);
  });
});
