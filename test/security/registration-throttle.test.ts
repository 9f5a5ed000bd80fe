import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/types.js';
import { Agent } from '../helpers/agent.js';
import { startTestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';

/**
 * The rate-limit counters answer as a database across a network does: each call takes a few milliseconds, so
 * concurrent requests overlap between their store calls (on a local SQLite file they are served one after the other
 * so quickly that a check-then-record gap hardly ever shows).
 */
function slowCounters(store: Store): void {
  const { hit, count } = store;
  store.hit = async (...a) => (await sleep(15), hit.apply(store, a));
  store.count = async (...a) => (await sleep(15), count.apply(store, a));
}

/*
 * Registration limits under concurrency: an attempt is counted before it is served, so requests sent all at once
 * cannot all pass a check that saw the count from before the others (as sign-in: login-throttle.test.ts). The
 * bound is what is asserted, not an exact count: each request reaches the counter in its own order.
 */
describe('registration throttling under concurrency (OWASP: limits bound concurrent attempts)', () => {
  it('prompt=create: concurrent account creations from one address create no more than loginRateLimit accounts', async () => {
    const s = await startTestServer({ allowRegistration: true, loginRateLimit: 3, loginRateLimitPerIp: 1000, loginRateWindow: 300 });
    try {
      const { clientId } = await s.client({ redirect_uris: [CB], skip_consent: true });
      slowCounters(s.lk.store);
      const agent = new Agent(s.issuer);
      const url = `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'create', state: 'x' });
      const page = await agent.follow(url);
      const action = Agent.formAction(page.html, '/create');
      const csrf = Agent.formValue(page.html, 'csrf')!;
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) => agent.request(action, { form: { csrf, username: `new-${i}`, password: 'a long enough password' } })),
      );
      const statuses = answers.map((a) => a.status);
      const created = statuses.filter((st) => st === 303).length;
      expect(created).toBeGreaterThan(0);
      expect(created).toBeLessThanOrEqual(3);
      expect(statuses.filter((st) => st === 429)).toHaveLength(12 - created);
      // The store agrees: no more accounts than the limit exist.
      const made = await Promise.all(Array.from({ length: 12 }, (_, i) => s.lk.store.findUserByUsername(s.ctx.tenant.id, `new-${i}`)));
      expect(made.filter(Boolean).length).toBe(created);
      // And so does the audit trail: one user.registered event per account made, naming it (docs/audit.md).
      await s.lk.audit.flush();
      const events = await s.lk.store.listAuditEvents(s.ctx.tenant.id, { type: 'user.registered', limit: 50 });
      expect(events.map((e) => e.subject).sort()).toEqual(made.flatMap((u) => (u ? [u.id] : [])).sort());
    } finally {
      await s.close();
    }
  });

  it('RFC 7591 §3: concurrent dynamic registrations from one address register no more than rateLimitPerIp clients', async () => {
    const s = await startTestServer({ registration: 'open', rateLimitPerIp: 3, rateLimitWindow: 300 });
    slowCounters(s.lk.store);
    try {
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          fetch(s.url('/oauth/register'), {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ redirect_uris: [`https://rp${i}.example/cb`], client_name: `app ${i}` }),
          }),
        ),
      );
      const statuses = answers.map((a) => a.status);
      const registered = statuses.filter((st) => st === 201).length;
      expect(registered).toBeGreaterThan(0);
      expect(registered).toBeLessThanOrEqual(3);
      expect(statuses.filter((st) => st === 429)).toHaveLength(12 - registered);
    } finally {
      await s.close();
    }
  });
});
