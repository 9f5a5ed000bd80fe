import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configurationMarkdown, resultCodesMarkdown } from '../../scripts/gen-docs.js';

describe('generated docs are current (run `npm run docs` after changing the catalogue or the config schema)', () => {
  it('docs/result-codes.md matches src/engine/result-codes.ts', () => {
    expect(readFileSync('docs/result-codes.md', 'utf8')).toBe(resultCodesMarkdown());
  });
  it('docs/configuration.md matches src/config/schema.ts', () => {
    expect(readFileSync('docs/configuration.md', 'utf8')).toBe(configurationMarkdown());
  });
});
