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
  for (let err = e, depth = 0; err && typeof err === 'object' && depth < 5; err = (err as { cause?: unknown }).cause, depth++) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || TRANSIENT_CODES.has(code) || /^(08|53)[0-9A-Z]{3}$/.test(code))) return true;
    // Another process held SQLite's write lock for the whole wait (sqlite-busy.ts): contention, not a bug.
    if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) return true;
    const message = (err as { message?: unknown }).message;
    if (typeof message === 'string' && MESSAGES.test(message)) return true;
    // AggregateError (a connect to every address of a host failed)
    const errors = (err as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.some((x) => isStoreUnavailable(x))) return true;
  }
  return false;
}
