import { describe, expect, it } from 'vitest';
import { turnQueue } from '../../src/http/turn.js';

describe('turnQueue: requests answered a turn at a time', () => {
  it('runs nothing at once, then everything queued in this turn, in arrival order, in the check phase', async () => {
    const errors: unknown[] = [];
    const later = turnQueue((e) => errors.push(e));
    const ran: string[] = [];
    later(() => ran.push('a'));
    later(() => ran.push('b'));
    expect(ran).toEqual([]); // nothing runs where it is queued (the parser is still reading the turn's requests)
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['a', 'b']);
    later(() => ran.push('c')); // a later turn gets its own run
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(errors).toEqual([]);
  });

  it('one work that throws is reported and does not keep the rest of its turn from running', async () => {
    const errors: unknown[] = [];
    const later = turnQueue((e) => errors.push(e));
    const ran: string[] = [];
    const boom = new Error('boom');
    later(() => ran.push('a'));
    later(() => {
      throw boom;
    });
    later(() => ran.push('c'));
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['a', 'c']);
    expect(errors).toEqual([boom]);
  });
});
