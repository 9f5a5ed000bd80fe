// oidcc-server-rotate-keys (OIDCCServerRotateKeys, OP-Rotation-OP-Sig): the tester rotates the OP's signing keys
// between two fetches of jwks_uri; the new JWKS must hold a new signing key and should still hold the old one.
// Here the rotation is the operator's `latchkey keys rotate` (services/keys.ts rotateKeys).
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { describe, expect, it } from 'vitest';
import { rotateKeys } from '../../../src/services/keys.js';
import { DEFAULT_TENANT } from '../../../src/store/types.js';
import { dynamicCodeFlow, useDynamic } from './helpers.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** fetchAndValidateJwks: 200, keys with kty, unique kids, public keys only, none symmetric. */
async function fetchJwks(url: string): Promise<JSONWebKeySet> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  const jwks = (await res.json()) as JSONWebKeySet;
  expect(jwks.keys.length).toBeGreaterThan(0); // CheckServerKeysIsValid
  for (const k of jwks.keys) {
    expect(typeof k.kid).toBe('string'); // CheckForKeyIdInServerJWKs
    expect(k.kty).not.toBe('oct'); // EnsureServerJwksDoesNotContainPrivateOrSymmetricKeys
    for (const m of PRIVATE_MEMBERS) expect(k, m).not.toHaveProperty(m);
  }
  expect(new Set(jwks.keys.map((k) => k.kid)).size).toBe(jwks.keys.length); // CheckDistinctKeyIdValueInServerJWKs
  return jwks;
}

describe('oidcc-server-rotate-keys', () => {
  const D = useDynamic();

  it('OIDC Core §10.1.1: after a rotation the JWKS has a new signing key and still the old ones; new ID tokens use the new key', async () => {
    const d = D();
    const before = await fetchJwks(d.discovery.jwks_uri);
    const c = await d.register();
    const old = await dynamicCodeFlow(d, c);
    const oldKid = decodeProtectedHeader(old.tokens.id_token!).kid!;

    // TellUserToRotateOpKeys. A rotation is staged (keyActivationDelay): the new keys are published at once and
    // sign only later, so every instance and every cached JWKS has them first.
    await rotateKeys(d.s.lk, DEFAULT_TENANT);

    const after = await fetchJwks(d.discovery.jwks_uri);
    const beforeKids = before.keys.map((k) => k.kid);
    const added = after.keys.filter((k) => !beforeKids.includes(k.kid));
    expect(added.length).toBeGreaterThan(0); // VerifyNewJwksHasNewSigningKey
    expect(added.some((k) => k.kty === 'RSA')).toBe(true);
    for (const kid of beforeKids) expect(after.keys.map((k) => k.kid)).toContain(kid); // VerifyNewJwksStillHasOldSigningKey
    const staged = await dynamicCodeFlow(d, c);
    expect(decodeProtectedHeader(staged.tokens.id_token!).kid).toBe(oldKid); // published, not yet signing

    // Beyond the suite (which does not check it): once a new key signs (here the operator's immediate rotation,
    // `keys rotate --now`), new ID tokens carry its kid, and the ID token signed before still verifies.
    // The RP's cached key set would wait out its refetch cooldown for the unknown kid: it starts afresh instead.
    await rotateKeys(d.s.lk, DEFAULT_TENANT, undefined, { immediate: true });
    const latest = await fetchJwks(d.discovery.jwks_uri);
    for (const kid of beforeKids) expect(latest.keys.map((k) => k.kid)).toContain(kid);
    d.jwks = createRemoteJWKSet(new URL(d.discovery.jwks_uri));
    const fresh = await dynamicCodeFlow(d, c);
    const newKid = decodeProtectedHeader(fresh.tokens.id_token!).kid!;
    expect(newKid).not.toBe(oldKid);
    expect(latest.keys.map((k) => k.kid)).toContain(newKid);
    await jwtVerify(old.tokens.id_token!, createLocalJWKSet(latest), { issuer: d.issuer, audience: c.clientId, clockTolerance: 60 });
  });
});
