import { compactDecrypt, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, createLocalJWKSet, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { validateClientMetadata } from '../../src/engine/client-metadata.js';
import { clearClientKeySets } from '../../src/engine/client-keys.js';
import { discoveryDocument } from '../../src/engine/discovery.js';
import { introspection } from '../../src/engine/introspection.js';
import {
  canEncryptWith, ENCRYPTION_ALGS, ENCRYPTION_ENCS, encryptIfRegistered, encryptionKeyFor, responseEncryption,
} from '../../src/engine/response-encryption.js';
import { OAuthError } from '../../src/engine/errors.js';
import { token } from '../../src/engine/token/index.js';
import type { ClientRecord } from '../../src/store/types.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

const enc = async (alg: string, opts: Record<string, unknown> = {}) => {
  const pair = await generateKeyPair(alg, { extractable: true, ...opts });
  return { ...pair, jwk: { ...(await exportJWK(pair.publicKey)), use: 'enc' } as Record<string, unknown> };
};

describe('response encryption: client metadata (OIDC Registration §2, JARM §2.2, RFC 9701 §6)', () => {
  let rsa: Awaited<ReturnType<typeof enc>>;
  let ec: Awaited<ReturnType<typeof enc>>;
  beforeAll(async () => {
    rsa = await enc('RSA-OAEP-256');
    ec = await enc('ECDH-ES');
  });
  const base = { redirect_uris: ['https://rp.example/cb'] };

  it('OIDC Registration §2: *_encrypted_response_enc defaults to A128CBC-HS256 when only the alg is registered', () => {
    const { metadata } = validateClientMetadata({ ...base, jwks: { keys: [rsa.jwk] }, id_token_encrypted_response_alg: 'RSA-OAEP', userinfo_encrypted_response_alg: 'RSA-OAEP-256', userinfo_encrypted_response_enc: 'A256GCM' });
    expect(metadata.idTokenEncryptedResponseAlg).toBe('RSA-OAEP');
    expect(metadata.idTokenEncryptedResponseEnc).toBe('A128CBC-HS256');
    expect(metadata.userinfoEncryptedResponseEnc).toBe('A256GCM');
    expect(metadata.authorizationEncryptedResponseEnc).toBeUndefined();
    expect(responseEncryption(metadata, 'id_token')).toEqual({ alg: 'RSA-OAEP', enc: 'A128CBC-HS256' });
    expect(responseEncryption(metadata, 'introspection')).toBeUndefined();
  });

  for (const kind of ['id_token', 'userinfo', 'authorization', 'introspection']) {
    it(`OIDC Registration §2: ${kind}_encrypted_response_enc without its alg is invalid_client_metadata`, () => {
      expect(() => validateClientMetadata({ ...base, jwks: { keys: [rsa.jwk] }, [`${kind}_encrypted_response_enc`]: 'A128GCM' })).toThrow(
        expect.objectContaining({ code: 'invalid_client_metadata', message: expect.stringContaining(`${kind}_encrypted_response_alg`) }),
      );
    });
  }

  it('RFC 8725 §3.2: RSA1_5, dir and secret-derived A*KW are not accepted; nor unknown enc values', () => {
    for (const alg of ['RSA1_5', 'dir', 'A128KW', 'A256GCMKW', 'PBES2-HS256+A128KW']) {
      expect(() => validateClientMetadata({ ...base, jwks: { keys: [rsa.jwk] }, id_token_encrypted_response_alg: alg }), alg).toThrow(OAuthError);
    }
    expect(() => validateClientMetadata({ ...base, jwks: { keys: [rsa.jwk] }, id_token_encrypted_response_alg: 'RSA-OAEP', id_token_encrypted_response_enc: 'A192CBC-HS384' })).toThrow(OAuthError);
  });

  it('an encrypted response needs the client\'s public keys: jwks or jwks_uri', () => {
    expect(() => validateClientMetadata({ ...base, userinfo_encrypted_response_alg: 'RSA-OAEP' })).toThrow(/jwks or jwks_uri/);
    expect(validateClientMetadata({ ...base, jwks_uri: 'https://rp.example/jwks', userinfo_encrypted_response_alg: 'RSA-OAEP' }).metadata.userinfoEncryptedResponseAlg).toBe('RSA-OAEP');
  });

  it('inline jwks are checked at registration: a key of the alg\'s type, for encryption (use enc or none)', () => {
    const sigOnly = { ...rsa.jwk, use: 'sig' };
    expect(() => validateClientMetadata({ ...base, jwks: { keys: [sigOnly] }, id_token_encrypted_response_alg: 'RSA-OAEP' })).toThrow(/no key to encrypt to/);
    expect(() => validateClientMetadata({ ...base, jwks: { keys: [rsa.jwk] }, id_token_encrypted_response_alg: 'ECDH-ES' })).toThrow(/no key to encrypt to/);
    expect(() => validateClientMetadata({ ...base, jwks: { keys: [ec.jwk] }, id_token_encrypted_response_alg: 'RSA-OAEP-256' })).toThrow(/no key to encrypt to/);
    const { use: _u, ...noUse } = ec.jwk;
    expect(validateClientMetadata({ ...base, jwks: { keys: [sigOnly, noUse] }, id_token_encrypted_response_alg: 'ECDH-ES+A256KW' }).metadata.idTokenEncryptedResponseAlg).toBe('ECDH-ES+A256KW');
  });

  it('RFC 7517 §4.3, §4.4, RFC 7518 §4.3: key_ops, alg and the RSA key size decide whether a key can be used', () => {
    expect(canEncryptWith({ ...rsa.jwk, alg: 'RSA-OAEP-256' }, 'RSA-OAEP-256')).toBe(true);
    expect(canEncryptWith({ ...rsa.jwk, alg: 'RSA-OAEP-256' }, 'RSA-OAEP')).toBe(false);
    expect(canEncryptWith({ ...rsa.jwk, key_ops: ['verify'] }, 'RSA-OAEP')).toBe(false);
    expect(canEncryptWith({ ...rsa.jwk, key_ops: ['wrapKey'] }, 'RSA-OAEP')).toBe(true);
    expect(canEncryptWith({ kty: 'RSA', n: Buffer.alloc(128, 0xff).toString('base64url'), e: 'AQAB' }, 'RSA-OAEP')).toBe(false); // 1024 bits
    expect(canEncryptWith({ kty: 'OKP', crv: 'Ed25519', x: 'AAAA' }, 'ECDH-ES')).toBe(false);
    expect(canEncryptWith({ kty: 'EC', crv: 'secp256k1', x: 'AA', y: 'AA' }, 'ECDH-ES')).toBe(false);
  });

  it('a client\'s RFC 7592 JSON echoes the encryption members with their defaults', async () => {
    const { metadata } = validateClientMetadata({ ...base, jwks: { keys: [rsa.jwk] }, introspection_encrypted_response_alg: 'RSA-OAEP-256' });
    const { clientToJson } = await import('../../src/engine/client-metadata.js');
    const json = clientToJson({ ...metadata, tenantId: 't', clientId: 'c', secretHash: null, createdAt: 0 });
    expect(json).toMatchObject({ introspection_encrypted_response_alg: 'RSA-OAEP-256', introspection_encrypted_response_enc: 'A128CBC-HS256' });
    expect(json.id_token_encrypted_response_alg).toBeUndefined();
  });

  it('OIDC Discovery §3, JARM §3, RFC 9701 §7: discovery lists exactly the supported encryption algs and encs, and no request object encryption', () => {
    const d = discoveryDocument('https://as.example', 'openid');
    for (const p of ['id_token', 'userinfo', 'authorization', 'introspection']) {
      expect(d[`${p}_encryption_alg_values_supported`], p).toEqual([...ENCRYPTION_ALGS]);
      expect(d[`${p}_encryption_enc_values_supported`], p).toEqual([...ENCRYPTION_ENCS]);
    }
    expect(d.request_object_encryption_alg_values_supported).toBeUndefined();
    expect(JSON.stringify(d)).not.toContain('RSA1_5');
  });
});

describe('response encryption: keys and JWEs (engine)', () => {
  let t: TestLatchkey;
  let rsa: Awaited<ReturnType<typeof enc>>;
  let x25519: Awaited<ReturnType<typeof enc>>;
  beforeAll(async () => {
    t = await openTestLatchkey();
    rsa = await enc('RSA-OAEP-256');
    x25519 = await enc('ECDH-ES', { crv: 'X25519' });
  });
  afterAll(() => t.close());
  const record = (meta: Record<string, unknown>): ClientRecord => ({
    ...validateClientMetadata({ redirect_uris: ['https://rp.example/cb'], ...meta }).metadata, tenantId: t.ctx.tenant.id, clientId: 'c', secretHash: null, createdAt: 0,
  });

  it('OIDC Core §16.14, RFC 7519 §5.2: a nested JWT is a JWE with cty JWT and the kid of the client key, decryptable with its private key', async () => {
    const client = record({ jwks: { keys: [{ ...rsa.jwk, kid: 'enc-1' }] }, id_token_encrypted_response_alg: 'RSA-OAEP-256', id_token_encrypted_response_enc: 'A256GCM' });
    const jwe = await encryptIfRegistered(t.ctx, client, 'id_token', 'a.b.c', 'LK7240');
    expect(decodeProtectedHeader(jwe)).toEqual({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'enc-1', cty: 'JWT' });
    expect(new TextDecoder().decode((await compactDecrypt(jwe, rsa.privateKey)).plaintext)).toBe('a.b.c');
  });

  it('a client without encryption gets the JWS as it is', async () => {
    const client = record({});
    expect(await encryptIfRegistered(t.ctx, client, 'id_token', 'a.b.c', 'LK7240')).toBe('a.b.c');
  });

  it('every supported alg and enc round-trips through jose', async () => {
    const ec = await enc('ECDH-ES', { crv: 'P-384' });
    const oaep = await enc('RSA-OAEP'); // a WebCrypto private key is bound to its hash: one for SHA-1, one for SHA-256
    for (const alg of ENCRYPTION_ALGS) {
      const pair = alg === 'RSA-OAEP' ? oaep : alg === 'RSA-OAEP-256' ? rsa : alg === 'ECDH-ES+A128KW' ? x25519 : ec;
      for (const e of ENCRYPTION_ENCS) {
        const client = record({ jwks: { keys: [pair.jwk] }, userinfo_encrypted_response_alg: alg, userinfo_encrypted_response_enc: e });
        const jwe = await encryptIfRegistered(t.ctx, client, 'userinfo', 'x.y.z', 'LK7243');
        const { plaintext, protectedHeader } = await compactDecrypt(jwe, pair.privateKey);
        expect(protectedHeader).toMatchObject({ alg, enc: e });
        expect(new TextDecoder().decode(plaintext)).toBe('x.y.z');
      }
    }
  });

  it('jwks_uri keys come through the client key fetcher; a document without a usable key is refused with the endpoint\'s result code', async () => {
    clearClientKeySets();
    let doc: { keys: Record<string, unknown>[] } = { keys: [{ ...x25519.jwk, kid: 'remote-1' }] };
    const fetcher = vi.fn(async () => new Response(JSON.stringify(doc), { headers: { 'content-type': 'application/json' } }));
    const realFetch = t.ctx.clients!.keySet.fetch;
    t.ctx.clients!.keySet.fetch = fetcher as unknown as typeof fetch;
    try {
      const client = record({ jwks_uri: 'https://rp.example/enc-jwks', id_token_encrypted_response_alg: 'ECDH-ES+A256KW' });
      const key = await encryptionKeyFor(t.ctx, client, 'id_token', 'LK7240');
      expect(key.kid).toBe('remote-1');
      await encryptionKeyFor(t.ctx, client, 'id_token', 'LK7240');
      expect(fetcher).toHaveBeenCalledTimes(1); // cached
      clearClientKeySets();
      doc = { keys: [{ ...x25519.jwk, use: 'sig' }] };
      const err = await encryptionKeyFor(t.ctx, client, 'id_token', 'LK7241').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OAuthError);
      expect(err).toMatchObject({ code: 'invalid_client_metadata', resultCode: 'LK7241', status: 400 });
      expect((err as OAuthError).description).toContain('id_token_encrypted_response_alg ECDH-ES+A256KW');
      clearClientKeySets();
      t.ctx.clients!.keySet.fetch = (async () => { throw new Error('network down'); }) as unknown as typeof fetch;
      expect(await encryptionKeyFor(t.ctx, client, 'id_token', 'LK7240').catch((e: OAuthError) => e.description)).toContain('could not be fetched');
    } finally {
      t.ctx.clients!.keySet.fetch = realFetch;
      clearClientKeySets();
    }
  });

  it('RFC 9701 §5, §6: a JWT introspection answer is signed, then encrypted to the resource server', async () => {
    const rs = await t.client({ grant_types: ['client_credentials'], jwks: { keys: [rsa.jwk] }, introspection_encrypted_response_alg: 'RSA-OAEP-256', introspection_encrypted_response_enc: 'A128GCM' });
    const app = await t.client({ grant_types: ['client_credentials'], scope: 'api' });
    const at = JSON.parse((await token({ parameters: 'grant_type=client_credentials&scope=api', clientId: app.clientId, clientSecret: app.clientSecret }, t.ctx)).responseContent).access_token as string;
    const r = await introspection({ parameters: `token=${at}`, clientId: rs.clientId, clientSecret: rs.clientSecret, accept: 'application/token-introspection+jwt' }, t.ctx);
    expect(r.action).toBe('OK');
    expect(r.contentType).toBe('application/token-introspection+jwt');
    const { plaintext, protectedHeader } = await compactDecrypt(r.responseContent, rsa.privateKey);
    expect(protectedHeader).toMatchObject({ alg: 'RSA-OAEP-256', enc: 'A128GCM', cty: 'JWT' });
    const jwks = createLocalJWKSet(JSON.parse((await t.ctx.keys()).jwksJson) as { keys: JWK[] });
    const { payload, protectedHeader: inner } = await jwtVerify(new TextDecoder().decode(plaintext), jwks, { issuer: t.ctx.tenant.issuer, audience: rs.clientId, typ: 'token-introspection+jwt' });
    expect(inner.alg).toBe('RS256');
    expect(payload.token_introspection).toMatchObject({ active: true, client_id: app.clientId });
    // The JSON answer (no Accept for a JWT) is unchanged: RFC 9701 encrypts JWT answers only.
    const json = await introspection({ parameters: `token=${at}`, clientId: rs.clientId, clientSecret: rs.clientSecret }, t.ctx);
    expect(JSON.parse(json.responseContent)).toMatchObject({ active: true });
  });
});
