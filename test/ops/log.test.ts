import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { requestIdOf, safeUrl } from '../../src/ops/log.js';

describe('what logs may say about a request', () => {
  it('path parameters (interaction and logout tickets) are logged as the route pattern', () => {
    expect(safeUrl('/interaction/SECRETTICKET/login', '/interaction/:ticket/login')).toBe('/interaction/:ticket/login');
    expect(safeUrl('/logout/SECRETTICKET', '/logout/:ticket')).toBe('/logout/:ticket');
    expect(safeUrl('/oauth/token', '/oauth/token')).toBe('/oauth/token');
  });

  it('query values are dropped except for parameters that are never secret', () => {
    const u = safeUrl('/demo/callback?code=SECRETCODE&state=S1&iss=x', '/demo/callback');
    expect(u).toBe('/demo/callback?code=*&state=*&iss=*');
    const a = safeUrl('/oauth/authorize?client_id=app&scope=openid%20email&login_hint=alice%40example.com&id_token_hint=eyJ.SECRET', '/oauth/authorize');
    expect(a).toBe('/oauth/authorize?client_id=app&scope=openid%20email&login_hint=*&id_token_hint=*');
    expect(a).not.toContain('SECRET');
    expect(a).not.toContain('alice');
  });

  it('an incoming X-Request-Id is kept only when it is a short safe token', () => {
    const req = (v?: string | string[]) => ({ headers: v === undefined ? {} : { 'x-request-id': v } }) as unknown as IncomingMessage;
    expect(requestIdOf(req('abc-123_X.9'))).toBe('abc-123_X.9');
    for (const bad of ['', 'a b', 'x'.repeat(65), 'line\nbreak', '"quoted"', '{"json":1}', ['a', 'b']]) {
      const id = requestIdOf(req(bad));
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(requestIdOf(req())).not.toBe(requestIdOf(req()));
  });
});
