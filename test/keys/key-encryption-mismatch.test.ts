import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import { deriveMasterKeys } from '../../src/keys/master-key.js';
import { KeyManager } from '../../src/keys/keystore.js';
import { Latchkey } from '../../src/server/latchkey.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

const MISMATCH = /^the signing keys in the database \(tenant default, key [\w-]+\) were encrypted with a different keyEncryptionKey \(or master\.key\)/;

describe('a keyEncryptionKey that does not match the database', () => {
  let t: TestLatchkey;
  beforeAll(async () => {
    t = await openTestLatchkey();
  });
  afterAll(() => t.close());

  it('stops the start with a ConfigError saying the signing keys were encrypted with another key, and writes nothing', async () => {
    const before = await t.lk.store.listKeys('default');
    const other = randomBytes(32).toString('base64url');
    const opening = Latchkey.open({ config: { ...t.lk.config, keyEncryptionKey: other } });
    await expect(opening).rejects.toBeInstanceOf(ConfigError);
    await expect(opening).rejects.toThrow(MISMATCH);
    // No key was added under the wrong key-encryption key.
    expect((await t.lk.store.listKeys('default')).map((k) => k.kid)).toEqual(before.map((k) => k.kid));
    // The right key still opens it.
    const again = await Latchkey.open({ config: t.lk.config });
    await again.close();
  });

  it('loading the keys with another key-encryption key is a ConfigError, not jose\'s "decryption operation failed"', async () => {
    const wrong = new KeyManager(t.lk.store, deriveMasterKeys(randomBytes(32)).keyEncryptionKey);
    await expect(wrong.forTenant('default')).rejects.toBeInstanceOf(ConfigError);
    await expect(wrong.forTenant('default')).rejects.toThrow(MISMATCH);
    await expect(wrong.ensureKeys('default')).rejects.toThrow(MISMATCH);
  });
});
