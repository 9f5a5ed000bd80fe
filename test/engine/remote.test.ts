import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { checkRequestObject, type CheckState } from '../../src/engine/authorization/request.js';
import { OAuthError } from '../../src/engine/errors.js';
import { Params } from '../../src/engine/params.js';
import { fetchBounded, RemoteFetchError } from '../../src/engine/remote.js';
import type { ClientRecord } from '../../src/store/types.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

/**
 * Outbound fetches (request_uri by reference, jwks_uri) with the network replaced by a stub: the limits and the
 * rules around them, not TLS, are under test here.
 */
type Stub = (url: string, init: RequestInit) => Promise<Response>;

describe('remote fetches on a client\'s behalf', () => {
  let t: TestLatchkey;
  let keys: Awaited<ReturnType<typeof generateKeyPair>>;
  let byReference: ClientRecord;
  let remoteKeys: ClientRecord;
  let realFetch: typeof fetch | undefined;
  // The server's outbound fetch (ctx.clients.keySet.fetch, guarded by insecureRemoteFetchAddresses) replaced.
  const stubFetch = (fn: Stub) => {
    const f = vi.fn(fn);
    t.ctx.clients!.keySet.fetch = f as unknown as typeof fetch;
    return f;
  };
  const stubbed = () => ({ fetch: t.ctx.clients!.keySet.fetch });
  const jwk = async () => ({ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' });

  beforeAll(async () => {
    t = await openTestLatchkey();
    realFetch = t.ctx.clients!.keySet.fetch;
    keys = await generateKeyPair('ES256', { extractable: true });
    const find = async (id: string) => (await t.ctx.store.findClient(t.ctx.tenant.id, id))!;
    byReference = await find((await t.client({ redirect_uris: ['https://rp.example/cb'], jwks: { keys: [await jwk()] }, request_uris: ['https://rp.example/ro.jwt#v1'] })).clientId);
    remoteKeys = await find((await t.client({ redirect_uris: ['https://rp.example/cb'], jwks_uri: 'https://rp.example/jwks.json' })).clientId);
  });
  afterAll(() => t.close());
  afterEach(() => {
    t.ctx.clients!.keySet.fetch = realFetch;
    t.ctx.tenant.settings.allowRemoteRequestUri = false;
  });

  const sign = (payload: Record<string, unknown>) => new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'oauth-authz-req+jwt' }).sign(keys.privateKey);
  const state = (client: ClientRecord, params: Record<string, string>): CheckState => ({ params: Params.fromRecord(params), ctx: t.ctx, client, request: {} });

  describe('fetchBounded', () => {
    it('RFC 9101 §10.4: https only, no redirects followed', async () => {
      await expect(fetchBounded('http://rp.example/x', stubbed())).rejects.toThrow(RemoteFetchError);
      let seen: RequestInit | undefined;
      stubFetch(async (_u, init) => {
        seen = init;
        return new Response('', { status: 302, headers: { location: 'https://elsewhere.example/' } });
      });
      expect((await fetchBounded('https://rp.example/x', stubbed())).status).toBe(302);
      expect(seen?.redirect).toBe('manual');
    });

    it('a body larger than the limit is refused, declared or streamed', async () => {
      stubFetch(async () => new Response('x'.repeat(100), { headers: { 'content-length': '100' } }));
      await expect(fetchBounded('https://rp.example/x', { maxBytes: 50, ...stubbed() })).rejects.toThrow(/too large/);
      stubFetch(async () => new Response(new ReadableStream({ pull(c) { c.enqueue(new Uint8Array(40)); } })));
      await expect(fetchBounded('https://rp.example/x', { maxBytes: 100, ...stubbed() })).rejects.toThrow(/too large/);
    });

    it('a server that never answers is given up on after the timeout', async () => {
      stubFetch((_u, init) => new Promise((_, reject) => init.signal!.addEventListener('abort', () => reject(new Error('aborted')))));
      await expect(fetchBounded('https://rp.example/x', { timeoutMs: 20, ...stubbed() })).rejects.toThrow(/timed out/);
    });
  });

  describe('request_uri by reference (allowRemoteRequestUri)', () => {
    it('RFC 9101 §5.2: a registered https request_uri is fetched (fragment ignored) and its request object used', async () => {
      t.ctx.tenant.settings.allowRemoteRequestUri = true;
      const jwt = await sign({ response_type: 'code', scope: 'openid', state: 'by-ref' });
      const urls: string[] = [];
      stubFetch(async (u) => {
        urls.push(u);
        return new Response(jwt, { headers: { 'content-type': 'application/oauth-authz-req+jwt' } });
      });
      const s = state(byReference, { client_id: byReference.clientId, request_uri: 'https://rp.example/ro.jwt#v2' });
      await checkRequestObject(s);
      expect(urls).toEqual(['https://rp.example/ro.jwt']);
      expect(s.params.get('state')).toBe('by-ref');
    });

    it('an unregistered URI is never fetched; a failed fetch is invalid_request_uri', async () => {
      t.ctx.tenant.settings.allowRemoteRequestUri = true;
      const fetched = stubFetch(async () => new Response('nope', { status: 404 }));
      const err1 = await Promise.resolve().then(() => checkRequestObject(state(byReference, { request_uri: 'https://rp.example/other.jwt' }))).catch((e: OAuthError) => e);
      expect(err1).toMatchObject({ code: 'invalid_request_uri', resultCode: 'LK7011' });
      expect(fetched).not.toHaveBeenCalled();
      const err2 = await Promise.resolve().then(() => checkRequestObject(state(byReference, { request_uri: 'https://rp.example/ro.jwt' }))).catch((e: OAuthError) => e);
      expect(err2).toMatchObject({ code: 'invalid_request_uri', resultCode: 'LK7012' });
    });
  });

  describe('jwks_uri', () => {
    it('RFC 7591 §2: a client\'s keys are fetched from its jwks_uri (bounded) to verify its request object', async () => {
      const body = JSON.stringify({ keys: [await jwk()] });
      stubFetch(async () => new Response(body, { headers: { 'content-type': 'application/json' } }));
      const s = state(remoteKeys, { client_id: remoteKeys.clientId, request: await sign({ response_type: 'code', scope: 'openid' }) });
      await checkRequestObject(s);
      expect(s.params.get('scope')).toBe('openid');
    });
  });
});
