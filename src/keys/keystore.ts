import { createPrivateKey, createPublicKey, generateKeyPair, type JsonWebKey, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, compactDecrypt, CompactEncrypt, errors, type JWK } from 'jose';
import { ConfigError } from '../config/errors.js';
import type { KeyStoreRepo, SigningKeyRecord } from '../store/types.js';
import { SIGNING_ALGS, type SigningAlg, type SigningKey } from '../tokens/jwt.js';

const generate = promisify(generateKeyPair);

/** Public members per key type: a published JWK never carries anything else (RFC 7517 §4, §9.2). */
const PUBLIC_MEMBERS: Record<string, string[]> = { EC: ['crv', 'x', 'y'], RSA: ['n', 'e'], OKP: ['crv', 'x'] };

export interface TenantKeys {
  readonly version: number;
  /** The ready-to-send JWKS body (RFC 7517 §5), built once per key change (and once per activation). */
  readonly jwksJson: string;
  readonly jwks: { keys: JWK[] };
  /**
   * Active signing key for alg, as of now (staged keys take over at their activation time); while none has activated
   * by this clock (another instance's clock ahead, or this one stepped back), the one that activates first. Throws
   * when the tenant has no key for alg.
   */
  signingKey(alg: SigningAlg): SigningKey;
  /** Algorithms that have a key to sign with (signingKey). */
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

/**
 * A key's state at a moment (issue 8, staged activation):
 * - pending: published in the JWKS, signs from its activation time on;
 * - active: the newest key of its alg whose activation time has passed: it signs;
 * - published: replaced by a newer active key (or demoted by an immediate rotation): verifies only;
 * - retired: gone from the JWKS.
 */
export type KeyState = 'pending' | 'active' | 'published' | 'retired';

export type KeyListing = SigningKeyRecord & { state: KeyState; activatesAt: number };

const activationOf = (r: SigningKeyRecord): number => r.activatesAt ?? r.createdAt;

/**
 * The state of each key at `now` (epoch seconds). `records` in store order (oldest first). Every instance derives
 * the same answer from the same rows and the time, so all of them switch signing keys at once without a store call.
 */
export function keyStates(records: readonly SigningKeyRecord[], now: number): KeyListing[] {
  const signer = new Map<string, SigningKeyRecord>();
  for (const r of records) if (r.status === 'active' && activationOf(r) <= now) signer.set(r.alg, r); // the newest wins
  return records.map((r) => {
    let state: KeyState = r.status;
    if (r.status === 'active') {
      const current = signer.get(r.alg);
      if (current === r) state = 'active';
      else if (current && records.indexOf(r) < records.indexOf(current)) state = 'published';
      else state = 'pending';
    }
    return { ...r, state, activatesAt: activationOf(r) };
  });
}

/**
 * When a replaced key stopped signing: the earliest activation among the keys of its alg added after it (the one
 * that took over; a later immediate rotation may have come first). Retired keys are left out (retiring moves a
 * row to the end of the store order): leaving out a successor only makes the answer later, never earlier.
 * Undefined when no key has taken over (the key is still signing, or pending).
 */
export function signedUntil(listing: readonly KeyListing[], kid: string): number | undefined {
  const live = listing.filter((k) => k.state !== 'retired' || k.kid === kid);
  const i = live.findIndex((k) => k.kid === kid);
  if (i < 0) return undefined;
  const alg = live[i]!.alg;
  const later = live.slice(i + 1).filter((k) => k.alg === alg).map((k) => k.activatesAt);
  return later.length ? Math.min(...later) : undefined;
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
    /**
     * Seconds between a rotation and the new key's first signature (keyActivationDelay). Longer than recheckMs,
     * every instance publishes the key before any signs with it; 0 signs at once (one process only).
     */
    readonly activationDelayS = 0,
  ) {}

  /** Create keys (signing at once) for every signing alg that has no active or pending key yet. Returns the algs created. */
  async ensureKeys(tenantId: string): Promise<SigningAlg[]> {
    const existing = await this.repo.listKeys(tenantId);
    // Decrypt the existing keys first, at start and before anything is written: a server given another
    // keyEncryptionKey (or master.key) stops here with one line (decryptPrivateKey), in a cluster's primary too.
    if (existing.some((k) => k.status === 'active')) {
      const keys = await this.load(tenantId, await this.repo.keysVersion(tenantId));
      this.cache.set(tenantId, { keys, checkedAt: this.clock() });
    }
    const missing = SIGNING_ALGS.filter((a) => !existing.some((k) => k.alg === a && k.status === 'active'));
    if (missing.length) await this.addKeys(tenantId, missing, () => true);
    return missing;
  }

  /**
   * New keys for the given algs, published at once. They sign from activationDelayS on; until then the current
   * keys keep signing, and afterwards they stay published. `immediate` (a compromised key) signs at once: RPs and
   * instances that have not fetched the new JWKS yet reject the new tokens until they do.
   */
  async rotate(tenantId: string, algs: readonly SigningAlg[] = SIGNING_ALGS, opts: { immediate?: boolean } = {}): Promise<SigningKeyRecord[]> {
    const states = keyStates(await this.repo.listKeys(tenantId), Math.floor(this.clock() / 1000));
    // An alg that nobody signs with yet has nothing to stage against.
    const signing = new Set(states.filter((k) => k.state === 'active').map((k) => k.alg));
    return this.addKeys(tenantId, algs, (alg) => opts.immediate === true || this.activationDelayS === 0 || !signing.has(alg));
  }

  /** The tenant's keys, oldest first, with their state now. */
  async list(tenantId: string): Promise<KeyListing[]> {
    return keyStates(await this.repo.listKeys(tenantId), Math.floor(this.clock() / 1000));
  }

  /**
   * Retire a published (rotated-out) key: it leaves the JWKS, so tokens it signed no longer verify. The active
   * key of an alg cannot be retired (rotate first), nor a pending one. False when there is no such published key.
   */
  async retire(tenantId: string, kid: string): Promise<boolean> {
    // One rule (keyStates): a key may go once it is published, i.e. rotated out, or replaced by a newer key of its
    // alg that has activated. The store only re-checks the stored status it was read with.
    const key = (await this.list(tenantId)).find((k) => k.kid === kid);
    if (key?.state !== 'published') return false;
    const done = await this.repo.retireKey(tenantId, kid, key.status === 'active' ? 'active' : 'published');
    if (done) {
      const keys = await this.load(tenantId, await this.repo.keysVersion(tenantId));
      this.cache.set(tenantId, { keys, checkedAt: this.clock() });
    }
    return done;
  }

  private async addKeys(tenantId: string, algs: readonly SigningAlg[], immediate: (alg: SigningAlg) => boolean): Promise<SigningKeyRecord[]> {
    const now = Math.floor(this.clock() / 1000);
    const records: SigningKeyRecord[] = [];
    for (const alg of algs) {
      const { privateJwk, publicJwk } = await generateKey(alg);
      const kid = await calculateJwkThumbprint(publicJwk as JWK, 'sha256'); // RFC 7638
      const privateJwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(privateJwk)))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'jwk+json' })
        .encrypt(this.encryptionKey);
      const activatesAt = immediate(alg) ? now : now + this.activationDelayS;
      records.push({ tenantId, kid, alg, status: 'active', publicJwk: publicOnly(publicJwk, alg, kid) as Record<string, unknown>, privateJwe, createdAt: now, activatesAt });
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
      // A tenant with no key at all is one being created (createTenant writes its row, then its keys), seen through
      // another instance in between: not cached, so its keys are found the moment they are written, rather than a
      // key set that signs nothing being served for the re-validation interval.
      if (keys.version !== 0) this.cache.set(tenantId, { keys, checkedAt: this.clock() });
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
  private timer: NodeJS.Timeout | undefined;

  /**
   * Re-validate cached key sets on a timer too, not only when a request asks for keys: an instance that was idle
   * while another rotated or retired a key would otherwise sign its first request with the key set it had.
   */
  startBackgroundChecks(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      for (const tenantId of this.cache.keys()) void this.forTenant(tenantId).catch(() => undefined);
    }, Math.max(1000, this.recheckMs));
    this.timer.unref();
  }

  stopBackgroundChecks(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

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
    const publics = new Map<string, KeyObject>();
    /** Per alg, the keys that sign now or later, newest first, with their activation time in ms. */
    const candidates = new Map<SigningAlg, { at: number; key: SigningKey }[]>();
    // A key replaced by a newer one that already signs never signs again (keyStates: 'published'): it stays in the
    // JWKS and verifies through its public key, but its private key is not decrypted. The signer now and the
    // pending keys after it are.
    const loadedAt = this.clock();
    const signerNow = new Map<string, SigningKeyRecord>();
    for (const r of records) if (r.status === 'active' && activationOf(r) * 1000 <= loadedAt) signerNow.set(r.alg, r); // the newest wins
    for (const r of records) {
      publics.set(r.kid, createPublicKey({ key: r.publicJwk as JsonWebKey, format: 'jwk' }));
      const signer = signerNow.get(r.alg);
      if (r.status === 'active' && (!signer || records.indexOf(r) >= records.indexOf(signer))) {
        const plaintext = await decryptPrivateKey(r, this.encryptionKey);
        const jwk = JSON.parse(new TextDecoder().decode(plaintext)) as JsonWebKey;
        const key = { kid: r.kid, alg: r.alg as SigningAlg, privateKey: createPrivateKey({ key: jwk, format: 'jwk' }) };
        const list = candidates.get(key.alg) ?? [];
        // The signer as loaded keeps signing until a newer key's time, even if the clock steps back a little: the
        // keys it replaced are not loaded to fall back on.
        list.unshift({ at: r === signer ? -Infinity : activationOf(r) * 1000, key });
        candidates.set(key.alg, list);
      }
    }
    // No key of an alg had activated by this instance's clock when they were loaded: a tenant's first keys, or an
    // immediate rotation, written by an instance whose clock runs ahead of this one's (instances sharing PostgreSQL),
    // or before this clock was stepped back (NTP). The key that activates first signs then, rather than none (every
    // token request a 500 until the clock catches up): it is in the JWKS already, published when it was written.
    const first = new Map<SigningAlg, SigningKey>();
    for (const [alg, list] of candidates) first.set(alg, list.reduce((a, b) => (b.at < a.at ? b : a)).key);
    const clock = this.clock;
    // The JWKS and the alg list change only when a pending key activates: rebuilt then, once, not per request.
    const build = (now: number) => {
      let next = Infinity;
      for (const list of candidates.values()) for (const c of list) if (c.at > now) next = Math.min(next, c.at);
      const states = keyStates(records, Math.floor(now / 1000));
      const rank = (k: KeyListing) => (k.state === 'active' ? 0 : k.state === 'pending' ? 1 : 2);
      // Newest first, the signing keys before the others, so clients that pick the first matching key pick the active one.
      const ordered = states.map((k, i) => ({ k, i })).sort((a, b) => rank(a.k) - rank(b.k) || b.i - a.i);
      const jwks = { keys: ordered.map(({ k }) => k.publicJwk as JWK) };
      const algs = [...first.keys()]; // every loaded alg signs (signingKey), its first key until one activates
      return { builtAt: now, next, jwks, jwksJson: JSON.stringify(jwks), algs };
    };
    let view = build(clock());
    const current = () => {
      const now = clock();
      if (now >= view.next || now < view.builtAt) view = build(now);
      return view;
    };
    return {
      version,
      get jwks() {
        return current().jwks;
      },
      get jwksJson() {
        return current().jwksJson;
      },
      get algs() {
        return current().algs;
      },
      // A time check per signature on the preloaded set: every instance switches at the activation time, no store call.
      signingKey(alg) {
        const now = clock();
        const k = candidates.get(alg)?.find((c) => c.at <= now)?.key ?? first.get(alg);
        if (!k) throw new Error(`no active ${alg} signing key for tenant ${tenantId}`);
        return k;
      },
      publicKey: (kid) => publics.get(kid),
    };
  }
}

/**
 * A private key that does not decrypt (dir + A256GCM: the tag does not verify) was encrypted under another root
 * secret: the server was started with a keyEncryptionKey (or master.key) other than the one the database was set
 * up with. Said as a configuration error (one line from the CLI), not as jose's "decryption operation failed".
 */
/** The stored signing keys do not open with this server's keyEncryptionKey (or master.key). */
export class KeyEncryptionKeyMismatchError extends ConfigError {}

async function decryptPrivateKey(r: SigningKeyRecord, encryptionKey: Uint8Array): Promise<Uint8Array> {
  try {
    return (await compactDecrypt(r.privateJwe, encryptionKey)).plaintext;
  } catch (e) {
    if (!(e instanceof errors.JWEDecryptionFailed)) throw e;
    throw new KeyEncryptionKeyMismatchError(
      `the signing keys in the database (tenant ${r.tenantId}, key ${r.kid}) were encrypted with a different keyEncryptionKey (or master.key): ` +
        'start with the one this database was set up with (LATCHKEY_KEY_ENCRYPTION_KEY, or master.key in its dataDir)',
    );
  }
}
