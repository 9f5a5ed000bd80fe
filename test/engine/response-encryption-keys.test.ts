import { createHash } from 'node:crypto';
import { compactDecrypt, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { authorization, authorizationIssue } from '../../src/engine/authorization/index.js';
import { clearClientKeySets } from '../../src/engine/client-keys.js';
import type { EngineContext } from '../../src/engine/context.js';
import { encryptionKeyFor } from '../../src/engine/response-encryption.js';
import { grantHandlers, registerGrant, token } from '../../src/engine/token/index.js';
import { jsonResult } from '../../src/engine/result.js';
import { mintIdToken } from '../../src/tokens/id-token.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

/**
 * When a client's encryption keys are resolved (OIDC Core §10.2, JARM §2.2): before anything is written at the
 * authorization endpoint's issue step, once and outside the grant's transaction at the token endpoint, and a
 * jwks_uri that cannot be fetched is not fetched again within the cooldown. The client's jwks_uri is served by a
 * stubbed fetcher whose document the tests change, with no caching of fetched keys (every use refetches).
 */
const CB = 'https://rp.example/cb';
const VERIFIER = 'v'.repeat(50);
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');

describe('response encryption: when the client\'s keys are resolved', () => {
  let t: TestLatchkey;
  let ctx: EngineContext;
  let alice: string;
  let encPair: Awaited<ReturnType<typeof generateKeyPair>>;
  let encJwk: Record<string, unknown>;
  let sigJwk: Record<string, unknown>;
  const documents = new Map<string, { keys: Record<string, unknown>[] } | 'down' | 'not-a-jwk-set' | 'not-json'>();
  const fetcher = vi.fn(async (url: string | URL | Request) => {
    const doc = documents.get(String(url));
    if (doc === undefined) return new Response('not found', { status: 404 });
    if (doc === 'down') throw new TypeError('fetch failed (connection refused)');
    if (doc === 'not-a-jwk-set') return new Response('{"keys":[1,null]}', { headers: { 'content-type': 'application/jwk-set+json' } });
    if (doc === 'not-json') return new Response('{"keys":', { headers: { 'content-type': 'application/jwk-set+json' } });
    return new Response(JSON.stringify(doc), { headers: { 'content-type': 'application/jwk-set+json' } });
  });
  let n = 0;
  /** A fresh jwks_uri for each client (the key-set cache is per URI). */
  const jwksUri = () => `https://rp.example/jwks/${++n}`;

  beforeAll(async () => {
    t = await openTestLatchkey();
    // Fetched keys are never reused (cacheMaxAgeMs 0): every use of a client's keys goes to its jwks_uri.
    ctx = { ...t.ctx, clients: { ...t.ctx.clients!, keySet: { ...t.ctx.clients!.keySet, fetch: fetcher as unknown as typeof fetch, cacheMaxAgeMs: 0 } } };
    alice = await t.user('alice', 'alice-password', { email: 'alice@example.com' });
    encPair = await generateKeyPair('RSA-OAEP-256', { extractable: true });
    encJwk = { ...(await exportJWK(encPair.publicKey)), use: 'enc', kid: 'enc-1' };
    sigJwk = { ...(await exportJWK((await generateKeyPair('RS256', { extractable: true })).publicKey)), use: 'sig' };
  });
  afterAll(async () => {
    clearClientKeySets();
    await t.close();
  });
  beforeEach(() => {
    clearClientKeySets();
    fetcher.mockClear();
  });

  const ask = (clientId: string, params: Record<string, string>) =>
    authorization({ parameters: new URLSearchParams({ client_id: clientId, redirect_uri: CB, code_challenge: CHALLENGE, code_challenge_method: 'S256', ...params }).toString() }, ctx);
  const grantsOfAlice = async () => (await t.ctx.store.listGrantsOfSubject(t.ctx.tenant.id, alice)).length;

  it('OIDC Core §10.2: an ID token key gone between the request and the issue step is refused by redirect (LK7241), with no grant or code written', async () => {
    const uri = jwksUri();
    documents.set(uri, { keys: [sigJwk, encJwk] });
    const c = await t.client({
      grant_types: ['authorization_code', 'implicit'], response_types: ['code id_token'], redirect_uris: [CB], skip_consent: true,
      jwks_uri: uri, id_token_encrypted_response_alg: 'RSA-OAEP-256',
    });
    const a = await ask(c.clientId, { response_type: 'code id_token', scope: 'openid email', nonce: 'n', state: 'st' });
    expect(a.action, a.resultMessage).toBe('INTERACTION');
    documents.set(uri, { keys: [sigJwk] }); // the client rotated its encryption key away
    const before = await grantsOfAlice();
    const issued = await authorizationIssue({ ticket: a.ticket!, subject: alice, authTime: Math.floor(t.ctx.clock() / 1000) }, ctx);
    expect(issued.action, issued.resultMessage).toBe('LOCATION');
    expect(issued.resultCode).toBe('LK7241');
    const f = new URLSearchParams(new URL(issued.responseContent).hash.slice(1));
    expect(f.get('error')).toBe('invalid_client_metadata');
    expect(f.get('state')).toBe('st');
    expect(f.get('code')).toBeNull();
    expect(f.get('id_token')).toBeNull();
    expect(await grantsOfAlice()).toBe(before);
  });

  it('JARM §2.2: an authorization response key gone between the request and the issue step is a 400 to the user agent (LK7242), with no grant or code written', async () => {
    const uri = jwksUri();
    documents.set(uri, { keys: [encJwk] });
    const c = await t.client({
      grant_types: ['authorization_code'], redirect_uris: [CB], skip_consent: true, jwks_uri: uri, authorization_encrypted_response_alg: 'RSA-OAEP-256',
    });
    const a = await ask(c.clientId, { response_type: 'code', scope: 'openid', response_mode: 'query.jwt' });
    expect(a.action, a.resultMessage).toBe('INTERACTION');
    documents.set(uri, 'down'); // the jwks_uri cannot be fetched any more
    const before = await grantsOfAlice();
    const issued = await authorizationIssue({ ticket: a.ticket!, subject: alice, authTime: Math.floor(t.ctx.clock() / 1000) }, ctx);
    expect(issued.action).toBe('BAD_REQUEST');
    expect(issued.resultCode).toBe('LK7242');
    expect(JSON.parse(issued.responseContent)).toMatchObject({ error: 'invalid_client_metadata' });
    expect(await grantsOfAlice()).toBe(before);
    // The key was looked for before the ticket was spent: once the client's keys can be read again, the same step
    // (the user reloading, the host trying again) answers the request.
    documents.set(uri, { keys: [encJwk] });
    clearClientKeySets(); // past the failed fetch's cooldown
    const again = await authorizationIssue({ ticket: a.ticket!, subject: alice, authTime: Math.floor(t.ctx.clock() / 1000) }, ctx);
    expect(again.action, again.resultMessage).toBe('LOCATION');
    expect(new URL(again.responseContent).searchParams.get('response')!.split('.')).toHaveLength(5); // JWE
    expect(await grantsOfAlice()).toBe(before + 1);
  });

  /** A code for `c`, by the engine's two steps. */
  async function codeFor(clientId: string, scope: string) {
    const a = await ask(clientId, { response_type: 'code', scope });
    expect(a.action, a.resultMessage).toBe('INTERACTION');
    const issued = await authorizationIssue({ ticket: a.ticket!, subject: alice, authTime: Math.floor(t.ctx.clock() / 1000) }, ctx);
    expect(issued.action, issued.resultMessage).toBe('LOCATION');
    return new URL(issued.responseContent).searchParams.get('code')!;
  }
  const redeem = (c: { clientId: string; clientSecret?: string }, code: string) =>
    token({ parameters: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: VERIFIER }).toString(), clientId: c.clientId, clientSecret: c.clientSecret }, ctx);

  it('OIDC Core §10.2: the token endpoint resolves the ID token key once, outside the grant\'s transaction; minting fetches nothing', async () => {
    const uri = jwksUri();
    documents.set(uri, { keys: [encJwk] });
    const c = await t.client({ grant_types: ['authorization_code'], redirect_uris: [CB], skip_consent: true, jwks_uri: uri, id_token_encrypted_response_alg: 'RSA-OAEP-256' });
    const code = await codeFor(c.clientId, 'openid email');
    fetcher.mockClear();
    const r = await redeem(c, code);
    expect(r.action, r.resultMessage).toBe('OK');
    expect(fetcher).toHaveBeenCalledTimes(1);
    const idToken = JSON.parse(r.responseContent).id_token as string;
    expect(idToken.split('.')).toHaveLength(5);
    await compactDecrypt(idToken, encPair.privateKey);
  });

  it('OIDC Core §10.2: a redemption without openid issues no ID token, so a client without a usable ID token key is not refused', async () => {
    const uri = jwksUri();
    documents.set(uri, { keys: [sigJwk] });
    const c = await t.client({ grant_types: ['authorization_code'], redirect_uris: [CB], skip_consent: true, jwks_uri: uri, id_token_encrypted_response_alg: 'RSA-OAEP-256' });
    const code = await codeFor(c.clientId, 'email');
    const r = await redeem(c, code);
    expect(r.action, r.resultMessage).toBe('OK');
    expect(JSON.parse(r.responseContent).id_token).toBeUndefined();
    // With openid, the refusal stands (LK7240) and the code stays unspent.
    const withOpenid = await codeFor(c.clientId, 'openid email');
    const refused = await redeem(c, withOpenid);
    expect(refused.resultCode).toBe('LK7240');
    expect((await t.ctx.store.findCode(t.ctx.tenant.id, t.ctx.hasher.hash(withOpenid)))?.consumedAt).toBeNull();
  });

  it('OIDC Core §10.2: mintIdToken never fetches: without a key resolved by its caller it refuses, for a client that registered ID token encryption', async () => {
    const uri = jwksUri();
    documents.set(uri, { keys: [encJwk] });
    const c = await t.client({ grant_types: ['authorization_code'], redirect_uris: [CB], jwks_uri: uri, id_token_encrypted_response_alg: 'RSA-OAEP-256' });
    const record = (await t.ctx.store.findClient(t.ctx.tenant.id, c.clientId))!;
    await expect(mintIdToken(ctx, { client: record, subject: alice })).rejects.toThrow(/resolved before minting/);
    expect(fetcher).not.toHaveBeenCalled();
    const key = await encryptionKeyFor(ctx, record, 'id_token', 'LK7240');
    expect((await mintIdToken(ctx, { client: record, subject: alice, encryptionKey: key })).split('.')).toHaveLength(5);
  });

  it('OIDC Core §10.2: the token endpoint resolves the ID token key for any grant handler, including one added with registerGrant', async () => {
    const c = await t.client({ grant_types: ['client_credentials'], scope: 'openid', jwks: { keys: [encJwk] }, id_token_encrypted_response_alg: 'RSA-OAEP-256' });
    const original = grantHandlers.client_credentials!;
    registerGrant('client_credentials', async (_params, _auth, hctx) =>
      jsonResult('OK', 200, 'LK2001', { resolved: hctx.idTokenEncryption !== undefined && !(hctx.idTokenEncryption instanceof Error) }));
    try {
      const r = await token({ parameters: 'grant_type=client_credentials', clientId: c.clientId, clientSecret: c.clientSecret }, ctx);
      expect(JSON.parse(r.responseContent)).toEqual({ resolved: true });
    } finally {
      registerGrant('client_credentials', original);
    }
  });

  it('OIDC Core §10.2, RFC 9700 §4.14.2: a refresh retry refused for want of the ID token key does not spend the retry the reuse interval allows', async () => {
    const uri = jwksUri();
    documents.set(uri, { keys: [encJwk] });
    const c = await t.client({
      grant_types: ['authorization_code', 'refresh_token'], redirect_uris: [CB], skip_consent: true, scope: 'openid offline_access',
      jwks_uri: uri, id_token_encrypted_response_alg: 'RSA-OAEP-256', refresh_token_rotation: true, refresh_token_reuse_interval: 120,
    });
    const first = JSON.parse((await redeem(c, await codeFor(c.clientId, 'openid offline_access'))).responseContent) as Record<string, string>;
    const refresh = (rt: string) =>
      token({ parameters: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt }).toString(), clientId: c.clientId, clientSecret: c.clientSecret }, ctx);
    expect((await refresh(first.refresh_token!)).action).toBe('OK'); // rotated: the old token is now a retry
    documents.set(uri, 'down');
    expect((await refresh(first.refresh_token!)).resultCode).toBe('LK7240');
    documents.set(uri, { keys: [encJwk] });
    // Past the failure memory (10 s), within the reuse interval: the retry is still there, not taken as reuse.
    const later = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 11_000);
    try {
      const retried = await refresh(first.refresh_token!);
      expect(retried.action, retried.resultMessage).toBe('OK');
    } finally {
      later.mockRestore();
    }
  });

  it('RFC 7517 §5: a jwks_uri answering a document that is not a JWK Set (a key not an object, or not JSON) is remembered as a failure too', async () => {
    for (const doc of ['not-a-jwk-set', 'not-json'] as const) {
      const uri = jwksUri();
      documents.set(uri, doc);
      const c = await t.client({ grant_types: ['authorization_code'], redirect_uris: [CB], jwks_uri: uri, id_token_encrypted_response_alg: 'RSA-OAEP-256' });
      const record = (await t.ctx.store.findClient(t.ctx.tenant.id, c.clientId))!;
      fetcher.mockClear();
      for (let i = 0; i < 3; i++) await expect(encryptionKeyFor(ctx, record, 'id_token', 'LK7240'), doc).rejects.toMatchObject({ resultCode: 'LK7240' });
      expect(fetcher, doc).toHaveBeenCalledTimes(1);
    }
  });

  it('a jwks_uri that could not be fetched is not fetched again within the cooldown, whoever asks', async () => {
    const uri = jwksUri();
    documents.set(uri, 'down');
    const c = await t.client({
      grant_types: ['authorization_code', 'implicit'], response_types: ['code id_token'], redirect_uris: [CB], skip_consent: true,
      jwks_uri: uri, id_token_encrypted_response_alg: 'RSA-OAEP-256',
    });
    for (let i = 0; i < 3; i++) {
      const a = await ask(c.clientId, { response_type: 'code id_token', scope: 'openid', nonce: 'n' });
      expect(a.resultCode).toBe('LK7241');
    }
    expect(fetcher).toHaveBeenCalledTimes(1);
    // A 404 is a failure too; and the memory is per jwks_uri.
    const other = jwksUri();
    const c2 = await t.client({ grant_types: ['authorization_code'], redirect_uris: [CB], jwks_uri: other, id_token_encrypted_response_alg: 'RSA-OAEP-256' });
    const record = (await t.ctx.store.findClient(t.ctx.tenant.id, c2.clientId))!;
    for (let i = 0; i < 3; i++) await expect(encryptionKeyFor(ctx, record, 'id_token', 'LK7240')).rejects.toMatchObject({ resultCode: 'LK7240' });
    expect(fetcher).toHaveBeenCalledTimes(2);
    // Once the cooldown is over the document is fetched again (and a success clears the memory).
    documents.set(other, { keys: [encJwk] });
    const later = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 61_000);
    try {
      expect((await encryptionKeyFor(ctx, record, 'id_token', 'LK7240')).kid).toBe('enc-1');
    } finally {
      later.mockRestore();
    }
    expect(fetcher).toHaveBeenCalledTimes(3);
  });
});
