import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { token } from '../../src/engine/token/index.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

/**
 * Two instances sharing one database, the second one's clock 5 s behind the first's (clock skew between hosts, or a
 * clock NTP stepped back): keys the first writes to sign at once (a tenant's first keys, `keys rotate --now`)
 * activate, by the second one's clock, in the future. Until then the second has no key that has activated; it signs
 * with the one that activates first rather than answering every token request 500.
 */
describe('signing keys whose activation time is ahead of this instance\'s clock', () => {
  const T = Date.UTC(2032, 0, 1, 12);
  let ahead: TestLatchkey;
  let behind: TestLatchkey;
  let behindNow = T - 5_000;
  beforeAll(async () => {
    ahead = await openTestLatchkey({}, { clock: () => T });
    behind = await openTestLatchkey({ databaseUrl: ahead.lk.config.databaseUrl, keyEncryptionKey: ahead.lk.config.keyEncryptionKey }, { clock: () => behindNow });
  });
  afterAll(async () => {
    await behind.close();
    await ahead.close();
  });

  it('a tenant\'s first keys, written by an instance 5 s ahead, sign at once: a JWT access token, not a 500', async () => {
    const c = await ahead.client({ grant_types: ['client_credentials'], scope: 'api', access_token_format: 'jwt' });
    const r = await token({ parameters: 'grant_type=client_credentials&scope=api', clientId: c.clientId, clientSecret: c.clientSecret }, behind.ctx);
    expect(r.action, r.responseContent).toBe('OK');
    const jwt = JSON.parse(r.responseContent).access_token as string;
    const keys = await behind.ctx.keys();
    // Signed with the tenant's one key of that alg, which both instances publish.
    expect(decodeProtectedHeader(jwt).kid).toBe(keys.signingKey('ES256').kid);
    await expect(jwtVerify(jwt, createLocalJWKSet((await ahead.ctx.keys()).jwks), { currentDate: new Date(behindNow) })).resolves.toBeDefined();
    // The readiness check (ops.ts) counts the algs it can sign with.
    expect([...keys.algs].sort()).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256']);
    behindNow = T + 1_000; // once the clock passes the activation, the same key as before
    expect(keys.signingKey('ES256').kid).toBe(decodeProtectedHeader(jwt).kid);
    behindNow = T - 5_000;
  });

  it('keys rotate --now, then the old key retired: the instance behind signs with the new key, not none', async () => {
    const tenant = ahead.ctx.tenant.id;
    const old = (await ahead.ctx.keys()).signingKey('RS256').kid;
    const [added] = await ahead.lk.keys.rotate(tenant, ['RS256'], { immediate: true });
    expect(await ahead.lk.keys.retire(tenant, old)).toBe(true);
    behind.lk.keys.invalidate(tenant); // as its 30 s re-validation would
    const keys = await behind.ctx.keys();
    expect(keys.signingKey('RS256').kid).toBe(added!.kid);
    expect(keys.jwks.keys.map((k) => k.kid)).toContain(added!.kid);
    expect(keys.jwks.keys.map((k) => k.kid)).not.toContain(old);
  });
});
