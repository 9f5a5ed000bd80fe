import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProcess, type RunningProcess } from '../helpers/process.js';
import { basic, postForm, startTestServer, type TestServer } from '../helpers/server.js';

type Creds = { clientId: string; clientSecret?: string };

/**
 * The example APIs in examples/resource-server/ run as users would run them (`node examples/…`, importing
 * `latchkey/resource-server`, i.e. the built dist/; scripts/test.sh builds first) against a real Latchkey, with real
 * tokens. So the examples cannot rot.
 */
describe.each(['fastify.mjs', 'node-http.mjs'])('examples/resource-server/%s against a real Latchkey', (file) => {
  let s: TestServer;
  let api: RunningProcess;
  let rs: Creds;
  let opaque: Creds;
  let jwt: Creds;

  beforeAll(async () => {
    expect(existsSync('dist/resource-server/index.js'), 'dist/ is missing: run `npm run build` first').toBe(true);
    s = await startTestServer();
    rs = await s.client({ client_name: 'items API', grant_types: ['client_credentials'], scope: 'introspect' });
    opaque = await s.client({ grant_types: ['client_credentials'], scope: 'items:read items:write' });
    jwt = await s.client({ grant_types: ['client_credentials'], scope: 'items:read items:write', access_token_format: 'jwt' });
    api = await startProcess(process.execPath, [resolve('examples/resource-server', file)], {
      env: {
        PATH: process.env.PATH,
        LATCHKEY_ISSUER: s.issuer,
        // Latchkey on this branch sets aud to the client; the issuer is listed for when tokens default to it.
        RS_AUDIENCE: [s.issuer, opaque.clientId, jwt.clientId].join(' '),
        RS_CLIENT_ID: rs.clientId,
        RS_CLIENT_SECRET: rs.clientSecret,
        RS_CACHE_TTL: '0', // so that the revocation below is seen at once
        PORT: '0',
      },
      readyPattern: /listening on (http:\/\/\S+)/,
    });
  });
  afterAll(async () => {
    await api?.stop();
    await s?.close();
  });

  const token = async (c: Creds, scope: string) => {
    const r = await postForm(s.url('/oauth/token'), { grant_type: 'client_credentials', scope }, { authorization: basic(c.clientId, c.clientSecret!) });
    expect(r.status).toBe(200);
    return r.json.access_token as string;
  };
  const get = (path: string, at?: string, method = 'GET') =>
    fetch(api.ready + path, { method, headers: at ? { authorization: `Bearer ${at}` } : {} });

  it('serves its public route without a token and refuses protected ones (401, WWW-Authenticate)', async () => {
    expect((await get('/health')).status).toBe(200);
    const r = await get('/items');
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="items"/);
  });

  it.each([['opaque (introspected)', () => opaque], ['JWT (RFC 9068, verified locally)', () => jwt]])(
    'accepts a client_credentials %s token with the right scope',
    async (_name, who) => {
      const at = await token(who(), 'items:read items:write');
      const r = await get('/items', at);
      expect(r.status).toBe(200);
      expect((await r.json()).caller).toEqual({ sub: who().clientId, client_id: who().clientId, scope: ['items:read', 'items:write'] });
      expect((await get('/items', at, 'POST')).status).toBe(201);
    },
  );

  it('RFC 6750 §3.1: a token without the scope is 403 insufficient_scope', async () => {
    for (const c of [opaque, jwt]) {
      const r = await get('/items', await token(c, 'items:read'), 'POST');
      expect(r.status).toBe(403);
      expect(r.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
      expect(r.headers.get('www-authenticate')).toMatch(/scope="items:write"/);
    }
  });

  it('RFC 7009: a revoked token is refused (401 invalid_token)', async () => {
    const at = await token(opaque, 'items:read');
    expect((await get('/items', at)).status).toBe(200);
    const rev = await postForm(s.url('/oauth/revoke'), { token: at }, { authorization: basic(opaque.clientId, opaque.clientSecret!) });
    expect(rev.status).toBe(200);
    const r = await get('/items', at);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });
});
