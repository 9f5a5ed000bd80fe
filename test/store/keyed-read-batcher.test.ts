import { describe, expect, it } from 'vitest';
import { KeyedReadBatcher } from '../../src/store/sqlite-batch.js';

interface Row {
  key: string;
  v: string;
}

/** A fake table: group -> rows; records every statement the batcher makes. */
function table(data: Record<string, Row[]>, opts: { failGroup?: string } = {}) {
  const statements: { group: string; keys: string[] }[] = [];
  const readMany = async (group: string, keys: string[]) => {
    statements.push({ group, keys: [...keys] });
    if (group === opts.failGroup) throw new Error('database unavailable');
    return (data[group] ?? []).filter((r) => keys.includes(r.key));
  };
  return { statements, readMany };
}

describe('KeyedReadBatcher: the point reads of one turn in one statement per group (PostgreSQL token look-ups)', () => {
  it('reads asked in one turn share one statement per group; each gets its own row, or undefined when absent', async () => {
    const t = table({ a: [{ key: 'k1', v: 'a1' }, { key: 'k2', v: 'a2' }], b: [{ key: 'k1', v: 'b1' }] });
    const batcher = new KeyedReadBatcher<Row>(t.readMany, (r) => r.key);
    const results = await Promise.all([batcher.read('a', 'k1'), batcher.read('b', 'k1'), batcher.read('a', 'k2'), batcher.read('a', 'nope')]);
    expect(results).toEqual([{ key: 'k1', v: 'a1' }, { key: 'k1', v: 'b1' }, { key: 'k2', v: 'a2' }, undefined]);
    expect(t.statements).toEqual([{ group: 'a', keys: ['k1', 'k2', 'nope'] }, { group: 'b', keys: ['k1'] }]);
  });

  it('one key asked twice in a turn is read once and answers both', async () => {
    const t = table({ a: [{ key: 'k1', v: 'a1' }] });
    const batcher = new KeyedReadBatcher<Row>(t.readMany, (r) => r.key);
    expect(await Promise.all([batcher.read('a', 'k1'), batcher.read('a', 'k1')])).toEqual([{ key: 'k1', v: 'a1' }, { key: 'k1', v: 'a1' }]);
    expect(t.statements).toEqual([{ group: 'a', keys: ['k1'] }]);
  });

  it('a read asked after a flush goes to the next statement and sees the table as it is then', async () => {
    const data: Record<string, Row[]> = { a: [] };
    const t = table(data);
    const batcher = new KeyedReadBatcher<Row>(t.readMany, (r) => r.key);
    expect(await batcher.read('a', 'k1')).toBeUndefined();
    data.a!.push({ key: 'k1', v: 'new' });
    expect(await batcher.read('a', 'k1')).toEqual({ key: 'k1', v: 'new' });
    expect(t.statements).toHaveLength(2);
  });

  it('more keys than maxKeys are split across statements', async () => {
    const rows = Array.from({ length: 7 }, (_, i) => ({ key: `k${i}`, v: `v${i}` }));
    const t = table({ a: rows });
    const batcher = new KeyedReadBatcher<Row>(t.readMany, (r) => r.key, 3);
    expect(await Promise.all(rows.map((r) => batcher.read('a', r.key)))).toEqual(rows);
    expect(t.statements.map((s) => s.keys.length)).toEqual([3, 3, 1]);
  });

  it('a failed statement fails the reads it carried, and only those', async () => {
    const t = table({ a: [{ key: 'k1', v: 'a1' }] }, { failGroup: 'b' });
    const batcher = new KeyedReadBatcher<Row>(t.readMany, (r) => r.key);
    const [ok, failed] = await Promise.allSettled([batcher.read('a', 'k1'), batcher.read('b', 'k1')]);
    expect(ok).toEqual({ status: 'fulfilled', value: { key: 'k1', v: 'a1' } });
    expect(failed).toMatchObject({ status: 'rejected', reason: { message: 'database unavailable' } });
  });
});
