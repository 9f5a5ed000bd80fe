import { describe, expect, it } from 'vitest';
import { internalErrorResult } from '../../src/engine/result.js';
import { isStoreUnavailable, isStoreUnreachable } from '../../src/store/unavailable.js';

describe('database unavailable vs. server bug', () => {
  it('connection failures and server shutdown codes count as the database being unavailable', () => {
    const err = (props: Record<string, unknown>, message = 'x') => Object.assign(new Error(message), props);
    for (const e of [
      err({ code: 'ECONNREFUSED' }), err({ code: '57P01' }), err({ code: '57P03' }), err({ code: '08006' }),
      new Error('Connection terminated unexpectedly'), new Error('timeout exceeded when trying to connect'),
      new AggregateError([err({ code: 'ECONNREFUSED' })]), err({ cause: err({ code: 'ECONNRESET' }) }),
    ]) expect(isStoreUnavailable(e), String((e as Error).message || (e as { code?: string }).code)).toBe(true);
    for (const e of [new TypeError('x is undefined'), err({ code: '23505' }), err({ code: '42P01' }), 'string', null]) expect(isStoreUnavailable(e)).toBe(false);
  });

  it('an unavailable database is answered 503 temporarily_unavailable with Retry-After; a bug stays 500 server_error', () => {
    const down = internalErrorResult('INTERNAL_SERVER_ERROR', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
    expect(down).toMatchObject({ status: 503, resultCode: 'LK9501', headers: { 'Retry-After': '1' } });
    expect(JSON.parse(down.responseContent)).toEqual({ error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; retry later' });
    const bug = internalErrorResult('INTERNAL_SERVER_ERROR', new TypeError('boom'));
    expect(bug).toMatchObject({ status: 500, resultCode: 'LK0001' });
    expect(JSON.parse(bug.responseContent).error).toBe('server_error');
  });

  it('PostgreSQL failures of the moment (deadlock victim, serialization failure, statement or lock timeout, no connection slot, memory or disk) are answered 503 with Retry-After, not 500', () => {
    const err = (code: string) => Object.assign(new Error('x'), { code });
    for (const code of ['40P01', '40001', '57014', '55P03', '53300', '53200', '53100', '53000']) {
      expect(isStoreUnavailable(err(code)), code).toBe(true);
      expect(internalErrorResult('X', err(code)), code).toMatchObject({ status: 503, resultCode: 'LK9501' });
    }
    // Other class 40 and 55 codes and the integrity violations stay bugs (500).
    for (const code of ['40002', '55000', '23503', '23514', '42703']) expect(isStoreUnavailable(err(code)), code).toBe(false);
  });

  it('only a database that could not be reached is "unreachable" (start-up says "cannot connect"); a deadlock, a timeout, a full disk or SQLite\'s busy lock are not', () => {
    const err = (code: string) => Object.assign(new Error('x'), { code });
    for (const code of ['ECONNREFUSED', '08006', '57P03', '53300']) expect(isStoreUnreachable(err(code)), code).toBe(true);
    expect(isStoreUnreachable(new AggregateError([err('ECONNREFUSED')]))).toBe(true);
    expect(isStoreUnreachable(new Error('Connection terminated unexpectedly'))).toBe(true);
    for (const code of ['40P01', '40001', '57014', '55P03', '53100', '53200', 'SQLITE_BUSY', '23505']) expect(isStoreUnreachable(err(code)), code).toBe(false);
  });

  it('SQLite: a write lock another process held past the wait (SQLITE_BUSY and its extended codes) is the database being unavailable; a constraint is not', () => {
    const err = (code: string) => Object.assign(new Error('database is locked'), { code });
    for (const code of ['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_RECOVERY']) expect(isStoreUnavailable(err(code)), code).toBe(true);
    for (const code of ['SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_ERROR', 'SQLITE_LOCKED']) expect(isStoreUnavailable(err(code)), code).toBe(false);
    expect(internalErrorResult('X', err('SQLITE_BUSY'))).toMatchObject({ status: 503, resultCode: 'LK9501' });
  });
});
