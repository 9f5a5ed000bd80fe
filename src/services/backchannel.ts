import { decodeJwt } from 'jose';
import type { ClientRecord, LogoutDeliveryRecord, Store } from '../store/types.js';
import type { EngineLogger } from '../engine/result.js';
import type { OutboundMessage } from '../engine/context.js';
import { guardedFetch } from '../engine/remote.js';
import { clientAsStored } from '../engine/client-records.js';

/** At most this much of an RP's answer is read (its body means nothing, §2.8); the rest is dropped unread. */
const MAX_RESPONSE_BYTES = 4096;

/** Read and drop a response body, at most `max` bytes of it: an RP cannot make us buffer an endless answer. */
async function discardBody(res: Response, max = MAX_RESPONSE_BYTES): Promise<void> {
  if (!res.body) return;
  const reader = res.body.getReader();
  try {
    for (let read = 0; read <= max; ) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
  } catch {
    return;
  }
  await reader.cancel().catch(() => undefined);
}

export interface BackchannelOptions {
  /** Per-attempt timeout, ms. */
  timeoutMs?: number;
  /** Delay before each retry, seconds; after the last one the delivery is given up and kept as failed. */
  retryDelays?: number[];
  /** How often the background sweep looks for due retries, ms. */
  sweepMs?: number;
  /**
   * The fetch deliveries go through: the server passes its SSRF-guarded one (insecureRemoteFetchAddresses), since
   * backchannel_logout_uri is a URL the client chose (with dynamic registration, anybody). Without one, the
   * guarded fetch for public addresses only (never the unguarded global fetch).
   */
  fetch?: typeof fetch;
  /** The fetch for the operator's own URLs (OutboundMessage.operatorUrl): not address-guarded. Default: the global fetch. */
  operatorFetch?: typeof fetch;
}

/**
 * Delivers back-channel logout tokens (OIDC Back-Channel Logout 1.0 §2.5): form POST of logout_token, success
 * on 200/204 (§2.8), redirects not followed, a timeout per attempt, retries with growing delays. Every attempt
 * is recorded on the delivery row (attempts, last_error, delivered_at), so failures are visible to operators and
 * retries survive a restart; a conditional claim keeps two instances from sending the same retry.
 */
export class BackchannelDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private readonly timeoutMs: number;
  private readonly retryDelays: number[];
  private readonly sweepMs: number;
  private readonly fetch: typeof fetch;
  private readonly operatorFetch: typeof fetch;
  /**
   * A fresh logout token for a delivery whose stored one has expired (the server sets it: it needs the tenant's
   * keys). Without it, retries send the stored token as it is.
   */
  refresh?: (d: LogoutDeliveryRecord, client: ClientRecord) => Promise<string | undefined>;

  constructor(
    private readonly store: Store,
    private readonly clock: () => number,
    public log?: EngineLogger,
    opts: BackchannelOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.retryDelays = opts.retryDelays ?? [10, 60, 300, 1800];
    this.sweepMs = opts.sweepMs ?? 5000;
    this.fetch = opts.fetch ?? guardedFetch('public');
    this.operatorFetch = opts.operatorFetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  private now(): number {
    return Math.floor(this.clock() / 1000);
  }

  /** Attempt these deliveries now, waiting at most waitMs for them (the rest carry on in the background). */
  async deliver(deliveries: LogoutDeliveryRecord[], waitMs = 2000): Promise<void> {
    if (!deliveries.length) return;
    const all = Promise.all(deliveries.map((d) => this.claimAndAttempt(d)));
    await Promise.race([all, new Promise((r) => setTimeout(r, waitMs).unref())]);
  }

  private async claimAndAttempt(d: LogoutDeliveryRecord): Promise<void> {
    if (d.nextAttemptAt === null) return;
    const lease = this.now() + Math.ceil(this.timeoutMs / 1000) + 30;
    if (!(await this.store.claimDelivery(d.tenantId, d.id, d.nextAttemptAt, lease))) return;
    await this.attempt({ ...d, nextAttemptAt: lease });
  }

  /**
   * The token to send: the stored one while it is valid; once expired (a late retry), a fresh one, since the RP
   * rejects an expired logout token (Back-Channel Logout §2.6) and the retry would be pointless.
   */
  private async tokenFor(d: LogoutDeliveryRecord, client: ClientRecord): Promise<string> {
    if (!this.refresh) return d.logoutToken;
    let exp: unknown;
    try {
      exp = decodeJwt(d.logoutToken).exp;
    } catch {
      return d.logoutToken;
    }
    if (typeof exp !== 'number' || exp > this.now() + 5) return d.logoutToken;
    return (await this.refresh(d, client)) ?? d.logoutToken;
  }

  /**
   * Why this delivery may no longer be sent, if so: the token is for the client as it was at logout, and the URI is
   * the one it registered then. A client that was deleted, or whose backchannel_logout_uri was changed or removed
   * since, no longer wants logout tokens there (the old URL may belong to someone else by now): never send one.
   * Back-Channel Logout §2.2: the client's registered backchannel_logout_uri is where its logout tokens go.
   */
  private async staleReason(d: LogoutDeliveryRecord): Promise<{ client: ClientRecord } | { reason: string }> {
    // As stored now, past the client cache (clientAsStored): a change made through another instance within the
    // cache's 5 s must not send a logout token to the URI the client just left.
    const client = await clientAsStored(this.store, d.tenantId, d.clientId);
    if (!client) return { reason: 'given up: the client no longer exists' };
    // A client registered after the logout under the same client_id is another client (deleted and registered again).
    if (client.createdAt > d.createdAt) return { reason: 'given up: the client no longer exists (registered again since)' };
    if (!client.backchannelLogoutUri) return { reason: 'given up: the client no longer has a backchannel_logout_uri' };
    if (client.backchannelLogoutUri !== d.uri) return { reason: 'given up: the client changed its backchannel_logout_uri' };
    return { client };
  }

  private async attempt(d: LogoutDeliveryRecord): Promise<void> {
    const current = await this.staleReason(d);
    if ('reason' in current) {
      // Recorded as failed (no next attempt, never delivered) without contacting the old URI; attempts counts only sends.
      await this.store.updateDelivery({ ...d, lastError: current.reason, nextAttemptAt: null });
      this.log?.warn({ event: 'backchannel_logout_failed', client: d.clientId, attempts: d.attempts, error: current.reason, gaveUp: true }, 'back-channel logout delivery given up');
      return;
    }
    let error: string | null = null;
    try {
      const logoutToken = await this.tokenFor(d, current.client);
      const res = await this.fetch(d.uri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: logoutToken }).toString(),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await discardBody(res);
      if (res.status !== 200 && res.status !== 204) error = `HTTP ${res.status}`;
    } catch (e) {
      error = (e as Error).name === 'TimeoutError' ? 'timeout' : ((e as Error).message ?? 'network error').slice(0, 200);
    }
    const attempts = d.attempts + 1;
    const next: LogoutDeliveryRecord = error
      ? { ...d, attempts, lastError: error, nextAttemptAt: attempts <= this.retryDelays.length ? this.now() + this.retryDelays[attempts - 1]! : null }
      : { ...d, attempts, lastError: null, nextAttemptAt: null, deliveredAt: this.now() };
    await this.store.updateDelivery(next);
    if (error) this.log?.warn({ event: 'backchannel_logout_failed', client: d.clientId, attempts, error, gaveUp: next.nextAttemptAt === null }, 'back-channel logout delivery failed');
  }

  /**
   * The engine's notifications (EngineContext.notify: CIBA pings and request announcements), sent through the same
   * guarded fetch as logout tokens, redirects not followed, with a timeout and a few quick retries (notifyRetryMs).
   * Not stored: a message lost for good is logged, and the party it was for can still poll, or the user use /ciba.
   * Success is any 2xx (CIBA Core §10.2 expects 204; an announcement receiver may answer 200 or 202).
   */
  notify(message: OutboundMessage): void {
    void this.sendNotification(message, 0);
  }

  /** Delays before each retry of a notification, ms. */
  notifyRetryMs = [1000, 5000];
  /** Notifications not yet settled (tests wait for them; close() does not). */
  readonly pendingNotifications = new Set<Promise<void>>();

  private sendNotification(message: OutboundMessage, attempt: number): Promise<void> {
    const p = (async () => {
      let error: string | undefined;
      try {
        const res = await (message.operatorUrl ? this.operatorFetch : this.fetch)(message.url, {
          method: 'POST', headers: message.headers, body: message.body, redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs),
        });
        await discardBody(res);
        if (res.status < 200 || res.status > 299) error = `HTTP ${res.status}`;
      } catch (e) {
        error = (e as Error).name === 'TimeoutError' ? 'timeout' : ((e as Error).message ?? 'network error').slice(0, 200);
      }
      if (error === undefined) return;
      const retry = this.notifyRetryMs[attempt];
      this.log?.warn({ event: `${message.kind}_failed`, tenant: message.tenantId, client: message.clientId, attempts: attempt + 1, error, gaveUp: retry === undefined }, 'notification failed');
      if (retry !== undefined) await new Promise((r) => setTimeout(r, retry).unref()).then(() => this.sendNotification(message, attempt + 1));
    })();
    this.pendingNotifications.add(p);
    void p.finally(() => this.pendingNotifications.delete(p));
    return p;
  }

  /** One sweep: attempt every due delivery. Returns how many were attempted. */
  async runOnce(limit = 100): Promise<number> {
    const due = await this.store.dueDeliveries(this.now(), limit);
    await Promise.all(due.map((d) => this.claimAndAttempt(d)));
    return due.length;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.runOnce().catch((e) => this.log?.error({ err: e }, 'back-channel sweep failed')), this.sweepMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
