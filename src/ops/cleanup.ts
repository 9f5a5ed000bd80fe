import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { EngineLogger } from '../engine/result.js';
import type { PurgeTarget, Store } from '../store/types.js';
import type { LatchkeyMetrics } from './metrics.js';

export interface CleanupOptions {
  /** Seconds between sweeps, cluster-wide; 0: never. */
  intervalS: number;
  /** Expired or ended rows are kept this long past their end, seconds. */
  graceS: number;
  /** Finished back-channel logout deliveries are kept this long, seconds. */
  retentionS: number;
  /** Audit events are kept this long, seconds; 0: forever. */
  auditRetentionS?: number;
  /** Rows per DELETE statement. */
  batchSize?: number;
  /** At most this many statements per table per sweep (the rest waits for the next sweep). */
  maxBatches?: number;
  /**
   * Each tenant's session idle lifetime (sessionIdleTtl), read once per sweep: sessions idle for longer, plus the
   * grace, are swept too. Without it (or for a tenant it does not name) a session is kept until it expires or ends.
   */
  sessionIdleTtls?: () => Promise<ReadonlyArray<{ tenantId: string; idleTtl: number }>>;
}

/** Dead rows by table, in the order the sweep visits them. */
const TARGETS: readonly PurgeTarget[] = [
  'authorization_codes', 'tickets', 'pushed_requests', 'device_codes', 'jti_replay_cache', 'rate_limits', 'sessions', 'tokens',
  'logout_deliveries', 'audit_events',
];

const LEASE = 'cleanup';

/** What a sweep reports, per table: the purged tables and the grants (GrantSweepStore). */
export type CleanupTarget = PurgeTarget | 'grants';

/**
 * Deletes dead rows (expired codes, tickets, pushed requests, device codes, replay-cache entries, tokens and
 * rate-limit windows; expired, ended or idle sessions; finished logout deliveries; audit events past auditRetention; grants
 * nothing kept refers to any more) in bounded batches, so the tables stop growing without one long statement holding locks.
 *
 * Every serving process runs this timer, but a sweep needs the `cleanup` lease row (MaintenanceStore.acquireLease):
 * the lease lasts one interval and is taken by one conditional UPDATE, so across the workers of a cluster and across
 * instances sharing a PostgreSQL database, one process sweeps per interval. Processes check more often than the
 * interval (a fifth of it, at most a minute), so the sweep happens on time whichever process is alive.
 */
export class CleanupJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly batchSize: number;
  private readonly maxBatches: number;

  constructor(
    private readonly store: Store,
    private readonly clock: () => number,
    private readonly opts: CleanupOptions,
    private readonly metrics?: LatchkeyMetrics,
    public log?: EngineLogger,
  ) {
    this.batchSize = opts.batchSize ?? 500;
    this.maxBatches = opts.maxBatches ?? 200;
  }

  private now(): number {
    return Math.floor(this.clock() / 1000);
  }

  /** One sweep over every table, without the lease (tests, `latchkey` maintenance). Returns rows deleted per table. */
  async sweep(): Promise<Record<CleanupTarget, number>> {
    const now = this.now();
    const deleted = {} as Record<CleanupTarget, number>;
    for (const target of TARGETS) {
      if (target === 'audit_events' && !this.opts.auditRetentionS) {
        deleted[target] = 0;
        continue;
      }
      // Rate-limit windows need no grace: past its end a window counts for nothing.
      const cutoff =
        target === 'logout_deliveries' ? now - this.opts.retentionS
        : target === 'audit_events' ? now - this.opts.auditRetentionS!
        : target === 'rate_limits' ? now
        : now - this.opts.graceS;
      let total = 0;
      for (let i = 0; i < this.maxBatches && !this.stopped; i++) {
        const n = await this.store.purgeExpired(target, cutoff, this.batchSize);
        total += n;
        if (n < this.batchSize) break;
        // Let requests in between batches (on SQLite each batch holds the one write lock while it runs).
        await new Promise((r) => setImmediate(r));
      }
      if (target === 'sessions') total += await this.sweepIdleSessions(now);
      deleted[target] = total;
      if (total) this.metrics?.cleanupDeleted.inc([target], total);
    }
    deleted.grants = await this.sweepGrants(now - this.opts.graceS);
    if (deleted.grants) this.metrics?.cleanupDeleted.inc(['grants'], deleted.grants);
    return deleted;
  }

  /**
   * Sessions nobody used for their tenant's idle lifetime are over (isSessionLive) though not yet expired: without
   * this they stayed until their absolute end (sessionTtl, often days). A session never comes back from idle (the UI
   * renews only a live one, a refresh touches only a live one), so once gone, what asks for it finds the same answer:
   * a session-bound grant whose Latchkey session has no row has ended (engine/sessions.ts). The grace keeps one past
   * its idle end as long as an expired one, so a raised sessionIdleTtl still applies to sessions that went idle within it.
   */
  private async sweepIdleSessions(now: number): Promise<number> {
    if (!this.opts.sessionIdleTtls) return 0;
    let total = 0;
    for (const { tenantId, idleTtl } of await this.opts.sessionIdleTtls()) {
      const lastSeenBefore = now - idleTtl - this.opts.graceS;
      for (let i = 0; i < this.maxBatches && !this.stopped; i++) {
        const n = await this.store.purgeIdleSessions(tenantId, lastSeenBefore, this.batchSize);
        total += n;
        if (n < this.batchSize) break;
        await new Promise((r) => setImmediate(r));
      }
    }
    return total;
  }

  /**
   * Grants go last, once what refers to them is judged by the same cutoff (GrantSweepStore: a grant is kept while a
   * token or session that refers to it is kept). A batch visits up to batchSize grants that are due, deleting the dead
   * and rescheduling the rest, so the loop goes on while batches come back full, whatever was deleted.
   */
  private async sweepGrants(cutoff: number): Promise<number> {
    let total = 0;
    for (let i = 0; i < this.maxBatches && !this.stopped; i++) {
      const { examined, deleted } = await this.store.sweepGrants(cutoff, this.batchSize);
      total += deleted;
      if (examined < this.batchSize) break;
      await new Promise((r) => setImmediate(r));
    }
    return total;
  }

  /** Sweep if this process wins the lease for the current interval. Returns the counts, or undefined when another did. */
  async runIfLeader(): Promise<Record<CleanupTarget, number> | undefined> {
    const now = this.now();
    if (!(await this.store.acquireLease(LEASE, this.holder, now, now + this.opts.intervalS))) return undefined;
    const deleted = await this.sweep();
    const sum = Object.values(deleted).reduce((a, b) => a + b, 0);
    this.metrics?.cleanupRuns.inc(['ok']);
    if (sum) this.log?.info({ event: 'cleanup', deleted }, `cleanup: deleted ${sum} dead rows`);
    return deleted;
  }

  start(): void {
    if (this.timer || this.opts.intervalS <= 0) return;
    this.stopped = false;
    const periodMs = Math.max(1000, Math.min(60_000, (this.opts.intervalS * 1000) / 5));
    const tick = () => {
      if (this.running || this.stopped) return;
      this.running = this.runIfLeader()
        .catch((e) => {
          this.metrics?.cleanupRuns.inc(['failed']);
          this.log?.warn({ event: 'cleanup_failed', error: (e as Error).message }, 'cleanup sweep failed; the next one will try again');
        })
        .finally(() => (this.running = undefined));
    };
    // A random first delay spreads the processes of a cluster started together.
    const first = setTimeout(() => {
      tick();
      this.timer = setInterval(tick, periodMs);
      this.timer.unref();
    }, Math.floor(Math.random() * periodMs));
    first.unref();
    this.timer = first;
  }

  /** Stop the timer and let a running sweep end after its current batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) {
      clearTimeout(this.timer);
      clearInterval(this.timer);
    }
    this.timer = undefined;
    await this.running;
  }
}
