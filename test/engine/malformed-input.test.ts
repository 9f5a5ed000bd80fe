import { exportJWK, generateKeyPair, UnsecuredJWT } from 'jose';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorization } from '../../src/engine/authorization/index.js';
import { requestObjectParams } from '../../src/engine/authorization/request-object.js';
import { extractBearer } from '../../src/engine/bearer.js';
import { presentedCredentials } from '../../src/engine/client-auth.js';
import { validateClientMetadata } from '../../src/engine/client-metadata.js';
import { OAuthError } from '../../src/engine/errors.js';
import { checkFormContentType, Params } from '../../src/engine/params.js';
import { registration, registrationManagement } from '../../src/engine/registration.js';
import { token } from '../../src/engine/token/index.js';
import { userinfo } from '../../src/engine/userinfo.js';
import { registerClient, replaceClient } from '../../src/services/clients.js';
import { createInitialAccessToken } from '../../src/services/management-tokens.js';
import { mintAccessToken } from '../../src/tokens/access-token.js';
import { basic, openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

const CB = 'https://a.example/cb';
const FORM = 'application/x-www-form-urlencoded';

function thrown(f: () => unknown): OAuthError {
  try {
    f();
  } catch (e) {
    if (e instanceof OAuthError) return e;
    throw e;
  }
  throw new Error('nothing thrown');
}

async function rejected(p: Promise<unknown>): Promise<OAuthError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OAuthError) return e;
    throw e;
  }
  throw new Error('nothing thrown');
}

describe('RFC 6750 §2, §3.1: reading the Authorization header (bearer.ts)', () => {
  it('RFC 6750 §3.1: another scheme is no authentication information: no token, no error', () => {
    for (const h of ['Basic abc', 'Negotiate x', 'Bearerx abc']) expect(extractBearer({ authorization: h }), h).toBeUndefined();
  });

  it('RFC 6750 §3.1: a malformed Bearer header is 400 invalid_request (LK7260)', () => {
    for (const h of ['Bearer a b', 'Bearer', 'Bearer ', 'Bearer a,b', 'bearer']) {
      const e = thrown(() => extractBearer({ authorization: h }));
      expect([e.code, e.status, e.resultCode], h).toEqual(['invalid_request', 400, 'LK7260']);
      expect(e.wwwAuthenticate).toMatch(/^Bearer realm="latchkey", error="invalid_request"/);
    }
  });

  it('RFC 6750 §2: two Authorization headers (as the transport reports them) are 400 invalid_request (LK7261)', () => {
    const e = thrown(() => extractBearer({ authorization: 'Bearer abc', repeatedAuthorization: true }));
    expect([e.code, e.status, e.resultCode]).toEqual(['invalid_request', 400, 'LK7261']);
  });
});

describe('RFC 6749 §2.3, RFC 9110 §5.3: repeated Authorization and Content-Type at the back channel', () => {
  let t: TestLatchkey;
  let auth: string;
  beforeAll(async () => {
    t = await openTestLatchkey({});
    const c = await t.client({ grant_types: ['client_credentials'] });
    auth = basic(c.clientId, c.clientSecret!);
  });
  afterAll(() => t?.close());

  it('RFC 6749 §2.3: presentedCredentials refuses two Authorization headers: invalid_request (LK7263)', () => {
    const e = thrown(() => presentedCredentials({ authorization: auth, repeatedAuthorization: true }));
    expect([e.code, e.resultCode]).toEqual(['invalid_request', 'LK7263']);
  });

  it('RFC 9110 §5.3: checkFormContentType refuses two Content-Type headers: invalid_request (LK7264)', () => {
    expect(thrown(() => checkFormContentType(FORM, true)).resultCode).toBe('LK7264');
    expect(() => checkFormContentType(FORM, false)).not.toThrow();
  });

  it('RFC 6749 §2.3, §5.2: the token endpoint answers a valid Basic with a repeated Authorization 400 invalid_request, not 200', async () => {
    const ok = await token({ parameters: 'grant_type=client_credentials', contentType: FORM, authorization: auth }, t.ctx);
    expect(ok.action).toBe('OK');
    const r = await token({ parameters: 'grant_type=client_credentials', contentType: FORM, authorization: auth, repeatedAuthorization: true }, t.ctx);
    expect([r.action, r.status, r.resultCode]).toEqual(['BAD_REQUEST', 400, 'LK7263']);
    const ct = await token({ parameters: 'grant_type=client_credentials', contentType: FORM, authorization: auth, repeatedContentType: true }, t.ctx);
    expect([ct.action, ct.status, ct.resultCode]).toEqual(['BAD_REQUEST', 400, 'LK7264']);
  });

  it('OIDC Core §5.3, RFC 6750 §3.1: a valid client_credentials token at UserInfo is 403 insufficient_scope, not 401 invalid_token', async () => {
    const issued = await token({ parameters: 'grant_type=client_credentials', contentType: FORM, authorization: auth }, t.ctx);
    const at = (JSON.parse(issued.responseContent as string) as { access_token: string }).access_token;
    const r = await userinfo({ authorization: `Bearer ${at}` }, t.ctx);
    expect([r.action, r.status, r.resultCode]).toEqual(['FORBIDDEN', 403, 'LK4004']);
    expect(r.headers?.['WWW-Authenticate']).toMatch(/error="insufficient_scope".*scope="openid"/);
    // Still refused for an unknown token, and for two Authorization headers.
    expect((await userinfo({ authorization: 'Bearer unknown' }, t.ctx)).status).toBe(401);
    expect((await userinfo({ authorization: `Bearer ${at}`, repeatedAuthorization: true }, t.ctx)).resultCode).toBe('LK7261');
    // The DPoP scheme does not go through extractBearer: the same one check refuses it (bearer.ts refuseRepeatedAuthorization).
    expect((await userinfo({ authorization: `DPoP ${at}`, repeatedAuthorization: true }, t.ctx)).resultCode).toBe('LK7261');
  });

  it('OIDC Core §5.3: a token with openid but issued for no user is still 401 invalid_token at UserInfo (LK7262)', async () => {
    const c = await registerClient(t.ctx, { grant_types: ['client_credentials'] });
    const { token: at } = await mintAccessToken(t.ctx, { client: c.client, subject: null, scope: ['openid'], grantId: null, outsideTransaction: true });
    const r = await userinfo({ authorization: `Bearer ${at}` }, t.ctx);
    expect([r.action, r.status, r.resultCode]).toEqual(['UNAUTHORIZED', 401, 'LK7262']);
    expect(r.headers?.['WWW-Authenticate']).toMatch(/error="invalid_token"/);
  });
});

describe('RFC 6750 §3.1 at the registration endpoints (engine)', () => {
  let t: TestLatchkey;
  let initial: string;
  let reg: Record<string, string>;
  beforeAll(async () => {
    t = await openTestLatchkey({ registration: 'token' });
    initial = (await createInitialAccessToken(t.lk, { tenantId: 'default' })).token;
    const r = await registration({ body: JSON.stringify({ grant_types: ['client_credentials'] }), contentType: 'application/json', authorization: `Bearer ${initial}` }, t.ctx);
    expect(r.action).toBe('CREATED');
    reg = JSON.parse(r.responseContent as string) as Record<string, string>;
  });
  afterAll(() => t?.close());

  const body = JSON.stringify({ grant_types: ['client_credentials'] });
  const both = (authorization: string | undefined, repeatedAuthorization?: boolean) =>
    Promise.all([
      registration({ body, contentType: 'application/json', authorization, repeatedAuthorization }, t.ctx),
      registrationManagement({ method: 'GET', clientId: reg.client_id!, authorization, repeatedAuthorization }, t.ctx),
    ]);

  it('RFC 6750 §3.1: no header, or another scheme: 401 with a challenge without an error code', async () => {
    for (const h of [undefined, 'Basic abc', 'Negotiate abc']) {
      for (const r of await both(h)) {
        expect([r.action, r.status], String(h)).toEqual(['UNAUTHORIZED', 401]);
        expect(r.headers?.['WWW-Authenticate']).toBe('Bearer realm="latchkey"');
      }
    }
  });

  it('RFC 6750 §3.1: a malformed Bearer header: 400 invalid_request', async () => {
    for (const h of ['Bearer a b', 'Bearer', 'Bearer ']) {
      for (const r of await both(h)) {
        expect([r.action, r.status, r.resultCode], h).toEqual(['BAD_REQUEST', 400, 'LK7260']);
        expect(JSON.parse(r.responseContent as string)).toMatchObject({ error: 'invalid_request' });
      }
    }
  });

  it('RFC 6750 §2: two Authorization headers: 400 invalid_request, even when the first token is good', async () => {
    const [a] = await both(`Bearer ${initial}`, true);
    const [, b] = await both(`Bearer ${reg.registration_access_token}`, true);
    for (const r of [a!, b!]) expect([r.action, r.status, r.resultCode]).toEqual(['BAD_REQUEST', 400, 'LK7261']);
  });

  it('RFC 6750 §3.1: a well-formed but unknown token: 401 invalid_token, with the endpoint\'s result code', async () => {
    const [a, b] = await both('Bearer unknown');
    expect([a!.status, a!.resultCode, b!.status, b!.resultCode]).toEqual([401, 'LK8027', 401, 'LK8028']);
    expect(a!.headers?.['WWW-Authenticate']).toMatch(/^Bearer realm="latchkey", error="invalid_token"/);
  });
});

describe('RFC 3986 §2: URI metadata with control characters, whitespace or lone surrogates is refused', () => {
  const bad = ['\u0000', '\t', '\n', '\r', ' ', '\u001f', '\u007f', '\u00a0', '\u2028', '\ud800', '\udc00'];
  const web = { grant_types: ['client_credentials'] };

  it('RFC 7591 §3.2.2: a redirect URI with one (inside, leading or trailing) is invalid_redirect_uri', () => {
    for (const c of bad) {
      for (const uri of [`${CB}${c}`, `${c}${CB}`, `https://a.example/c${c}b`, `https://a.exa${c}mple/cb`]) {
        const e = thrown(() => validateClientMetadata({ redirect_uris: [uri] }));
        expect([e.code, e.resultCode], JSON.stringify(uri)).toEqual(['invalid_redirect_uri', 'LK8025']);
      }
    }
  });

  it('RFC 7591 §3.2.2: any other URI field with one is invalid_client_metadata', () => {
    const fields: [string, (u: string) => Record<string, unknown>][] = [
      ['post_logout_redirect_uris', (u) => ({ redirect_uris: [CB], post_logout_redirect_uris: [u] })],
      ['jwks_uri', (u) => ({ ...web, jwks_uri: u })],
      ['sector_identifier_uri', (u) => ({ ...web, sector_identifier_uri: u })],
      ['backchannel_logout_uri', (u) => ({ ...web, backchannel_logout_uri: u })],
      ['frontchannel_logout_uri', (u) => ({ redirect_uris: [CB], frontchannel_logout_uri: u })], // on a redirect URI's origin (Front-Channel Logout §2)
      ['logo_uri', (u) => ({ ...web, logo_uri: u })],
      ['client_uri', (u) => ({ ...web, client_uri: u })],
      ['policy_uri', (u) => ({ ...web, policy_uri: u })],
      ['tos_uri', (u) => ({ ...web, tos_uri: u })],
      ['initiate_login_uri', (u) => ({ ...web, initiate_login_uri: u })],
      ['request_uris', (u) => ({ ...web, request_uris: [u] })],
      ['resources', (u) => ({ ...web, resources: [u] })],
      ['tls_client_auth_san_uri', (u) => ({ ...web, token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_san_uri: u })],
    ];
    for (const [field, meta] of fields) {
      expect(() => validateClientMetadata(meta('https://a.example/x')), field).not.toThrow();
      for (const c of bad) {
        const e = thrown(() => validateClientMetadata(meta(`https://a.example/x${c}`)));
        expect([e.code, e.resultCode], `${field} ${JSON.stringify(c)}`).toEqual(['invalid_client_metadata', 'LK8024']);
        expect(e.description).toContain(field);
      }
    }
  });

  it('a URI with non-ASCII letters (an IRI, a pair of surrogates) is still accepted as before', () => {
    expect(() => validateClientMetadata({ redirect_uris: ['https://bücher.example/cb', 'https://a.example/\ud83d\ude00'] })).not.toThrow();
  });

  it('RFC 6749 Appendix A: a request object value with NUL is invalid_request (LK0004), as in the query string', async () => {
    expect(thrown(() => Params.fromRecord({ state: 'a\u0000' })).resultCode).toBe('LK0004');
    expect(thrown(() => Params.fromRecord({ 'a\u0000': 'x' })).resultCode).toBe('LK0004');
    expect(thrown(() => Params.fromRecord({ resource: ['https://r.example/', 'https://r.example/\u0000'] })).resultCode).toBe('LK0004');
    expect(thrown(() => requestObjectParams({ redirect_uri: `${CB}\u0000` }, 'c')).resultCode).toBe('LK0004');
    const t = await openTestLatchkey({});
    try {
      const c = await t.client({ redirect_uris: [CB] });
      const request = new UnsecuredJWT({ response_type: 'code', scope: 'openid', redirect_uri: CB, state: 'a\u0000b' }).encode();
      const r = await authorization({ parameters: new URLSearchParams({ client_id: c.clientId, request }).toString() }, t.ctx);
      expect(r.action === 'BAD_REQUEST' || r.action === 'LOCATION').toBe(true);
      expect(r.resultCode).toBe('LK0004');
    } finally {
      await t.close();
    }
  });
});

describe('RFC 7591 §3.2.2: inline jwks keys a client could never use are invalid_client_metadata', () => {
  let t: TestLatchkey;
  let es256: Record<string, unknown>;
  let p384: Record<string, unknown>;
  beforeAll(async () => {
    t = await openTestLatchkey({ registration: 'open' });
    es256 = { ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey)) };
    p384 = { ...(await exportJWK((await generateKeyPair('ES384', { extractable: true })).publicKey)) };
  });
  afterAll(() => t?.close());

  const pkj = (keys: unknown[], extra: Record<string, unknown> = {}) => ({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys }, ...extra });
  const rsa1024 = exportJWK(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);

  it('RFC 7591 §3.2.2: refused at dynamic registration, at the admin API (registerClient) and on update', async () => {
    const unusable: [string, Record<string, unknown>][] = [
      ['an EC key without members', pkj([{ kty: 'EC' }])],
      ['an EC key whose crv does not fit its x and y', pkj([{ ...p384, crv: 'P-256' }])],
      ['an EC key whose alg is for another curve', pkj([{ ...es256, alg: 'ES384' }])],
      ['an RSA key without n', pkj([{ kty: 'RSA', e: 'AQAB' }])],
      ['an RSA key under 2048 bits', pkj([await rsa1024])],
      ['an unknown kty', pkj([{ kty: 'XYZ', x: 'abc' }])],
      ['an unsupported curve', pkj([{ kty: 'EC', crv: 'P-192', x: 'AA', y: 'AA' }])],
      ['no key for the registered signing alg', pkj([es256], { token_endpoint_auth_signing_alg: 'PS256' })],
      ['only an encryption key', pkj([{ ...es256, use: 'enc' }])],
      ['a broken key beside a good one', pkj([es256, { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }])],
    ];
    for (const [what, meta] of unusable) {
      const r = await registration({ body: JSON.stringify(meta), contentType: 'application/json' }, t.ctx);
      expect([r.action, r.status, r.resultCode], what).toEqual(['BAD_REQUEST', 400, 'LK8024']);
      expect(JSON.parse(r.responseContent as string)).toMatchObject({ error: 'invalid_client_metadata' });
      const e = await rejected(registerClient(t.ctx, meta));
      expect([e.code, e.resultCode], what).toEqual(['invalid_client_metadata', 'LK8024']);
    }
    // A usable key registers; an update to an unusable one is refused.
    const { client } = await registerClient(t.ctx, pkj([es256]));
    const e = await rejected(replaceClient(t.ctx, client.clientId, pkj([{ kty: 'EC' }])));
    expect(e.code).toBe('invalid_client_metadata');
  });

  it('RFC 7523 §3: usable keys still register: EC, RSA 2048, Ed25519, with or without alg, and an encryption key beside a signing one', async () => {
    const rsa = await exportJWK((await generateKeyPair('PS256', { extractable: true })).publicKey);
    const ed = await exportJWK((await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })).publicKey);
    for (const meta of [
      pkj([es256]),
      pkj([{ ...es256, alg: 'ES256', use: 'sig', kid: 'k' }]),
      pkj([rsa], { token_endpoint_auth_signing_alg: 'PS256' }),
      pkj([ed]),
      pkj([{ ...rsa, use: 'enc', alg: 'RSA-OAEP' }, es256]),
    ]) {
      const r = await registration({ body: JSON.stringify(meta), contentType: 'application/json' }, t.ctx);
      expect(r.action, JSON.stringify(meta).slice(0, 200)).toBe('CREATED');
    }
  });
});

describe('RFC 7517 §5: inline jwks keys the server does not understand are ignored, not refused', () => {
  let t: TestLatchkey;
  let es256: Record<string, unknown>;
  let rsa: Record<string, unknown>;
  let ecEnc: Record<string, unknown>;
  beforeAll(async () => {
    t = await openTestLatchkey({ registration: 'open' });
    es256 = { ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey)) };
    rsa = { ...(await exportJWK((await generateKeyPair('RSA-OAEP-256', { extractable: true })).publicKey)) };
    ecEnc = { ...(await exportJWK((await generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true })).publicKey)) };
  });
  afterAll(() => t?.close());

  const pkj = (keys: unknown[], extra: Record<string, unknown> = {}) => ({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys }, ...extra });
  const created = async (meta: Record<string, unknown>, what: string) => {
    const r = await registration({ body: JSON.stringify(meta), contentType: 'application/json' }, t.ctx);
    expect([r.action, r.resultCode, String(r.responseContent).slice(0, 300)], what).toEqual(['CREATED', expect.anything(), expect.anything()]);
    return JSON.parse(r.responseContent as string) as Record<string, unknown>;
  };
  const refused = async (meta: Record<string, unknown>, what: string) => {
    const r = await registration({ body: JSON.stringify(meta), contentType: 'application/json' }, t.ctx);
    expect([r.action, JSON.parse(r.responseContent as string).error], what).toEqual(['BAD_REQUEST', 'invalid_client_metadata']);
  };

  it('RFC 7517 §5: an RSA1_5, ES256K, Ed448, X448 or unknown-kty key beside a usable signing key does not refuse the registration', async () => {
    const foreign: [string, Record<string, unknown>][] = [
      ['RSA1_5', { ...rsa, alg: 'RSA1_5', use: 'enc' }],
      ['ES256K', { kty: 'EC', crv: 'secp256k1', alg: 'ES256K', x: 'AA', y: 'AA' }],
      ['secp256k1 without alg', { kty: 'EC', crv: 'secp256k1', x: 'AA', y: 'AA' }],
      ['Ed448', { kty: 'OKP', crv: 'Ed448', x: 'AA' }],
      ['Ed448 with alg EdDSA', { kty: 'OKP', crv: 'Ed448', alg: 'EdDSA', x: 'AA' }],
      ['X448', { kty: 'OKP', crv: 'X448', x: 'AA', use: 'enc' }],
      ['unknown kty', { kty: 'XYZ', x: 'abc' }],
    ];
    for (const [what, k] of foreign) await created(pkj([k, es256]), what);
    // Only keys it does not understand: a private_key_jwt client has no signing key, so still refused.
    await refused(pkj([{ kty: 'EC', crv: 'secp256k1', alg: 'ES256K', x: 'AA', y: 'AA' }]), 'only ES256K');
  });

  it('RFC 7517 §4.3: an encryption key with key_ops deriveBits (EC) or encrypt (RSA) registers for encrypted responses, and such a client can update (RFC 7592)', async () => {
    const enc = (keys: unknown[], alg: string) => pkj([...keys, es256], { id_token_encrypted_response_alg: alg, redirect_uris: [CB], grant_types: ['authorization_code'] });
    const body = await created(enc([{ ...ecEnc, key_ops: ['deriveBits'] }], 'ECDH-ES'), 'EC deriveBits');
    await created(enc([{ ...rsa, key_ops: ['encrypt'] }], 'RSA-OAEP-256'), 'RSA encrypt');
    await created(enc([{ ...rsa, use: 'enc' }], 'RSA-OAEP-256'), 'RSA use enc');
    // RFC 7592 §2.2: the registered client replaces its metadata with the same key set.
    const upd = await registrationManagement(
      {
        method: 'PUT',
        clientId: body.client_id as string,
        authorization: `Bearer ${body.registration_access_token as string}`,
        body: JSON.stringify({ ...enc([{ ...ecEnc, key_ops: ['deriveBits'] }], 'ECDH-ES'), client_id: body.client_id }),
        contentType: 'application/json',
      },
      t.ctx,
    );
    expect([upd.action, String(upd.responseContent).slice(0, 300)]).toEqual(['OK', expect.anything()]);
    // An encryption alg still needs a key that can serve it: an RSA1_5 key (ignored) is none.
    await refused(enc([{ ...rsa, alg: 'RSA1_5', use: 'enc' }], 'RSA-OAEP-256'), 'only RSA1_5 for RSA-OAEP-256');
    // An encryption key is no private_key_jwt signing key.
    await refused(pkj([{ ...ecEnc, key_ops: ['deriveBits'] }]), 'only an EC deriveBits key');
  });

  it('RFC 7517 §4.2, §4.3: a private_key_jwt client needs a key it can verify with: use absent or sig, key_ops with verify', async () => {
    for (const [what, k] of [
      ['use foo', { ...es256, use: 'foo' }],
      ['key_ops sign only', { ...es256, key_ops: ['sign'] }],
      ['key_ops empty', { ...es256, key_ops: [] }],
    ] as [string, Record<string, unknown>][]) {
      await refused(pkj([k]), what);
    }
    await created(pkj([{ ...es256, use: 'sig', key_ops: ['verify'] }]), 'use sig, key_ops verify');
  });

  it('RFC 7591 §3.2.2: broken keys that name a supported alg or kty are still refused', async () => {
    const rsa1024 = await exportJWK(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
    for (const [what, k] of [
      ['EC without crv/x/y', { kty: 'EC' }],
      ['OKP without crv', { kty: 'OKP', x: 'AA' }],
      ['RSA under 2048 bits', rsa1024],
      ['RSA under 2048 bits for encryption', { ...rsa1024, use: 'enc' }],
      ['ECDH-ES key with a bad point', { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', alg: 'ECDH-ES' }],
      ['RS256 alg on an EC key', { ...es256, alg: 'RS256' }],
    ] as [string, Record<string, unknown>][]) {
      await refused(pkj([es256, k]), what);
    }
  });
});
