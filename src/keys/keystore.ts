import { createPrivateKey, createPublicKey, generateKeyPair, type JsonWebKey, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, compactDecrypt, CompactEncrypt, type JWK } from 'jose';
import type { KeyStoreRepo, SigningKeyRecord } from '../store/types.js';
import { SIGNING_ALGS, type SigningAlg, type SigningKey } from '../tokens/jwt.js';

const generate = promisify(generateKeyPair);

/** Public members per key type: a published JWK never carries anything else (RFC 7517 §4, §9.2). */
const PUBLIC_MEMBERS: Record<string, string[]> = { EC: ['crv', 'x', 'y'], RSA: ['n', 'e'], OKP: ['crv', 'x'] };

export interface TenantKeys {
  readonly version: number;
  /** The ready-to-send JWKS body (RFC 7517 §5), built once per key change. */
  readonly jwksJson: string;
  readonly jwks: { keys: JWK[] };
  /** Active signing key for alg; throws when the tenant has none. */
  signingKey(alg: SigningAlg): SigningKey;
  /** Algorithms that have an active key. */
  readonly algs: SigningAlg[];
  /** Public key by kid (active or still published), for verifying tokens we issued (id_token_hint). */
  publicKey(kid: string): KeyObject | undefined;
}

async function generateKey(alg: SigningAlg): Promise<{ privateJwk: JsonWebKey; publicJwk: JsonWebKey }> {
  let pair: { privateKey: KeyObject; publicKey: KeyObject };
  switch (alg) {
    case 'ES256':
      pair = await generate('ec', { namedCurve: 'P-256' });
      break;
    case 'RS256':
    case 'PS256':
      pair = await generate('rsa', { modulusLength: 2048 });
      break;
    case 'EdDSA':
      pair = await generate('ed25519');
      break;
  }
  return { privateJwk: pair.privateKey.export({ format: 'jwk' }), publicJwk: pair.publicKey.export({ format: 'jwk' }) };
}

function publicOnly(jwk: JsonWebKey, alg: string, kid: string): JWK {
  const out: JWK = { kty: jwk.kty as string, use: 'sig', alg, kid };
  for (const m of PUBLIC_MEMBERS[jwk.kty as string] ?? []) (out as Record<string, unknown>)[m] = (jwk as Record<string, unknown>)[m];
  return out;
}

export class KeyManager {
  private readonly cache = new Map<string, { keys: TenantKeys; checkedAt: number }>();

  constructor(
    private readonly repo: KeyStoreRepo,
    private readonly encryptionKey: Uint8Array,
    private readonly clock: () => number = Date.now,
    /** How often (ms) a cached key set is re-validated against the store's version (other instances may rotate). */
    private readonly recheckMs = 30_000,
  ) {}

  /** Create keys for every signing alg that has no active key yet. Returns the algs created. */
  async ensureKeys(tenantId: string): Promise<SigningAlg[]> {
    const existing = await this.repo.listKeys(tenantId);
    const missing = SIGNING_ALGS.filter((a) => !existing.some((k) => k.alg === a && k.status === 'active'));
    if (missing.length) await this.addKeys(tenantId, missing);
    return missing;
  }

  /** New active keys for the given algs; the previous active keys stay published in the JWKS. */
  async rotate(tenantId: string, algs: readonly SigningAlg[] = SIGNING_ALGS): Promise<SigningKeyRecord[]> {
    return this.addKeys(tenantId, algs);
  }

  async list(tenantId: string): Promise<SigningKeyRecord[]> {
    return this.repo.listKeys(tenantId);
  }

  /**
   * Retire a published (rotated-out) key: it leaves the JWKS, so tokens it signed no longer verify. The active
   * key of an alg cannot be retired (rotate first). False when there is no such published key.
   */
  async retire(tenantId: string, kid: string): Promise<boolean> {
    const done = await this.repo.retireKey(tenantId, kid);
    if (done) {
      const keys = await this.load(tenantId, await this.repo.keysVersion(tenantId));
      this.cache.set(tenantId, { keys, checkedAt: this.clock() });
    }
    return done;
  }

  private async addKeys(tenantId: string, algs: readonly SigningAlg[]): Promise<SigningKeyRecord[]> {
    const now = Math.floor(this.clock() / 1000);
    const records: SigningKeyRecord[] = [];
    for (const alg of algs) {
      const { privateJwk, publicJwk } = await generateKey(alg);
      const kid = await calculateJwkThumbprint(publicJwk as JWK, 'sha256'); // RFC 7638
      const privateJwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(privateJwk)))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'jwk+json' })
        .encrypt(this.encryptionKey);
      records.push({ tenantId, kid, alg, status: 'active', publicJwk: publicOnly(publicJwk, alg, kid) as Record<string, unknown>, privateJwe, createdAt: now });
    }
    await this.repo.addActiveKeys(records);
    // Reload now rather than dropping the cache, so no later request has to load keys on its own path.
    const keys = await this.load(tenantId, await this.repo.keysVersion(tenantId));
    this.cache.set(tenantId, { keys, checkedAt: this.clock() });
    return records;
  }

  /**
   * Loaded keys for a tenant: imported once, then served from memory. Every recheckMs a background check compares
   * the store's key version (another instance may have rotated) and reloads on change. Only the very first load
   * of a tenant waits for the store (Latchkey preloads it when it builds the tenant's context), so minting a token
   * inside a database transaction never needs a second connection.
   */
  async forTenant(tenantId: string): Promise<TenantKeys> {
    const hit = this.cache.get(tenantId);
    if (!hit) {
      const keys = await this.load(tenantId, await this.repo.keysVersion(tenantId));
      this.cache.set(tenantId, { keys, checkedAt: this.clock() });
      return keys;
    }
    const now = this.clock();
    if (now - hit.checkedAt >= this.recheckMs && !this.refreshing.has(tenantId)) {
      hit.checkedAt = now;
      const p = this.refresh(tenantId, hit.keys.version).finally(() => this.refreshing.delete(tenantId));
      this.refreshing.set(tenantId, p);
    }
    return hit.keys;
  }

  private readonly refreshing = new Map<string, Promise<void>>();

  private async refresh(tenantId: string, known: number): Promise<void> {
    try {
      const version = await this.repo.keysVersion(tenantId);
      if (version === known) return;
      const keys = await this.load(tenantId, version);
      this.cache.set(tenantId, { keys, checkedAt: this.clock() });
    } catch {
      // Keep serving the keys we have; the next check tries again.
    }
  }

  /** Wait for any background refresh (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all(this.refreshing.values());
  }

  invalidate(tenantId?: string): void {
    if (tenantId) this.cache.delete(tenantId);
    else this.cache.clear();
  }

  private async load(tenantId: string, version: number): Promise<TenantKeys> {
    const records = (await this.repo.listKeys(tenantId)).filter((k) => k.status !== 'retired');
    const active = new Map<SigningAlg, SigningKey>();
    const publics = new Map<string, KeyObject>();
    for (const r of records) {
      publics.set(r.kid, createPublicKey({ key: r.publicJwk as JsonWebKey, format: 'jwk' }));
      if (r.status === 'active') {
        const { plaintext } = await compactDecrypt(r.privateJwe, this.encryptionKey);
        const jwk = JSON.parse(new TextDecoder().decode(plaintext)) as JsonWebKey;
        active.set(r.alg as SigningAlg, { kid: r.kid, alg: r.alg as SigningAlg, privateKey: createPrivateKey({ key: jwk, format: 'jwk' }) });
      }
    }
    // Newest first, so clients that pick the first matching key pick the active one.
    const jwks = { keys: records.slice().reverse().map((r) => r.publicJwk as JWK) };
    const jwksJson = JSON.stringify(jwks);
    return {
      version,
      jwks,
      jwksJson,
      algs: [...active.keys()],
      signingKey(alg) {
        const k = active.get(alg);
        if (!k) throw new Error(`no active ${alg} signing key for tenant ${tenantId}`);
        return k;
      },
      publicKey: (kid) => publics.get(kid),
    };
  }
}
