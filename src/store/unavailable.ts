/**
 * Whether an error says the database could not be reached, as opposed to a bug or a bad statement: the connection
 * was refused, reset, timed out or ended, or the server is shutting down or starting (SQLSTATE class 08, 57P01–57P03),
 * or a failure of the moment (a deadlock victim, a serialization failure, a statement or lock timeout, no resources:
 * TRANSIENT_CODES, class 53), or SQLite's write lock stayed with another process past the wait (SQLITE_BUSY).
 * Callers answer 503 (retry later) for these instead of 500. Store-neutral: it reads only error codes and messages.
 */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', '57P01', '57P02', '57P03']);
/*
 * PostgreSQL failures of the moment rather than of the request: the transaction was chosen as a deadlock victim
 * (40P01) or lost a serialization check (40001), a statement or lock wait ran past statement_timeout / lock_timeout
 * (57014, 55P03), or the server had no connection slot, memory or disk to spare (class 53). The same request sent
 * again can succeed, and nothing of it was committed (each is raised inside the transaction, which rolls back), so
 * the client is told to retry (503, Retry-After), as for an outage. The cause is still logged.
 */
const TRANSIENT_CODES = new Set(['40001', '40P01', '57014', '55P03']);
const MESSAGES = /^(Connection terminated|Client was closed and is not queryable|Client has encountered a connection error and is not queryable|timeout exceeded when trying to connect)/;

/**
 * Whether the database refused a value itself (PostgreSQL SQLSTATE 22021 character_not_in_repertoire, e.g. a NUL
 * byte in text; 22P05 untranslatable_character; 22001 string_data_right_truncation, a value too long for its
 * column; 54000 program_limit_exceeded for an index row, a value too long to index): the request carried something
 * no valid request holds, so it is the client's error (400), not the server's.
 */
export function isStoreRejectedInput(e: unknown): boolean {
  for (let err = e, depth = 0; err && typeof err === 'object' && depth < 5; err = (err as { cause?: unknown }).cause, depth++) {
    const code = (err as { code?: unknown }).code;
    if (code === '22021' || code === '22P05' || code === '22001') return true;
    // 54000 also names limits no request controls (too many columns, a statement too complex): only index rows.
    if (code === '54000' && /index row/i.test(String((err as { message?: unknown }).message ?? ''))) return true;
  }
  return false;
}

export function isStoreUnavailable(e: unknown): boolean {
  return matchesChain(e, (code) => TRANSIENT_CODES.has(code) || /^53[0-9A-Z]{3}$/.test(code) || code.startsWith('SQLITE_BUSY'));
}

/**
 * The narrower half of isStoreUnavailable: the database could not be reached at all (refused, reset, timed out,
 * ended, shutting down or starting; class 08, 57P01–57P03; no connection slot, 53300). Not a deadlock, a statement
 * or lock timeout, a full disk or SQLite's busy lock: those are answered 503 too, but they come from a database that
 * was reached, so a start-up failure is not reported as "cannot connect" for them (server/latchkey.ts).
 */
export function isStoreUnreachable(e: unknown): boolean {
  return matchesChain(e, () => false);
}

/** An error (or its causes, or an AggregateError's members) a connection failure, or with a code `extra` accepts. */
function matchesChain(e: unknown, extra: (code: string) => boolean): boolean {
  for (let err = e, depth = 0; err && typeof err === 'object' && depth < 5; err = (err as { cause?: unknown }).cause, depth++) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || code === '53300' || /^08[0-9A-Z]{3}$/.test(code) || extra(code))) return true;
    const message = (err as { message?: unknown }).message;
    if (typeof message === 'string' && MESSAGES.test(message)) return true;
    // AggregateError (a connect to every address of a host failed)
    const errors = (err as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.some((x) => matchesChain(x, extra))) return true;
  }
  return false;
}
