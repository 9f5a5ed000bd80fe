/**
 * Work deferred to the check phase of the current event-loop turn, run there in arrival order.
 *
 * Node's HTTP parser delivers each request as soon as it has read it, so without this the code that answers a
 * request runs between the parser's and the socket reads' of the next one, and the CPU caches keep losing the
 * engine's code and data (the client cache, SQLite's pages and statements, the HMAC state) to them. Deferred,
 * the parser reads every request of the turn first and the handlers then run back to back with their caches
 * warm: introspection went from ~70 to ~48 µs of server CPU per request, DPoP client_credentials from ~290 to
 * ~220 µs, the code flow from ~795 to ~740 µs
 * (bench/README.md, the seventh round). A request waits at most for the rest of the current turn.
 */
export function turnQueue(onError: (err: unknown) => void): (work: () => void) => void {
  let queue: (() => void)[] = [];
  const run = () => {
    const batch = queue;
    queue = [];
    for (const work of batch) {
      try {
        work();
      } catch (e) {
        onError(e);
      }
    }
  };
  return (work) => {
    queue.push(work);
    if (queue.length === 1) setImmediate(run);
  };
}
