import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/audit.js';
import { openStore, type OpenedStore } from '../../src/store/open.js';
import type { AuditEventRecord, Store } from '../../src/store/types.js';
import { dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';
import { backend, id } from '../helpers/store-contract.js';

/**
 * The audit log's writes (src/audit/audit.ts flush): a batch the store could not take is tried again, in order, and
 * stored once, including when the first write landed but its reply was lost. Seen as a flaky store-fault test: a
 * PostgreSQL connection terminated under a flush lost the events of that batch.
 */
describe(`audit log: a batch that could not be stored is tried again (${backend})`, () => {
  let dir = '';
  let url = '';
  let store: OpenedStore;
  let tenant = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-audit-'));
    url = await testDatabaseUrl(dir);
    store = await openStore({ url });
  });
  afterAll(async () => {
    await store?.close();
    if (url) await dropTestDatabase(url);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    tenant = id('tenant');
  });

  /** A logger that keeps its lines. */
  const lines = () => {
    const out: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
    const at = (level: string) => (obj: unknown, msg?: string) => void out.push({ level, obj: obj as Record<string, unknown>, msg });
    return { out, log: { error: at('error'), warn: at('warn'), info: () => {} } };
  };
  /** The store, except that insertAuditEvents fails its first `failures` calls: before writing, or after (reply lost). */
  const failing = (failures: number, when: 'before' | 'after') => {
    let calls = 0;
    const wrapped = {
      insertAuditEvents: async (batch: AuditEventRecord[]) => {
        calls++;
        if (calls <= failures && when === 'before') throw Object.assign(new Error('Connection terminated unexpectedly'), { code: '57P01' });
        await store.insertAuditEvents(batch);
        if (calls <= failures) throw new Error('Connection terminated unexpectedly');
      },
    } as unknown as Store;
    return { store: wrapped, calls: () => calls };
  };
  const stored = async () => (await store.listAuditEvents(tenant, { limit: 1000 })).map((e) => e.detail.n).reverse(); // oldest first
  const record = (audit: AuditLog, from: number, count: number) => {
    for (let n = from; n < from + count; n++) audit.record({ tenantId: tenant, type: 'login.success', subject: 'alice', detail: { n } });
  };

  it('a batch that fails twice is stored on the third attempt; the batch queued behind it waits and follows in order', async () => {
    const l = lines();
    const s = failing(2, 'before');
    let t = 1_700_000_000_000;
    const audit = new AuditLog(s.store, () => t++, l.log);
    record(audit, 0, 3);
    const first = audit.flush();
    record(audit, 3, 2);
    await Promise.all([first, audit.flush()]);
    expect(s.calls()).toBe(4); // three attempts at the first batch, one at the second
    expect(await stored()).toEqual([0, 1, 2, 3, 4]);
    expect(l.out.filter((x) => x.level === 'warn')).toHaveLength(2);
    expect(l.out.filter((x) => x.level === 'error')).toHaveLength(0);
  });

  it('a write that landed but whose reply was lost is not stored twice', async () => {
    const l = lines();
    const s = failing(1, 'after');
    let t = 1_700_000_100_000;
    const audit = new AuditLog(s.store, () => t++, l.log);
    record(audit, 0, 4);
    await audit.flush();
    expect(s.calls()).toBe(2);
    expect(await stored()).toEqual([0, 1, 2, 3]);
    expect(l.out.filter((x) => x.level === 'error')).toHaveLength(0);
  });

  it('after three failed attempts the batch is reported lost (with its count), and the next batch is still stored', async () => {
    const l = lines();
    const s = failing(3, 'before');
    let t = 1_700_000_200_000;
    const audit = new AuditLog(s.store, () => t++, l.log);
    record(audit, 0, 2);
    await audit.flush();
    expect(l.out.filter((x) => x.level === 'error').map((x) => x.obj.lost)).toEqual([2]);
    record(audit, 2, 1);
    await audit.flush();
    expect(await stored()).toEqual([2]);
  });
});
