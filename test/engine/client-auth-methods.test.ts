import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { JWT_BEARER_ASSERTION_TYPE } from '../../src/engine/client-assertion.js';
import { token } from '../../src/engine/token/index.js';
import { rotateClientSecret } from '../../src/services/clients.js';
import { basic, openTestLatchkey, type TestLatchkey } from '../helpers/server.js';
import { makeTestPki, type TestPki } from '../helpers/certs.js';

const cc = (extra: Record<string, string> = {}) => new URLSearchParams({ grant_type: 'client_credentials', ...extra }).toString();

async function keyPair(alg = 'ES256'): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: randomUUID(), alg, use: 'sig' };
  return { privateKey, jwk };
}

describe('client authentication methods (engine)', () => {
  let t: TestLatchkey;
  let now = Date.now();
  const sec = () => Math.floor(now / 1000);
  let pk: { privateKey: CryptoKey; jwk: JWK };
  let other: { privateKey: CryptoKey; jwk: JWK };
  let pkClient: string;
  let psClient: string;
  let csClient: { clientId: string; clientSecret?: string };
  let basicClient: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    t = await openTestLatchkey({}, { clock: () => now });
    pk = await keyPair();
    other = await keyPair();
    pkClient = (await t.client({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [pk.jwk] } })).clientId;
    psClient = (
      await t.client({
        grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'PS256',
        // RFC 7591 §3.2.2: a PS256 client must hold a key for PS256; its ES256 key is the one an assertion then misuses.
        jwks: { keys: [pk.jwk, (await keyPair('PS256')).jwk] },
      })
    ).clientId;
    csClient = await t.client({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_jwt' });
    basicClient = await t.client({ grant_types: ['client_credentials'] });
  });
  afterAll(() => t.close());

  const sign = (
    clientId: string,
    key: CryptoKey | Uint8Array,
    o: { alg?: string; kid?: string; aud?: string | string[]; exp?: number; iat?: number; nbf?: number; jti?: string | null; iss?: string; sub?: string } = {},
  ) => {
    const payload: Record<string, unknown> = {};
    if (o.jti !== null) payload.jti = o.jti ?? randomUUID();
    if (o.nbf !== undefined) payload.nbf = o.nbf;
    return new SignJWT(payload)
      .setProtectedHeader({ alg: o.alg ?? 'ES256', ...(o.kid ? { kid: o.kid } : {}) })
      .setIssuer(o.iss ?? clientId)
      .setSubject(o.sub ?? clientId)
      .setAudience(o.aud ?? t.ctx.tenant.issuer)
      .setIssuedAt(o.iat ?? sec())
      .setExpirationTime(o.exp ?? sec() + 60)
      .sign(key);
  };
  const withAssertion = (a: string, extra: Record<string, string> = {}, ctx = t.ctx) =>
    token({ parameters: cc({ client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: a, ...extra }) }, ctx);
  /** The tenant with insecureLegacyClientAssertionAudience on. */
  const legacyCtx = () => ({ ...t.ctx, tenant: { ...t.ctx.tenant, settings: { ...t.ctx.tenant.settings, insecureLegacyClientAssertionAudience: true } } });
  const secretKey = (s: string) => new TextEncoder().encode(s);

  it('RFC 7523 §2.2: private_key_jwt with the registered key authenticates the client', async () => {
    const r = await withAssertion(await sign(pkClient, pk.privateKey, { kid: pk.jwk.kid }));
    expect(r.action).toBe('OK');
  });

  it('draft-ietf-oauth-rfc7523bis: aud is the issuer identifier, as a string or an array holding only it', async () => {
    const r = await withAssertion(await sign(pkClient, pk.privateKey, { aud: t.ctx.tenant.issuer }));
    expect(r.action).toBe('OK');
    const one = await withAssertion(await sign(pkClient, pk.privateKey, { aud: [t.ctx.tenant.issuer] }));
    expect(one.action).toBe('OK');
  });

  it('draft-ietf-oauth-rfc7523bis (audience injection): an aud array with a foreign member is refused, even beside the issuer', async () => {
    for (const aud of [['https://elsewhere.example', t.ctx.tenant.issuer], [t.ctx.tenant.issuer, 'https://evil.example'], [`${t.ctx.tenant.issuer}/oauth/token`, 'https://evil.example']]) {
      for (const ctx of [t.ctx, legacyCtx()]) {
        const r = await withAssertion(await sign(pkClient, pk.privateKey, { aud }), {}, ctx);
        expect(r.action, JSON.stringify(aud)).toBe('INVALID_CLIENT');
        expect(r.resultCode).toBe('LK7280');
      }
    }
  });

  it('draft-ietf-oauth-rfc7523bis: the token endpoint URL is refused as aud by default', async () => {
    const r = await withAssertion(await sign(pkClient, pk.privateKey, { aud: `${t.ctx.tenant.issuer}/oauth/token` }));
    expect(r.action).toBe('INVALID_CLIENT');
    expect(r.resultCode).toBe('LK7281');
    const cs = await withAssertion(await sign(csClient.clientId, secretKey(csClient.clientSecret!), { alg: 'HS256', aud: `${t.ctx.tenant.issuer}/oauth/token` }));
    expect(cs.resultCode).toBe('LK7281');
  });

  it('insecureLegacyClientAssertionAudience: the token endpoint URL is accepted as a string, or in an array whose every member names this server (openid-client 5)', async () => {
    const tokenUrl = `${t.ctx.tenant.issuer}/oauth/token`;
    expect((await withAssertion(await sign(pkClient, pk.privateKey, { aud: tokenUrl }), {}, legacyCtx())).action).toBe('OK');
    for (const aud of [[tokenUrl], [t.ctx.tenant.issuer, tokenUrl], [tokenUrl, t.ctx.tenant.issuer], [t.ctx.tenant.issuer, t.ctx.tenant.issuer]]) {
      const r = await withAssertion(await sign(pkClient, pk.privateKey, { aud }), {}, legacyCtx());
      expect(r.action, JSON.stringify(aud)).toBe('OK');
    }
    // The default stays strict: the same arrays are refused.
    expect((await withAssertion(await sign(pkClient, pk.privateKey, { aud: [tokenUrl] }))).resultCode).toBe('LK7281');
    expect((await withAssertion(await sign(pkClient, pk.privateKey, { aud: [t.ctx.tenant.issuer, tokenUrl] }))).resultCode).toBe('LK7280');
    expect((await withAssertion(await sign(pkClient, pk.privateKey, { aud: [t.ctx.tenant.issuer, t.ctx.tenant.issuer] }))).resultCode).toBe('LK7280');
    expect((await withAssertion(await sign(pkClient, pk.privateKey, { aud: [] }), {}, legacyCtx())).action).toBe('INVALID_CLIENT');
    // Another endpoint's URL names us too, but not the endpoint called.
    const other = await withAssertion(await sign(pkClient, pk.privateKey, { aud: `${t.ctx.tenant.issuer}/oauth/introspect` }), {}, legacyCtx());
    expect(other.resultCode).toBe('LK8003');
  });

  it('OIDC Core §9: client_secret_jwt is an HMAC with the client secret', async () => {
    const r = await withAssertion(await sign(csClient.clientId, secretKey(csClient.clientSecret!), { alg: 'HS256' }));
    expect(r.action).toBe('OK');
    const bad = await withAssertion(await sign(csClient.clientId, secretKey('x'.repeat(43)), { alg: 'HS256' }));
    expect(bad.action).toBe('INVALID_CLIENT');
    expect(bad.resultCode).toBe('LK8002');
  });

  it('client_secret_jwt: the secret is stored encrypted (JWE) and hashed, never in the clear', async () => {
    const c = (await t.ctx.store.findClient(t.ctx.tenant.id, csClient.clientId))!;
    expect(c.secretJwe).toMatch(/^eyJ[^.]*\.\.[^.]+\.[^.]+\.[^.]+$/); // compact JWE, dir: empty encrypted key
    expect(JSON.stringify(c)).not.toContain(csClient.clientSecret);
  });

  it('RFC 7523 §3: a replayed assertion (same jti) is rejected, also when the two race', async () => {
    const a = await sign(pkClient, pk.privateKey);
    expect((await withAssertion(a)).action).toBe('OK');
    const again = await withAssertion(a);
    expect(again.action).toBe('INVALID_CLIENT');
    expect(again.resultCode).toBe('LK8005');
    const b = await sign(pkClient, pk.privateKey);
    const results = await Promise.all(Array.from({ length: 8 }, () => withAssertion(b)));
    expect(results.filter((r) => r.action === 'OK')).toHaveLength(1);
  });

  it('OIDC Core §9: an assertion without jti is rejected', async () => {
    const r = await withAssertion(await sign(pkClient, pk.privateKey, { jti: null }));
    expect(r.resultCode).toBe('LK8005');
  });

  it('RFC 7523 §3: an expired assertion is rejected; exp more than 5 minutes ahead too', async () => {
    const expired = await withAssertion(await sign(pkClient, pk.privateKey, { iat: sec() - 600, exp: sec() - 120 }));
    expect(expired.action).toBe('INVALID_CLIENT');
    expect(expired.resultCode).toBe('LK8004');
    const far = await withAssertion(await sign(pkClient, pk.privateKey, { exp: sec() + 3600 }));
    expect(far.resultCode).toBe('LK8004');
    const future = await withAssertion(await sign(pkClient, pk.privateKey, { nbf: sec() + 600, exp: sec() + 200 }));
    expect(future.resultCode).toBe('LK8004');
    const iatAhead = await withAssertion(await sign(pkClient, pk.privateKey, { iat: sec() + 200, exp: sec() + 250 }));
    expect(iatAhead.resultCode).toBe('LK8004');
    // within the skew: fine
    const skewed = await withAssertion(await sign(pkClient, pk.privateKey, { iat: sec() + 10, exp: sec() + 70 }));
    expect(skewed.action).toBe('OK');
  });

  it('RFC 7523 §3: an assertion for another audience is rejected', async () => {
    const r = await withAssertion(await sign(pkClient, pk.privateKey, { aud: 'https://other-as.example' }));
    expect(r.resultCode).toBe('LK8003');
  });

  it('RFC 7523 §3: iss and sub must both be the client_id', async () => {
    const r = await withAssertion(await sign(pkClient, pk.privateKey, { iss: 'someone-else' }));
    expect(r.action).toBe('INVALID_CLIENT');
    expect(r.resultCode).toBe('LK8001');
    const garbage = await withAssertion('not.a.jwt');
    expect(garbage.action).toBe('INVALID_CLIENT');
  });

  it('an assertion signed with a key the client did not register is rejected', async () => {
    const r = await withAssertion(await sign(pkClient, other.privateKey, { kid: other.jwk.kid }));
    expect(r.resultCode).toBe('LK8002');
  });

  it('OIDC Registration §2: token_endpoint_auth_signing_alg is the only alg accepted', async () => {
    const r = await withAssertion(await sign(psClient, pk.privateKey));
    expect(r.action).toBe('INVALID_CLIENT');
    expect(r.resultCode).toBe('LK8007');
  });

  it('any method other than the registered one is invalid_client', async () => {
    // a private_key_jwt client using client_secret_jwt (an HMAC over anything), and a client_secret_jwt client signing with a key
    const hs = await withAssertion(await sign(pkClient, secretKey('y'.repeat(43)), { alg: 'HS256' }));
    expect(hs.resultCode).toBe('LK1003');
    const es = await withAssertion(await sign(csClient.clientId, pk.privateKey));
    expect(es.resultCode).toBe('LK1003');
    // a client_secret_basic client sending an assertion, and a private_key_jwt client sending client_id alone
    const basicAsJwt = await withAssertion(await sign(basicClient.clientId, pk.privateKey));
    expect(basicAsJwt.resultCode).toBe('LK1003');
    const idOnly = await token({ parameters: cc({ client_id: pkClient }) }, t.ctx);
    expect(idOnly.action).toBe('INVALID_CLIENT');
    expect(idOnly.resultCode).toBe('LK1003');
    // client_secret_jwt client using its secret directly
    const direct = await token({ parameters: cc(), authorization: basic(csClient.clientId, csClient.clientSecret!) }, t.ctx);
    expect(direct.resultCode).toBe('LK1003');
  });

  it('RFC 6749 §2.3: an assertion together with Basic is invalid_request; client_id must name the assertion\'s client', async () => {
    const a = await sign(pkClient, pk.privateKey);
    const both = await token(
      { parameters: cc({ client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: a }), authorization: basic(basicClient.clientId, basicClient.clientSecret!) },
      t.ctx,
    );
    expect(both.resultCode).toBe('LK1004');
    const mismatch = await withAssertion(await sign(pkClient, pk.privateKey), { client_id: basicClient.clientId });
    expect(mismatch.resultCode).toBe('LK1006');
  });

  it('RFC 7521 §4.2: an unknown client_assertion_type is invalid_client', async () => {
    const r = await token({ parameters: cc({ client_assertion_type: 'urn:example:saml', client_assertion: await sign(pkClient, pk.privateKey) }) }, t.ctx);
    expect(r.action).toBe('INVALID_CLIENT');
    expect(r.resultCode).toBe('LK8006');
  });

  it('secret rotation: the previous secret works until its grace period ends, the new one at once', async () => {
    const c = await t.client({ grant_types: ['client_credentials'] });
    const { json } = await rotateClientSecret(t.ctx, c.clientId, 60);
    const fresh = json.client_secret as string;
    const use = (secret: string) => token({ parameters: cc(), authorization: basic(c.clientId, secret) }, t.ctx);
    expect((await use(fresh)).action).toBe('OK');
    expect((await use(c.clientSecret!)).action).toBe('OK');
    now += 61_000;
    expect((await use(c.clientSecret!)).resultCode).toBe('LK1002');
    expect((await use(fresh)).action).toBe('OK');
    // without grace, the old secret stops at once
    const { json: j2 } = await rotateClientSecret(t.ctx, c.clientId, 0);
    expect((await use(fresh)).resultCode).toBe('LK1002');
    expect((await use(j2.client_secret as string)).action).toBe('OK');
  });

  it('secret rotation for client_secret_jwt: assertions with the previous secret verify during the grace period', async () => {
    const c = await t.client({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_jwt' });
    const { json } = await rotateClientSecret(t.ctx, c.clientId, 60);
    expect((await withAssertion(await sign(c.clientId, secretKey(c.clientSecret!), { alg: 'HS256' }))).action).toBe('OK');
    expect((await withAssertion(await sign(c.clientId, secretKey(json.client_secret as string), { alg: 'HS256' }))).action).toBe('OK');
    now += 61_000;
    expect((await withAssertion(await sign(c.clientId, secretKey(c.clientSecret!), { alg: 'HS256' }))).resultCode).toBe('LK8002');
  });
});

describe('private_key_jwt with jwks_uri (engine)', () => {
  let t: TestLatchkey;
  let srv: Server;
  let base: string;
  const served = new Map<string, { body: string; hits: number }>();
  let a: { privateKey: CryptoKey; jwk: JWK };
  let b: { privateKey: CryptoKey; jwk: JWK };

  beforeAll(async () => {
    srv = createServer((req, res) => {
      const doc = served.get(req.url ?? '');
      if (!doc) return void res.writeHead(404).end();
      doc.hits++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(doc.body);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    t = await openTestLatchkey({ insecureAllowHttpJwksUri: true });
    a = await keyPair();
    b = await keyPair('RS256');
  });
  afterAll(async () => {
    await t.close();
    await new Promise((r) => srv.close(r));
  });

  const signFor = (clientId: string, k: { privateKey: CryptoKey; jwk: JWK }) =>
    new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: k.jwk.alg!, kid: k.jwk.kid })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(t.ctx.tenant.issuer)
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(k.privateKey);
  const use = async (clientId: string, k: { privateKey: CryptoKey; jwk: JWK }) =>
    token({ parameters: cc({ client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: await signFor(clientId, k) }) }, t.ctx);
  const clientAt = async (path: string, keys: JWK[]) => {
    served.set(path, { body: JSON.stringify({ keys }), hits: 0 });
    return (await t.client({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: base + path })).clientId;
  };

  it('the keys are fetched from jwks_uri once and cached', async () => {
    const id = await clientAt('/cached', [a.jwk]);
    expect((await use(id, a)).action).toBe('OK');
    expect((await use(id, a)).action).toBe('OK');
    expect(served.get('/cached')!.hits).toBe(1);
  });

  it('an unknown kid refetches jwks_uri, at most once per cooldown', async () => {
    t.ctx.clients!.keySet.cooldownMs = 0;
    const id = await clientAt('/rotating', [a.jwk]);
    expect((await use(id, a)).action).toBe('OK');
    served.set('/rotating', { body: JSON.stringify({ keys: [a.jwk, b.jwk] }), hits: served.get('/rotating')!.hits });
    expect((await use(id, b)).action).toBe('OK'); // new kid: refetched
    expect(served.get('/rotating')!.hits).toBe(2);

    t.ctx.clients!.keySet.cooldownMs = 60_000;
    const slow = await clientAt('/rate-limited', [a.jwk]);
    expect((await use(slow, a)).action).toBe('OK');
    for (let i = 0; i < 3; i++) {
      const r = await use(slow, b); // unknown kid, inside the cooldown: no refetch
      expect(r.resultCode).toBe('LK8002');
    }
    expect(served.get('/rate-limited')!.hits).toBe(1);
    t.ctx.clients!.keySet.cooldownMs = undefined;
  });

  it('a jwks_uri document over the size limit is refused', async () => {
    const big = { ...a.jwk, x5c: ['A'.repeat(80 * 1024)] };
    const id = await clientAt('/huge', [big]);
    const r = await use(id, a);
    expect(r.action).toBe('INVALID_CLIENT');
    expect(r.resultCode).toBe('LK8008');
  });

  it('an unreachable jwks_uri is invalid_client, not a server error', async () => {
    const id = await clientAt('/missing-later', [a.jwk]);
    served.delete('/missing-later');
    const r = await use(id, a);
    expect(r.action).toBe('INVALID_CLIENT');
  });
});

describe('certificate client authentication (engine, RFC 8705)', () => {
  let t: TestLatchkey;
  let pki: TestPki;
  // Certificates are made during the tests, valid from the second they are made: the clock follows real time.
  let offset = 0;

  beforeAll(async () => {
    pki = makeTestPki();
    // A header source makes certificate methods available without a listener: the engine only sees PEM.
    t = await openTestLatchkey(
      { tlsClientCa: pki.ca.certFile, clientCertificateHeader: 'x-client-cert', trustedProxies: ['127.0.0.1'] },
      { clock: () => Date.now() + offset },
    );
  });
  afterAll(async () => {
    await t.close();
    pki.cleanup();
  });

  const withCert = (clientId: string, pem?: string) => token({ parameters: cc({ client_id: clientId }), clientCertificate: pem }, t.ctx);

  it('RFC 8705 §2.1: tls_client_auth accepts a CA-issued certificate with the registered subject DN, and nothing else', async () => {
    const good = pki.client('dn-good', '/C=NZ/O=Example, Ltd/CN=client-one');
    const stranger = pki.client('dn-other', '/C=NZ/O=Example, Ltd/CN=client-two');
    const untrusted = pki.client('dn-untrusted', '/C=NZ/O=Example, Ltd/CN=client-one', undefined, pki.otherCa);
    const self = pki.selfSigned('dn-self', '/C=NZ/O=Example, Ltd/CN=client-one');
    const { clientId } = await t.client({
      grant_types: ['client_credentials'], token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=client-one,O=Example\\, Ltd,C=NZ',
    });
    expect((await withCert(clientId, good.cert)).action).toBe('OK');
    expect((await withCert(clientId, stranger.cert)).resultCode).toBe('LK8011');
    expect((await withCert(clientId, untrusted.cert)).resultCode).toBe('LK8010');
    expect((await withCert(clientId, self.cert)).resultCode).toBe('LK8010');
    expect((await withCert(clientId)).resultCode).toBe('LK8009');
    expect((await withCert(clientId, 'garbage')).resultCode).toBe('LK8010');
  });

  it('RFC 8705 §2.1.2: SAN expectations (dNSName, URI, iPAddress compared in binary, rfc822Name)', async () => {
    const cert = pki.client('san', '/CN=whatever', 'DNS:svc.example,URI:https://svc.example/id,IP:2001:db8::7,email:ops@svc.example').cert;
    const cases: [Record<string, string>, boolean][] = [
      [{ tls_client_auth_san_dns: 'SVC.example' }, true],
      [{ tls_client_auth_san_dns: 'other.example' }, false],
      [{ tls_client_auth_san_uri: 'https://svc.example/id' }, true],
      [{ tls_client_auth_san_ip: '2001:0db8:0:0:0:0:0:7' }, true],
      [{ tls_client_auth_san_ip: '2001:db8::8' }, false],
      [{ tls_client_auth_san_email: 'ops@SVC.example' }, true],
    ];
    for (const [meta, ok] of cases) {
      const { clientId } = await t.client({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'tls_client_auth', ...meta });
      const r = await withCert(clientId, cert);
      expect([meta, r.action]).toEqual([meta, ok ? 'OK' : 'INVALID_CLIENT']);
    }
  });

  it('RFC 8705 §2.2: self_signed_tls_client_auth matches the certificate against the registered keys', async () => {
    const mine = pki.selfSigned('ss-mine', '/CN=self-signed-client');
    const theirs = pki.selfSigned('ss-theirs', '/CN=self-signed-client');
    const der = mine.cert.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    const { X509Certificate } = await import('node:crypto');
    const jwk = new X509Certificate(mine.cert).publicKey.export({ format: 'jwk' });
    const byX5c = await t.client({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [{ ...jwk, x5c: [der] }] } });
    const byKey = await t.client({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [jwk] } });
    expect((await withCert(byX5c.clientId, mine.cert)).action).toBe('OK');
    expect((await withCert(byKey.clientId, mine.cert)).action).toBe('OK');
    expect((await withCert(byX5c.clientId, theirs.cert)).resultCode).toBe('LK8012');
    expect((await withCert(byKey.clientId, theirs.cert)).resultCode).toBe('LK8012');
  });

  it('an expired client certificate is rejected', async () => {
    const cert = pki.client('soon-expired', '/CN=expiring', 'DNS:expiring.example').cert;
    const { clientId } = await t.client({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_san_dns: 'expiring.example' });
    expect((await withCert(clientId, cert)).action).toBe('OK');
    offset = 3 * 86400_000;
    expect((await withCert(clientId, cert)).resultCode).toBe('LK8010');
    offset = 0;
  });

  it('a certificate on the connection does not change the method of a client registered for another one', async () => {
    const cert = pki.client('bystander', '/CN=bystander', 'DNS:bystander.example').cert;
    const pub = await t.client({ redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none' });
    const r = await token({ parameters: cc({ client_id: pub.clientId }), clientCertificate: cert }, t.ctx);
    expect(r.resultCode).toBe('LK1007'); // authenticated as none, then refused client_credentials: no certificate method was assumed
    const b = await t.client({ grant_types: ['client_credentials'] });
    const noSecret = await token({ parameters: cc({ client_id: b.clientId }), clientCertificate: cert }, t.ctx);
    expect(noSecret.resultCode).toBe('LK1003');
  });
});
