import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { core, testService, type TestService } from '../helpers/core-api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { accessTokenHash } from '../../src/engine/dpop.js';

type Pair = { publicKey: CryptoKey; privateKey: CryptoKey };

async function proof(keys: Pair, htm: string, htu: string, extra: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ htm, htu, jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000), ...extra })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(keys.publicKey) })
    .sign(keys.privateKey);
}

/** The delegating application's own URLs: the proofs are for them, and it passes them as htm/htu. */
const TOKEN_URL = 'https://app.example/oauth/token';
const API_URL = 'https://app.example/api/orders';

describe('Core API: DPoP through the dpop/htm/htu inputs (RFC 9449)', () => {
  let s: TestServer;
  let svc: TestService;
  let m2m: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startTestServer();
    svc = await testService(s, 'shop', 'https://login.shop.example');
    m2m = await svc.client({ grant_types: ['client_credentials'], scope: 'api:read' });
  });
  afterAll(() => s.close());

  const call = (path: string, body: unknown) => core(s, svc.id, path, body, svc.token);
  const tokenCall = (dpop: string | undefined) =>
    call('auth/token', {
      parameters: 'grant_type=client_credentials', clientId: m2m.clientId, clientSecret: m2m.clientSecret,
      ...(dpop ? { dpop, htm: 'POST', htu: TOKEN_URL } : {}),
    });

  it('RFC 9449 §5: auth/token with a proof for the caller\'s URL issues a DPoP token; auth/introspection checks proof and ath', async () => {
    const keys = await generateKeyPair('ES256');
    const r = await tokenCall(await proof(keys, 'POST', TOKEN_URL));
    expect(r.json.action).toBe('OK');
    const body = JSON.parse(r.json.responseContent);
    expect(body.token_type).toBe('DPoP');
    const at = body.access_token as string;
    const jkt = await calculateJwkThumbprint(await exportJWK(keys.publicKey));

    const ok = await call('auth/introspection', { token: at, scopes: [], dpop: await proof(keys, 'GET', API_URL, { ath: accessTokenHash(at) }), htm: 'GET', htu: API_URL });
    expect(ok.json).toMatchObject({ action: 'OK', tokenType: 'DPoP', cnf: { jkt } });
    const noProof = await call('auth/introspection', { token: at, scopes: [] });
    expect(noProof.json.action).toBe('UNAUTHORIZED');
    expect(noProof.json.responseContent).toMatch(/^DPoP /);
    const otherKey = await call('auth/introspection', {
      token: at, scopes: [], dpop: await proof(await generateKeyPair('ES256'), 'GET', API_URL, { ath: accessTokenHash(at) }), htm: 'GET', htu: API_URL,
    });
    expect(otherKey.json.action).toBe('UNAUTHORIZED');
  });

  it('RFC 9449 §4.3: auth/token refuses a proof for another URL than the caller\'s htu with invalid_dpop_proof', async () => {
    const keys = await generateKeyPair('ES256');
    const r = await tokenCall(await proof(keys, 'POST', 'https://elsewhere.example/token'));
    expect(r.json.action).toBe('BAD_REQUEST');
    expect(JSON.parse(r.json.responseContent)).toMatchObject({ error: 'invalid_dpop_proof' });
  });
});
