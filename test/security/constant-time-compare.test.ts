import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Hasher } from '../../src/tokens/handles.js';

// A timing difference cannot be asserted in a test (nor should it be); what can be checked is that the pages compare a
// presented secret with Hasher.verify (timingSafeEqual) and never with === / !== against a keyed hash of the expected one.
describe('constant-time comparison of browser secrets (OWASP Session Management Cheat Sheet)', () => {
  it('OWASP session management: the sign-in, consent, logout and device pages compare binding cookies and CSRF tokens with Hasher.verify, never !==', () => {
    const ui = readFileSync(new URL('../../src/http/routes/ui.ts', import.meta.url), 'utf8');
    const plain = ui.split('\n').filter((l) => /[!=]==\s*(binding|csrfFor|deviceCsrfOf|confirmBinding)\(|[!=]==\s*(ctx|lk)\.hasher\.hash\(/.test(l));
    expect(plain).toEqual([]);
  });

  it('Hasher.verify accepts the keyed hash of the value and refuses any other value, length or empty input', () => {
    const h = new Hasher(Buffer.alloc(32, 1));
    const mac = h.hash('csrf:ticket');
    expect(h.verify('csrf:ticket', mac)).toBe(true);
    expect(h.verify('csrf:ticket', mac.slice(0, -1))).toBe(false);
    expect(h.verify('csrf:ticket', `${mac}x`)).toBe(false);
    expect(h.verify('csrf:ticket', '')).toBe(false);
    expect(h.verify('csrf:other', mac)).toBe(false);
  });
});
