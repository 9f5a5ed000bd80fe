import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORE_API } from '../../src/core-api/endpoints.js';
import { createServiceToken, revokeServiceToken } from '../../src/services/service-tokens.js';
import { createTenant } from '../../src/services/tenants.js';
import { core } from '../helpers/core-api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** The edge of the Core API: who may call it (service tokens) and what a call must look like (JSON, fields). */
describe('Core API edge', () => {
  let s: TestServer;
  let tokenA: string;
  let tokenB: string;
  let tokenAll: string;

  beforeAll(async () => {
    s = await startTestServer({ bodyLimit: 4096 });
    await createTenant(s.lk, { id: 'alpha' });
    await createTenant(s.lk, { id: 'beta' });
    tokenA = (await createServiceToken(s.lk, { serviceId: 'alpha' })).token;
    tokenB = (await createServiceToken(s.lk, { serviceId: 'beta' })).token;
    tokenAll = (await createServiceToken(s.lk, { name: 'operator' })).token;
  });
  afterAll(() => s.close());

  const conf = (service: string, token: string | undefined) => core(s, service, 'service/configuration', {}, token);

  describe('service access tokens', () => {
    it('a token for service A calls A, not B (401 SERVICE_UNAUTHORIZED)', async () => {
      expect((await conf('alpha', tokenA)).json.action).toBe('OK');
      const r = await conf('beta', tokenA);
      expect(r.status).toBe(401);
      expect(r.json).toEqual({ action: 'SERVICE_UNAUTHORIZED', resultCode: 'LK11006', resultMessage: expect.any(String), responseContent: '' });
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="latchkey-core-api", error="invalid_token"');
      expect((await conf('beta', tokenB)).json.action).toBe('OK');
    });

    it.each(CORE_API.map((e) => [e.path]))('%s: a token for service A is refused at service B, before the body is read', async (path) => {
      const r = await core(s, 'beta', path, {}, tokenA);
      expect(r.status).toBe(401);
      expect(r.json).toMatchObject({ action: 'SERVICE_UNAUTHORIZED', resultCode: 'LK11006' });
    });

    it('an all-services token calls every service, the default one included', async () => {
      for (const id of ['alpha', 'beta', 'default']) expect((await conf(id, tokenAll)).json.action).toBe('OK');
    });

    it('no token is 401 with a bare Bearer challenge (RFC 6750 §3.1)', async () => {
      const r = await conf('alpha', undefined);
      expect(r.status).toBe(401);
      expect(r.json.resultCode).toBe('LK11004');
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="latchkey-core-api"');
      const basicAuth = await core(s, 'alpha', 'service/configuration', {}, undefined, { authorization: 'Basic Zm9vOmJhcg==' });
      expect(basicAuth.json.resultCode).toBe('LK11004');
    });

    it('an unknown or malformed token is 401; a revoked one too', async () => {
      expect((await conf('alpha', 'lks_' + 'x'.repeat(43))).json.resultCode).toBe('LK11005');
      expect((await conf('alpha', 'garbage')).json.resultCode).toBe('LK11005');
      const { record, token } = await createServiceToken(s.lk, { serviceId: 'alpha' });
      expect((await conf('alpha', token)).status).toBe(200);
      await revokeServiceToken(s.lk, record.id);
      const r = await conf('alpha', token);
      expect(r.status).toBe(401);
      expect(r.json.resultCode).toBe('LK11005');
    });

    it('service tokens are stored only as hashes', async () => {
      const rows = await s.lk.store.listServiceTokens();
      expect(JSON.stringify(rows)).not.toContain(tokenA.slice(4));
    });

    it('an unknown service is 404 SERVICE_NOT_FOUND for an all-services token; a scoped token learns nothing (401)', async () => {
      const r = await conf('gamma', tokenAll);
      expect(r.status).toBe(404);
      expect(r.json).toMatchObject({ action: 'SERVICE_NOT_FOUND', resultCode: 'LK11007' });
      expect((await conf('gamma', tokenA)).status).toBe(401);
      expect((await conf('Not_A_Valid_Id', tokenAll)).status).toBe(404);
    });
  });

  describe('request shape (zod at the edge)', () => {
    const call = (path: string, body: unknown, headers: Record<string, string> = {}) => core(s, 'alpha', path, body, tokenAll, headers);
    const message = async (path: string, body: unknown) => {
      const r = await call(path, body);
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({ action: 'CALLER_ERROR', responseContent: '' });
      return r.json.resultMessage as string;
    };

    it('bad JSON is 400 LK11001', async () => {
      const r = await call('auth/token', '{"parameters": ');
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({ action: 'CALLER_ERROR', resultCode: 'LK11001' });
      expect(r.json.resultMessage).toMatch(/not valid JSON/);
    });

    it('a body that is not an object is 400', async () => {
      expect(await message('auth/token', [1, 2])).toMatch(/must be a JSON object/);
      expect(await message('auth/token', 'null')).toMatch(/must be a JSON object/);
    });

    it('a missing field is named', async () => {
      expect(await message('auth/token', {})).toMatch(/\(parameters: required\)$/);
      expect(await message('auth/authorization', '')).toMatch(/\(parameters: required\)$/); // an empty body is {}
      expect(await message('auth/authorization/issue', { ticket: 't', authTime: 1 })).toMatch(/\(subject: required\)$/);
      expect(await message('auth/introspection', { token: 't' })).toMatch(/\(scopes: required\)$/);
      expect(await message('auth/userinfo/issue', { token: 't' })).toMatch(/\(claims: required\)$/);
      expect(await message('device/verification', {})).toMatch(/\(userCode: required\)$/);
      expect(await message('device/complete', { userCode: 'BCDF-GHJK' })).toMatch(/\(result: /);
      expect(await message('device/complete', { userCode: 'BCDF-GHJK', result: 'AUTHORIZED' })).toMatch(/\(subject: required with AUTHORIZED\)$/);
      expect(await message('pushed_auth_req', {})).toMatch(/\(parameters: required\)$/);
      expect(await message('client/registration', {})).toMatch(/\(body: required\)$/);
      expect(await message('client/registration/get', { authorization: 'Bearer x' })).toMatch(/\(clientId: required\)$/);
      expect(await message('client/registration/update', { clientId: 'c' })).toMatch(/\(body: required\)$/);
    });

    it('a field of the wrong type is named with what was expected', async () => {
      expect(await message('auth/authorization', { parameters: 5 })).toMatch(/\(parameters: expected string, received number\)$/);
      expect(await message('auth/authorization/issue', { ticket: 't', subject: 's', authTime: '2024-01-01' })).toMatch(/authTime: expected number/);
      expect(await message('auth/introspection', { token: 't', scopes: ['a', 7] })).toMatch(/\(scopes\.1: expected string, received number\)$/);
      expect(await message('auth/userinfo/issue', { token: 't', claims: ['email'] })).toMatch(/claims: expected record/);
      expect(await message('auth/authorization/fail', { ticket: 't', reason: 'BORED' })).toMatch(/reason: .*ACCESS_DENIED/);
    });

    it('an unknown field is named (a typo is not silently ignored)', async () => {
      expect(await message('auth/authorization/issue', { ticket: 't', subjct: 's', subject: 's', authTime: 1 })).toMatch(/unknown field "subjct"/);
    });

    it('inconsistent fields are named: clientSecret without clientId, dpop without htm/htu', async () => {
      expect(await message('auth/token', { parameters: '', clientSecret: 'x' })).toMatch(/clientId: required with clientSecret/);
      expect(await message('auth/introspection', { token: 't', scopes: [], dpop: 'a.b.c' })).toMatch(/htm: required with dpop/);
      expect(await message('pushed_auth_req', { parameters: '', dpop: 'a.b.c', htm: 'POST' })).toMatch(/htu: required with dpop/);
      expect(await message('device/authorization', { parameters: '', clientSecret: 'x' })).toMatch(/clientId: required with clientSecret/);
      expect(await message('auth/userinfo', { token: 't', scheme: 'Basic' })).toMatch(/scheme: /);
    });

    it('a body that is not JSON is 415; an unknown endpoint 404; a body too large 413', async () => {
      const r = await call('auth/token', 'parameters=x', { 'content-type': 'application/x-www-form-urlencoded' });
      expect(r.status).toBe(415);
      expect(r.json).toMatchObject({ action: 'CALLER_ERROR', resultCode: 'LK11003' });
      const nf = await call('auth/nothing', {});
      expect(nf.status).toBe(404);
      expect(nf.json).toMatchObject({ action: 'CALLER_ERROR', resultCode: 'LK11008' });
      const big = await call('auth/authorization', { parameters: 'x'.repeat(5000) });
      expect(big.status).toBe(413);
      expect(big.json).toMatchObject({ action: 'CALLER_ERROR', resultCode: 'LK11009' });
    });
  });

  describe('docs/core-api.md', () => {
    it('has a section for every endpoint of the table, and lists every action it can answer with', () => {
      const doc = readFileSync('docs/core-api.md', 'utf8');
      for (const e of CORE_API) {
        const at = doc.search(new RegExp(`^### .*\`${e.path}\``, 'm'));
        expect(at, e.path).toBeGreaterThanOrEqual(0);
        const next = doc.indexOf('\n### ', at + 1);
        const section = doc.slice(at, next < 0 ? undefined : next);
        for (const a of e.actions) expect(section, `${e.path}: ${a}`).toContain(a);
      }
    });
  });

  describe('GET /api/openapi.json', () => {
    it('is an OpenAPI 3.1 document listing every route of the table, with its actions and request schema', async () => {
      const res = await fetch(s.url('/api/openapi.json'));
      expect(res.status).toBe(200);
      const doc = await res.json();
      expect(doc.openapi).toBe('3.1.0');
      for (const e of CORE_API) {
        const op = doc.paths[`/api/{serviceId}/${e.path}`]?.post;
        expect(op, e.path).toBeDefined();
        expect(op.responses['200'].content['application/json'].schema.properties.action.enum).toEqual([...e.actions]);
        expect(op.requestBody.content['application/json'].schema.type).toBe('object');
        if (e.get) expect(doc.paths[`/api/{serviceId}/${e.path}`].get).toBeDefined();
      }
      // and nothing that is not in the table
      const routes = Object.keys(doc.paths).filter((p) => p.startsWith('/api/{serviceId}/')).map((p) => p.slice('/api/{serviceId}/'.length));
      expect(routes.sort()).toEqual(CORE_API.map((e) => e.path).sort());
      expect(doc.paths['/api/{serviceId}/auth/introspection'].post.requestBody.content['application/json'].schema.required).toEqual(['token', 'scopes']);
    });
  });
});
