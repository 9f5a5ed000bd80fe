import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { readSecretFile, withoutTrailingLineBreaks } from '../../src/config/secret-file.js';

/** One rule for secret files (LATCHKEY_<NAME>_FILE and the CLI's --password-file / --secret-file): src/config/secret-file.ts. */
describe('secret files: trailing line breaks', () => {
  it('every trailing \\n, \\r\\n or \\r is dropped; nothing else (inner line breaks, spaces) is touched', () => {
    expect(withoutTrailingLineBreaks('s3cret')).toBe('s3cret');
    expect(withoutTrailingLineBreaks('s3cret\n')).toBe('s3cret');
    expect(withoutTrailingLineBreaks('s3cret\r\n')).toBe('s3cret');
    expect(withoutTrailingLineBreaks('s3cret\n\n')).toBe('s3cret');
    expect(withoutTrailingLineBreaks('s3cret\r\n\r\n\n')).toBe('s3cret');
    expect(withoutTrailingLineBreaks('s3cret\r')).toBe('s3cret');
    expect(withoutTrailingLineBreaks('pass phrase \n')).toBe('pass phrase ');
    expect(withoutTrailingLineBreaks('  lead\ninner\n')).toBe('  lead\ninner');
    expect(withoutTrailingLineBreaks('\n\n')).toBe('');
  });

  it('LATCHKEY_<NAME>_FILE reads through the same rule: a file ending in two line breaks gives the value without both', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lk-secret-file-'));
    try {
      const kek = 'A'.repeat(43);
      writeFileSync(join(dir, 'kek'), `${kek}\r\n\n`);
      expect(readSecretFile(join(dir, 'kek'))).toBe(kek);
      expect(loadConfig({ env: { LATCHKEY_KEY_ENCRYPTION_KEY_FILE: join(dir, 'kek') } }).keyEncryptionKey).toBe(kek);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
