import { hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/errors.js';

export interface MasterKeys {
  /** Keys the HMAC that stores secrets as hashes. */
  hashKey: Buffer;
  /** Encrypts private signing keys at rest (JWE dir + A256GCM). */
  keyEncryptionKey: Uint8Array;
}

/** Where the generated root secret lives when no keyEncryptionKey is configured. */
export function masterKeyFile(dataDir: string): string {
  return join(dataDir, 'master.key');
}

/**
 * The root secret comes from config (LATCHKEY_KEY_ENCRYPTION_KEY) or from <dataDir>/master.key, which is
 * generated with mode 0600 on first start, in a folder created 0700. Sub-keys are derived with HKDF so one secret
 * serves both uses. An existing file or folder open to others is warned about at start (filePermissionWarnings).
 */
export function loadMasterKeys(opts: { configured?: string; dataDir: string }): { keys: MasterKeys; source: string; generated?: string } {
  let root: Buffer;
  let source: string;
  let generated: string | undefined;
  if (opts.configured) {
    root = Buffer.from(opts.configured, 'base64url');
    source = 'configuration';
  } else {
    const file = masterKeyFile(opts.dataDir);
    if (existsSync(file)) {
      root = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
      if (root.length !== 32) throw new ConfigError(`${file} does not hold a 32-byte base64url key`);
    } else {
      // Only folders created here get 0700: an existing one (perhaps a shared parent) is not changed.
      mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
      root = randomBytes(32);
      writeFileSync(file, root.toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
      chmodSync(file, 0o600);
      generated = file;
    }
    source = file;
  }
  return { keys: deriveMasterKeys(root), source, generated };
}

export function deriveMasterKeys(root: Buffer): MasterKeys {
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), info, 32));
  return { hashKey: derive('latchkey/secret-hash/v1'), keyEncryptionKey: new Uint8Array(derive('latchkey/key-encryption/v1')) };
}
