// One load run of a scenario against one server: autocannon for one-request scenarios (a `setupRequest` hook runs
// before every request, e.g. a fresh DPoP proof), the bounded loop of flow.mjs for multi-request ones (`iterate`).
// Either way the result has autocannon's shape (counted in iterations for a loop; see flow.mjs runLoop).
import autocannon from 'autocannon';
import { runLoop } from './flow.mjs';

/**
 * `ctx` is the cell's context (url, client, …), `req` the scenario's request (undefined for a loop). Runs for
 * `seconds`, or for `amount` requests / iterations when given (then `seconds` only bounds a loop).
 */
export function loadScenario(ctx, sc, req, { connections, seconds, amount, verifyBody }) {
  if (sc.iterate) return runLoop({ connections, seconds: seconds ?? 60, iterate: sc.iterate, ctx, ...(amount ? { maxIterations: amount } : {}) });
  return autocannon({
    url: ctx.url,
    method: req.method,
    headers: req.headers,
    body: req.body,
    ...(req.setupRequest ? { requests: [{ setupRequest: req.setupRequest }] } : {}),
    connections,
    pipelining: 1,
    ...(amount ? { amount } : { duration: seconds }),
    timeout: 10,
    verifyBody,
  });
}
