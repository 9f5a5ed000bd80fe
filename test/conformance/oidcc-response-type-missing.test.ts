// oidcc-response-type-missing (OIDCCResponseTypeMissing, OP-Response-Missing).
import { describe, expect, it } from 'vitest';
import { authorizationUrl, CB, useConformance } from './helpers.js';

describe('oidcc-response-type-missing', () => {
  const T = useConformance();

  it('RFC 6749 §3.1.1, §4.1.2.1: a request without response_type is refused: invalid_request, in the query, with state', async () => {
    const t = T();
    const c = await t.client();
    const r = await t.browser().follow(authorizationUrl(t, c.clientId, { redirect_uri: CB, scope: 'openid', state: 'st-missing', nonce: 'n' }));
    // The suite accepts an error page or an error redirect; client and redirect_uri are valid, so it is redirected.
    expect(r.location, r.html.slice(0, 300)).toBeDefined();
    const u = new URL(r.location!);
    expect(u.origin + u.pathname).toBe(CB);
    expect(u.hash).toBe(''); // no response_type: the default (query) encoding
    expect(['invalid_request', 'unsupported_response_type']).toContain(u.searchParams.get('error'));
    expect(u.searchParams.get('state')).toBe('st-missing');
    expect(u.searchParams.get('iss')).toBe(t.issuer);
    expect(u.searchParams.get('code')).toBeNull();
  });
});
