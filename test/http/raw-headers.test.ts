import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { backChannelInput } from '../../src/http/back-channel.js';
import {
  hostProblem,
  rememberRepeatedHeaders,
  REPEATED_AUTHORIZATION,
  REPEATED_CONTENT_TYPE,
  REPEATED_HOST,
  repeatedAuthorizationOf,
  repeatedHeaders,
  repeatedHeadersOf,
} from '../../src/http/raw-headers.js';

const request = (rawHeaders: string[]): IncomingMessage => {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) headers[rawHeaders[i]!.toLowerCase()] ??= rawHeaders[i + 1]!;
  return { headers, rawHeaders, httpVersion: '1.1' } as unknown as IncomingMessage;
};

describe('one rawHeaders scan per request: the mask computed on arrival serves every later check', () => {
  it('RFC 9112 §3.2: hostProblem judges a repeated Host by the mask it is given', () => {
    const req = request(['Host', 'as.example']);
    expect(hostProblem(req)).toBeUndefined();
    expect(hostProblem(req, REPEATED_HOST)).toBe('more than one Host header');
    expect(hostProblem(request(['Host', 'as.example', 'host', 'other.example']), 0)).toBeUndefined();
    expect(hostProblem(request(['Host', 'as.example', 'host', 'other.example']))).toBe('more than one Host header');
  });

  it('RFC 6749 §2.3, RFC 9110 §5.3: backChannelInput takes the mask in place of the raw headers', () => {
    const raw = ['Host', 'as.example', 'Authorization', 'Basic a', 'authorization', 'Basic b', 'Content-Type', 'a/b', 'content-type', 'c/d'];
    const req = request(raw);
    const mask = repeatedHeaders(raw);
    expect(mask).toBe(REPEATED_AUTHORIZATION | REPEATED_CONTENT_TYPE);
    for (const given of [raw, mask]) {
      const input = backChannelInput('', req.headers, '192.0.2.1', undefined, given);
      expect([input.repeatedAuthorization, input.repeatedContentType], JSON.stringify(given)).toEqual([true, true]);
    }
    expect(backChannelInput('', req.headers, '192.0.2.1', undefined, 0).repeatedAuthorization).toBe(false);
  });

  it('RFC 6750 §2: the routes Fastify serves read the remembered mask, else scan', () => {
    const raw = ['Authorization', 'Bearer a', 'Authorization', 'Bearer b'];
    const fresh = request(raw);
    expect([repeatedHeadersOf(fresh), repeatedAuthorizationOf(fresh)]).toEqual([REPEATED_AUTHORIZATION, true]);
    const remembered = request(raw);
    rememberRepeatedHeaders(remembered, 0);
    expect([repeatedHeadersOf(remembered), repeatedAuthorizationOf(remembered)]).toEqual([0, false]);
  });
});
